"""`cctv dlq list|replay`: the dead letters (CCTV_DLQ) with their reasons, and putting them
back on their original subject once the cause is fixed. A replayed letter leaves the DLQ; if
it fails again, the consumer dead-letters it again with the new reason."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
from typing import Any

from .common import connect_nats
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


async def _connect() -> Any:
    return await connect_nats()  # the CLI's one way to NATS: TLS, password file, no hang


async def _letters(js: Any, service: str | None, seqs: set[int] | None) -> list[dict[str, Any]]:
    from nats.js.errors import NotFoundError

    info = await js.stream_info(STREAM)
    first, last = info.state.first_seq, info.state.last_seq
    out: list[dict[str, Any]] = []
    for seq in sorted(seqs) if seqs else range(max(first, 1), last + 1):  # empty: 0, 0
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
        nc = await _connect()
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
                await js.publish(d["subject"], raw, headers=headers)
                if not args.keep:
                    await js.delete_msg(STREAM, d["seq"])
                print(f"replayed #{d['seq']} → {d['subject']}")
            return len(letters)
        finally:
            await nc.close()

    n = asyncio.run(go())
    print(f"{n} dead letter(s) replayed 已重放")
    return 0
