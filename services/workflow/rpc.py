"""Request-reply subjects of the workflow service (core NATS, queue group ``workflow-rpc``).

Every request carries ``actor`` ({person_id, name, department, roles}) as authenticated by the
console or the CLI. Replies: {"ok": true, ...} or {"ok": false, "error", "article", "code",
"kind"} where kind is refusal | violation | invalid | not_found.
"""

PREFIX = "cctv.rpc.workflow"
PREVIEW = f"{PREFIX}.preview"  # {process, form, actor} -> {steps}
SUBMIT = f"{PREFIX}.submit"  # {process, form, actor} -> {request}
APPROVE = f"{PREFIX}.approve"  # {request_id, actor, text?, step_key?, window_from?, window_until?}
REJECT = f"{PREFIX}.reject"  # {request_id, actor, text, step_key?}
WITHDRAW = f"{PREFIX}.withdraw"  # {request_id, actor, reason?}
ACT = f"{PREFIX}.act"  # {request_id, actor, action, args}: retrieve, extend_hold, plan, ...
GET = f"{PREFIX}.get"  # {request_id} -> {request, history, due}
INBOX = f"{PREFIX}.inbox"  # {actor} -> {to_act, mine}
LIST = f"{PREFIX}.list"  # {process?, state?} -> {requests}
CAMERAS = f"{PREFIX}.cameras"  # {} -> {cameras} (the inventory as the workflow knows it)
LOG_RECORD = f"{PREFIX}.log.record"  # {actor, kind, text, cameras?, location?, reported_to?}
LOG_CLOSE = f"{PREFIX}.log.close"  # {actor, entry_id, resolution}
LOG_LIST = f"{PREFIX}.log.list"  # {open_only?} -> {entries}
HANDOVER_OFFER = f"{PREFIX}.handover.offer"  # {actor, incoming, notes?} -> {handover}
HANDOVER_CONFIRM = f"{PREFIX}.handover.confirm"  # {actor, handover_id, acknowledged}
HANDOVERS = f"{PREFIX}.handovers"  # {} -> {handovers} still waiting for confirmation
OPEN_ITEMS = f"{PREFIX}.open_items"  # {} -> {items}
RESPONSIBLE_SET = f"{PREFIX}.responsible.set"  # {actor, system_id, department, person, reason}
SCHEDULE_SET = f"{PREFIX}.responsible.schedule"  # {actor, system_id, department, schedule}
SYSTEMS = f"{PREFIX}.systems"  # {} -> {systems}
# Art. 10: the official calendar on file; NIC enters a missing year's State Council notice.
CALENDAR = f"{PREFIX}.calendar"  # {} -> {notices, package_years}
CALENDAR_IMPORT = f"{PREFIX}.calendar.import"  # {actor, notice} -> {notice, replaced}
# 不予受理 with their numbers, newest first
REFUSALS = f"{PREFIX}.refusals"  # {process?, request_id?, limit?} -> {refusals}
