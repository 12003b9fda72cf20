"""One outage, one fault (issue 9): a recorder's cameras down together are one fault and one
ticket; a mass failure across buildings or behind one ingest replica is suspected ours first."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from cctv.contract import CameraRecord
from cctv.contract.events import CameraUpserted, HealthSample
from cctv.devstack.embedded import free_port
from demo.repair_system import RepairStore, serve
from services.health import store
from services.health.app import HealthService
from services.health.repair import OneCardRepairClient
from tests.health.harness import T0, feed


def cam(camera_id: str, building: str, nvr: str | None, channel: int = 1) -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name=f"通道 {channel}", system_id="A1-02", department="security",
        managing_department="logistics", category="public_safety", building=building,
        position=f"{channel}F", zone=f"{building}区", brand="hikvision", protocol="isapi",
        address="127.0.0.1:80", nvr_id=nvr, channel=channel,
    )  # fmt: skip


async def add(h: HealthService, records: list[CameraRecord]) -> list[str]:
    for r in records:
        await feed(h, CameraUpserted(camera=r))
    return [r.camera_id for r in records]


async def round_(
    h: HealthService, cams: list[str], i: int | range, ok: bool, shard: str | None = None
) -> None:
    """Sampling round `i` (every 30 s from T0), or each round of a range, for `cams`."""
    for r in [i] if isinstance(i, int) else i:
        for c in cams:
            await feed(
                h,
                HealthSample(
                    camera_id=c,
                    sampled_at=T0 + timedelta(seconds=30 * r),
                    reachable=ok,
                    shard=shard,
                ),
            )


async def recorder(h: HealthService, n: int, building: str = "图书馆") -> tuple[str, list[str]]:
    """A new recorder (its id unique to the test) with `n` cameras, all seen up in round 0."""
    nvr = f"NVR-{uuid.uuid4().hex[:6]}"
    cams = await add(h, [cam(f"{nvr}-C{i:02d}", building, nvr, i) for i in range(n)])
    await round_(h, cams, 0, True)
    return nvr, cams


async def open_of(h: HealthService, ids: set[str]) -> list[dict]:
    return [
        f for f in await store.faults(h.pool, 0) if f["camera_id"] in ids and f["status"] == "open"
    ]


async def shown(h: HealthService, ids: list[str]) -> set[str]:
    return {s["state"] for s in await store.states(h.pool) if s["camera_id"] in ids}


@pytest.fixture
async def repair(tmp_path: Path) -> AsyncIterator[tuple[RepairStore, OneCardRepairClient]]:
    port = free_port()
    rs = RepairStore(tmp_path / "repair.sqlite")
    runner = await serve(rs, "127.0.0.1", port)
    client = OneCardRepairClient(f"http://127.0.0.1:{port}")
    yield rs, client
    await client.aclose()
    await runner.cleanup()


async def tickets_for(h: HealthService, rs: RepairStore, fault_ids: set[str]) -> list[dict]:
    for _ in range(100):  # each round takes the 20 oldest waiting faults of the shared DB
        await h.follow_tickets()
        if all(rs.by_ref(f) for f in fault_ids):
            break
    return [t for t in rs.all() if t.get("external_ref") in fault_ids]


async def test_a_recorder_down_is_one_fault_one_ticket_and_resolves_together(
    health: HealthService, repair: tuple[RepairStore, OneCardRepairClient]
) -> None:
    rs, client = repair
    health.repair = client
    nvr, cams = await recorder(health, 64, "实验楼")
    await round_(health, cams, range(1, 4), False)

    faults = await open_of(health, {nvr, *cams})
    assert [(f["camera_id"], f["kind"]) for f in faults] == [(nvr, "recorder_offline")]
    assert sorted(faults[0]["affected"]) == sorted(cams)
    assert await shown(health, cams) == {"unreachable"}
    tickets = await tickets_for(health, rs, {faults[0]["fault_id"]})
    assert len(tickets) == 1 and "64" in tickets[0]["title"]

    # the recorder is back: within one sample period (its cameras' first good samples) every
    # camera is up and the one fault resolved -- the cause was damped, not each camera
    await round_(health, cams, 4, True)
    assert await open_of(health, {nvr, *cams}) == []
    assert await shown(health, cams) == {"up"}
    all_faults = [f for f in await store.faults(health.pool, 1000) if f["camera_id"] in cams]
    assert all_faults == []  # no camera ever had a fault of its own


async def test_a_camera_still_down_after_its_recorder_returns_is_its_own_fault(
    health: HealthService,
) -> None:
    nvr, cams = await recorder(health, 6)
    broken = cams[0]
    await round_(health, cams, range(1, 4), False)
    await round_(health, cams[1:], range(4, 6), True)
    await round_(health, [broken], 6, False)
    faults = await open_of(health, {nvr, *cams})
    assert [(f["camera_id"], f["kind"]) for f in faults] == [(broken, "offline")]
    assert await shown(health, [broken]) == {"down"}


async def test_one_camera_down_on_a_recorder_is_that_cameras_fault(
    health: HealthService,
) -> None:
    nvr, cams = await recorder(health, 6)
    await round_(health, cams[:1], range(1, 4), False)
    faults = await open_of(health, {nvr, *cams})
    assert [(f["camera_id"], f["kind"]) for f in faults] == [(cams[0], "offline")]


async def test_mass_failure_across_buildings_is_suspected_ours_without_camera_tickets(
    health: HealthService,
) -> None:
    p = uuid.uuid4().hex[:6]
    recs = [cam(f"M{p}-{b}{i}", b, f"N{p}-{b}{i}") for b in "ABCD" for i in range(4)]
    cams = await add(health, recs)
    await round_(health, cams, 0, True)
    await round_(health, cams, range(1, 4), False)
    faults = await open_of(health, {"network", *cams})
    assert [(f["camera_id"], f["kind"], f["ticket_state"]) for f in faults] == [
        ("network", "suspected_network", "none")
    ]
    assert sorted(faults[0]["affected"]) == sorted(cams)
    assert await shown(health, cams) == {"unreachable"}
    await round_(health, cams, range(4, 6), True)
    assert await open_of(health, {"network", *cams}) == []


async def test_every_camera_behind_one_ingest_replica_failing_is_suspected_ours(
    health: HealthService,
) -> None:
    p = uuid.uuid4().hex[:6]
    behind = await add(health, [cam(f"S{p}-a{i}", "宿舍", None) for i in range(10)])
    others = await add(health, [cam(f"S{p}-b{i}", "食堂", None) for i in range(30)])
    await round_(health, others, 0, True, shard=f"b{p}")
    await round_(health, behind, 0, True, shard=f"a{p}")
    await round_(health, behind, range(1, 4), False, shard=f"a{p}")
    faults = await open_of(health, {f"ingest-a{p}", *behind, *others})
    assert [(f["camera_id"], f["kind"]) for f in faults] == [(f"ingest-a{p}", "suspected_network")]


async def test_a_failed_transaction_leaves_nothing_in_memory_and_the_retry_succeeds(
    health: HealthService,
) -> None:
    nvr, cams = await recorder(health, 4)
    await round_(health, cams, range(1, 3), False)
    # PostgreSQL refuses the recorder's fault once (a real failure inside the transaction)
    fn = f"refuse_{uuid.uuid4().hex[:8]}"
    await health.pool.execute(
        f"CREATE FUNCTION health.{fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.camera_id = '{nvr}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
    )
    await health.pool.execute(
        f"CREATE TRIGGER {fn} BEFORE INSERT ON health.faults FOR EACH ROW "
        f"EXECUTE FUNCTION health.{fn}()"
    )
    third = HealthSample(camera_id=cams[0], sampled_at=T0 + timedelta(seconds=90), reachable=False)
    try:
        with pytest.raises(Exception, match="refused"):
            await feed(health, third)
    finally:
        await health.pool.execute(f"DROP TRIGGER {fn} ON health.faults")
        await health.pool.execute(f"DROP FUNCTION health.{fn}()")
    assert health.outages == {} or all(o.cause_id != nvr for o in health.outages.values())
    await feed(health, third)  # redelivered
    await round_(health, cams[1:], 3, False)
    faults = await open_of(health, {nvr, *cams})
    assert [(f["camera_id"], f["kind"]) for f in faults] == [(nvr, "recorder_offline")]
    assert await shown(health, cams) == {"unreachable"}


async def test_a_camera_down_first_is_absorbed_when_its_recorder_turns_out_down(
    health: HealthService,
) -> None:
    nvr, cams = await recorder(health, 6)
    await round_(health, cams[:1], range(1, 4), False)
    assert [f["kind"] for f in await open_of(health, {nvr, *cams})] == ["offline"]
    await round_(health, cams, range(4, 7), False)
    faults = await open_of(health, {nvr, *cams})
    assert [(f["camera_id"], f["kind"]) for f in faults] == [(nvr, "recorder_offline")]
    assert sorted(faults[0]["affected"]) == sorted(cams)
    assert await shown(health, cams) == {"unreachable"}
    (own,) = [f for f in await store.faults(health.pool, 1000) if f["camera_id"] == cams[0]]
    assert own["status"] == "resolved" and nvr in own["close_reason"]
    assert own["ticket_state"] == "none"  # the recorder's one ticket covers it
