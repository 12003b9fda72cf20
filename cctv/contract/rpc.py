"""Request-reply subjects (core NATS, not streams): how the console, the CLI and other campus
systems ask services. Every service's subjects are here, and only here.

Replies are JSON objects: ``{"ok": true, ...}``, or the one error shape of every service
(:class:`cctv.contract.rpcmodels.ErrorReply`): ``{"ok": false, "code", "text_zh", "text_en",
"article", "error"}`` where ``error`` is the bilingual line a person reads. The request and
reply model of each subject are in :mod:`cctv.contract.rpcmodels` (``OPERATIONS``).
"""

INGEST_CAMERAS = "cctv.rpc.ingest.cameras"
INGEST_INVENTORY_IMPORT = "cctv.rpc.ingest.inventory.import"
INGEST_INVENTORY_EXPORT = "cctv.rpc.ingest.inventory.export"
INGEST_INVENTORY_REMOVE = "cctv.rpc.ingest.inventory.remove"
INGEST_TAMPER_CONFIRM = "cctv.rpc.ingest.tamper_confirm"  # a changed view is the new reference
INGEST_TAMPER_STATE = "cctv.rpc.ingest.tamper_state"  # a camera's checks; or set its thresholds
# {camera_id} -> {camera, last_sample, last_frame_check, stream_url} (what ingest last saw)
INGEST_CAMERA_STATUS = "cctv.rpc.ingest.camera_status"
INGEST_SECRETS_RELOAD = "cctv.rpc.ingest.secrets_reload"  # {} -> {reloaded}: read secrets now
HEALTH_STATES = "cctv.rpc.health.states"
HEALTH_FAULTS = "cctv.rpc.health.faults"
HEALTH_FAULT_CLOSE = "cctv.rpc.health.fault_close"  # NIC closes a fault by hand, with a reason
NOTIFY_INBOX = "cctv.rpc.notify.inbox"
NOTIFY_ACK = "cctv.rpc.notify.ack"
NOTIFY_ROSTER = "cctv.rpc.notify.roster"
NOTIFY_DIRECTIVE = "cctv.rpc.notify.directive"  # the duty room directs guards (Art. 13)
NOTIFY_DIRECTIVES = "cctv.rpc.notify.directives"  # recent directives, who acknowledged

# audit (queue group audit-rpc)
AUDIT_QUERY = "cctv.rpc.audit.query"
AUDIT_PROVE = "cctv.rpc.audit.prove"
AUDIT_CHECKPOINT = "cctv.rpc.audit.checkpoint"
AUDIT_EXPORT = "cctv.rpc.audit.export"
AUDIT_VERIFY = "cctv.rpc.audit.verify"  # recompute chain, tree and stored nodes against a given key

# console: who an account is (name, department, role), for the CLI's --as
CONSOLE_PERSON = "cctv.rpc.console.person"  # {account} -> {person: {account, name, role, dept}}

# workflow (queue group workflow-rpc). Requests that act for a person carry ``actor``.
WORKFLOW_PREFIX = "cctv.rpc.workflow"
WORKFLOW_PREVIEW = f"{WORKFLOW_PREFIX}.preview"  # {process, form, actor} -> {steps}
WORKFLOW_SUBMIT = f"{WORKFLOW_PREFIX}.submit"  # {process, form, actor} -> {request}
WORKFLOW_APPROVE = f"{WORKFLOW_PREFIX}.approve"  # {request_id, actor, text?, step_key?, window_*?}
WORKFLOW_REJECT = f"{WORKFLOW_PREFIX}.reject"  # {request_id, actor, text, step_key?}
WORKFLOW_WITHDRAW = f"{WORKFLOW_PREFIX}.withdraw"  # {request_id, actor, reason?}
WORKFLOW_ACT = f"{WORKFLOW_PREFIX}.act"  # {request_id, actor, action, args}
WORKFLOW_GET = f"{WORKFLOW_PREFIX}.get"  # {request_id} -> {request, history, due}
WORKFLOW_PRINT = f"{WORKFLOW_PREFIX}.print"  # {request_id, format} -> {filename, html|pdf_base64}
WORKFLOW_INBOX = f"{WORKFLOW_PREFIX}.inbox"  # {actor} -> {to_act, mine}
WORKFLOW_LIST = f"{WORKFLOW_PREFIX}.list"  # {process?, state?} -> {requests}
WORKFLOW_CAMERAS = f"{WORKFLOW_PREFIX}.cameras"  # {} -> {cameras}
WORKFLOW_LOG_RECORD = f"{WORKFLOW_PREFIX}.log.record"  # {actor, kind, text, ...}
WORKFLOW_LOG_CLOSE = f"{WORKFLOW_PREFIX}.log.close"  # {actor, entry_id, resolution}
WORKFLOW_LOG_LIST = f"{WORKFLOW_PREFIX}.log.list"  # {open_only?} -> {entries}
WORKFLOW_HANDOVER_OFFER = f"{WORKFLOW_PREFIX}.handover.offer"  # {actor, incoming, notes?}
WORKFLOW_HANDOVER_CONFIRM = f"{WORKFLOW_PREFIX}.handover.confirm"  # {actor, handover_id, ack}
WORKFLOW_HANDOVERS = f"{WORKFLOW_PREFIX}.handovers"  # {} -> {handovers}
WORKFLOW_OPEN_ITEMS = f"{WORKFLOW_PREFIX}.open_items"  # {} -> {items}
WORKFLOW_RESPONSIBLE_SET = f"{WORKFLOW_PREFIX}.responsible.set"  # {actor, system_id, ...}
WORKFLOW_SCHEDULE_SET = f"{WORKFLOW_PREFIX}.responsible.schedule"  # {actor, system_id, periods}
WORKFLOW_SYSTEMS = f"{WORKFLOW_PREFIX}.systems"  # {} -> {systems}
# Art. 10: the official calendar on file; NIC enters a missing year's State Council notice.
WORKFLOW_CALENDAR = f"{WORKFLOW_PREFIX}.calendar"  # {} -> {notices, package_years}
WORKFLOW_CALENDAR_IMPORT = f"{WORKFLOW_PREFIX}.calendar.import"  # {actor, notice}
# 不予受理 with their numbers, newest first
WORKFLOW_REFUSALS = f"{WORKFLOW_PREFIX}.refusals"  # {process?, request_id?, limit?}


# media (issue 12): the system carries out copy grants and keeps approved footage (Art. 16-18)
MEDIA_EXPORT = "cctv.rpc.media.export"  # {actor, request_id, purpose, destination, cameras?, ...}
MEDIA_EXPORTS = "cctv.rpc.media.exports"  # {request_id?} -> {exports, objects}
MEDIA_DELETE = "cctv.rpc.media.delete"  # {actor, object_key, reason}: refused under a hold
MEDIA_VERIFY = "cctv.rpc.media.verify"  # {} -> {checked, failed}: re-hash every stored object
# the WebRTC viewer (ADR 0022): the console forwards the browser's SDP offer with the viewer's
# signed identity; media checks the grant (recorded) or the zone (live) and answers
MEDIA_VIEW = "cctv.rpc.media.view"  # {kind, request_id?, camera_id, position?, sdp} -> answer
# before the offer (ADR 0028): the same check, then the STUN/TURN servers (TURN login
# included) for the page's RTCPeerConnection; nothing for someone who may not view
MEDIA_ICE = "cctv.rpc.media.ice"  # {kind, request_id?, camera_id, position?} -> {ice_servers}
# {actor, export_id} -> {manifest, files}: an export's stored bytes for its evidence pack
MEDIA_FILES = "cctv.rpc.media.files"


def all_subjects() -> dict[str, str]:
    """Every request subject by constant name (the AsyncAPI document and tests read this)."""
    subjects = {
        k: v
        for k, v in globals().items()
        if k.isupper()
        and not k.endswith("_PREFIX")
        and isinstance(v, str)
        and v.startswith("cctv.rpc.")
    }
    subjects.update({f"DLQ_REPLAY_{s.upper()}": dlq_replay(s) for s in DLQ_REPLAY_SERVICES})
    return subjects


# the people directory and sign-on (issue 11, ADR 0013): the console answers
CONSOLE_LOGIN = "cctv.rpc.console.login"  # `cctv login`: account + password -> identity token
PEOPLE_LIST = "cctv.rpc.console.people.list"
PEOPLE_IMPORT = "cctv.rpc.console.people.import"  # NIC: CSV/YAML, all or nothing
PEOPLE_EXPORT = "cctv.rpc.console.people.export"
PEOPLE_SET = "cctv.rpc.console.people.set"
PEOPLE_DISABLE = "cctv.rpc.console.people.disable"


# every service (cctv.plumbing.Service, queue group <service>-rpc): replay its own dead
# letters through the consumer that refused them, for a sysadmin's signed identity
DLQ_REPLAY_SERVICES = ("ingest", "health", "notify", "workflow", "audit", "console", "media")


def dlq_replay(service: str) -> str:
    return f"cctv.rpc.{service}.dlq.replay"
