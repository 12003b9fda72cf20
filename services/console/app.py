"""console: Starlette pages and JSON API over NATS request-reply to the services.

The console owns only accounts and sessions; everything else it asks the service that owns it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cctv.contract import rpc
from cctv.contract.rpcmodels import AccountRequest, PersonReply, RpcCall
from cctv.plumbing.service import RpcError, Service

from . import accounts
from .settings import ConsoleSettings
from .views import cameras_by_building, faults_open_first
from .web import HERE, templates


class Console:
    def __init__(self, svc: Service, settings: ConsoleSettings) -> None:
        self.svc = svc
        self.settings = settings

    async def user(self, request: Request) -> accounts.User | None:
        account = request.session.get("account")
        if not account or self.svc.pool is None:
            return None
        return await accounts.get_user(self.svc.pool, account)

    async def ask(
        self, subject: str, payload: dict[str, Any], timeout: float = 5.0
    ) -> dict[str, Any]:
        try:
            reply = await self.svc.request(subject, payload, timeout=timeout)
        except Exception as exc:
            return {"ok": False, "error": f"服务暂不可用 service unavailable: {exc}"}
        return reply if isinstance(reply, dict) else {"ok": False, "error": "bad reply"}

    async def overview(self, user: accounts.User) -> dict[str, Any]:
        cams = await self.ask(rpc.INGEST_CAMERAS, {})
        states = await self.ask(rpc.HEALTH_STATES, {})
        faults = await self.ask(rpc.HEALTH_FAULTS, {})
        inbox = await self.ask(rpc.NOTIFY_INBOX, {"account": user.account})
        errors = [r["error"] for r in (cams, states, faults, inbox) if not r.get("ok")]
        all_faults = faults_open_first(faults.get("faults", []))
        buildings = cameras_by_building(
            cams.get("cameras", []), states.get("states", []), all_faults
        )
        # a service that did not answer is "unknown", never a reassuring zero
        totals: dict[str, int] | None = None
        if cams.get("ok") and states.get("ok"):
            totals = {}
            for b in buildings:
                for state, n in b["counts"].items():
                    totals[state] = totals.get(state, 0) + n
        open_faults = [f for f in all_faults if f["status"] == "open"]
        return {
            "buildings": buildings,
            "totals": totals,
            "faults": all_faults,
            "open_faults": open_faults if faults.get("ok") else None,
            "alerts": inbox.get("alerts", []),
            "errors": errors,
        }

    # --- pages ------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return templates.TemplateResponse(request, "login.html", {"error": None})

    async def login(self, request: Request) -> Response:
        form = await request.form()
        assert self.svc.pool is not None
        user = await accounts.authenticate(
            self.svc.pool, str(form.get("account", "")), str(form.get("password", ""))
        )
        if user is None:
            return templates.TemplateResponse(
                request,
                "login.html",
                {"error": "账号或密码错误 — wrong account or password"},
                status_code=401,
            )
        request.session["account"] = user.account
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    async def home(self, request: Request) -> Response:
        user = await self.user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        data = await self.overview(user)
        return templates.TemplateResponse(
            request, "home.html", {"user": user, "refresh_s": self.settings.refresh_s, **data}
        )

    async def live(self, request: Request) -> Response:
        user = await self.user(request)
        if user is None:
            return Response("login required", status_code=401)
        return templates.TemplateResponse(
            request, "_live.html", {"user": user, **await self.overview(user)}
        )

    async def api_overview(self, request: Request) -> Response:
        user = await self.user(request)
        if user is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        return JSONResponse(await self.overview(user))

    async def ack(self, request: Request) -> Response:
        user = await self.user(request)
        if user is None:
            return JSONResponse({"error": "login required"}, status_code=401)
        reply = await self.ask(
            rpc.NOTIFY_ACK, {"alert_id": request.path_params["alert_id"], "account": user.account}
        )
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(reply, status_code=200 if reply.get("ok") else 409)
        return RedirectResponse("/", status_code=303)

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/", self.home),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/partials/live", self.live),
            Route("/api/overview", self.api_overview),
            Route("/alerts/{alert_id}/ack", self.ack, methods=["POST"]),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
        for module in ("workflow_pages", "audit_pages", "inventory_pages", "duty_pages"):
            try:
                extra = __import__(f"services.console.{module}", fromlist=["routes"])
            except ImportError:
                continue
            routes.extend(getattr(extra, "routes", []))
        return routes


def build(settings: ConsoleSettings | None = None) -> Service:
    settings = settings or ConsoleSettings()
    svc = Service("console", settings, migrations=HERE / "migrations")
    svc.metrics_public = False  # this port faces people: /metrics for loopback or METRICS_TOKEN
    console = Console(svc, settings)
    svc.routes.extend(console.routes())
    svc.middleware.append(
        Middleware(
            SessionMiddleware,
            secret_key=settings.session_secret,
            same_site="strict",
            max_age=12 * 3600,
        )
    )
    svc.state["console"] = console

    async def person(q: AccountRequest, _call: RpcCall) -> PersonReply:
        """Who an account is, for the CLI's ``--as`` (it no longer reads the demo campus)."""
        user = await accounts.get_user(svc.pool, q.account) if svc.pool else None
        if user is None:
            raise RpcError.bilingual(
                "not_found",
                f"未知账号「{q.account}」",
                f"unknown account {q.account!r}: give --dept and --role as well",
            )
        return PersonReply(person=dataclasses.asdict(user))

    svc.respond(rpc.CONSOLE_PERSON, person, request=AccountRequest)

    async def seed() -> None:
        if settings.seed_demo and svc.pool is not None:
            await accounts.seed_demo_users(svc.pool)

    svc.after_start(seed)
    return svc
