"""`cctv dlq list|replay`: the dead letters (CCTV_DLQ) with their reasons, and putting them
back on their original subject once the cause is fixed. A replayed letter leaves the DLQ; if
it fails again, the consumer dead-letters it again with the new reason."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from typing import Any

from cctv.plumbing.bus import connect_kwargs

from .common import settings
from .main import CliError

STREAM = "CCTV_DLQ"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dlq", help="dead letters 死信: list and replay")
    s = p.add_subparsers(dest="action", required=True)
    ls = s.add_parser("list", help="dead letters with their reasons, oldest first")
    ls.add_argument("--service", help="only this service's letters")
    ls.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=list_letters)
    rp = s.add_parser("replay", help="publish letters again on their original subject")
    rp.add_argument("seq", nargs="*", type=int, help="DLQ sequence numbers (from `list`)")
    rp.add_argument("--all", action="store_true", help="every letter (with --service: its)")
    rp.add_argument("--service", help="with --all: only this service's letters")
    rp.add_argument("--keep", action="store_true", help="leave the letters in the DLQ")
    rp.set_defaults(func=replay)


async def _connect(refused: list[str] | None = None) -> Any:
    """A connection; the server's refusals (permissions violations) are noted in ``refused``."""
    import nats

    async def on_error(exc: Exception) -> None:
        if refused is not None and "permissions violation" in str(exc).lower():
            refused.append(str(exc))

    url = settings().nats_url
    try:  # as the configured user (NATS_USER: `cli` for operators), like every other command
        return await nats.connect(
            **connect_kwargs(settings()),
            connect_timeout=3,
            max_reconnect_attempts=0,
            error_cb=on_error,
        )
    except Exception as exc:
        raise CliError(f"cannot reach NATS at {url} ({exc}); is `make run` running?") from exc


def _not_allowed(what: str, refused: list[str]) -> CliError:
    return CliError(
        f"NATS refused {what}: {refused[0]} — 重放死信目前需要管理员NATS凭证: "
        "`cctv dlq replay` republishes as the original publisher, which the operators' `cli` "
        "user may not; run it with the admin credential (NATS_URL=nats://admin:…@…) until "
        "replay is served by the services (docs/adr/0025-nothing-lost-acks-coverage-replay.md)"
    )


async def _letters(js: Any, service: str | None, seqs: set[int] | None) -> list[dict[str, Any]]:
    from nats.js.errors import NotFoundError

    info = await js.stream_info(STREAM)
    first, last = info.state.first_seq, info.state.last_seq
    out: list[dict[str, Any]] = []
    for seq in sorted(seqs) if seqs else range(first, last + 1):
        try:
            msg = await js.get_msg(STREAM, seq)
        except NotFoundError:
            if seqs:
                raise CliError(f"no dead letter #{seq} in {STREAM}") from None
            continue  # replayed and removed, or expired
        try:
            data = json.loads(msg.data)["data"]
        except (ValueError, KeyError, TypeError):
            continue
        if service and data.get("service") != service:
            continue
        out.append({"seq": seq, "at": json.loads(msg.data).get("time"), **data})
    return out


def list_letters(args: argparse.Namespace) -> int:
    async def go() -> list[dict[str, Any]]:
        nc = await _connect()
        try:
            return await _letters(nc.jetstream(), args.service, None)
        finally:
            await nc.close()

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
                        what = f"replaying #{d['seq']} on {d['subject']}"
                        raise _not_allowed(what, refused) from None
                    raise CliError(f"no answer from JetStream replaying #{d['seq']}") from exc
                print(f"replayed #{d['seq']} → {d['subject']}")
            return len(letters)
        finally:
            await nc.close()

    n = asyncio.run(go())
    print(f"{n} dead letter(s) replayed 已重放")
    return 0
