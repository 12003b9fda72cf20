"""`cctv dlq list|replay`: the dead letters (CCTV_DLQ) with their reasons, and running them
again once the cause is fixed. `replay` asks the service that dead-lettered each letter
(`cctv.rpc.<service>.dlq.replay`, as the signed-on sysadmin — `cctv login`): it runs the
letter through the consumer that refused it and records the replay (`ops.dlq_replayed`, who and
how it ended); a handled letter leaves the list. The operators' `cli` NATS user is enough.
`--republish` is the old way (admin credential only): the raw bytes on the original subject,
to every consumer of it, and the letter deleted. ADR 0025."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from typing import Any

from .common import connect_nats, nats_connection
from .main import CliError

STREAM = "CCTV_DLQ"
OPS = "CCTV_OPS"
REPLAYED = "cctv.ops.dlq_replayed."


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dlq", help="dead letters 死信: list and replay")
    s = p.add_subparsers(dest="action", required=True)
    ls = s.add_parser("list", help="dead letters with their reasons, oldest first")
    ls.add_argument("--service", help="only this service's letters")
    ls.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.add_argument("--all", action="store_true", help="also letters a replay has handled")
    ls.set_defaults(func=list_letters)
    rp = s.add_parser("replay", help="run letters again through the consumer that refused them")
    rp.add_argument("seq", nargs="*", type=int, help="DLQ sequence numbers (from `list`)")
    rp.add_argument("--all", action="store_true", help="every letter not yet handled")
    rp.add_argument("--service", help="with --all: only this service's letters")
    rp.add_argument(
        "--republish",
        action="store_true",
        help="admin credential only: publish the raw bytes on the original subject instead",
    )
    rp.add_argument("--keep", action="store_true", help="with --republish: leave the letters")
    rp.set_defaults(func=replay)


async def _connect(refused: list[str]) -> Any:
    """The CLI's one way to NATS (cli/common.py: TLS, password file, no hang); the server's
    refusals (permissions violations) are noted in ``refused``."""

    def note(exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            refused.append(str(exc))

    return await connect_nats(on_error=note)


def _not_allowed(what: str, refused: list[str]) -> CliError:
    return CliError(
        f"NATS refused {what}: {refused[0]} — 重新发布需要管理员NATS凭证: `--republish` "
        "publishes as the original publisher, which the operators' `cli` user may not; use "
        "`cctv dlq replay` without it (served by the service, as your `cctv login`) or the "
        "admin credential (docs/adr/0025-nothing-lost-acks-coverage-replay.md)"
    )


async def _letters(
    js: Any, service: str | None, seqs: set[int] | None, *, handled_too: bool = False
) -> list[dict[str, Any]]:
    """Dead letters, oldest first (named ones: as named); without ``handled_too`` not
    those a replay handled. The replay records (all of CCTV_OPS's) are read only when there
    is a letter to hold them against: an empty list answers at once."""
    from nats.js.errors import NotFoundError

    info = await js.stream_info(STREAM)
    first, last = info.state.first_seq, info.state.last_seq
    found: list[tuple[int, dict[str, Any]]] = []
    if not info.state.messages and not seqs:
        return []
    for seq in sorted(seqs) if seqs else range(max(first, 1), last + 1):
        try:
            msg = await js.get_msg(STREAM, seq)
            doc = json.loads(msg.data)
            data = doc["data"]
            if not str(msg.subject).startswith("cctv.dlq.dead_letter."):
                raise KeyError(msg.subject)
        except (NotFoundError, ValueError, KeyError, TypeError):
            if seqs:
                raise CliError(f"no dead letter #{seq} in {STREAM}") from None
            continue  # republished and removed, expired, or not a letter
        if service and data.get("service") != service:
            continue
        found.append((seq, {"seq": seq, "at": doc.get("time"), **data}))
    done = set() if handled_too or seqs or not found else await _handled(js)
    return [d for seq, d in found if seq not in done]


async def _handled(js: Any) -> set[int]:
    """DLQ sequences a replay has handled (the `ops.dlq_replayed` records, CCTV_OPS)."""
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(OPS)
    except NotFoundError:
        return set()
    done: set[int] = set()
    if not info.state.messages:
        return done
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(OPS, seq)
            data = json.loads(msg.data)["data"]
        except (NotFoundError, ValueError, KeyError, TypeError):
            continue
        if str(msg.subject).startswith(REPLAYED) and data.get("outcome") == "handled":
            done.add(int(data["dlq_seq"]))
    return done


def list_letters(args: argparse.Namespace) -> int:
    async def go() -> list[dict[str, Any]]:
        async with nats_connection("listing the dead letters") as nc:
            return await _letters(nc.jetstream(), args.service, None, handled_too=args.all)

    letters = asyncio.run(go())[: args.limit]
    for d in letters:
        if args.json:
            print(json.dumps({k: v for k, v in d.items() if k != "raw_base64"}, ensure_ascii=False))
        else:
            print(f"#{d['seq']:<6} {d['service']}/{d['consumer']}  {d['subject']}  "
                  f"x{d['deliveries']}  {d['reason'][:160]}")  # fmt: skip
    if not args.json:
        print(f"{len(letters)} dead letter(s) 条死信")
    return 0


def replay(args: argparse.Namespace) -> int:
    if not args.seq and not args.all:
        raise CliError(
            "name the letters to replay (sequence numbers from `cctv dlq list`) or --all"
        )
    if args.republish:
        return republish(args)

    async def pick() -> list[dict[str, Any]]:
        async with nats_connection("reading the dead letters to replay") as nc:
            return await _letters(nc.jetstream(), args.service, set(args.seq) or None)

    from cctv.contract import rpc

    from .common import request

    by_service: dict[str, list[int]] = {}
    for d in asyncio.run(pick()):
        by_service.setdefault(str(d["service"]), []).append(int(d["seq"]))
    done = 0
    for service, seqs in sorted(by_service.items()):
        reply = request(rpc.dlq_replay(service), {"seqs": seqs}, timeout=60.0)
        for r in reply["replayed"]:
            why = f" — {r['reason']}" if r.get("reason") else ""
            print(f"#{r['seq']} {service}: {r['outcome']}{why}")
            done += r["outcome"] == "handled"
    print(f"{done} dead letter(s) handled 已重放")
    return 0 if done == sum(len(s) for s in by_service.values()) else 1


def republish(args: argparse.Namespace) -> int:
    """The raw bytes again on the original subject (every consumer of it sees them; they
    dedupe on the event id), the letter deleted unless --keep: the admin credential only."""

    async def go() -> int:
        from nats.errors import TimeoutError as NatsTimeout

        refused: list[str] = []
        nc = await _connect(refused)
        js = nc.jetstream()
        try:
            letters = await _letters(js, args.service, set(args.seq) or None)
            for d in letters:
                raw = base64.b64decode(d["raw_base64"])
                headers = {"Cctv-Replayed-From": f"{STREAM}:{d['seq']}"}
                try:  # a real event keeps its id: JetStream and the consumers' inboxes dedupe
                    headers["Nats-Msg-Id"] = f"replay:{d['seq']}:{json.loads(raw)['id']}"
                except (ValueError, KeyError, TypeError, RecursionError):
                    pass
                try:
                    await js.publish(d["subject"], raw, headers=headers, timeout=3)
                    if not args.keep:
                        await js.delete_msg(STREAM, d["seq"])
                except NatsTimeout as exc:  # a refused publish is dropped: no ack comes
                    if refused:
                        what = f"republishing #{d['seq']} on {d['subject']}"
                        raise _not_allowed(what, refused) from None
                    raise CliError(f"no answer from JetStream replaying #{d['seq']}") from exc
                print(f"republished #{d['seq']} → {d['subject']}")
            return len(letters)
        finally:
            await nc.close()

    n = asyncio.run(go())
    print(f"{n} dead letter(s) republished 已重新发布")
    return 0
