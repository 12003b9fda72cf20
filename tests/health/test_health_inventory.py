"""Every inventory camera has its series from health's start, restored after a restart,
relabelled on a move and gone on removal; removal closes faults; NIC closes a fault by hand
(issue 9, issue 16 item 6)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest
from prometheus_client import REGISTRY

from cctv.contract import CameraRecord, subject_for, wrap
from cctv.contract.events import CameraRemoved, CameraUpserted, HealthSample
from cctv.plumbing.service import RpcError
from services.health import app as health_app
from services.health import store
from services.health.app import HealthService
from tests.health.harness import T0, a_camera, down_in_window, feed, open_faults, sample, state


def record(camera_id: str) -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name="门口", system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building="综合楼",
        position="1F", zone="办公区", brand="hikvision", protocol="isapi", address="127.0.0.1:80",
    )  # fmt: skip


def up(camera_id: str, building: str, zone: str) -> float | None:
    return REGISTRY.get_sample_value(
        "cctv_camera_up", {"camera_id": camera_id, "building": building, "zone": zone}
    )


def in_state(camera_id: str, building: str, zone: str, st: str) -> float | None:
    return REGISTRY.get_sample_value(
        "cctv_camera_state",
        {"camera_id": camera_id, "building": building, "zone": zone, "state": st},
    )


def series_of(camera_id: str) -> list[dict[str, str]]:
    return [
        s.labels
        for m in REGISTRY.collect()
        if m.name == "cctv_camera_up"
        for s in m.samples
        if s.labels.get("camera_id") == camera_id
    ]


async def test_a_camera_has_its_series_from_the_start_moves_and_goes(
    health: HealthService,
) -> None:
    cam = await a_camera(health)
    assert up(cam, "教学楼", "教学区") == 0  # known, not yet measured: a series, not none
    assert in_state(cam, "教学楼", "教学区", "unknown") == 1
    await sample(health, cam, T0, True)
    assert up(cam, "教学楼", "教学区") == 1
    record = health.view.get(cam)
    assert record is not None
    moved = record.model_copy(update={"building": "图书馆", "zone": "图书区"})
    await feed(health, CameraUpserted(camera=moved), at=datetime.now(UTC))
    assert series_of(cam) == [{"camera_id": cam, "building": "图书馆", "zone": "图书区"}]
    assert up(cam, "图书馆", "图书区") == 1
    await feed(health, CameraRemoved(camera_id=cam, reason="拆除"), at=datetime.now(UTC))
    assert series_of(cam) == []


async def test_maintenance_is_its_own_state_not_downtime(health: HealthService) -> None:
    cam, _ = await down_in_window(health, T0, T0 + timedelta(hours=2))
    assert in_state(cam, "教学楼", "教学区", "maintenance") == 1
    assert in_state(cam, "教学楼", "教学区", "down") == 0


async def test_a_restart_restores_every_series_and_reads_gauges_from_the_database(
    health: HealthService, nats_url: str
) -> None:
    p = f"R{uuid.uuid4().hex[:6]}"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    records = [record(f"{p}-{i}") for i in range(3)]
    for r in records:
        env = wrap(CameraUpserted(camera=r), source="ingest", key=r.camera_id)
        await js.publish(subject_for(CameraUpserted(camera=r), r.camera_id), env.to_bytes())
    down = records[0].camera_id
    await feed(health, CameraUpserted(camera=records[0]))
    await sample(health, down, T0, True)
    for i in range(1, 4):
        await sample(health, down, T0 + timedelta(seconds=i), False)
    assert await state(health, down) == "down"

    # a new process: nothing in memory, series gone, the inventory read from the stream
    health_app.CAMERA_UP.clear()
    health_app.CAMERA_STATE.clear()
    health_app.FAULTS_OPEN.set(-2)
    again = HealthService(health.svc, health.svc.settings, health.repair)  # type: ignore[arg-type]
    # consumers run before the snapshot is read: a sample that changes no state comes first
    await sample(again, down, T0 + timedelta(seconds=9), False)
    await again.view.start(nc)
    try:
        await again.reconcile()
        assert up(down, "综合楼", "办公区") == 0
        assert in_state(down, "综合楼", "办公区", "down") == 1
        for r in records[1:]:  # never sampled, yet counted: unknown
            assert in_state(r.camera_id, "综合楼", "办公区", "unknown") == 1
        opened = await health.pool.fetchval(
            "SELECT count(*) FROM health.faults WHERE status='open'"
        )
        assert REGISTRY.get_sample_value("cctv_faults_open") == opened
        # a fault raised for a camera health had only from the snapshot carries its place
        only_streamed = records[1].camera_id
        await sample(again, only_streamed, T0, True)
        for i in range(1, 4):
            await sample(again, only_streamed, T0 + timedelta(seconds=i), False)
        payloads = await health.pool.fetch(
            "SELECT payload FROM health.outbox WHERE subject = $1",
            f"cctv.fault.opened.{only_streamed}",
        )
        (opened_event,) = [json.loads(r["payload"])["data"] for r in payloads]
        assert (opened_event["building"], opened_event["zone"]) == ("综合楼", "办公区")
    finally:
        await again.view.stop()
        await nc.close()


async def test_removing_a_camera_closes_its_faults_and_tickets(health: HealthService) -> None:
    cam = await a_camera(health)
    await sample(health, cam, T0, True)
    for i in range(1, 4):
        await sample(health, cam, T0 + timedelta(seconds=i), False)
    await feed(health, HealthSample(
        camera_id=cam, sampled_at=T0 + timedelta(seconds=5), reachable=True, tamper=["covered"]
    ))  # fmt: skip
    assert {f["kind"] for f in await open_faults(health, cam)} == {"offline", "tamper"}
    await health.pool.execute(  # one of them already has its ticket
        "UPDATE health.faults SET ticket_state='opened', ticket_no='BX-1' "
        "WHERE camera_id=$1 AND kind='offline'",
        cam,
    )
    await feed(health, CameraRemoved(camera_id=cam, reason="拆除"), at=datetime.now(UTC))
    assert await open_faults(health, cam) == []
    rows = [f for f in await store.faults(health.pool, 1000) if f["camera_id"] == cam]
    assert {(f["kind"], f["ticket_state"], f["closed_by"]) for f in rows} == {
        ("offline", "opened", "inventory"),  # follow_tickets closes it with the reason
        ("tamper", "none", "inventory"),  # no crew sent to a removed camera
    }
    assert all("removed" in f["close_reason"] for f in rows)
    assert [s for s in await store.states(health.pool) if s["camera_id"] == cam] == []
    for i in range(6, 10):  # its last samples in flight raise nothing
        await sample(health, cam, T0 + timedelta(seconds=i), False)
    assert await open_faults(health, cam) == []


async def test_an_old_upsert_delivered_late_does_not_undo_a_removal(
    health: HealthService,
) -> None:
    cam = await a_camera(health)
    record = health.view.get(cam)
    assert record is not None
    now = datetime.now(UTC)
    await feed(health, CameraRemoved(camera_id=cam), at=now)
    await feed(health, CameraUpserted(camera=record), at=now - timedelta(minutes=1))
    assert await store.camera(health.pool, cam) is None
    assert health.view.get(cam) is None


async def test_nic_closes_a_fault_by_hand_with_a_reason(health: HealthService) -> None:
    from cctv.contract.events import SegmentDeleted

    cam = await a_camera(health)
    await feed(health, SegmentDeleted(
        camera_id=cam, start=T0, end=T0 + timedelta(hours=1), within_retention=True
    ))  # fmt: skip
    (fault,) = await open_faults(health, cam)
    assert fault["kind"] == "recording_deleted"
    with pytest.raises(RpcError, match="reason"):
        await health.close_by_hand(fault["fault_id"], "  ", "nic:wang")
    with pytest.raises(RpcError, match="no fault"):
        await health.close_by_hand("no-such-fault", "checked", "nic:wang")
    closed = await health.close_by_hand(fault["fault_id"], "已核查：存储更换 disk swap", "nic:wang")
    assert closed["fault"]["status"] == "resolved"
    assert await open_faults(health, cam) == []
    with pytest.raises(RpcError, match="already resolved"):
        await health.close_by_hand(fault["fault_id"], "again", "nic:wang")
    (row,) = await health.pool.fetch(
        "SELECT payload FROM health.outbox WHERE subject=$1", f"cctv.fault.resolved.{cam}"
    )
    env = json.loads(row["payload"])
    assert env["actor"] == "nic:wang"
    assert env["data"]["closed_by"] == "nic:wang" and "disk swap" in env["data"]["reason"]
    # a new deletion afterwards is a new fault
    await feed(health, SegmentDeleted(
        camera_id=cam, start=T0 + timedelta(hours=2), end=T0 + timedelta(hours=3),
        within_retention=True,
    ))  # fmt: skip
    assert len(await open_faults(health, cam)) == 1


async def test_a_view_changed_without_approval_is_an_unapproved_outage(
    health: HealthService,
) -> None:
    cam = await a_camera(health)
    await feed(health, HealthSample(
        camera_id=cam, sampled_at=T0, reachable=True, device_alarms=["scene_change"]
    ))  # fmt: skip
    kinds = {(f["kind"], f["severity"]) for f in await open_faults(health, cam)}
    assert ("unapproved_outage", "critical") in kinds
    await feed(health, HealthSample(
        camera_id=cam, sampled_at=T0 + timedelta(seconds=9), reachable=True, device_alarms=[]
    ))  # fmt: skip
    assert await open_faults(health, cam) == []
