"""Console pages for the regulation's forms (issue #4): fill in, see the approval chain before
submitting, approve or reject with an opinion, track, print like the paper form.

Everything goes to the workflow service over NATS request-reply, printing included; the console
keeps no workflow data and imports nothing of workflow's (only the contract's vocabulary).
Mounted by the console from ``routes``.
"""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from cctv.contract import regulation, rpc
from cctv.contract.campustime import parse_instant
from cctv.contract.orgs import (
    BODY_NAMES,
    CAMPUS_TZ,
    CATEGORIES,
    BodyKind,
    Role,
    actor_for,
    department_zh,
)
from cctv.contract.workflow import KIND_ZH, PRINTABLE, STATE_ZH, EntryKind, RequestState
from cctv.contract.workflow import PROCESSES as PROCESS_NAMES

from .security import SIGNED_IN, guarded_route
from .web import console_of as _console
from .web import templates

templates.env.globals.update(
    BODY_NAMES=BODY_NAMES,
    STATE_ZH={s.value: z for s, z in STATE_ZH.items()},
    KIND_ZH={k.value: z for k, z in KIND_ZH.items()},
    dept_zh=department_zh,
)
PROCESSES = PROCESS_NAMES


async def _who(request: Request) -> tuple[Any, dict[str, Any]] | None:
    user = await _console(request).user(request)
    if user is None:
        return None
    actor = actor_for(user.account, user.name, user.role, user.department)
    return user, actor.model_dump(mode="json")


async def _ask(
    request: Request, subject: str, payload: dict[str, Any], timeout: float = 5.0
) -> dict[str, Any]:
    reply: dict[str, Any] = await _console(request).ask(subject, payload, timeout)
    return reply


def _local_iso(value: str) -> str | None:
    """A datetime-local field is campus time; the workflow wants an aware ISO string."""
    if not value:
        return None
    return parse_instant(value, naive="campus").astimezone(CAMPUS_TZ).isoformat()


def _lines(value: str) -> list[str]:
    return [
        x.strip() for x in value.replace("、", "\n").replace(",", "\n").splitlines() if x.strip()
    ]


def form_from_fields(process: str, f: Any, user: Any) -> dict[str, Any]:
    """Turn the HTML form into the workflow's form; approvers are never among the fields."""
    get = lambda k: str(f.get(k) or "").strip()  # noqa: E731
    if process == "access":
        body = get("body") or "internal"
        return {
            "body": body,
            "applying_unit": user.department if body == "internal" else get("applying_unit"),
            "viewer": get("viewer"),
            "viewer_id_document": get("viewer_id_document") or None,
            "method": get("method") or "view",
            "reason": get("reason"),
            "cameras": f.getlist("cameras"),
            "footage_from": _local_iso(get("footage_from")),
            "footage_until": _local_iso(get("footage_until")),
            "letter_ref": get("letter_ref") or None,
            "id_checked": bool(f.get("id_checked")),
            "case_number": get("case_number") or None,
            "notes": get("notes"),
        }
    if process == "stopmove":
        moves = {}
        for line in get("moves").splitlines():
            if "=" in line:
                cid, pos = line.split("=", 1)
                moves[cid.strip()] = pos.strip()
        points = [
            {
                "camera_id": c,
                "action": "move" if c in moves else "stop",
                "new_position": moves.get(c, ""),
            }
            for c in f.getlist("cameras")
        ]
        return {
            "applying_unit": user.department,
            "reason": get("reason"),
            "points": points,
            "count": len(points),
            "workaround": get("workaround"),
            "window_from": _local_iso(get("window_from")),
            "window_until": _local_iso(get("window_until")),
            "notes": get("notes"),
        }
    if process == "newpoint":
        return {
            "department": user.department,
            "need": get("need"),
            "urgent": bool(f.get("urgent")),
            "positions": [x.strip() for x in get("positions").splitlines() if x.strip()],
            "notes": get("notes"),
        }
    return {
        "organiser": user.department,
        "exam_name": get("exam_name"),
        "national_exam": bool(f.get("national_exam")),
        "building": get("building"),
        "rooms": _lines(get("rooms")),
        "cameras": f.getlist("cameras"),
        "starts_at": _local_iso(get("starts_at")),
        "ends_at": _local_iso(get("ends_at")),
        "contact": get("contact"),
        "notes": get("notes"),
    }


async def index(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    user, actor = who
    inbox = await _ask(request, rpc.WORKFLOW_INBOX, {"actor": actor})
    everything = await _ask(request, rpc.WORKFLOW_LIST, {})
    return templates.TemplateResponse(
        request,
        "workflow/index.html",
        {
            "user": user,
            "inbox": inbox,
            "all": everything.get("requests", []),
            "processes": PROCESSES,
        },
    )


async def new_form(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    user, actor = who
    process = request.path_params["process"]
    if process not in PROCESSES:
        return HTMLResponse("未知表单 unknown form", status_code=404)
    values: dict[str, Any] = {}
    steps: list[dict[str, Any]] = []
    error = None
    if request.method == "POST":
        fields = await request.form()
        values = {k: fields.getlist(k) if k == "cameras" else fields.get(k) for k in fields}
        payload = {
            "process": process,
            "actor": actor,
            "form": form_from_fields(process, fields, user),
        }
        if fields.get("submit"):
            if fields.get("chain_key") is not None:  # the chain the requester was shown
                payload["expected_chain"] = [x for x in str(fields["chain_key"]).split("|") if x]
            reply = await _ask(request, rpc.WORKFLOW_SUBMIT, payload)
            if reply.get("ok"):
                rid = reply["request"]["request_id"]
                return RedirectResponse(f"/requests/{rid}", status_code=303)
        else:
            reply = await _ask(request, rpc.WORKFLOW_PREVIEW, payload)
            steps = reply.get("steps", [])
            values["chain_key"] = "|".join(reply.get("chain_key", []))
        error = None if reply.get("ok") else reply.get("error")
        if error and reply.get("kind") == "refusal" and reply.get("request_id"):
            error = f"不予受理 No. {reply['request_id']}：{error}"  # the number to quote
    cams = (await _ask(request, rpc.WORKFLOW_CAMERAS, {})).get("cameras", [])
    status = 422 if error else 200
    return templates.TemplateResponse(
        request,
        "workflow/new.html",
        {
            "user": user,
            "process": process,
            "title": PROCESSES[process],
            "cameras": cams,
            "values": values,
            "steps": steps,
            "error": error,
            "bodies": list(BodyKind),
        },
        status_code=status,
    )


async def detail(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    user, actor = who
    rid = request.path_params["rid"]
    got = await _ask(request, rpc.WORKFLOW_GET, {"request_id": rid})
    if not got.get("ok"):
        return HTMLResponse(f"<p>{escape(str(got.get('error')))}</p>", status_code=404)
    inbox = await _ask(request, rpc.WORKFLOW_INBOX, {"actor": actor})
    can_act = any(x["request_id"] == rid for x in inbox.get("to_act", []))
    doc = got["request"]
    opinions = {o["step_key"]: o for o in doc["flow"]["opinions"]}
    roles = set(actor["roles"])
    return templates.TemplateResponse(
        request,
        "workflow/detail.html",
        {
            "user": user,
            "req": doc,
            "summary": got["summary"],
            "steps": got["steps"],
            "history": got["history"],
            "opinions": opinions,
            "can_act": can_act,
            "is_requester": doc["requester"]["person_id"] == actor["person_id"],
            "is_sysadmin": Role.SYSADMIN.value in roles,
            "dept": actor.get("department"),
            "pending": doc["state"] == RequestState.PENDING.value,
            "printable": got["summary"]["process"] in PRINTABLE,
            "message": request.query_params.get("m"),
            "error": request.query_params.get("e"),
        },
    )


async def decide(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    _user, actor = who
    rid = request.path_params["rid"]
    action = request.path_params["action"]
    f = await request.form()
    payload: dict[str, Any] = {"request_id": rid, "actor": actor}
    if action in ("approve", "reject"):
        payload["text"] = str(f.get("text") or "")
        if f.get("window_from"):
            payload["window_from"] = _local_iso(str(f.get("window_from")))
        if f.get("window_until"):
            payload["window_until"] = _local_iso(str(f.get("window_until")))
        subject = rpc.WORKFLOW_APPROVE if action == "approve" else rpc.WORKFLOW_REJECT
    elif action == "withdraw":
        payload["reason"] = str(f.get("reason") or "")
        subject = rpc.WORKFLOW_WITHDRAW
    elif action == "export":  # the media service carries out a copy grant (issue 12)
        payload["purpose"] = str(f.get("purpose") or "")
        payload["destination"] = str(f.get("destination") or "")
        subject = rpc.MEDIA_EXPORT
    else:
        args: dict[str, Any] = {k: str(v) for k, v in f.items() if v}
        try:
            if "rows" in args:  # survey rows: position|count|fibre|cable|break|m|poles|notes
                args["rows"] = [_survey_row(x) for x in args["rows"].splitlines() if x.strip()]
            if action == "implement":
                got = await _ask(request, rpc.WORKFLOW_GET, {"request_id": rid})
                dept = str(((got.get("request") or {}).get("form") or {}).get("department", ""))
                args = {"cameras": _camera_rows(args, dept)}
        except ValueError as exc:
            return _back(request, rid, {"ok": False, "error": f"表单有误 — invalid form: {exc}"})
        payload["args"] = args
        payload["action"] = action
        subject = rpc.WORKFLOW_ACT
    return _back(request, rid, await _ask(request, subject, payload))


def _back(request: Request, rid: str, reply: dict[str, Any]) -> Response:
    """Back to the request page with the outcome (or the reply itself, for API callers)."""
    if "application/json" in request.headers.get("accept", ""):
        from starlette.responses import JSONResponse

        return JSONResponse(reply, status_code=200 if reply.get("ok") else 409)
    from urllib.parse import quote

    if reply.get("ok"):
        return RedirectResponse(f"/requests/{rid}?m={quote('已提交 done')}", status_code=303)
    return RedirectResponse(f"/requests/{rid}?e={quote(str(reply.get('error')))}", status_code=303)


YES = ("是", "y", "yes", "1", "true")


def _int(value: str, what: str) -> int:
    try:
        return int(value or 0)
    except ValueError:
        raise ValueError(f"{what}「{value}」不是整数 is not a whole number") from None


def _survey_row(line: str) -> dict[str, Any]:
    p = [x.strip() for x in line.split("|")]
    p += [""] * (8 - len(p))
    return {
        "position": p[0],
        "camera_count": _int(p[1], "摄像头个数"),
        "fibre": p[2].lower() in YES,
        "cable_m": _int(p[3], "线路长度"),
        "break_road": p[4].lower() in YES,
        "break_m": _int(p[5], "破路长度"),
        "poles": _int(p[6], "立杆个数"),
        "notes": p[7],
    }


def _camera_rows(args: dict[str, Any], department: str) -> list[dict[str, Any]]:
    """The cameras NIC installed, for the inventory: one line each,
    camera_id|名称|位置|品牌|协议|地址, with the system, category and zone shared by all."""
    category = str(args.get("category") or "public_safety")
    if category not in CATEGORIES:
        raise ValueError(f"category「{category}」")
    manager = regulation.managing_department(category, department)
    out = []
    for line in str(args.get("cameras") or "").splitlines():
        if not line.strip():
            continue
        p = [x.strip() for x in line.split("|")]
        p += [""] * (6 - len(p))
        out.append(
            {
                "camera_id": p[0],
                "name": p[1],
                "system_id": str(args.get("system_id") or ""),
                "department": department,
                "managing_department": manager,
                "category": category,
                "sensitivity": _lines(str(args.get("sensitivity") or "")),
                "building": str(args.get("building") or ""),
                "position": p[2],
                "zone": str(args.get("zone") or ""),
                "brand": p[3] or "hikvision",
                "protocol": p[4] or "isapi",
                "address": p[5],
            }
        )
    return out


async def print_form(request: Request) -> Response:
    """The paper form as workflow prints it (HTML, or PDF when workflow has a CJK font)."""
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    rid = request.path_params["rid"]
    fmt = "pdf" if request.path_params.get("fmt") == "pdf" else "html"
    # rendering a PDF with a CJK font takes a while on a busy host: wait longer than for a page
    got = await _ask(request, rpc.WORKFLOW_PRINT, {"request_id": rid, "format": fmt}, 30.0)
    if not got.get("ok"):
        if got.get("code") == "no_cjk_font":  # the HTML prints just as well
            return RedirectResponse(f"/requests/{rid}/print", status_code=303)
        return HTMLResponse(f"<p>{escape(str(got.get('error')))}</p>", status_code=404)
    if fmt == "pdf":
        return Response(
            base64.b64decode(got["pdf_base64"]),
            media_type="application/pdf",
            headers={"content-disposition": f'inline; filename="{got["filename"]}"'},
        )
    return HTMLResponse(got["html"])


async def duty(request: Request) -> Response:
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    user, actor = who
    error = None
    if request.method == "POST":
        f = await request.form()
        what = str(f.get("what"))
        if what == "log":
            reply = await _ask(
                request,
                rpc.WORKFLOW_LOG_RECORD,
                {
                    "actor": actor,
                    "kind": f.get("kind"),
                    "text": f.get("text"),
                    "location": f.get("location") or "",
                    "reported_to": f.get("reported_to") or "",
                    "cameras": _lines(str(f.get("cameras") or "")),
                },
            )
        elif what == "close":
            reply = await _ask(
                request,
                rpc.WORKFLOW_LOG_CLOSE,
                {"actor": actor, "entry_id": f.get("entry_id"), "resolution": f.get("resolution")},
            )
        elif what == "offer":
            reply = await _ask(
                request,
                rpc.WORKFLOW_HANDOVER_OFFER,
                {"actor": actor, "incoming": f.get("incoming"), "notes": f.get("notes") or ""},
            )
        else:
            reply = await _ask(
                request,
                rpc.WORKFLOW_HANDOVER_CONFIRM,
                {
                    "actor": actor,
                    "handover_id": f.get("handover_id"),
                    "acknowledged": f.getlist("ack"),
                },
            )
        if reply.get("ok"):
            return RedirectResponse("/duty", status_code=303)
        error = reply.get("error")
    entries = (await _ask(request, rpc.WORKFLOW_LOG_LIST, {})).get("entries", [])
    items = (await _ask(request, rpc.WORKFLOW_OPEN_ITEMS, {})).get("items", [])
    offered = (await _ask(request, rpc.WORKFLOW_HANDOVERS, {})).get("handovers", [])
    return templates.TemplateResponse(
        request,
        "workflow/duty.html",
        {
            "user": user,
            "entries": entries[::-1],
            "items": items,
            "error": error,
            "kinds": list(EntryKind),
            "offered": offered,
        },
        status_code=422 if error else 200,
    )


async def systems(request: Request) -> Response:
    """Art. 9: each system's responsible person and arming schedule, on file with 后勤处 and NIC."""
    who = await _who(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    user, actor = who
    error = notified = None
    if request.method == "POST":
        f = await request.form()
        if f.get("what") == "schedule":
            periods = [x for x in str(f.get("schedule") or "").splitlines() if x.strip()]
            reply = await _ask(  # workflow reads the periods as people write them (Art. 9)
                request,
                rpc.WORKFLOW_SCHEDULE_SET,
                {
                    "actor": actor,
                    "system_id": str(f.get("system_id") or ""),
                    "department": str(f.get("department") or "") or None,
                    "periods": periods,
                },
            )
            if not reply.get("ok"):
                error = reply.get("error")
            files = (await _ask(request, rpc.WORKFLOW_SYSTEMS, {})).get("systems", [])
            return templates.TemplateResponse(
                request,
                "workflow/systems.html",
                {"user": user, "systems": files, "error": error, "notified": None},
                status_code=422 if error else 200,
            )
        reply = await _ask(
            request,
            rpc.WORKFLOW_RESPONSIBLE_SET,
            {
                "actor": actor,
                "system_id": str(f.get("system_id") or ""),
                "department": str(f.get("department") or "") or None,
                "person": {
                    "person_id": str(f.get("person_id") or ""),
                    "name": str(f.get("name") or ""),
                    "phone": str(f.get("phone") or ""),
                },
                "reason": str(f.get("reason") or ""),
            },
        )
        if reply.get("ok"):
            notified = reply.get("notified")
        else:
            error = reply.get("error")
    files = (await _ask(request, rpc.WORKFLOW_SYSTEMS, {})).get("systems", [])
    return templates.TemplateResponse(
        request,
        "workflow/systems.html",
        {
            "user": user,
            "systems": files,
            "error": error,
            "notified": notified,
        },
        status_code=422 if error else 200,
    )


# signed in is enough to ask: the workflow decides who may see, apply, sign (Art. 6-16)
routes: list[BaseRoute] = [
    guarded_route("/requests", index, SIGNED_IN),
    guarded_route("/requests/new/{process}", new_form, SIGNED_IN, methods=["GET", "POST"]),
    guarded_route("/requests/{rid}", detail, SIGNED_IN),
    guarded_route("/requests/{rid}/print", print_form, SIGNED_IN),
    guarded_route("/requests/{rid}/print.{fmt}", print_form, SIGNED_IN),
    guarded_route("/requests/{rid}/{action}", decide, SIGNED_IN, methods=["POST"]),
    # the workflow says who may log or hand over, citing Art. 13-14
    guarded_route("/duty", duty, SIGNED_IN, methods=["GET", "POST"]),
    # Art. 9: the owning department's head and NIC change a system, not guards
    guarded_route("/systems", systems, {"GET": SIGNED_IN, "POST": "systems.edit"}),
]
