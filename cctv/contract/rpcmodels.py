"""Typed request-reply: one request model and one reply model per subject, and one error shape.

The responder shell (:meth:`cctv.plumbing.service.Service.respond`) decodes and validates a
request once against its model, so a handler receives a typed object; a request that does not
fit is answered with :class:`ErrorReply` naming the field (and the article, where the
regulation is the reason). ``OPERATIONS`` maps each subject to its models; the AsyncAPI
document (``make asyncapi``) publishes them.

Requests ignore fields they do not know (an older or newer caller still gets an answer);
replies may carry more fields than listed (additive changes within a schema version). Who is
asking travels in NATS headers, not in these bodies (see ``RpcCall.headers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Self, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from . import rpc
from .events import CameraRecord, GrantRecord, ReplayOutcome
from .orgs import Actor
from .workflow import EntryKind

# --- the one error shape ------------------------------------------------------------------


class ErrorReply(BaseModel):
    """Every service's refusal: a stable code for programs, the reason in Chinese and English
    for people, the article when the regulation is the reason. ``error`` is the line to show."""

    model_config = ConfigDict(extra="allow")

    ok: Literal[False] = False
    code: str = Field(description="stable, for programs: e.g. not_found, invalid_request")
    text_zh: str
    text_en: str
    article: str | None = Field(default=None, description="e.g. 'Art. 16(2)'")
    error: str = Field(description="'中文 — English (Art. N)', what a person reads")


def error_reply(
    code: str, text_zh: str, text_en: str, article: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The error reply as JSON-ready dict; ``extra`` keeps a service's additional detail."""
    if text_zh == text_en:
        line = text_zh
    else:
        line = f"{text_zh} — {text_en}"
    if article and article not in line:
        line = f"{line} ({article})"
    reply = ErrorReply(
        code=code, text_zh=text_zh, text_en=text_en, article=article, error=line, **extra
    )
    return reply.model_dump(mode="json")


def invalid_request(model: type[RpcRequest], exc: ValidationError) -> dict[str, Any]:
    """A request that does not fit its model: the first bad field, by name."""
    err = exc.errors()[0]
    if not err.get("loc") and err.get("type") in ("model_type", "model_attributes_type"):
        return error_reply(
            "invalid_request",
            "请求须为JSON对象",
            "bad request: request must be a JSON object",
            model.ARTICLE,
            kind="invalid",
        )
    where = ".".join(str(p) for p in err.get("loc", ())) or "request"
    top = where.split(".", 1)[0]
    article = model.ARTICLES.get(top, model.ARTICLE)
    return error_reply(
        "invalid_request",
        f"请求有误：{where}",
        f"bad request: {where}: {err.get('msg')}",
        article,
        kind="invalid",
        field=where,
    )


@dataclass(frozen=True)
class RpcCall:
    """What the shell knows about a request besides its body: the subject and NATS headers
    (where the caller's authenticated identity travels)."""

    subject: str
    headers: dict[str, str] = field(default_factory=dict)


# --- bases --------------------------------------------------------------------------------


class RpcRequest(BaseModel):
    """Base of request bodies. Unknown fields are ignored so callers may be older or newer."""

    model_config = ConfigDict(extra="ignore")
    ARTICLE: ClassVar[str | None] = None  # cited when the request as a whole is malformed
    ARTICLES: ClassVar[dict[str, str]] = {}  # field -> article cited when that field is bad

    @classmethod
    def coerce(cls, value: Any) -> Self:
        """The typed request; a dict (a direct call, an older caller) is validated first."""
        return value if isinstance(value, cls) else cls.model_validate(value)


class RpcReply(BaseModel):
    """Base of successful replies (``ok`` is true); more fields may come (additive)."""

    model_config = ConfigDict(extra="allow")
    ok: Literal[True] = True


class Empty(RpcRequest):
    """A request with nothing to say."""


class ActorRequest(RpcRequest):
    """Acts for a person (Art. 15: every action is recorded with who did it).

    Who acts is the signed identity in the request's `Cctv-Identity` header (ADR 0013),
    verified by the service; `actor` is accepted from older callers and ignored."""

    ARTICLES: ClassVar[dict[str, str]] = {"actor": "Art. 15"}
    actor: Actor | None = None


# --- ingest -------------------------------------------------------------------------------


class CamerasRequest(RpcRequest):
    camera_id: str | None = None
    building: str | None = None


class CamerasReply(RpcReply):
    cameras: list[CameraRecord]


class CameraStatusRequest(RpcRequest):
    camera_id: str = Field(min_length=1)


class CameraStatusReply(RpcReply):
    """What ingest last saw of one camera (issue 16): the record, its last sample, its last
    frame check and the stream it reads (configured or discovered)."""

    camera: CameraRecord
    last_sample: dict[str, Any] | None = None
    last_frame_check: dict[str, Any] | None = None
    stream_url: str | None = None


class SecretsReloadReply(RpcReply):
    reloaded: bool


class InventoryImportRequest(RpcRequest):
    filename: str = ""
    content: str = Field(description="the file's text (CSV or YAML)")
    replace: bool = False
    dry_run: bool = False
    actor: str = "cli"


class InventoryImportReply(RpcReply):
    upserted: list[str]
    unchanged: int
    removed: list[str]
    applied: bool


class InventoryExportRequest(RpcRequest):
    format: Literal["csv", "yaml"] = "csv"


class InventoryExportReply(RpcReply):
    content: str
    count: int


class InventoryRemoveRequest(RpcRequest):
    camera_id: str = Field(min_length=1)
    reason: str = Field(min_length=1, pattern=r"\S")
    actor: str = "cli"


class InventoryRemoveReply(RpcReply):
    removed: list[str]


class TamperConfirmRequest(RpcRequest):
    ARTICLE: ClassVar[str | None] = "Art. 12"
    camera_id: str = Field(min_length=1)
    operator: str = ""
    reason: str = ""


class TamperConfirmReply(RpcReply):
    reference: dict[str, Any]


class TamperStateRequest(RpcRequest):
    ARTICLE: ClassVar[str | None] = "Art. 12"
    camera_id: str = Field(min_length=1)
    thresholds: dict[str, Any] | None = None


class TamperStateReply(RpcReply):
    camera_id: str
    active: list[Any] = []


# --- health, notify, audit, console (replies listed; bodies stay open) ----------------------


class HealthStatesReply(RpcReply):
    states: list[dict[str, Any]]


class HealthFaultsReply(RpcReply):
    faults: list[dict[str, Any]]


class FaultCloseRequest(RpcRequest):
    """NIC closes a fault by hand, with the reason (the repair system lost track of it)."""

    fault_id: str = Field(min_length=1)
    reason: str = ""
    actor: str = ""


class AccountRequest(RpcRequest):
    account: str = Field(min_length=1)


class AckRequest(AccountRequest):
    ARTICLE: ClassVar[str | None] = "Art. 13"
    alert_id: str = Field(min_length=1)


class DirectiveRequest(RpcRequest):
    """The duty room directs guards and gatekeepers (Art. 13): a zone's, or named accounts."""

    ARTICLE: ClassVar[str | None] = "Art. 13"
    text: str = ""
    sender: str
    zone: str | None = None
    accounts: list[str] = []
    severity: Literal["warning", "major", "critical"] = "major"


class LimitRequest(RpcRequest):
    limit: int = Field(default=50, ge=1, le=1000)


class AlertsReply(RpcReply):
    alerts: list[dict[str, Any]]


class AckReply(RpcReply):
    alert: dict[str, Any]


class RosterReply(RpcReply):
    roster: list[dict[str, Any]]


class PersonReply(RpcReply):
    person: dict[str, Any]


BIGINT_MAX = 2**63 - 1
"""PostgreSQL bigint: a sequence number past it is never answered, so it is refused here."""


class AuditQueryRequest(RpcRequest):
    """Search the audit log (Art. 15); ``proof`` adds inclusion proofs to a checkpoint."""

    ARTICLE: ClassVar[str | None] = "Art. 15"
    camera_id: str | None = None
    actor: str | None = None
    request_no: str | None = None
    event_type: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = Field(default=-1, ge=-1, le=BIGINT_MAX)
    limit: int = Field(default=50, ge=-1, le=BIGINT_MAX)
    proof: bool = False
    compact: bool = False  # only seq and the entry bytes

    @field_validator("since", "until", mode="wrap")
    @classmethod
    def _iso_time(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> datetime | None:
        """An empty time is no bound; a bad one says which format is meant."""
        if value in (None, ""):
            return None
        try:
            return cast("datetime", handler(value))
        except ValidationError as exc:
            raise ValueError(
                f"time {value!r} is not ISO 8601, e.g. 2026-11-25T08:00:00+08:00"
            ) from exc


class AuditProveRequest(RpcRequest):
    """An inclusion proof (``index``), a consistency proof (``old_size`` -> ``new_size``) or a
    range proof (``start``, ``end``) against a signed checkpoint (``size``, default latest)."""

    size: int | None = None
    index: int | None = None
    old_size: int = 0
    new_size: int | None = None
    start: int | None = None
    end: int | None = None


class AuditExportRequest(RpcRequest):
    """An evidence bundle: the entries of a request or grant, or a range [start, end)."""

    request_no: str | None = None
    grant_id: str | None = None
    start: int = 0
    end: int | None = None


class AuditVerifyRequest(RpcRequest):
    """Recompute chain, tree and stored nodes against the key the caller trusts (no default:
    the key in the database being verified is not evidence)."""

    key: str | None = None
    checkpoints: list[str] = []


class AuditEntry(BaseModel):
    """One log entry as a query returns it: ``seq`` and the entry bytes (base64) always; the
    decoded columns and envelope unless the query was ``compact``; ``inclusion_proof`` (base64
    hashes) when it asked for ``proof``."""

    model_config = ConfigDict(extra="allow")
    seq: int
    entry: str
    event_id: str | None = None
    kind: str | None = None
    subject: str | None = None
    event_type: str | None = None
    event_time: str | None = None
    recorded_at: str | None = None
    actor: str | None = None
    camera_ids: list[str] | None = None
    request_no: str | None = None
    reason: str | None = None
    leaf_hash: str | None = None
    envelope: Any = None
    inclusion_proof: list[str] | None = None


class AuditQueryReply(RpcReply):
    entries: list[AuditEntry]
    next_after_seq: int | None = Field(description="where the next page starts; null: no more")
    checkpoint: str | None = Field(
        default=None, description="the signed note the inclusion proofs are against (proof)"
    )


class AuditProveReply(RpcReply):
    """One of three proofs (``kind``), each against the signed ``checkpoint`` note."""

    kind: Literal["inclusion", "consistency", "range"]
    proof: list[str] = Field(description="base64 SHA-256 hashes (RFC 9162)")
    checkpoint: str
    tree_size: int | None = None
    index: int | None = None
    leaf_hash: str | None = None
    start: int | None = None
    end: int | None = None
    old_size: int | None = None
    new_size: int | None = None
    old_root: str | None = None


class AuditCheckpointReply(RpcReply):
    verifier_key: str
    fingerprint: str
    origin: str
    tree_size: int
    checkpoint: str | None


class AuditExportReply(RpcReply):
    bundle: dict[str, Any] = Field(description="an evidence bundle (cctv.evidence.bundle)")


class AuditFinding(BaseModel):
    index: int
    kind: str
    detail: str


class AuditVerifyReply(RpcReply):
    size: int
    root: str
    checkpoints_ok: list[int] = Field(description="sizes of the signed checkpoints that hold")
    findings: list[AuditFinding]
    problems: list[str]
    signing_key: str


class OpenRequest(RpcRequest):
    """A request whose fields are documented in the owning service's README."""

    model_config = ConfigDict(extra="allow")


class OpenReply(RpcReply):
    pass


# --- workflow -----------------------------------------------------------------------------


class RequestRef(RpcRequest):
    request_id: str = Field(min_length=1)


class PrintRequest(RequestRef):
    ARTICLE: ClassVar[str | None] = "Annex 2-4"
    format: Literal["html", "pdf"] = "html"


class PrintReply(RpcReply):
    format: Literal["html", "pdf"]
    filename: str
    html: str | None = None
    pdf_base64: str | None = None


class FormRequest(RpcRequest):
    ARTICLES: ClassVar[dict[str, str]] = {"actor": "Art. 15", "process": "Art. 6-16"}
    process: str
    form: dict[str, Any] = {}
    actor: Actor | None = None
    expected_chain: list[str] | None = None  # the chain the requester was shown (submit)


class DecisionRequest(ActorRequest):
    request_id: str = Field(min_length=1)
    text: str = ""
    reason: str = ""  # withdraw
    step_key: str | None = None
    window_from: datetime | None = None
    window_until: datetime | None = None


class ActRequest(ActorRequest):
    """One of a process's actions; ``args`` is the action's model in ``ACT_ARGS``."""

    request_id: str = Field(min_length=1)
    action: str = Field(min_length=1)
    args: dict[str, Any] = {}


class ActArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RetrieveArgs(ActArgs):
    """access: the system administrator retrieves and records it (Art. 16(1)3)."""

    purpose: str = ""
    destination: str = ""
    cameras: list[str] | None = None
    footage_from: datetime | None = None
    footage_until: datetime | None = None
    export_sha256: str | None = None


class ExtendHoldArgs(ActArgs):
    """access: keep held footage longer, on a judicial requirement (Art. 18)."""

    hold_id: str = ""
    until: date
    authority_ref: str = ""


class CompleteArgs(ActArgs):
    """stopmove: the work is done (Art. 8)."""

    note: str = ""


class PlanArgs(ActArgs):
    """newpoint: NIC's installation plan (Art. 6)."""

    text: str = ""
    points: int = 0


class SurveyArgs(ActArgs):
    """newpoint: the site survey rows of Annex 2."""

    rows: list[dict[str, Any]] = []


class ImplementArgs(ActArgs):
    """newpoint: the cameras NIC installed, as inventory records (Art. 6)."""

    cameras: list[dict[str, Any]] = []


class RevokeArgs(ActArgs):
    """access: withdraw a grant before it runs out (an approver or the school leader)."""

    reason: str = ""


ACT_ARGS: dict[str, type[ActArgs]] = {
    "retrieve": RetrieveArgs,
    "revoke": RevokeArgs,
    "extend_hold": ExtendHoldArgs,
    "complete": CompleteArgs,
    "plan": PlanArgs,
    "survey": SurveyArgs,
    "implement": ImplementArgs,
}


class ListRequest(RpcRequest):
    process: str | None = None
    state: str | None = None


class RequestsReply(RpcReply):
    requests: list[dict[str, Any]]


class InboxReply(RpcReply):
    to_act: list[dict[str, Any]]
    mine: list[dict[str, Any]]
    notices: list[dict[str, Any]] = []


class RequestReply(RpcReply):
    """A request after a change: its document and summary line."""

    request: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None


class AccessView(BaseModel):
    """What deciding who may watch an access request's footage reads (Art. 15-17): its
    state, its grant, who filled it in and for which unit. Typed, so media's viewer checks
    fields rather than digging through the request's document."""

    model_config = ConfigDict(extra="ignore")

    state: str
    grant: GrantRecord | None = None
    requester_id: str
    applying_unit: str


class GetReply(RpcReply):
    request: dict[str, Any]
    summary: dict[str, Any]
    steps: list[dict[str, Any]]
    history: list[dict[str, Any]]
    access: AccessView | None = None  # for an access request (调阅申请) only


class StepsReply(RpcReply):
    steps: list[dict[str, Any]]
    chain_key: list[str] = []


class WorkflowCamerasReply(RpcReply):
    cameras: list[dict[str, Any]]


class LogRecordRequest(ActorRequest):
    ARTICLE: ClassVar[str | None] = "Art. 14"
    kind: EntryKind = EntryKind.NOTE
    text: str = ""
    cameras: list[str] = []
    location: str = ""
    reported_to: str = ""


class LogCloseRequest(ActorRequest):
    ARTICLE: ClassVar[str | None] = "Art. 14"
    entry_id: str = Field(min_length=1)
    resolution: str = ""


class LogListRequest(RpcRequest):
    open_only: bool = False


class EntryReply(RpcReply):
    entry: dict[str, Any]


class EntriesReply(RpcReply):
    entries: list[dict[str, Any]]


class HandoverOfferRequest(ActorRequest):
    ARTICLE: ClassVar[str | None] = "Art. 14(3)"
    incoming: str = Field(min_length=1)
    notes: str = ""


class HandoverConfirmRequest(ActorRequest):
    ARTICLE: ClassVar[str | None] = "Art. 14(3)"
    handover_id: str = Field(min_length=1)
    acknowledged: list[str] = []


class HandoverReply(RpcReply):
    handover: dict[str, Any]


class HandoversReply(RpcReply):
    handovers: list[dict[str, Any]]


class OpenItemsReply(RpcReply):
    items: list[dict[str, Any]]


class ResponsibleSetRequest(ActorRequest):
    ARTICLE: ClassVar[str | None] = "Art. 9"
    system_id: str = Field(min_length=1)
    department: str | None = None
    person: dict[str, Any] = {}
    reason: str = ""


class ScheduleSetRequest(ActorRequest):
    ARTICLE: ClassVar[str | None] = "Art. 9"
    system_id: str = Field(min_length=1)
    department: str | None = None
    schedule: list[dict[str, Any]] = []  # {days, arm_at, disarm_at}
    periods: list[str] = []  # as people write them: 「工作日 18:00-08:00」


class CalendarImportRequest(ActorRequest):
    """NIC enters a year's official calendar notice (Art. 10); workflow checks the notice."""

    ARTICLE: ClassVar[str | None] = "Art. 10"
    notice: Any = None


class CalendarReply(RpcReply):
    notices: list[dict[str, Any]]
    package_years: str = ""  # e.g. "2004-2026"


class CalendarImportReply(RpcReply):
    notice: dict[str, Any]
    replaced: bool


class RefusalsRequest(RpcRequest):
    """不予受理 on record, newest first (Art. 6-16)."""

    process: str | None = None
    request_id: str | None = None
    limit: int = Field(default=200, ge=1)


class RefusalsReply(RpcReply):
    refusals: list[dict[str, Any]]


class SystemReply(RpcReply):
    system: dict[str, Any]
    notified: list[str] | None = None


class SystemsReply(RpcReply):
    systems: list[dict[str, Any]]


# --- the people directory and sign-on (issue 11; the console answers) --------------------


class LoginRequest(RpcRequest):
    """`cctv login`: a break-glass local password, checked with lockout and audited."""

    account: str = Field(min_length=1)
    password: str = Field(min_length=1, description="never logged, never stored")


class LoginReply(RpcReply):
    token: str = Field(description="Cctv-Identity token the CLI sends with its requests")
    expires_at: datetime
    account: str
    name: str
    roles: list[str]


class PeopleFileRequest(RpcRequest):
    """NIC imports the directory: CSV or YAML, all or nothing, row-level errors."""

    filename: str = Field(min_length=1)
    content: str
    dry_run: bool = False
    reason: str = ""


class FormatRequest(RpcRequest):
    format: Literal["csv", "yaml"] = "csv"


class PersonSetRequest(RpcRequest):
    person: dict[str, Any] = Field(description="a cctv.contract.people.PersonRecord")
    password: str | None = Field(default=None, description="a break-glass password (policy)")
    reason: str = ""


class DisableRequest(RpcRequest):
    account: str = Field(min_length=1)
    disabled: bool = True
    reason: str = ""


# --- the catalogue --------------------------------------------------------------------------

# --- media (issue 12) ------------------------------------------------------------------------


class MediaExportRequest(ActorRequest):
    """A system administrator has the system carry out a copy grant (Art. 16(2)3, 17); the
    cameras and window default to the grant's and may only narrow it."""

    ARTICLES: ClassVar[dict[str, str]] = {"actor": "Art. 16(1)3", "request_id": "Art. 15"}
    request_id: str = Field(min_length=1)
    purpose: str = ""
    destination: str = ""
    cameras: list[str] | None = None
    footage_from: datetime | None = None
    footage_until: datetime | None = None


class MediaExportReply(RpcReply):
    export_id: str
    status: Literal["queued"]


class MediaExportsRequest(RpcRequest):
    request_id: str | None = None


class MediaExportsReply(RpcReply):
    jobs: list[dict[str, Any]]
    objects: list[dict[str, Any]]


class MediaDeleteRequest(ActorRequest):
    """Delete a kept object: refused while its hold lasts (Art. 18)."""

    ARTICLES: ClassVar[dict[str, str]] = {"actor": "Art. 18", "object_key": "Art. 18"}
    object_key: str = Field(min_length=1)
    reason: str = ""


class MediaDeleteReply(RpcReply):
    deleted: str


class MediaVerifyReply(RpcReply):
    checked: int
    failed: int


class MediaIceRequest(ActorRequest):
    """What a viewer asks to see, before the offer (ADR 0028): media runs the offer's checks
    and, only if they pass, answers the ICE servers the page's RTCPeerConnection needs."""

    ARTICLES: ClassVar[dict[str, str]] = {
        "actor": "Art. 15",
        "request_id": "Art. 16",
        "camera_id": "Art. 16(1)3",
        "position": "Art. 16(1)3",
    }
    kind: Literal["recorded", "live"] = "recorded"
    request_id: str | None = None
    camera_id: str = Field(min_length=1, max_length=64)
    position: datetime | None = None  # recorded: where to start; default the window's start


class MediaViewRequest(MediaIceRequest):
    """Open a viewing session (ADR 0022): the browser's SDP offer, forwarded by the console
    with the viewer's signed identity. Recorded footage needs a grant (`request_id`, Art. 16);
    live footage is for duty operators and guards within their zone (Art. 13-14)."""

    sdp: str = Field(min_length=1, max_length=64_000)
    type: Literal["offer"] = "offer"


class IceServer(BaseModel):
    """One entry of the browser's RTCConfiguration.iceServers (W3C WebRTC): handed to
    `new RTCPeerConnection` as it is, so a STUN entry has no login fields at all (a null
    would become the string "null" there)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None

    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class MediaIceReply(RpcReply):
    ice_servers: list[IceServer] = []
    # when the TURN login expires (a per-viewer login from a shared secret); None: no TURN
    # or a long-term login. A session keeps its relay only while the login is valid.
    expires_at: datetime | None = None


class MediaViewReply(RpcReply):
    session_id: str
    sdp: str
    type: Literal["answer"] = "answer"
    kind: Literal["recorded", "live"]
    camera_id: str
    footage_from: datetime | None = None
    footage_until: datetime | None = None
    position: datetime | None = None
    valid_until: datetime | None = None
    watermark: list[str] = []


class DlqReplayRequest(RpcRequest):
    """Dead letters (`CCTV_DLQ` sequence numbers, from `cctv dlq list`) of the service asked,
    to run again through the consumer that refused them."""

    seqs: list[int] = Field(min_length=1, max_length=1000)


class DlqReplayed(BaseModel):
    seq: int
    outcome: Literal[ReplayOutcome, "not_found", "not_mine"]  # not_*: nothing was run
    reason: str = ""


class DlqReplayReply(RpcReply):
    replayed: list[DlqReplayed]


class MediaFilesRequest(ActorRequest):
    """A system administrator fetches an export's files and manifest, as stored, to make its
    evidence pack (Art. 16(2)3, 17); the hand-over is recorded."""

    ARTICLES: ClassVar[dict[str, str]] = {"actor": "Art. 17", "export_id": "Art. 17"}
    export_id: str = Field(min_length=1, max_length=128)


class MediaFile(BaseModel):
    camera_id: str
    object_key: str
    sha256: str = Field(description="as written and re-read from the evidence store")
    bytes: int
    data: str = Field(description="the file, base64")


class MediaFilesReply(RpcReply):
    export_id: str
    request_id: str
    grant_id: str
    manifest: str = Field(description="manifest.json exactly as stored, base64")
    manifest_sha256: str
    files: list[MediaFile]


OPERATIONS: dict[str, tuple[type[RpcRequest], type[RpcReply]]] = {
    rpc.INGEST_CAMERAS: (CamerasRequest, CamerasReply),
    rpc.INGEST_CAMERA_STATUS: (CameraStatusRequest, CameraStatusReply),
    rpc.INGEST_SECRETS_RELOAD: (Empty, SecretsReloadReply),
    rpc.INGEST_INVENTORY_IMPORT: (InventoryImportRequest, InventoryImportReply),
    rpc.INGEST_INVENTORY_EXPORT: (InventoryExportRequest, InventoryExportReply),
    rpc.INGEST_INVENTORY_REMOVE: (InventoryRemoveRequest, InventoryRemoveReply),
    rpc.INGEST_TAMPER_CONFIRM: (TamperConfirmRequest, TamperConfirmReply),
    rpc.INGEST_TAMPER_STATE: (TamperStateRequest, TamperStateReply),
    rpc.HEALTH_STATES: (Empty, HealthStatesReply),
    rpc.HEALTH_FAULTS: (Empty, HealthFaultsReply),
    rpc.HEALTH_FAULT_CLOSE: (FaultCloseRequest, OpenReply),
    rpc.NOTIFY_INBOX: (AccountRequest, AlertsReply),
    rpc.NOTIFY_ACK: (AckRequest, AckReply),
    rpc.NOTIFY_ROSTER: (Empty, RosterReply),
    rpc.NOTIFY_DIRECTIVE: (DirectiveRequest, OpenReply),
    rpc.NOTIFY_DIRECTIVES: (LimitRequest, OpenReply),
    rpc.AUDIT_QUERY: (AuditQueryRequest, AuditQueryReply),
    rpc.AUDIT_PROVE: (AuditProveRequest, AuditProveReply),
    rpc.AUDIT_CHECKPOINT: (Empty, AuditCheckpointReply),
    rpc.AUDIT_EXPORT: (AuditExportRequest, AuditExportReply),
    rpc.AUDIT_VERIFY: (AuditVerifyRequest, AuditVerifyReply),
    rpc.CONSOLE_PERSON: (AccountRequest, PersonReply),
    rpc.CONSOLE_LOGIN: (LoginRequest, LoginReply),
    rpc.PEOPLE_LIST: (Empty, OpenReply),
    rpc.PEOPLE_IMPORT: (PeopleFileRequest, OpenReply),
    rpc.PEOPLE_EXPORT: (FormatRequest, OpenReply),
    rpc.PEOPLE_SET: (PersonSetRequest, OpenReply),
    rpc.PEOPLE_DISABLE: (DisableRequest, OpenReply),
    rpc.WORKFLOW_PREVIEW: (FormRequest, StepsReply),
    rpc.WORKFLOW_SUBMIT: (FormRequest, RequestReply),
    rpc.WORKFLOW_APPROVE: (DecisionRequest, RequestReply),
    rpc.WORKFLOW_REJECT: (DecisionRequest, RequestReply),
    rpc.WORKFLOW_WITHDRAW: (DecisionRequest, RequestReply),
    rpc.WORKFLOW_ACT: (ActRequest, RequestReply),
    rpc.WORKFLOW_GET: (RequestRef, GetReply),
    rpc.WORKFLOW_PRINT: (PrintRequest, PrintReply),
    rpc.WORKFLOW_INBOX: (ActorRequest, InboxReply),
    rpc.WORKFLOW_LIST: (ListRequest, RequestsReply),
    rpc.WORKFLOW_CAMERAS: (Empty, WorkflowCamerasReply),
    rpc.WORKFLOW_LOG_RECORD: (LogRecordRequest, EntryReply),
    rpc.WORKFLOW_LOG_CLOSE: (LogCloseRequest, EntryReply),
    rpc.WORKFLOW_LOG_LIST: (LogListRequest, EntriesReply),
    rpc.WORKFLOW_HANDOVER_OFFER: (HandoverOfferRequest, HandoverReply),
    rpc.WORKFLOW_HANDOVER_CONFIRM: (HandoverConfirmRequest, HandoverReply),
    rpc.WORKFLOW_HANDOVERS: (Empty, HandoversReply),
    rpc.WORKFLOW_OPEN_ITEMS: (Empty, OpenItemsReply),
    rpc.WORKFLOW_RESPONSIBLE_SET: (ResponsibleSetRequest, SystemReply),
    rpc.WORKFLOW_SCHEDULE_SET: (ScheduleSetRequest, SystemReply),
    rpc.WORKFLOW_SYSTEMS: (Empty, SystemsReply),
    rpc.WORKFLOW_CALENDAR: (Empty, CalendarReply),
    rpc.WORKFLOW_CALENDAR_IMPORT: (CalendarImportRequest, CalendarImportReply),
    rpc.WORKFLOW_REFUSALS: (RefusalsRequest, RefusalsReply),
    rpc.MEDIA_EXPORT: (MediaExportRequest, MediaExportReply),
    rpc.MEDIA_EXPORTS: (MediaExportsRequest, MediaExportsReply),
    rpc.MEDIA_DELETE: (MediaDeleteRequest, MediaDeleteReply),
    rpc.MEDIA_VERIFY: (Empty, MediaVerifyReply),
    rpc.MEDIA_VIEW: (MediaViewRequest, MediaViewReply),
    rpc.MEDIA_ICE: (MediaIceRequest, MediaIceReply),
    rpc.MEDIA_FILES: (MediaFilesRequest, MediaFilesReply),
    **{rpc.dlq_replay(s): (DlqReplayRequest, DlqReplayReply) for s in rpc.DLQ_REPLAY_SERVICES},
}
