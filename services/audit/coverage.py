"""Does the log hold every message its witness acknowledged? (issue 17)

The chain and the tree prove that nothing *in* the log changed; they cannot show that a
message never got in. Under the old ack-all consumers a delivery lost in a NATS reconnect was
acknowledged by the next one and never logged, and verify said OK. So verify also reads each
audited stream up to its consumer's ack floor (everything at or below it is acknowledged) and
looks every message up in the log, by the id the witness gives it (the event id, or the raw
bytes' hash for a rejected or unstorable message). A message there and not in the log is a gap.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from cctv.evidence.entry import rejected_id

from . import store

CHUNK = 2000
"""Messages looked up in the log with one query."""
FETCH_S = 5.0
IDLE_S = 30.0
"""An abandoned reading consumer is removed by the server after this long."""
SHOWN = 10
"""Stream sequences named in a problem (the count says how many in all)."""


async def uncovered(
    js: Any,
    conn: asyncpg.Connection,
    schema: str,
    stream: str,
    subject: str,
    durable: str,
    witness: Any,
) -> tuple[int, list[int]]:
    """(the consumer's ack floor, the stream sequences at or below it absent from the log).

    ``witness(subject, raw)`` is the witness's own mapping to a log item (its event id)."""
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        return 0, []  # never witnessed: nothing acknowledged
    floor = int(info.ack_floor.stream_seq or 0)
    state = (await js.stream_info(stream)).state
    if not floor or state.messages == 0 or state.first_seq > floor:
        return floor, []
    missing: list[int] = []
    pending: list[tuple[int, str, str]] = []

    async def check() -> None:
        ids = [i for _, a, b in pending for i in (a, b)]
        known = await store.existing_ids(conn, schema, ids)
        missing.extend(seq for seq, a, b in pending if a not in known and b not in known)
        pending.clear()

    # a named ephemeral pull consumer: what the audit user may create in deploy/k8s
    # (CONSUMER.CREATE.<stream>.>, MSG.NEXT); the server removes it once idle
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.ALL,
            inactive_threshold=IDLE_S,
            mem_storage=True,
        ),
    )
    try:
        seq = 0
        while seq < floor:
            try:
                msgs = await sub.fetch(CHUNK, timeout=FETCH_S)
            except TimeoutError:
                break  # nothing more below the floor (deleted or expired meanwhile)
            for msg in msgs:
                seq = int(msg.metadata.sequence.stream)
                if seq > floor:
                    break
                raw = bytes(msg.data)
                pending.append((seq, witness(msg.subject, raw).event_id, rejected_id(raw)))
            await check()
    finally:
        await sub.unsubscribe()
    return floor, missing


def problem(stream: str, durable: str, missing: list[int]) -> str:
    shown = ", ".join(str(s) for s in missing[:SHOWN]) + (" …" if len(missing) > SHOWN else "")
    return (
        f"日志缺少已确认的消息 {stream}: {len(missing)} message(s) acknowledged by the witness "
        f"are not in the log (stream seq {shown}). To read the stream again (the log keeps "
        f"what it holds): stop audit, delete its consumer {durable} on {stream}, start audit"
    )
