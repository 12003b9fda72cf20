"""The footage viewer page (ADR 0022): the browser negotiates WebRTC with the media service
through the console. The console only forwards the SDP offer with the signed-in person's
identity; media decides what may be shown (the grant, Art. 16-17; the zone, Art. 13-14),
watermarks every frame and records every step. There is no footage URL here to copy."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from cctv.contract import rpc
from cctv.contract.campustime import TimeError, parse_instant
from cctv.contract.orgs import LIVE_ROLES

from .security import SIGNED_IN, guarded_route
from .web import console_of, templates


async def viewer_page(request: Request) -> Response:
    console = console_of(request)
    user = await console.user(request)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    rid = request.query_params.get("request", "").strip()
    grant: dict[str, Any] | None = None
    error = None
    if rid:
        got = await console.ask(rpc.WORKFLOW_GET, {"request_id": rid})
        req = got.get("request") if got.get("ok") else None
        grant = (req or {}).get("grant")
        if not got.get("ok"):
            error = got.get("error")
        elif not grant:
            error = f"申请 {rid} 没有调阅授权 — request {rid} has no grant"
    can_live = any(r in LIVE_ROLES for r in user.roles)
    return templates.TemplateResponse(
        request,
        "viewer/index.html",
        {
            "user": user,
            "rid": rid,
            "grant": grant,
            "error": error,
            "can_live": can_live,
            "live_camera": request.query_params.get("camera", ""),
            "mine": [] if rid else await _my_grants(console),
            "cameras": await _my_area(console, user) if can_live and not rid else [],
        },
    )


async def _my_grants(console: Any) -> list[dict[str, Any]]:
    """My approved access requests, for a link each (media still checks every one)."""
    inbox = await console.ask_or_note(rpc.WORKFLOW_INBOX, {})  # a list only: the page works
    return [
        r
        for r in inbox.get("mine", [])
        if r.get("process") == "access" and r.get("state") in ("approved", "retrieved")
    ]


async def _my_area(console: Any, user: Any) -> list[dict[str, Any]]:
    """The cameras of my zone (or, with no zone, my department's): a picker only — media
    decides what it streams (Art. 13-14)."""
    listed = await console.ask_or_note(rpc.INGEST_CAMERAS, {})  # a picker only: the page works
    return [
        c
        for c in listed.get("cameras", [])
        if (c.get("zone") == user.zone if user.zone else
            user.department in (c.get("department"), c.get("managing_department")))
    ][:200]  # fmt: skip


async def _asked(request: Request) -> dict[str, Any] | JSONResponse:
    """What the page asks to see (kind, request, camera, start), as media's request; a body
    that is no JSON object or a bad start time is answered here."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JSONResponse({"ok": False, "error": "请求须为JSON对象 — JSON object expected"}, 400)
    payload: dict[str, Any] = {
        "kind": body.get("kind") or "recorded",
        "camera_id": str(body.get("camera_id") or ""),
    }
    if body.get("request_id"):
        payload["request_id"] = str(body["request_id"])
    if body.get("position"):
        try:  # with its zone, as media and the seek box want it (Art. 16(1)3)
            payload["position"] = parse_instant(body["position"], "position").isoformat()
        except TimeError as exc:
            return JSONResponse(
                {"ok": False, "code": "invalid_request", "error": str(exc),
                 "article": "Art. 16(1)3"}, 422,
            )  # fmt: skip
    payload["sdp"] = str(body.get("sdp") or "")
    return payload


async def ice(request: Request) -> Response:
    """The STUN/TURN servers for the page's RTCPeerConnection, asked before the offer (the
    page gathers every candidate before it offers). Media answers them only to a person the
    offer's check lets view, so a TURN login is never in a page anyone can load (ADR 0028)."""
    asked = await _asked(request)
    if isinstance(asked, JSONResponse):
        return asked
    asked.pop("sdp")
    reply = await console_of(request).ask(rpc.MEDIA_ICE, asked, timeout=20.0)
    return JSONResponse(reply, status_code=200 if reply.get("ok") else 403,
                        headers={"cache-control": "no-store"})  # fmt: skip


async def offer(request: Request) -> Response:
    """The browser's SDP offer → media, acting for the signed-in person; media's answer (or
    its refusal, with the article) back to the page."""
    asked = await _asked(request)
    if isinstance(asked, JSONResponse):
        return asked
    reply = await console_of(request).ask(rpc.MEDIA_VIEW, {**asked, "type": "offer"}, timeout=20.0)
    return JSONResponse(reply, status_code=200 if reply.get("ok") else 403)


# media decides by the grant (Art. 16-17) or the zone (Art. 13-14)
routes: list[BaseRoute] = [
    guarded_route("/viewer", viewer_page, SIGNED_IN, methods=["GET"]),
    # the ICE servers only after media's check (ADR 0028)
    guarded_route("/api/viewer/ice", ice, SIGNED_IN, methods=["POST"]),
    guarded_route("/api/viewer/offer", offer, SIGNED_IN, methods=["POST"]),
]
