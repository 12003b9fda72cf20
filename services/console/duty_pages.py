"""The duty room's directives (Art. 13): the duty operator directs a zone's guards or named
people and sees who has acknowledged. Notify owns directives; the console only asks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from cctv.contract import rpc

from .security import SIGNED_IN, guarded_route
from .web import console_of, templates

SENDERS = ("duty_operator", "security_head")


async def directives_page(
    request: Request, error: str | None = None, status: int = 200
) -> Response:
    console = console_of(request)
    user = await console.user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    listing = await console.ask(rpc.NOTIFY_DIRECTIVES, {"limit": 30})
    roster = await console.ask(rpc.NOTIFY_ROSTER, {})
    zones = sorted({r["zone"] for r in roster.get("roster", []) if r.get("zone")})
    return templates.TemplateResponse(
        request,
        "duty/directives.html",
        {
            "user": user,
            "can_send": user.role in SENDERS,
            "directives": listing.get("directives", []),
            "zones": zones,
            "on_duty": [r for r in roster.get("roster", []) if r.get("on_duty")],
            "error": error or (None if listing.get("ok") else listing.get("error")),
        },
        status_code=status,
    )


async def issue(request: Request) -> Response:
    console = console_of(request)
    user = await console.user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.role not in SENDERS:
        return await directives_page(
            request, "只有监控值班人员可下达指令 — only the duty room may issue directives", 403
        )
    form = await request.form()
    accounts = [a.strip() for a in str(form.get("accounts") or "").split(",") if a.strip()]
    reply = await console.ask(
        rpc.NOTIFY_DIRECTIVE,
        {
            "sender": user.account,
            "zone": str(form.get("zone") or "") or None,
            "accounts": accounts,
            "text": str(form.get("text") or ""),
            "severity": str(form.get("severity") or "major"),
        },
    )
    if not reply.get("ok"):
        return await directives_page(request, str(reply.get("error")), 422)
    return RedirectResponse("/duty/directives", status_code=303)


# notify decides who may direct (Art. 13)
routes: list[BaseRoute] = [
    guarded_route("/duty/directives", directives_page, SIGNED_IN, methods=["GET"]),
    guarded_route("/duty/directives", issue, SIGNED_IN, methods=["POST"]),
]
