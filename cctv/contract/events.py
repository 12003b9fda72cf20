"""One pydantic model per event: the public contract other campus systems read.

Each class names its `TYPE`; the subject is `cctv.<TYPE>[.<key>]`. Add fields only with
defaults (additive change within a schema version); a breaking change needs a new version.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from . import regulation
from .campustime import parse_instant
from .orgs import DEPARTMENTS

REGISTRY: dict[str, type[Event]] = {}

Category = Literal["public_safety", "teaching_exam", "dormitory", "department", "confidential"]
Sensitivity = Literal["privacy", "national_exam", "exam_paper_vault", "key_point"]
Department = str  # a key of cctv.contract.orgs.DEPARTMENTS
Severity = Literal["info", "warning", "major", "critical"]


class Event(BaseModel):
    """Base of every event body. Subclasses register themselves by TYPE."""

    model_config = ConfigDict(extra="forbid")
    TYPE: ClassVar[str] = ""
    STREAM: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.TYPE:
            if cls.TYPE in REGISTRY:
                raise TypeError(f"event type {cls.TYPE!r} defined twice")
            REGISTRY[cls.TYPE] = cls


# --- camera inventory and state -------------------------------------------------------


# Art. 16(1)1 (and Art. 4): who manages each public category -- the regulation module's table.
CATEGORY_MANAGER = regulation.CATEGORY_MANAGER


class CameraRecord(BaseModel):
    """A camera as the inventory knows it (Annex 1 system + per-camera fields)."""

    model_config = ConfigDict(extra="forbid")
    camera_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=128)
    system_id: str = Field(min_length=1, max_length=32)
    department: Department
    managing_department: Department
    category: Category
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    building: str
    position: str
    zone: str
    # "onvif" / "rtsp": any conformant device of another maker (Uniview, Tiandy, Axis, ...)
    brand: Literal["hikvision", "dahua", "jingyeda", "onvif", "rtsp"]
    protocol: Literal["isapi", "dahua", "onvif", "rtsp"]
    address: str
    nvr_id: str | None = None
    channel: int | None = None
    storage_location: str = ""
    monitoring_level: Literal["school", "department"] | None = None
    # where the live stream is when it is not where the protocol finds it (ONVIF discovery,
    # the vendor's path at the address); never with credentials in it
    stream_url: str | None = Field(
        default=None, max_length=512, pattern=r"^rtsps?://[^@/\s]+(/\S*)?$"
    )

    @model_validator(mode="after")
    def _managing_department_follows_category(self) -> CameraRecord:
        """Art. 16(1)1 decides who manages a category; a record saying otherwise would show
        one approver in the inventory while routing uses another (issue 15)."""
        want = regulation.managing_department(self.category, self.department)
        if self.managing_department != want:
            raise PydanticCustomError(
                "managing_department_contradicts_category",
                "管理部门 {given} 与类别 {category} 不符，应为 {want} (Art. 16(1)1) / managing "
                "department {given} contradicts category {category}: it is {want} (Art. 16(1)1)",
                {
                    "column": "managing_department",
                    "given": self.managing_department,
                    "category": self.category,
                    "want": f"{DEPARTMENTS.get(want, (want,))[0]} {want}",
                },
            )
        return self


class CameraUpserted(Event):
    TYPE = "camera.upserted"
    STREAM = "CCTV_CAMERA"
    camera: CameraRecord


class CameraRemoved(Event):
    TYPE = "camera.removed"
    STREAM = "CCTV_CAMERA"
    camera_id: str
    reason: str = ""


class HealthSample(Event):
    """What one probe of one camera measured. High-volume telemetry, not audited."""

    TYPE = "telemetry.sample"
    STREAM = "CCTV_TELEMETRY"
    camera_id: str
    sampled_at: datetime
    reachable: bool
    latency_ms: float | None = None
    auth_ok: bool | None = None
    streaming: bool | None = None
    recording: bool | None = None
    # the device's facts, read on every third sample or so (ingest's DEVICE_FACTS_EVERY,
    # ADR 0032); None = not read this time, never "fine"
    disk_state: str | None = None
    clock_offset_s: float | None = None
    error: str | None = None
    shard: str | None = None
    # Art. 12 checks of the camera's latest sampled frame against its reference: the findings
    # active now ([] = checked and clean); None = no frame of this camera checked yet.
    tamper: list[Literal["covered", "moved", "blurred"]] | None = None
    tamper_checked_at: datetime | None = None
    # alarms the device itself reports active ("video_loss", "tamper", "scene_change");
    # None = the protocol gives no alarm state on a probe.
    device_alarms: list[str] | None = None
    # False when ingest itself could not measure the camera this round (its own scheduler lag,
    # a skipped slot, a timeout while ingest's loop or CPU was the bottleneck): not a failed
    # sample of the camera. Health leaves the camera's state as it was (issue 9).
    measured: bool = True
    unmeasured_reason: str | None = None
    # Art. 12: the recorder's arming state for this channel (ONVIF recording job Mode Active;
    # Hikvision track and Dahua record mode on, and their record schedule covering now,
    # campus time); None = not read this round, or the device's answer could not say.
    armed: bool | None = None
    # Why `armed` is what it is (the record mode, schedule section or action that decides,
    # or what could not be read); health shows it with a not_armed fault.
    armed_reason: str | None = None


CameraState = Literal["up", "down", "maintenance", "unreachable", "unknown"]
"""`maintenance`: down inside an approved stop/move window (Art. 8), not counted as downtime;
`unreachable`: down behind a recorder (or a suspected network/ingest cause) that has the fault."""


class CameraStateChanged(Event):
    TYPE = "camera.state"
    STREAM = "CCTV_CAMERA"
    camera_id: str
    state: CameraState
    previous: CameraState
    since: datetime
    reason: str = ""


class TamperFinding(Event):
    """Art. 12: a covered, moved or blurred camera, found by comparing with its reference."""

    TYPE = "camera.tamper"
    STREAM = "CCTV_CAMERA"
    camera_id: str
    finding: Literal["covered", "moved", "blurred"]
    score: float
    threshold: float
    observed_at: datetime


# --- recordings (Art. 7) ----------------------------------------------------------------


class RecordingSegment(Event):
    TYPE = "recording.segment"
    STREAM = "CCTV_RECORDING"
    camera_id: str
    start: datetime
    end: datetime
    bytes: int = Field(ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class RetentionReport(Event):
    TYPE = "recording.retention"
    STREAM = "CCTV_RECORDING"
    camera_id: str
    oldest_retained: datetime | None
    observed_at: datetime


class SegmentDeleted(Event):
    TYPE = "recording.deleted"
    STREAM = "CCTV_RECORDING"
    camera_id: str
    start: datetime
    end: datetime
    within_retention: bool
    under_hold: bool = False


# --- faults and repair tickets (Art. 4, 7, 8, 12) ----------------------------------------

FaultKind = Literal[
    "offline",
    "auth_failed",
    "video_loss",
    "recording_gap",
    "retention_short",
    "storage_error",
    "clock_drift",
    "tamper",
    "unapproved_outage",
    "recording_deleted",
    "recorder_offline",
    "suspected_network",
    "not_armed",
]
"""`not_armed`: Art. 12, the recorder is not armed (not recording on its schedule) while the
system's arming schedule says it must be. `recorder_offline`: one fault for a recorder (NVR)
whose cameras are down together, with `camera_id` the recorder's id and the cameras in
`affected_camera_ids`. `suspected_network`: a mass failure across buildings or behind one
ingest replica, suspected ours or the network's before it is any camera's; `camera_id` names
the suspected cause."""


class FaultOpened(Event):
    TYPE = "fault.opened"
    STREAM = "CCTV_FAULT"
    fault_id: str
    camera_id: str
    kind: FaultKind
    severity: Severity
    detected_at: datetime
    camera_name: str = ""
    building: str = ""
    zone: str = ""
    detail: str = ""
    affected_camera_ids: list[str] = Field(default_factory=list)


class FaultResolved(Event):
    TYPE = "fault.resolved"
    STREAM = "CCTV_FAULT"
    fault_id: str
    camera_id: str
    kind: FaultKind
    resolved_at: datetime
    camera_name: str = ""
    building: str = ""
    zone: str = ""
    # closed by hand (NIC, after investigation) or by the camera's removal: who and why
    closed_by: str | None = None
    reason: str = ""
    affected_camera_ids: list[str] = Field(default_factory=list)


class RepairTicketOpened(Event):
    """Art. 4: the fault was reported to the one-card repair system."""

    TYPE = "fault.ticket_opened"
    STREAM = "CCTV_FAULT"
    fault_id: str
    camera_id: str
    ticket_no: str


class RepairTicketClosed(Event):
    TYPE = "fault.ticket_closed"
    STREAM = "CCTV_FAULT"
    fault_id: str
    camera_id: str
    ticket_no: str


# --- alerts (Art. 13) ----------------------------------------------------------------------


class AlertRaised(Event):
    TYPE = "alert.raised"
    STREAM = "CCTV_ALERT"
    alert_id: str
    fault_id: str | None = None
    camera_id: str | None = None
    zone: str
    severity: Severity
    recipient: str
    title: str
    body: str = ""


class AlertDelivered(Event):
    TYPE = "alert.delivered"
    STREAM = "CCTV_ALERT"
    alert_id: str
    recipient: str
    channel: str


class AlertAcknowledged(Event):
    TYPE = "alert.acknowledged"
    STREAM = "CCTV_ALERT"
    alert_id: str
    recipient: str
    acknowledged_at: datetime


class AllClear(Event):
    TYPE = "alert.allclear"
    STREAM = "CCTV_ALERT"
    alert_id: str
    fault_id: str | None = None
    camera_id: str | None = None
    recipient: str
    title: str


class AlertEscalated(Event):
    """Art. 13: nobody acknowledged in time, so the next level of the duty chain hears of it
    (guard/gatekeeper → duty operator → NIC on call → security office head)."""

    TYPE = "alert.escalated"
    STREAM = "CCTV_ALERT"
    fault_id: str
    camera_id: str | None = None
    level: int = Field(ge=1)
    role: str
    recipients: list[str]
    reason: str


class AlertHandedOver(Event):
    """Art. 13-14: an open, unacknowledged alert or directive passed from a person going off
    duty to who now holds it (the incoming operator of an Art. 14 handover, or the zone's next
    shift); it no longer asks the first person to acknowledge it."""

    TYPE = "alert.handed_over"
    STREAM = "CCTV_ALERT"
    alert_id: str
    fault_id: str
    camera_id: str | None = None
    recipient: str  # who had it
    to: list[str]  # who has it now (their own alerts: alert.raised)
    handover_id: str | None = None  # the Art. 14 handover it passed in, if any
    reason: str = ""


class DirectiveIssued(Event):
    """Art. 13: the duty room's directive to guards and gatekeepers; each must acknowledge it,
    and whoever has not in time is escalated like an alert."""

    TYPE = "alert.directive"
    STREAM = "CCTV_ALERT"
    directive_id: str
    sender: str
    zone: str | None = None
    recipients: list[str]
    text: str
    severity: Severity


# --- workflow (Art. 8): what health needs from approved stop/move windows -------------------


class StopMoveWindowApproved(Event):
    """An approved stop/move window: outages of these cameras inside it are expected."""

    TYPE = "workflow.stopmove.approved"
    STREAM = "CCTV_WORKFLOW"
    request_id: str
    camera_ids: list[str]
    starts_at: datetime
    ends_at: datetime


# --- access records (Art. 15, 16) -------------------------------------------------------------


class AccessRecorded(Event):
    """Every view, playback, export and administrative action on footage."""

    TYPE = "access.recorded"
    STREAM = "CCTV_ACCESS"
    action: Literal["view", "playback", "export", "admin"]
    actor: str
    camera_ids: list[str]
    footage_from: datetime | None = None
    footage_to: datetime | None = None
    grant_id: str | None = None
    request_no: str | None = None
    detail: str = ""


# --- audit ------------------------------------------------------------------------------------


class CheckpointPublished(Event):
    TYPE = "audit.checkpoint"
    STREAM = "CCTV_AUDIT"
    origin: str
    tree_size: int
    root_hash: str
    note: str


class WitnessAlarm(Event):
    """A witness (`cctv audit witness`) found the log forked or gone back: the signed
    checkpoint it kept and the one the log shows now do not belong to one history."""

    TYPE = "audit.witness_alarm"
    STREAM = "CCTV_AUDIT"
    kind: Literal["fork", "rollback"]
    origin: str
    kept_size: int
    kept_root: str
    seen_size: int
    seen_root: str
    detail: str
    witness: str


# --- dead letters -----------------------------------------------------------------------------


class DeadLetter(Event):
    """A message a consumer could not take: kept with its reason, never silently dropped."""

    TYPE = "dlq.dead_letter"
    STREAM = "CCTV_DLQ"
    service: str
    consumer: str
    subject: str
    reason: str
    raw_base64: str
    deliveries: int = 1


ReplayOutcome = Literal["handled", "failed", "still_bad", "no_consumer"]
"""How running a dead letter through its consumer again ended (`cctv dlq replay`)."""


class DeadLetterReplayed(Event):
    """A person replayed a dead letter through the consumer that refused it (`cctv dlq
    replay`, served by that service): who, which letter, and how it ended. A letter whose
    replay ``handled`` it is done; the DLQ itself is never edited."""

    TYPE = "ops.dlq_replayed"
    STREAM = "CCTV_OPS"  # audited: who replayed what is part of the record
    service: str
    consumer: str
    subject: str
    dlq_seq: int
    event_id: str | None = None
    outcome: ReplayOutcome
    reason: str = ""
    replayed_by: str


# Helpers append their own event classes below, one block per area.


# === workflow (issue #4) ======================================================================
# Every workflow transition is `cctv.workflow.<process>.<transition>.<request_id>`. Most share
# one body (WorkflowTransition); the ones other services act on have their own typed body:
# StopMoveWindowApproved (above, for health), ExamWatch, NewPointImplemented,
# ResponsibleChanged, ApprovalNudge.


class WorkflowTransition(Event):
    """A step in one of the regulation's processes, with the state it led to."""

    STREAM = "CCTV_WORKFLOW"
    request_id: str
    process: str
    transition: str
    state: str = ""
    at: datetime
    summary: dict[str, Any] = Field(default_factory=dict)


class CalendarImported(WorkflowTransition):
    """NIC entered the State Council's holiday notice for a year (Art. 10); summary holds the
    notice (year, source, holidays, workdays) and the one it replaced, if any."""

    TYPE = "workflow.calendar.imported"


class AccessSubmitted(WorkflowTransition):
    TYPE = "workflow.access.submitted"


class AccessRefused(WorkflowTransition):
    TYPE = "workflow.access.refused"


class AccessOpinion(WorkflowTransition):
    TYPE = "workflow.access.opinion"


class GrantRecord(BaseModel):
    """What an approved access request allows, and nothing more (Art. 17): media plays and
    copies exactly this. Workflow's own grant is this record with its method typed."""

    grant_id: str = Field(min_length=1)
    request_id: str = Field(min_length=1)
    grantee: str = Field(min_length=1)
    method: str
    cameras: list[str] = Field(min_length=1)
    footage_from: AwareDatetime
    footage_until: AwareDatetime
    valid_until: AwareDatetime
    export: bool  # copy grants produce an export whose integrity anyone can check
    watermark: str = ""
    revoked_at: datetime | None = None  # an approver or the school leader withdrew it
    revoked_by: str | None = None
    revoke_reason: str = ""


class _GrantEvent(WorkflowTransition):
    grant: GrantRecord | None = None

    @model_validator(mode="after")
    def _grant_from_summary(self) -> _GrantEvent:
        """Workflow publishes the grant in the summary; consumers read it typed, and a grant
        that does not fit is a contract error (dead-lettered at once), not a KeyError."""
        if self.grant is None and isinstance(self.summary.get("grant"), dict):
            self.grant = GrantRecord.model_validate(self.summary["grant"])
        return self


class AccessApproved(_GrantEvent):
    TYPE = "workflow.access.approved"


class AccessRejected(WorkflowTransition):
    TYPE = "workflow.access.rejected"


class AccessWithdrawn(WorkflowTransition):
    TYPE = "workflow.access.withdrawn"


class AccessRetrieved(WorkflowTransition):
    TYPE = "workflow.access.retrieved"


class HoldRecord(BaseModel):
    """Retrieved footage NIC keeps and nobody may delete until ``until`` (Art. 18)."""

    hold_id: str
    cameras: list[str]
    footage_from: datetime
    footage_until: datetime
    until: date  # through the end of this day
    basis: str = ""  # "Art. 18" or the judicial authority's reference


class _HoldEvent(WorkflowTransition):
    hold: HoldRecord | None = None

    @model_validator(mode="after")
    def _hold_from_summary(self) -> _HoldEvent:
        """Events published before ``hold`` existed carried it in the summary only."""
        if self.hold is None and isinstance(self.summary.get("hold"), dict):
            self.hold = HoldRecord.model_validate(self.summary["hold"])
        return self


class AccessHeld(_HoldEvent):
    """Footage retrieved: it is preserved one year (Art. 18); ``hold`` says what and until."""

    TYPE = "workflow.access.held"


class AccessHoldExtended(_HoldEvent):
    """A preservation hold extended (a judicial requirement, Art. 18)."""

    TYPE = "workflow.access.hold_extended"


class AccessRevoked(_GrantEvent):
    """A grant withdrawn before its validity ended; ``grant`` carries `revoked_at`."""

    TYPE = "workflow.access.revoked"


class StopMoveSubmitted(WorkflowTransition):
    TYPE = "workflow.stopmove.submitted"


class StopMoveOpinion(WorkflowTransition):
    TYPE = "workflow.stopmove.opinion"


class StopMoveRefused(WorkflowTransition):
    TYPE = "workflow.stopmove.refused"


class StopMoveRejected(WorkflowTransition):
    TYPE = "workflow.stopmove.rejected"


class StopMoveWithdrawn(WorkflowTransition):
    TYPE = "workflow.stopmove.withdrawn"


class MovedCamera(BaseModel):
    camera_id: str
    position: str  # the new position, for the inventory


class StopMoveCompleted(WorkflowTransition):
    """The stop/move work is done (Art. 8): the window ended at ``window_ends_at`` (maybe
    before it was due), and moved cameras are at their new positions."""

    TYPE = "workflow.stopmove.completed"
    moved: list[MovedCamera] = Field(default_factory=list)
    window_ends_at: datetime | None = None

    @model_validator(mode="after")
    def _from_summary(self) -> StopMoveCompleted:
        """Events published before these fields existed carried them in the summary only."""
        if not self.moved and isinstance(self.summary.get("moved"), list):
            self.moved = [MovedCamera.model_validate(m) for m in self.summary["moved"]]
        window = self.summary.get("window")
        if self.window_ends_at is None and isinstance(window, dict) and window.get("ends_at"):
            self.window_ends_at = parse_instant(window["ends_at"], "window.ends_at", naive="utc")
        return self


class NewPointSubmitted(WorkflowTransition):
    TYPE = "workflow.newpoint.submitted"


class NewPointOpinion(WorkflowTransition):
    TYPE = "workflow.newpoint.opinion"


class NewPointApproved(WorkflowTransition):
    TYPE = "workflow.newpoint.approved"


class NewPointRefused(WorkflowTransition):
    TYPE = "workflow.newpoint.refused"


class NewPointRejected(WorkflowTransition):
    TYPE = "workflow.newpoint.rejected"


class NewPointWithdrawn(WorkflowTransition):
    TYPE = "workflow.newpoint.withdrawn"


class NewPointPlanned(WorkflowTransition):
    TYPE = "workflow.newpoint.planned"


class NewPointSurveyed(WorkflowTransition):
    TYPE = "workflow.newpoint.surveyed"


class ExamSubmitted(WorkflowTransition):
    TYPE = "workflow.exam.submitted"


class ExamRefused(WorkflowTransition):
    TYPE = "workflow.exam.refused"


class ExamOpinion(WorkflowTransition):
    TYPE = "workflow.exam.opinion"


class ExamApproved(WorkflowTransition):
    TYPE = "workflow.exam.approved"


class ExamRejected(WorkflowTransition):
    TYPE = "workflow.exam.rejected"


class ExamWithdrawn(WorkflowTransition):
    TYPE = "workflow.exam.withdrawn"


class ArmingPeriodRecord(BaseModel):
    """One armed period of a system's arming schedule (布防, Art. 9, 12), campus time; a
    period whose end is not after its start crosses midnight."""

    days: Literal["daily", "workday", "offday"] = "daily"
    arm_at: time
    disarm_at: time

    @model_validator(mode="after")
    def _distinct(self) -> ArmingPeriodRecord:
        if self.arm_at == self.disarm_at:
            raise ValueError("arm_at and disarm_at must differ (布防与撤防时间相同)")
        return self


class ResponsibleScheduleSet(WorkflowTransition):
    """A system's arming schedule filed (Art. 9); health checks recorders against it (Art.
    12). `schedule` replaces the system's previous one."""

    TYPE = "workflow.responsible.schedule_set"
    system_id: str = ""
    schedule: list[ArmingPeriodRecord] = Field(default_factory=list)

    @model_validator(mode="after")
    def _from_summary(self) -> ResponsibleScheduleSet:
        """Workflow puts them in the summary; the typed fields always agree with it."""
        if not self.system_id:
            self.system_id = str(self.summary.get("system_id") or self.request_id)
        if not self.schedule and isinstance(self.summary.get("schedule"), list):
            self.schedule = [ArmingPeriodRecord.model_validate(p) for p in self.summary["schedule"]]
        return self


class DutyLogRecorded(WorkflowTransition):
    TYPE = "workflow.dutylog.recorded"


class DutyLogClosed(WorkflowTransition):
    TYPE = "workflow.dutylog.closed"


class HandoverOffered(WorkflowTransition):
    TYPE = "workflow.handover.offered"


class HandoverItem(BaseModel):
    """Something the next shift carries on: an alert, a fault or a log entry (Art. 14)."""

    kind: str  # alert | fault | log
    ref: str
    summary: str = ""


class HandoverConfirmed(WorkflowTransition):
    """Art. 14: the incoming duty operator took over; from ``confirmed_at`` the duty room's
    alerts go to them, and what the outgoing one had open passes to them (notify)."""

    TYPE = "workflow.handover.confirmed"
    outgoing: str = ""  # accounts
    incoming: str = ""
    confirmed_at: datetime | None = None
    items: list[HandoverItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _from_summary(self) -> HandoverConfirmed:
        """The workflow puts the handover in the summary; consumers read these fields."""
        s = self.summary
        self.outgoing = self.outgoing or str(s.get("outgoing") or "")
        self.incoming = self.incoming or str(s.get("incoming") or "")
        if self.confirmed_at is None:
            at = s.get("confirmed_at")
            self.confirmed_at = parse_instant(at, "confirmed_at", naive="utc") if at else self.at
        if not self.items and isinstance(s.get("items"), list):
            self.items = [HandoverItem.model_validate(i) for i in s["items"]]
        return self


class HandoverSuperseded(WorkflowTransition):
    TYPE = "workflow.handover.superseded"


class ExamWatch(Event):
    """Art. 10: these exam-room cameras are under closer watch for the exam's duration."""

    TYPE = "workflow.exam.watch"
    STREAM = "CCTV_WORKFLOW"
    request_id: str
    camera_ids: list[str]
    starts_at: datetime
    ends_at: datetime
    reason: str = ""


class NewPointImplemented(Event):
    """Art. 6: NIC installed the new point(s); ingest adds the cameras to the inventory."""

    TYPE = "workflow.newpoint.implemented"
    STREAM = "CCTV_WORKFLOW"
    request_id: str
    cameras: list[CameraRecord]


class ResponsibleChanged(Event):
    """Art. 9: a system's responsible person changed; 后勤处 and NIC are told at once."""

    TYPE = "workflow.responsible.changed"
    STREAM = "CCTV_WORKFLOW"
    system_id: str
    department: str
    person_id: str
    name: str
    phone: str = ""
    previous_person_id: str | None = None
    reason: str = ""
    notify_departments: list[str] = Field(default_factory=lambda: ["logistics", "nic"])


class ApprovalNudge(Event):
    """A pending approval reminded (to its approver) or escalated, in working hours."""

    TYPE = "workflow.approval.nudge"
    STREAM = "CCTV_WORKFLOW"
    request_id: str
    process: str
    step_key: str
    level: Literal["remind", "escalate"]
    to_role: str
    to_department: str | None = None
    due_since: datetime


# === ingest media: RTSP frames and tamper findings (issue #5) ==================================
# TamperFinding (above) says a check started failing; these say it stopped failing, and that an
# operator confirmed a camera's reference picture (the only way a reference changes, Art. 12).


class TamperCleared(Event):
    """Art. 12: a covered/moved/blurred finding no longer holds on the latest frame."""

    TYPE = "camera.tamper_cleared"
    STREAM = "CCTV_CAMERA"
    camera_id: str
    finding: Literal["covered", "moved", "blurred"]
    score: float
    threshold: float
    observed_at: datetime


class TamperReferenceConfirmed(Event):
    """The picture a camera should show, as confirmed by an operator (or first enrolment).

    `confirmed_by` is the operator; "system" only for the first reference of a camera that
    had none. `pixels_sha256` identifies the stored grey reference frame.
    """

    TYPE = "camera.tamper_reference"
    STREAM = "CCTV_CAMERA"
    camera_id: str
    confirmed_by: str
    confirmed_at: datetime
    pixels_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    mean: float
    contrast: float
    replaced_previous: bool = False
    reason: str = ""


# === media: footage the system itself copies and keeps (issue #12, Art. 16(2)3, 17, 18) =========
# The media service pulls exactly the granted cameras and window from the recorders, writes
# the files, hashes them itself and stores them in the evidence store; workflow records the
# retrieval from these events (nobody types a hash). Refusals are AccessRecorded(action=export).


class ExportedFile(BaseModel):
    """One file of an export or a preservation copy, as the media service wrote and hashed it."""

    model_config = ConfigDict(extra="forbid")
    camera_id: str
    object_key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)
    frames: int = Field(ge=0)
    first_frame_at: datetime | None = None  # recorded time of the first frame received
    last_frame_at: datetime | None = None


class FootageExported(Event):
    """A copy grant carried out by the system (Art. 16(2)3, 17): watermarked MP4 per camera,
    a manifest listing them; `manifest_sha256` is the export's hash of record."""

    TYPE = "access.exported"
    STREAM = "CCTV_ACCESS"
    export_id: str
    request_id: str
    grant_id: str
    requested_by: str  # the system administrator who had it done (Art. 16(1)3)
    requested_by_name: str = ""
    purpose: str
    destination: str
    camera_ids: list[str]
    footage_from: datetime
    footage_until: datetime
    exported_at: datetime
    watermark: str
    store: str  # "local:<dir>" or "s3://bucket/prefix"
    manifest_key: str
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    files: list[ExportedFile]


class FootagePreserved(Event):
    """Approved footage copied, as recorded, into the evidence store to be kept (Art. 18)."""

    TYPE = "access.preserved"
    STREAM = "CCTV_ACCESS"
    request_id: str
    camera_ids: list[str]
    footage_from: datetime
    footage_until: datetime
    preserved_at: datetime
    hold_until: str  # ISO date: no deletion before it
    files: list[ExportedFile]


class FootageViewing(Event):
    """One step of a viewing session in the media service's WebRTC viewer (Art. 13-17): a
    session started, a seek, a refusal (outside the window, another camera, no grant, not
    the zone), or the session stopped and how long it lasted. Recorded footage is played
    under a grant (`request_id`); live footage by a duty operator or guard of the zone."""

    TYPE = "access.viewing"
    STREAM = "CCTV_ACCESS"
    session_id: str
    kind: Literal["recorded", "live"]
    action: Literal["started", "seek", "refused", "stopped"]
    actor: str
    actor_name: str = ""
    camera_id: str | None = None
    request_id: str | None = None
    grant_id: str | None = None
    footage_from: datetime | None = None  # the granted window (recorded)
    footage_until: datetime | None = None
    position: datetime | None = None  # recorded time played from (start, seek) or asked for
    at: datetime
    duration_s: float | None = Field(default=None, ge=0)  # stopped: how long it was watched
    code: str = ""  # refusal code, or why it stopped (viewer, grant_revoked, grant_expired…)
    article: str | None = None
    detail: str = ""


class PreservationCheck(Event):
    """A scheduled re-hash of a stored object; `ok` false means the copy no longer matches."""

    TYPE = "access.preservation_check"
    STREAM = "CCTV_ACCESS"
    object_key: str
    request_id: str
    expected_sha256: str
    actual_sha256: str | None = None  # None: the object is gone
    ok: bool
    checked_at: datetime
