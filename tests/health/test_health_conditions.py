"""Conditions beyond up/down become faults of their own and clear when measured clean:
tampering (Art. 12), recording and retention (Art. 7), storage, clock, video loss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cctv.contract.events import (
    HealthSample,
    NewPointImplemented,
    RetentionReport,
    SegmentDeleted,
    StopMoveWindowApproved,
)
from services.health import store
from services.health.conditions import (
    changes,
    deletion_lapses_at,
    read_deletion,
    read_retention,
    read_sample,
)
from tests.health.harness import T0, a_camera, feed, open_faults

CAM = "X-1"


def s(**kw: object) -> HealthSample:
    return HealthSample(camera_id=CAM, sampled_at=T0, reachable=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sample", "kind", "present"),
    [
        (s(auth_ok=False, error="auth: 401"), "auth_failed", True),
        (s(auth_ok=True), "auth_failed", False),
        (s(tamper=["covered"]), "tamper", True),
        (s(tamper=[]), "tamper", False),
        (s(device_alarms=["scene_change"]), "tamper", True),
        (s(device_alarms=["video_loss"]), "video_loss", True),
        (s(streaming=False), "video_loss", True),
        (s(streaming=True), "video_loss", False),
        (s(disk_state="error"), "storage_error", True),
        (s(disk_state="ok"), "storage_error", False),
        (s(clock_offset_s=-95.0), "clock_drift", True),
        (s(clock_offset_s=4.5), "clock_drift", False),
        (s(recording=False), "recording_gap", True),
        (s(recording=True), "recording_gap", False),
    ],
)
def test_a_measured_field_shows_or_clears_its_condition(
    sample: HealthSample, kind: str, present: bool
) -> None:
    reading = read_sample(sample, clock_drift_max_s=30)
    assert kind in reading
    assert (reading[kind] is not None) is present  # type: ignore[index]


def test_an_unmeasured_field_says_nothing() -> None:
    assert read_sample(s(), clock_drift_max_s=30) == {}
    down = HealthSample(camera_id=CAM, sampled_at=T0, reachable=False, error="timeout: 3 s")
    assert read_sample(down, clock_drift_max_s=30) == {}


def test_retention_under_thirty_days_is_a_violation() -> None:
    def kept(days: float) -> RetentionReport:
        return RetentionReport(
            camera_id=CAM, oldest_retained=T0 - timedelta(days=days), observed_at=T0
        )

    short = read_retention(kept(12))["retention_short"]
    assert short is not None and "12.0" in short.detail and "Art. 7" in short.detail
    assert read_retention(kept(35)) == {"retention_short": None}
    assert read_retention(kept(29.8)) == {"retention_short": None}  # segment alignment


def test_a_new_point_owes_only_the_footage_since_installation() -> None:
    """Art. 6 and 7: a camera installed 5 days ago cannot keep 30; it must keep those 5."""
    installed = T0 - timedelta(days=5)

    def kept(days: float) -> RetentionReport:
        return RetentionReport(
            camera_id=CAM, oldest_retained=T0 - timedelta(days=days), observed_at=T0
        )

    assert read_retention(kept(5), installed) == {"retention_short": None}
    short = read_retention(kept(2), installed)["retention_short"]
    assert short is not None and "安装已 5.0 天" in short.detail and "Art. 7" in short.detail
    assert read_retention(kept(29.8), T0 - timedelta(days=90)) == {"retention_short": None}
    assert read_retention(kept(20), T0 - timedelta(days=90))["retention_short"] is not None
    nothing_yet = RetentionReport(camera_id=CAM, oldest_retained=None, observed_at=T0)
    assert read_retention(nothing_yet, T0 - timedelta(hours=1)) == {"retention_short": None}
    assert read_retention(nothing_yet, installed)["retention_short"] is not None


def test_footage_deleted_while_it_had_to_be_kept_is_critical_until_it_would_have_aged_out() -> None:
    early = SegmentDeleted(camera_id=CAM, start=T0, end=T0 + timedelta(hours=1),
                           within_retention=True)  # fmt: skip
    found = read_deletion(early)["recording_deleted"]
    assert found is not None and found.severity == "critical"
    assert "30天保存期内" in found.detail and "Art. 3, 7" in found.detail
    # the deleted span as people read it: campus time, zone marked (issue 15); T0 is 01:00 UTC
    assert "2026-06-07 09:00 (UTC+8) – 2026-06-07 10:00 (UTC+8)" in found.detail
    assert deletion_lapses_at(early, T0 + timedelta(days=2)) == T0 + timedelta(days=30, hours=1)
    held = early.model_copy(update={"within_retention": False, "under_hold": True})
    found = read_deletion(held)["recording_deleted"]
    assert found is not None and "Art. 18" in found.detail
    assert deletion_lapses_at(held, T0 + timedelta(days=40)) == T0 + timedelta(days=405)


def test_changes_open_new_and_resolve_cleared_only() -> None:
    reading = read_sample(s(tamper=["moved"], disk_state="ok"), clock_drift_max_s=30)
    to_open, to_resolve = changes({"storage_error", "clock_drift"}, reading)
    assert [c.kind for c in to_open] == ["tamper", "unapproved_outage"]  # Art. 12 and Art. 3
    assert to_resolve == ["storage_error"]  # clock not measured: stays open


async def test_tampering_opens_a_critical_fault_and_clears(health) -> None:  # type: ignore[no-untyped-def]
    cam = await a_camera(health)
    sample = HealthSample(camera_id=cam, sampled_at=T0, reachable=True, tamper=["covered"])
    await feed(health, sample)
    await feed(health, sample.model_copy(update={"sampled_at": T0 + timedelta(seconds=5)}))
    [fault] = await open_faults(health, cam)  # once, not per sample
    assert (fault["kind"], fault["severity"]) == ("tamper", "critical")
    assert "遮挡" in fault["detail"] and "Art. 12" in fault["detail"]
    await feed(health, sample.model_copy(update={"tamper": [], "sampled_at": T0 + timedelta(1)}))
    assert await open_faults(health, cam) == []


async def test_short_retention_opens_a_fault_until_the_recorder_keeps_thirty_days(health) -> None:  # type: ignore[no-untyped-def]
    cam = await a_camera(health)
    report = RetentionReport(camera_id=cam, oldest_retained=T0 - timedelta(days=9), observed_at=T0)
    await feed(health, report)
    [fault] = await open_faults(health, cam)
    assert fault["kind"] == "retention_short"
    await feed(health, report.model_copy(update={"oldest_retained": T0 - timedelta(days=31)}))
    assert await open_faults(health, cam) == []


async def test_a_new_points_recorder_is_held_to_its_age_not_thirty_days(health) -> None:  # type: ignore[no-untyped-def]
    cam = await a_camera(health)
    installed = T0 - timedelta(days=3)
    record = await store.camera(health.pool, cam)
    assert record is not None
    await feed(health, NewPointImplemented(request_id="NP-R", cameras=[record]), at=installed)
    report = RetentionReport(camera_id=cam, oldest_retained=installed, observed_at=T0)
    await feed(health, report)
    assert await open_faults(health, cam) == []
    # ten days on, still only three days kept: it overwrites early
    later = T0 + timedelta(days=10)
    await feed(health, report.model_copy(update={
        "oldest_retained": later - timedelta(days=3), "observed_at": later
    }))  # fmt: skip
    [fault] = await open_faults(health, cam)
    assert fault["kind"] == "retention_short" and "安装已 13.0 天" in fault["detail"]


async def test_a_deletion_opens_one_critical_fault_that_closes_when_the_gap_lapses(health) -> None:  # type: ignore[no-untyped-def]
    cam = await a_camera(health)
    now = datetime.now(UTC)
    # approved works excuse an outage, never a deletion (Art. 8 vs Art. 7)
    await feed(health, StopMoveWindowApproved(
        request_id="SM-D", camera_ids=[cam], starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=4),
    ))  # fmt: skip
    old = SegmentDeleted(camera_id=cam, start=now - timedelta(days=29, hours=2),
                         end=now - timedelta(days=29, hours=1), within_retention=True)  # fmt: skip
    two_days = now - timedelta(days=2)
    recent = old.model_copy(update={"start": two_days, "end": two_days + timedelta(hours=1)})
    await feed(health, old)
    await feed(health, recent)
    [fault] = await open_faults(health, cam)  # one per camera, not one per segment
    assert (fault["kind"], fault["severity"]) == ("recording_deleted", "critical")
    await health.lapse_deletions()
    assert [f["fault_id"] for f in await open_faults(health, cam)] == [fault["fault_id"]]
    # both gaps aged out of their 30 days: nothing is missing any more that had to be kept
    await health.pool.execute(
        "UPDATE health.deletions SET lapses_at = now() - interval '1 second' WHERE camera_id=$1",
        cam,
    )
    await health.lapse_deletions()
    assert await open_faults(health, cam) == []


async def test_conditions_inside_approved_works_are_expected(health) -> None:  # type: ignore[no-untyped-def]
    cam = await a_camera(health)
    await feed(health, StopMoveWindowApproved(
        request_id="SM-C", camera_ids=[cam], starts_at=T0, ends_at=T0 + timedelta(hours=4)
    ))  # fmt: skip
    await feed(health, HealthSample(
        camera_id=cam, sampled_at=T0 + timedelta(hours=1), reachable=True, tamper=["moved"]
    ))  # fmt: skip
    assert await open_faults(health, cam) == []
