"""Request-reply subjects (core NATS, not streams): how the console and the CLI ask services.

Replies are JSON objects: {"ok": true, ...} or {"ok": false, "error": "...", "article": ...}.
"""

INGEST_CAMERAS = "cctv.rpc.ingest.cameras"
INGEST_INVENTORY_IMPORT = "cctv.rpc.ingest.inventory.import"
INGEST_INVENTORY_EXPORT = "cctv.rpc.ingest.inventory.export"
INGEST_INVENTORY_REMOVE = "cctv.rpc.ingest.inventory.remove"
INGEST_TAMPER_CONFIRM = "cctv.rpc.ingest.tamper_confirm"  # a changed view is the new reference
INGEST_TAMPER_STATE = "cctv.rpc.ingest.tamper_state"  # a camera's checks; or set its thresholds
HEALTH_STATES = "cctv.rpc.health.states"
HEALTH_FAULTS = "cctv.rpc.health.faults"
NOTIFY_INBOX = "cctv.rpc.notify.inbox"
NOTIFY_ACK = "cctv.rpc.notify.ack"
NOTIFY_ROSTER = "cctv.rpc.notify.roster"
NOTIFY_DIRECTIVE = "cctv.rpc.notify.directive"  # the duty room directs guards (Art. 13)
NOTIFY_DIRECTIVES = "cctv.rpc.notify.directives"  # recent directives, who acknowledged
AUDIT_QUERY = "cctv.rpc.audit.query"
AUDIT_PROVE = "cctv.rpc.audit.prove"
AUDIT_CHECKPOINT = "cctv.rpc.audit.checkpoint"
AUDIT_EXPORT = "cctv.rpc.audit.export"
AUDIT_VERIFY = "cctv.rpc.audit.verify"  # recompute chain, tree and stored nodes against a given key
# media (issue 12): the system carries out copy grants and keeps approved footage (Art. 16-18)
MEDIA_EXPORT = "cctv.rpc.media.export"  # {actor, request_id, purpose, destination, cameras?, ...}
MEDIA_EXPORTS = "cctv.rpc.media.exports"  # {request_id?} -> {exports, objects}
MEDIA_DELETE = "cctv.rpc.media.delete"  # {actor, object_key, reason}: refused under a hold
MEDIA_VERIFY = "cctv.rpc.media.verify"  # {} -> {checked, failed}: re-hash every stored object
