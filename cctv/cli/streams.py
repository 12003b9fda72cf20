"""`cctv streams ensure`: declare every JetStream stream from the contract (a k8s Job runs it)."""

from __future__ import annotations

import argparse
import asyncio

from .common import nats_connection


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("streams", help="JetStream streams 事件流")
    s = p.add_subparsers(dest="action", required=True)
    e = s.add_parser("ensure", help="create or update every stream from the contract")
    e.add_argument("--replicas", type=int, default=1, help="JetStream replicas (3 in a cluster)")
    e.set_defaults(func=ensure)


def ensure(args: argparse.Namespace) -> int:
    from cctv.contract import STREAMS, ensure_streams

    async def go() -> None:
        async with nats_connection("declaring the streams") as nc:
            await ensure_streams(nc.jetstream(), replicas=args.replicas)

    asyncio.run(go())
    for spec in STREAMS:
        print(f"{spec.name:<16} {', '.join(spec.subjects)}")
    return 0
