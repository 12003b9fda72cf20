"""Art. 12: a camera not armed while its system's arming schedule says it must be is a
`not_armed` fault of its own; armed again, or outside the schedule, it resolves. A key place
with no schedule on file must be armed always; approved stop/move works excuse it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from cctv.contract import CameraRecord
from cctv.contract.events import (
    CameraUpserted,
    HealthSample,
    ResponsibleScheduleSet,
    StopMoveWindowApproved,
)
from services.health import app as health_app
from services.health.arming import ALWAYS, Period, Schedule, parse_schedule, read_arming
from tests.health.harness import T0, feed, open_faults

# T0 is 09:00 campus time (UTC+8)


async def a_camera_at(
    h: health_app.HealthService, *, key: bool, system_id: str | None = None
) -> CameraRecord:
    tag = uuid.uuid4().hex[:6]
    cam = CameraRecord(
        camera_id=f"ARM-{tag}", name="财务处金库", system_id=system_id or f"S{tag}",
        department="finance", managing_department="finance", category="department",
        sensitivity=["key_point"] if key else [], building="行政楼", position="1楼金库",
        zone="行政区", brand="hikvision", protocol="isapi", address="127.0.0.1:80",
    )  # fmt: skip
    await feed(h, CameraUpserted(camera=cam))
    return cam


async def armed(h: health_app.HealthService, cam: CameraRecord, at: datetime, on: bool) -> None:
    await feed(h, HealthSample(camera_id=cam.camera_id, sampled_at=at, reachable=True, armed=on))


async def file_schedule(
    h: health_app.HealthService, system_id: str, periods: list[dict], at: datetime = T0
) -> None:
    await feed(
        h,
        ResponsibleScheduleSet(
            request_id=system_id, process="responsible", transition="schedule_set", at=at,
            summary={"system_id": system_id, "schedule": periods},
        ),
    )  # fmt: skip


async def not_armed(h: health_app.HealthService, cam: CameraRecord) -> list[dict]:
    return [f for f in await open_faults(h, cam.camera_id) if f["kind"] == "not_armed"]


async def test_key_place_disarmed_is_one_fault_and_rearmed_resolves(
    health: health_app.HealthService,
) -> None:
    cam = await a_camera_at(health, key=True)
    await armed(health, cam, T0, True)
    assert await not_armed(health, cam) == []
    await armed(health, cam, T0 + timedelta(minutes=1), False)
    await armed(health, cam, T0 + timedelta(minutes=2), False)  # still off: no second fault
    [fault] = await not_armed(health, cam)
    assert "Art. 12" in fault["detail"] and fault["severity"] == "major"
    assert fault["ticket_state"] == "pending"  # routed to repair like the others
    opened = await health.pool.fetch(
        "SELECT payload FROM health.outbox WHERE subject=$1", f"cctv.fault.opened.{cam.camera_id}"
    )
    [payload] = [json.loads(p["payload"]) for p in opened]
    assert payload["data"]["kind"] == "not_armed"
    assert (payload["data"]["building"], payload["data"]["zone"]) == ("行政楼", "行政区")

    await armed(health, cam, T0 + timedelta(minutes=3), True)
    assert await not_armed(health, cam) == []
    resolved = await health.pool.fetchval(
        "SELECT count(*) FROM health.outbox WHERE subject=$1",
        f"cctv.fault.resolved.{cam.camera_id}",
    )
    assert resolved == 1


async def test_outside_the_schedule_disarmed_is_no_fault(
    health: health_app.HealthService,
) -> None:
    """Filed: armed every night 18:00-08:00. At 09:00 a disarmed recorder owes nothing; at
    19:00 it does (after the grace), and at 08:30 the next morning the fault resolves."""
    cam = await a_camera_at(health, key=True)
    await file_schedule(health, cam.system_id, [
        {"days": "daily", "arm_at": "18:00:00", "disarm_at": "08:00:00"}
    ])  # fmt: skip
    await armed(health, cam, T0, False)  # 09:00
    assert await not_armed(health, cam) == []
    await armed(health, cam, T0 + timedelta(hours=9, minutes=1), False)  # 18:01, in grace
    assert await not_armed(health, cam) == []
    await armed(health, cam, T0 + timedelta(hours=10), False)  # 19:00
    [fault] = await not_armed(health, cam)
    assert "18:00-08:00" in fault["detail"]
    await armed(health, cam, T0 + timedelta(hours=23, minutes=30), False)  # 08:30 next day
    assert await not_armed(health, cam) == []


async def test_no_schedule_and_no_key_place_owes_nothing(
    health: health_app.HealthService,
) -> None:
    cam = await a_camera_at(health, key=False)
    await armed(health, cam, T0, False)
    assert await not_armed(health, cam) == []


async def test_a_filed_schedule_binds_an_ordinary_camera(
    health: health_app.HealthService,
) -> None:
    cam = await a_camera_at(health, key=False)
    await file_schedule(health, cam.system_id, [
        {"days": "daily", "arm_at": "08:00:00", "disarm_at": "17:30:00"}
    ])  # fmt: skip
    await armed(health, cam, T0, False)
    assert len(await not_armed(health, cam)) == 1


async def test_an_older_filing_delivered_late_changes_nothing(
    health: health_app.HealthService,
) -> None:
    cam = await a_camera_at(health, key=False)
    day = [{"days": "daily", "arm_at": "08:00:00", "disarm_at": "17:30:00"}]
    night = [{"days": "daily", "arm_at": "18:00:00", "disarm_at": "07:00:00"}]
    await file_schedule(health, cam.system_id, night, T0)
    await file_schedule(health, cam.system_id, day, T0 - timedelta(days=1))
    await armed(health, cam, T0, False)  # 09:00: the night schedule stands
    assert await not_armed(health, cam) == []
    await health.load_schedules()  # and after a restart
    assert str(health.schedules[cam.system_id]) == "每天 18:00-07:00"


async def test_approved_stop_move_excuses_a_disarmed_recorder(
    health: health_app.HealthService,
) -> None:
    cam = await a_camera_at(health, key=True)
    await feed(health, StopMoveWindowApproved(
        request_id=f"SM-{cam.camera_id}", camera_ids=[cam.camera_id],
        starts_at=T0 - timedelta(hours=1), ends_at=T0 + timedelta(hours=1),
    ))  # fmt: skip
    await armed(health, cam, T0, False)
    assert await not_armed(health, cam) == []
    await armed(health, cam, T0 + timedelta(hours=2), False)  # the works are over
    assert len(await not_armed(health, cam)) == 1


async def test_a_bad_schedule_is_refused_by_name(health: health_app.HealthService) -> None:
    """A malformed filing never reaches the handler: decoding it fails (dead-lettered)."""
    with pytest.raises(ValidationError, match="days"):
        await file_schedule(health, "S-bad", [
            {"days": "weekly", "arm_at": "18:00", "disarm_at": "08:00"}
        ])  # fmt: skip
    assert "S-bad" not in health.schedules


def test_schedule_crossing_midnight_on_workdays() -> None:
    sched = Schedule((Period("workday", time(18), time(8)),), "s")
    friday = date(2026, 6, 5)
    workday = lambda d: d.weekday() < 5  # noqa: E731
    campus = lambda d, h: datetime(d.year, d.month, d.day, h, tzinfo=UTC) - timedelta(hours=8)  # noqa: E731
    assert sched.requires(campus(friday, 19), workday)
    assert sched.requires(campus(friday + timedelta(days=1), 7), workday)  # Fri night
    assert not sched.requires(campus(friday + timedelta(days=1), 19), workday)  # Saturday
    assert not sched.requires(campus(friday, 12), workday)


def test_reading_says_nothing_when_the_device_did_not() -> None:
    assert read_arming(None, ALWAYS, T0) == {}
    assert read_arming(True, ALWAYS, T0) == {"not_armed": None}
    assert read_arming(False, None, T0) == {"not_armed": None}
    assert read_arming(False, ALWAYS, T0)["not_armed"] is not None


def test_the_devices_reason_is_in_the_fault_detail() -> None:
    """Why the device is not armed (its record mode, or a schedule that excludes now)."""
    found = read_arming(False, ALWAYS, T0, reason="录像模式关闭 record mode stop")["not_armed"]
    assert found is not None and found.detail.endswith(
        "; 设备 device: 录像模式关闭 record mode stop"
    )
    plain = read_arming(False, ALWAYS, T0)["not_armed"]
    assert plain is not None and "设备 device" not in plain.detail


def test_parse_schedule_refuses_equal_times() -> None:
    with pytest.raises(ValueError, match=r"system S arming period 1: .*must differ"):
        parse_schedule("S", [{"days": "daily", "arm_at": "08:00", "disarm_at": "08:00"}])


def test_the_filing_workflow_publishes_reaches_health_typed() -> None:
    """What workflow's schedule_set publishes decodes with the periods typed (no consumer
    reads the summary)."""
    from cctv.contract import decode, wrap
    from services.workflow.org import Actor, Role
    from services.workflow.publishing import to_event
    from services.workflow.responsible import ArmingPeriod, SystemFile

    sf = SystemFile(system_id="A1-09", department="logistics")
    actor = Actor(person_id="h1", name="h", department="logistics", roles=frozenset({Role.HEAD}))
    [t] = sf.set_schedule(actor, T0, [ArmingPeriod.model_validate(
        {"days": "workday", "arm_at": "18:00", "disarm_at": "08:00"}
    )])  # fmt: skip
    raw = wrap(to_event(t), source="workflow", key=t.key).to_bytes()
    _env, event = decode(raw, "cctv.workflow.responsible.schedule_set.A1-09")
    assert isinstance(event, ResponsibleScheduleSet)
    assert event.system_id == "A1-09"
    assert str(parse_schedule(event.system_id, event.schedule)) == "工作日 18:00-08:00"
