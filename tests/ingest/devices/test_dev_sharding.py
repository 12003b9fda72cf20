"""Replicas share the fleet without overlap or gap, and take over a dead replica's cameras."""

from __future__ import annotations

import time
import uuid

import nats
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.sharding import Membership, assign, mine, owner
from tests.support.waiting import ChangeFeed, eventually, subject_changes

CAMS = [f"cam-{i:05d}" for i in range(5000)]


@given(st.sets(st.text("abcdef0123456789-", min_size=1, max_size=12), min_size=1, max_size=8))
@settings(max_examples=50, deadline=None)
def test_every_camera_has_exactly_one_owner(members: set[str]) -> None:
    cams = CAMS[:300]
    shares = assign(cams, members)
    flat = [c for cs in shares.values() for c in cs]
    assert sorted(flat) == sorted(cams)  # no gap, no overlap
    for m in members:
        assert mine(cams, m, members) == shares[m]


def test_a_leaving_member_moves_only_its_own_cameras() -> None:
    before = assign(CAMS, ["a", "b", "c"])
    after = assign(CAMS, ["a", "c"])
    for m in ("a", "c"):
        assert set(before[m]) <= set(after[m])
    assert set(after["a"]) | set(after["c"]) == set(CAMS)


def test_shares_are_balanced() -> None:
    shares = assign(CAMS, ["r1", "r2", "r3", "r4"])
    sizes = [len(v) for v in shares.values()]
    assert min(sizes) > 0.8 * len(CAMS) / 4 and max(sizes) < 1.2 * len(CAMS) / 4
    assert owner("cam-00001", []) is None


async def _until(cond, within: float, changes: ChangeFeed) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `cond` holds (fails after `within`)."""
    t0 = time.monotonic()
    await eventually(cond, timeout=within, changes=changes)
    return time.monotonic() - t0


async def test_two_replicas_over_nats_share_and_take_over(nats_url: str) -> None:
    bucket = f"members_{uuid.uuid4().hex[:8]}"
    nc_a, nc_b = await nats.connect(nats_url), await nats.connect(nats_url)
    a = Membership(nc_a.jetstream(), "replica-a", ttl_s=1.5, heartbeat_s=0.3, bucket=bucket)
    b = Membership(nc_b.jetstream(), "replica-b", ttl_s=1.5, heartbeat_s=0.3, bucket=bucket)
    # every heartbeat is a put on the bucket: the list is read again after each
    async with subject_changes(nats_url, f"$KV.{bucket}.>") as changes:
        try:
            await a.start()
            await b.start()

            async def both_seen() -> bool:
                return await a.members() == await b.members() == ["replica-a", "replica-b"]

            await _until(both_seen, 3, changes)
            mine_a = mine(CAMS, "replica-a", await a.members())
            mine_b = mine(CAMS, "replica-b", await b.members())
            assert not set(mine_a) & set(mine_b)
            assert set(mine_a) | set(mine_b) == set(CAMS)

            # replica-b dies: no goodbye, its heartbeat just stops
            await b.stop(leave=False)
            await nc_b.close()

            async def a_alone() -> bool:
                return await a.members() == ["replica-a"]

            took = await _until(a_alone, 10, changes)
            # TTL 1.5 s (+ the server's expiry sweep, slower on a busy machine): well inside a
            # 30 s sampling period
            assert took < 8.0
            assert mine(CAMS, "replica-a", await a.members()) == CAMS
        finally:
            await a.stop()
            await nc_a.close()
            if not nc_b.is_closed:
                await nc_b.close()


async def test_clean_leave_hands_over_at_once(nats_url: str) -> None:
    bucket = f"members_{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(nats_url)
    a = Membership(nc.jetstream(), "a", ttl_s=30, bucket=bucket)
    b = Membership(nc.jetstream(), "b", ttl_s=30, bucket=bucket)
    try:
        await a.start()
        await b.start()
        assert await a.members() == ["a", "b"]
        await b.stop(leave=True)
        assert await a.members() == ["a"]
    finally:
        await a.stop()
        await nc.close()


async def test_reading_the_members_leaves_no_consumers_behind(nats_url: str) -> None:
    """Every replica reads the list at every heartbeat: that must not open a consumer each
    time (the server would keep each for minutes, up to its consumer limit)."""
    bucket = f"members_{uuid.uuid4().hex[:8]}"
    nc = await nats.connect(nats_url)
    m = Membership(nc.jetstream(), "a", ttl_s=30, bucket=bucket)
    try:
        await m.start()
        for _ in range(20):
            assert await m.members() == ["a"]
        info = await nc.jetstream().stream_info(f"KV_{bucket}")
        assert info.state.consumer_count == 0
    finally:
        await m.stop()
        await nc.close()
