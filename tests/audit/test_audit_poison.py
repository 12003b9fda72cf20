"""The audit log loses no valid event next to a message it cannot decode or store (issue 17):
a JSON nested 100,000 deep (RecursionError, not a contract error) is recorded as rejected and
dead-lettered, every valid event of the burst around it reaches the log exactly once, and the
consumers drain; a message PostgreSQL refuses to store (a NUL in a text column) is recorded
as rejected instead of stalling the log."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.audit.settings import AuditSettings
from tests.support.audit import Msg, drained, durable, fresh, progress, publish, running
from tests.support.audit import access as access_record
from tests.support.audit import counts as logged
from tests.support.events import EventLog
from tests.support.waiting import eventually

DEPTH = 100_000
POISON = b"[" * DEPTH + b"]" * DEPTH  # 200 KB
POISON_ID = "sha256:" + hashlib.sha256(POISON).hexdigest()


@pytest.fixture
def cfg(nats_url: str, database_url: str, tmp_path: Path) -> AuditSettings:
    return fresh(nats_url, database_url, tmp_path, batch_size=16)


def access(i: int, tag: str, actor: str | None = None) -> Msg:
    # subjects of this test's own: other tests read the stream too
    return access_record(i, tag, actor, key=f"cam-{tag}-{i % 4}")


async def test_a_recursion_bomb_in_a_burst_costs_no_valid_event(
    cfg: AuditSettings, nats_url: str, js: Any
) -> None:
    tag = uuid.uuid4().hex[:6]
    valid = [access(i, tag) for i in range(120)]
    ids = [eid for _, _, eid in valid]
    dlq = await EventLog().start(nats_url, ("cctv.dlq.>",))
    try:
        async with running(cfg) as audit, progress(cfg) as changes:
            assert audit.pool is not None
            pool = audit.pool
            for i, (subject, data, eid) in enumerate(valid):
                if i in (10, 50, 90):
                    await js.publish(subject, POISON)
                await js.publish(subject, data, headers={"Nats-Msg-Id": eid})

            async def state() -> tuple[int, int, bool]:
                n = await pool.fetchval(
                    f"SELECT count(*) FROM {cfg.audit_schema}.entry WHERE kind = 'rejected' "
                    "AND event_id = $1",
                    POISON_ID,
                )
                return (
                    len(await logged(pool, cfg.audit_schema, ids)),
                    n,
                    await drained(js, cfg.audit_schema),
                )

            # the three identical bombs are one rejected entry (same bytes, same id)
            await eventually(
                state, lambda s: s == (120, 1, True), changes=changes, timeout=60,
                what="all valid logged, bomb recorded",
            )  # fmt: skip
            assert set((await logged(pool, cfg.audit_schema, ids)).values()) == {1}
            entry = await pool.fetchval(
                f"SELECT data FROM {cfg.audit_schema}.entry WHERE event_id = $1", POISON_ID
            )
            assert b"nested too deep" in bytes(entry).partition(b"\n")[0]
        letters = await dlq.wait_for(
            "dlq.dead_letter",
            lambda d: (
                d["consumer"] == durable(cfg.audit_schema, "CCTV_ACCESS")
                and "nested too deep" in d["reason"]
            ),
            count=3,
            timeout=30,
        )
        assert len(letters) == 3
    finally:
        await dlq.close()


async def test_an_event_postgres_cannot_store_is_recorded_as_rejected_not_a_stall(
    cfg: AuditSettings, js: Any
) -> None:
    """A NUL character is valid JSON and meets the contract, but a PostgreSQL text column
    refuses it: the batch around it still commits, the message is a rejected entry."""
    tag = uuid.uuid4().hex[:6]
    before = [access(i, tag) for i in range(5)]
    bad = access(99, tag, actor="eve\u0000")
    after = [access(i, tag) for i in range(5, 10)]
    ids = [eid for _, _, eid in before + after]
    async with running(cfg) as audit, progress(cfg) as changes:
        assert audit.pool is not None
        pool = audit.pool
        await publish(js, [*before, bad, *after])

        bad_id = "sha256:" + hashlib.sha256(bad[1]).hexdigest()

        async def state() -> tuple[int, list[bytes]]:
            rows = await pool.fetch(
                f"SELECT data FROM {cfg.audit_schema}.entry WHERE kind = 'rejected' "
                "AND event_id = $1",
                bad_id,
            )
            return len(await logged(pool, cfg.audit_schema, ids)), [bytes(r["data"]) for r in rows]

        got = await eventually(
            state, lambda s: s[0] == 10 and len(s[1]) == 1, changes=changes, timeout=60,
            what="batch logged, NUL rejected",
        )  # fmt: skip
        head, _, payload = got[1][0].partition(b"\n")
        assert b"not storable" in head
        assert json.loads(payload)["id"] == bad[2]
