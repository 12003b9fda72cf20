"""What a sample or a retention report says beyond up/down: conditions that are faults of
their own (Art. 7 recording and retention, Art. 12 tampering, storage, clock).

A field the probe did not measure (None) says nothing: the condition keeps its standing. A
measured field either shows the condition (open a fault) or shows it clean (resolve it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cctv.contract import regulation
from cctv.contract.campustime import campus_time
from cctv.contract.events import (
    FaultKind,
    HealthSample,
    RetentionReport,
    SegmentDeleted,
    Severity,
)

RETENTION = regulation.RETENTION  # Art. 7
NEVER_EXCUSED: frozenset[FaultKind] = frozenset({"recording_deleted"})
"""Kinds an approved stop/move window (Art. 8) does not excuse: works never delete footage."""
ALIGNMENT = timedelta(hours=12)  # recorders drop whole segments: a shortfall this small is none
FINDING_ZH = {"covered": "遮挡 covered", "moved": "移位 moved", "blurred": "模糊 blurred"}
DEVICE_TAMPER_ALARMS = {
    "tamper": "设备报警 device tamper alarm",
    "scene_change": "场景变更 scene change",
}


@dataclass(frozen=True)
class Condition:
    kind: FaultKind
    severity: Severity
    detail: str


Reading = dict[FaultKind, Condition | None]
"""Per measured kind: the condition found, or None when measured and clean."""


def read_sample(s: HealthSample, clock_drift_max_s: float) -> Reading:
    out: Reading = {}
    if s.auth_ok is not None:
        # reachable but not ours to read: nothing else it reports can be trusted or measured
        out["auth_failed"] = (
            None
            if s.auth_ok
            else Condition(
                "auth_failed",
                "major",
                f"设备拒绝认证，请核对密钥 check the device secret: {s.error}",
            )
        )
    if s.tamper is not None or s.device_alarms is not None:
        found = [FINDING_ZH.get(f, f) for f in s.tamper or []]
        found += [
            DEVICE_TAMPER_ALARMS[a] for a in s.device_alarms or [] if a in DEVICE_TAMPER_ALARMS
        ]
        out["tamper"] = (
            Condition("tamper", "critical", f"{'、'.join(found)} (Art. 12)") if found else None
        )
    if s.tamper is not None or s.device_alarms is not None:
        # Art. 3: a view changed (re-pointed, moved) is an unauthorised change unless an
        # approved stop/move window covers it (the caller drops it inside one)
        changed = "moved" in (s.tamper or []) or "scene_change" in (s.device_alarms or [])
        out["unapproved_outage"] = (
            Condition(
                "unapproved_outage",
                "critical",
                "未经批准改变监控范围 view changed with no approved stop/move (Art. 3)",
            )
            if changed
            else None
        )
    if s.device_alarms is not None or s.streaming is not None:
        lost = "video_loss" in (s.device_alarms or []) or s.streaming is False
        out["video_loss"] = (
            Condition("video_loss", "major", "无视频信号 no video signal") if lost else None
        )
    if s.disk_state is not None:
        out["storage_error"] = (
            None
            if s.disk_state == "ok"
            else Condition("storage_error", "major", f"硬盘状态 disk state: {s.disk_state}")
        )
    if s.clock_offset_s is not None:
        drift = abs(s.clock_offset_s)
        out["clock_drift"] = (
            Condition("clock_drift", "warning", f"时钟偏差 clock off by {s.clock_offset_s:+.0f} s")
            if drift > clock_drift_max_s
            else None
        )
    if s.recording is not None:
        out["recording_gap"] = (
            None
            if s.recording
            else Condition("recording_gap", "major", "未在录像 not recording (Art. 7)")
        )
    return out


def read_retention(r: RetentionReport, installed_at: datetime | None = None) -> Reading:
    """Art. 7: a recorder must keep 30 days; one that keeps less overwrites early.

    A camera of a new point (Art. 6) installed `installed_at` is held only to the footage it
    can have had since; for any other camera the install date is unknown and 30 days apply.
    """
    due = RETENTION
    if installed_at is not None:
        due = min(RETENTION, max(r.observed_at - installed_at, timedelta(0)))
    if r.oldest_retained is None:
        if due <= ALIGNMENT:  # installed moments ago: nothing recorded yet is no violation
            return {"retention_short": None}
        return {"retention_short": Condition("retention_short", "major", "无录像 no recordings")}
    kept = r.observed_at - r.oldest_retained
    if kept >= due - ALIGNMENT:
        return {"retention_short": None}
    days = kept.total_seconds() / 86400
    detail = f"录像仅保存 {days:.1f} 天 keeps only {days:.1f} days (Art. 7)"
    if due < RETENTION:
        age = due.total_seconds() / 86400
        detail = (
            f"录像仅保存 {days:.1f} 天（安装已 {age:.1f} 天）"
            f" keeps only {days:.1f} of the {age:.1f} days since installation (Art. 7)"
        )
    return {"retention_short": Condition("retention_short", "major", detail)}


def read_deletion(d: SegmentDeleted) -> Reading:
    """Art. 3, 7, 18: footage deleted while it had to be kept is raised at once, critical."""
    span = f"{campus_time(d.start)} – {campus_time(d.end)}"  # campus time, as people read it
    if d.under_hold:
        why = "保全期内的录像被删除 held footage deleted (Art. 18)"
    else:
        why = "30天保存期内的录像被删除 deleted within the 30-day retention (Art. 3, 7)"
    return {"recording_deleted": Condition("recording_deleted", "critical", f"{span} {why}")}


def deletion_lapses_at(d: SegmentDeleted, observed_at: datetime) -> datetime:
    """When the gap stops mattering: the footage would have aged out of its 30 days anyway;
    held footage (whose hold end the event does not carry) a year after the deletion."""
    lapses = d.end + RETENTION
    if d.under_hold:
        lapses = max(lapses, regulation.preserved_until(observed_at))  # Art. 18
    return lapses


def changes(
    open_kinds: set[FaultKind], reading: Reading
) -> tuple[list[Condition], list[FaultKind]]:
    """(conditions to open, kinds to resolve) given what is open now."""
    to_open = [c for k, c in reading.items() if c is not None and k not in open_kinds]
    to_resolve = [k for k, c in reading.items() if c is None and k in open_kinds]
    return to_open, to_resolve
