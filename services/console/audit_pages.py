"""Console pages for the audit log (issue #3): query by camera, actor, request number, event
type and time range, page through the results, open an entry with its inclusion proof.

Everything comes from the audit service over NATS request-reply (``cctv.rpc.audit.*``); the
console keeps nothing. The proof is checked here too, against the signed checkpoint and the
log's verifier key, so the page says "verified" only when the maths holds — and offers the
entry as a bundle that `cctv audit check` verifies offline.
"""

from __future__ import annotations

import base64
import json
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from cctv.contract.campustime import parse_instant
from cctv.contract.events import REGISTRY
from cctv.contract.orgs import CAMPUS_TZ, ROLES
from cctv.contract.rpc import AUDIT_CHECKPOINT, AUDIT_QUERY
from cctv.evidence import bundle, merkle
from cctv.evidence.checkpoint import Checkpoint, NoteError, Verifier
from cctv.evidence.entry import Entry, EntryError

from .security import guarded_route
from .web import console_of as _console
from .web import templates

AUDIT_ROLES = frozenset({"sysadmin", "school_leader", "dept_head"})
"""Who may read the log: it names who viewed which footage (Art. 15-17), so only those who
approve access or administer the system — not duty operators, guards or gatekeepers."""

FILTERS = ("camera_id", "actor", "request_no", "event_type", "kind", "since", "until")
PAGE_SIZES = (20, 50, 100)


async def _ask(request: Request, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = await _console(request).ask(subject, payload)
    return reply


async def _reader(request: Request) -> tuple[Any, Response | None]:
    """The logged-in user if they may read the audit log, else the response to send."""
    user = await _console(request).user(request)
    if user is None:
        return None, RedirectResponse("/login", status_code=303)
    if user.role not in AUDIT_ROLES:
        zh, en = ROLES.get(user.role, (user.role, user.role))
        return user, HTMLResponse(
            f"<p>无权查看审计日志 — the audit log is open to system administrators, heads of "
            f"department and the school leader in charge, not to {zh} {en} (Art. 15, 17)</p>",
            status_code=403,
        )
    return user, None


def _time(value: str) -> str | None:
    """A datetime-local field is campus time (UTC+8) unless it says otherwise."""
    value = value.strip()
    if not value:
        return None
    try:
        return parse_instant(value, naive="campus").astimezone(CAMPUS_TZ).isoformat()
    except ValueError:
        return value  # the audit service names what is wrong with it


def query_from(params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The audit query a form or query string asks for, and the form values to show again."""
    values = {k: str(params.get(k) or "").strip() for k in FILTERS}
    q: dict[str, Any] = {k: v for k, v in values.items() if v and k not in ("since", "until")}
    for k in ("since", "until"):
        t = _time(values[k])
        if t:
            q[k] = t
    try:
        limit = int(params.get("limit") or PAGE_SIZES[0])
    except ValueError:
        limit = PAGE_SIZES[0]
    q["limit"] = max(1, min(limit, 500))
    values["limit"] = str(q["limit"])
    after = str(params.get("after_seq") or "").strip()
    if after.lstrip("-").isdigit():
        q["after_seq"] = int(after)
    return q, values


def page_link(values: dict[str, str], after_seq: int | None) -> str:
    from urllib.parse import urlencode

    params = {k: v for k, v in values.items() if v}
    if after_seq is not None:
        params["after_seq"] = str(after_seq)
    return "/audit?" + urlencode(params)


async def index(request: Request) -> Response:
    user, denied = await _reader(request)
    if denied is not None:
        return denied
    q, values = query_from(request.query_params)
    reply = await _ask(request, AUDIT_QUERY, q)
    head = await _ask(request, AUDIT_CHECKPOINT, {})
    entries = reply.get("entries", []) if reply.get("ok") else []
    nxt = reply.get("next_after_seq")
    return templates.TemplateResponse(
        request,
        "audit/index.html",
        {
            "user": user,
            "values": values,
            "entries": entries,
            "error": None if reply.get("ok") else reply.get("error"),
            "next_link": page_link(values, nxt) if nxt is not None else None,
            "first_link": page_link(values, None) if "after_seq" in q else None,
            "head": head if head.get("ok") else None,
            "event_types": sorted(REGISTRY),
            "page_sizes": PAGE_SIZES,
        },
        status_code=200 if reply.get("ok") else 422,
    )


def check_proof(item: dict[str, Any], note: str, vkey: str) -> tuple[Checkpoint | None, str]:
    """Check an entry's inclusion proof against the signed checkpoint: (checkpoint, verdict)."""
    try:
        verifier = Verifier.from_vkey(vkey)
        cp = Checkpoint.open(note, verifier)
    except NoteError as exc:
        return None, f"检查点无效 checkpoint rejected: {exc}"
    try:
        data = base64.b64decode(item["entry"])
        proof = [base64.b64decode(h) for h in item["inclusion_proof"]]
        merkle.verify_inclusion(item["seq"], cp.size, merkle.leaf_hash(data), proof, cp.root_hash)
    except (KeyError, ValueError) as exc:
        return cp, f"包含证明无效 inclusion proof fails: {exc}"
    return cp, ""


async def _entry_with_proof(
    request: Request, seq: int
) -> tuple[dict[str, Any] | None, dict[str, Any], str | None]:
    reply = await _ask(request, AUDIT_QUERY, {"after_seq": seq - 1, "limit": 1, "proof": True})
    if not reply.get("ok"):
        return None, reply, str(reply.get("error"))
    got = reply.get("entries") or []
    if not got or got[0]["seq"] != seq:
        return None, reply, f"审计日志没有第 {seq} 条 the log has no entry {seq}"
    return got[0], reply, None


async def entry(request: Request) -> Response:
    user, denied = await _reader(request)
    if denied is not None:
        return denied
    try:
        seq = int(request.path_params["seq"])
    except ValueError:
        return HTMLResponse("<p>条目号应为整数 entry number must be an integer</p>", 404)
    item, reply, error = await _entry_with_proof(request, seq)
    if item is None:
        return HTMLResponse(f"<p>{escape(str(error))}</p>", status_code=404)
    head = await _ask(request, AUDIT_CHECKPOINT, {})
    vkey = str(head.get("verifier_key") or "")
    cp, problem = check_proof(item, reply.get("checkpoint", ""), vkey)
    header: dict[str, Any] = {}
    try:
        header = Entry.decode(base64.b64decode(item["entry"])).header()
    except (EntryError, ValueError):
        problem = problem or "条目字节无法解析 entry bytes unreadable"
    return templates.TemplateResponse(
        request,
        "audit/entry.html",
        {
            "user": user,
            "e": item,
            "header": header,
            "envelope": json.dumps(item.get("envelope"), ensure_ascii=False, indent=2),
            "proof": item.get("inclusion_proof", []),
            "checkpoint": cp,
            "note": reply.get("checkpoint", ""),
            "vkey": vkey,
            "fingerprint": _fingerprint(vkey),
            "problem": problem,
        },
    )


def _fingerprint(vkey: str) -> str:
    try:
        return Verifier.from_vkey(vkey).fingerprint()
    except NoteError:
        return "?"


async def entry_bundle(request: Request) -> Response:
    """The entry as a one-entry evidence bundle, for `cctv audit check` (docs/audit-bundle.md)."""
    _user, denied = await _reader(request)
    if denied is not None:
        return denied
    try:
        seq = int(request.path_params["seq"])
    except ValueError:
        return JSONResponse({"ok": False, "error": "entry number must be an integer"}, 404)
    item, reply, error = await _entry_with_proof(request, seq)
    head = await _ask(request, AUDIT_CHECKPOINT, {})
    if item is None or not head.get("ok"):
        return JSONResponse({"ok": False, "error": error or head.get("error")}, 404)
    note = str(reply.get("checkpoint", ""))
    cp = Checkpoint.parse_body(note.split("\n\n")[0] + "\n")
    doc = bundle.make_bundle(
        origin=cp.origin,
        verifier_key=str(head["verifier_key"]),
        checkpoint_note=note,
        entries=[(seq, base64.b64decode(item["entry"]))],
        inclusion_proofs={seq: [base64.b64decode(h) for h in item["inclusion_proof"]]},
        purpose="evidence",
        description=f"审计日志第 {seq} 条及其包含证明 audit entry {seq} with its inclusion proof",
    )
    return Response(
        bundle.dumps(doc),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="audit-entry-{seq}.json"'},
    )


async def api_query(request: Request) -> Response:
    """The same query as JSON (``proof=1`` adds inclusion proofs and the checkpoint)."""
    _user, denied = await _reader(request)
    if denied is not None:
        return JSONResponse({"ok": False, "error": "login or audit role required"}, 403)
    q, _ = query_from(request.query_params)
    if request.query_params.get("proof") in ("1", "true", "yes"):
        q["proof"] = True
    reply = await _ask(request, AUDIT_QUERY, q)
    return JSONResponse(reply, status_code=200 if reply.get("ok") else 422)


routes: list[BaseRoute] = [
    guarded_route("/audit", index, "audit.read"),
    guarded_route("/audit/entries/{seq}", entry, "audit.read"),
    guarded_route("/audit/entries/{seq}/bundle.json", entry_bundle, "audit.read"),
    guarded_route("/api/audit/entries", api_query, "audit.read"),
]
