"""console: Starlette pages and JSON API over NATS request-reply to the services.

The console owns the people directory, sign-on and sessions (ADR 0013); everything else it
asks the service that owns it, signing who each request acts for (cctv.plumbing.identity).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from cctv.contract import people as contract
from cctv.contract import rpc
from cctv.contract.rpcmodels import (
    AccountRequest,
    DisableRequest,
    Empty,
    FormatRequest,
    LoginRequest,
    PeopleFileRequest,
    PersonReply,
    PersonSetRequest,
    RpcCall,
)
from cctv.plumbing.identity import require_caller
from cctv.plumbing.passwords import hash_password, policy_problems
from cctv.plumbing.service import RpcError, Service

from . import (
    audit_pages,
    duty_pages,
    inventory_pages,
    people,
    security,
    sso,
    viewer_pages,
    workflow_pages,
)
from .security import COOKIE, PUBLIC, SIGNED_IN, guarded_route
from .settings import KNOWN_DEFAULT_SECRETS, ConsoleSettings
from .views import cameras_by_building, faults_open_first
from .web import HERE, templates

# what the person form edits (account and disabled are not: the list disables)
PERSON_FIELDS = ("name", "department", "phone", "email", "shift", "zone")

SERVICE_NAMES = {
    "ingest": "设备接入服务 ingest (cameras, inventory)",
    "health": "设备健康服务 health (camera states, faults)",
    "notify": "告警通知服务 notify (alerts, directives)",
    "workflow": "审批流程服务 workflow (requests, duty log)",
    "audit": "审计日志服务 audit (the audit log)",
    "media": "视频调取服务 media (footage)",
    "console": "控制台 console (people)",
}


def service_of(subject: str) -> str:
    """cctv.rpc.<service>.… → the service that answers it."""
    parts = subject.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["cctv", "rpc"] else subject


SILENCE = (NoRespondersError, NatsTimeout, TimeoutError, ConnectionClosedError)
"""No reply at all: nobody listens on the subject, the time ran out, or NATS is gone."""


class ServiceSilent(Exception):
    """A backing service did not answer: the page cannot be made, and a 422 would blame the
    person's input. Raised by Console.ask, answered once for every page by `silent_page`."""

    def __init__(self, subject: str, cause: BaseException) -> None:
        super().__init__(subject)
        self.subject = subject
        self.service = service_of(subject)
        self.cause = cause

    def text(self) -> str:
        name = SERVICE_NAMES.get(self.service, self.service)
        if isinstance(self.cause, NoRespondersError):
            why = "无人应答 no one answers"
        elif isinstance(self.cause, ConnectionClosedError):
            why = "消息总线连接中断 the console lost NATS"
        else:
            why = "超时未应答 no answer in time"
        return (
            f"{name} 暂未应答，请稍后再试或联系网络信息中心 — the {self.service} service did "
            f"not answer ({why}: {self.subject}); try again shortly or call NIC"
        )


async def silent_page(request: Request, exc: Exception) -> Response:
    """503 with a bilingual page (or JSON for the API) naming the service that is silent."""
    assert isinstance(exc, ServiceSilent)
    resp = security.error_page(request, 503, exc.text())
    if isinstance(resp, JSONResponse):
        resp = JSONResponse(
            {"ok": False, "code": "unavailable", "service": exc.service, "error": exc.text()},
            status_code=503,
        )
    resp.headers["retry-after"] = "10"
    return resp


class Console:
    def __init__(self, svc: Service, settings: ConsoleSettings) -> None:
        self.svc = svc
        self.settings = settings
        secret = settings.session_secret.get_secret_value()
        self.cookies = security.CookieSigner(secret or secrets.token_urlsafe(32))
        self.throttle = people.Throttle(settings.login_limit_per_ip)

    # --- what the gate and the pages share -----------------------------------------------

    def unsign(self, value: str) -> str | None:
        return self.cookies.unsign(value)

    def cookie_secure(self, headers: Headers, scope: Scope) -> bool:
        if self.settings.cookie_secure is not None:
            return self.settings.cookie_secure
        forwarded = headers.get("x-forwarded-proto", "") if self.settings.trust_proxy else ""
        return scope.get("scheme") == "https" or forwarded.split(",")[0].strip() == "https"

    def same_origin(self, origin: str, headers: Headers, scope: Scope) -> bool:
        scheme = "https" if self.cookie_secure(headers, scope) else scope.get("scheme", "http")
        mine = {f"{scheme}://{headers.get('host', '')}".lower()}
        mine |= {o.strip().lower().rstrip("/") for o in self.settings.trusted_origins.split(",")}
        return security.origin_of(origin) in mine

    async def user(self, request: Request) -> people.User | None:
        """The signed-in person (the gate found their session), or None."""
        user: people.User | None = request.scope.get("cctv_user")
        return user

    async def ask(
        self, subject: str, payload: dict[str, Any], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The service's reply; a refusal is a reply (`ok: false`, the page shows it with
        422). No reply at all raises :class:`ServiceSilent`: the app answers 503 naming the
        service, for every page of every module (`silent_page`)."""
        try:
            reply = await self.svc.request(subject, payload, timeout=timeout)
        except SILENCE as exc:
            raise ServiceSilent(subject, exc) from exc
        except Exception as exc:
            return {"ok": False, "error": f"服务暂不可用 service unavailable: {exc}"}
        return reply if isinstance(reply, dict) else {"ok": False, "error": "bad reply"}

    async def ask_or_note(
        self, subject: str, payload: dict[str, Any], timeout: float = 5.0
    ) -> dict[str, Any]:
        """For a page that shows what is known and marks the rest unknown (the overview):
        silence becomes a reply saying which service did not answer."""
        try:
            return await self.ask(subject, payload, timeout)
        except ServiceSilent as exc:
            return {"ok": False, "error": exc.text()}

    async def overview(self, user: people.User) -> dict[str, Any]:
        cams = await self.ask_or_note(rpc.INGEST_CAMERAS, {})
        states = await self.ask_or_note(rpc.HEALTH_STATES, {})
        faults = await self.ask_or_note(rpc.HEALTH_FAULTS, {})
        inbox = await self.ask_or_note(rpc.NOTIFY_INBOX, {"account": user.account})
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

    @property
    def pool(self) -> Any:
        assert self.svc.pool is not None
        return self.svc.pool

    # --- sign-on ---------------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return templates.TemplateResponse(
            request, "login.html", {"error": None, "sso": self.settings.sso_links()}
        )

    def _remote(self, request: Request) -> str:
        return request.client.host if request.client else "-"

    async def login(self, request: Request) -> Response:
        form = await request.form()
        remote, now = self._remote(request), datetime.now(UTC)
        if self.throttle.blocked(remote, now):
            await people.record_login(self.pool, str(form.get("account", "")), via="local",
                                      ok=False, reason="throttled", remote=remote)  # fmt: skip
            return self._login_error(
                request, "尝试过于频繁，请稍后再试 — too many attempts, try again later", 429
            )
        user, reason = await people.authenticate(
            self.pool, str(form.get("account", "")), str(form.get("password", "")),
            via="local", remote=remote,
        )  # fmt: skip
        if user is None:
            self.throttle.failed(remote, now)
            if reason == "locked" or reason.endswith("min"):
                return self._login_error(
                    request, "账号已临时锁定，请15分钟后再试 — account locked for 15 minutes", 423
                )
            return self._login_error(request, "账号或密码错误 — wrong account or password", 401)
        return await self.start_session(request, user, "local")

    def _login_error(self, request: Request, message: str, status: int) -> Response:
        return templates.TemplateResponse(
            request, "login.html", {"error": message, "sso": self.settings.sso_links()},
            status_code=status,
        )  # fmt: skip

    async def start_session(self, request: Request, user: people.User, via: str) -> Response:
        sid, _csrf = await people.open_session(
            self.pool, user.account, via=via, ttl=timedelta(hours=self.settings.session_ttl_h)
        )
        resp = RedirectResponse("/", status_code=303)
        secure = self.cookie_secure(request.headers, request.scope)
        max_age = int(self.settings.session_ttl_h * 3600)
        resp.headers.append(
            "set-cookie",
            security.cookie_header(COOKIE, self.cookies.sign(sid), max_age, secure=secure),
        )
        resp.headers.append(
            "set-cookie", security.cookie_header(security.LOGIN_COOKIE, "", 0, secure=secure)
        )
        return resp

    async def logout(self, request: Request) -> Response:
        sid = request.scope.get("cctv_sid")
        if sid:
            await people.revoke(self.pool, sid)  # the cookie is dead even if someone kept it
        resp = RedirectResponse("/login", status_code=303)
        secure = self.cookie_secure(request.headers, request.scope)
        resp.headers.append("set-cookie", security.cookie_header(COOKIE, "", 0, secure=secure))
        return resp

    async def password_page(self, request: Request) -> Response:
        user = await self.user(request)
        error, done = None, False
        if request.method == "POST":
            assert user is not None
            f = await request.form()
            current, new = str(f.get("current", "")), str(f.get("new", ""))
            ok, _ = await people.authenticate(self.pool, user.account, current, via="local",
                                              remote=self._remote(request))  # fmt: skip
            problems = policy_problems(new, user.account)
            if ok is None:
                error = "当前密码错误 — the current password is wrong"
            elif new != str(f.get("confirm", "")):
                error = "两次输入的新密码不一致 — the new passwords differ"
            elif problems:
                error = "；".join(problems)
            else:
                await people.set_password(self.pool, user.account, hash_password(new),
                                          by=user.account, reason="changed by self")  # fmt: skip
                done = True
        return templates.TemplateResponse(
            request, "password.html", {"user": user, "error": error, "done": done},
            status_code=422 if error else 200,
        )  # fmt: skip

    # --- pages ---------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        user = await self.user(request)
        assert user is not None
        data = await self.overview(user)
        return templates.TemplateResponse(
            request, "home.html", {"user": user, "refresh_s": self.settings.refresh_s, **data}
        )

    async def live(self, request: Request) -> Response:
        user = await self.user(request)
        assert user is not None
        return templates.TemplateResponse(
            request, "_live.html", {"user": user, **await self.overview(user)}
        )

    async def api_overview(self, request: Request) -> Response:
        user = await self.user(request)
        assert user is not None
        return JSONResponse(await self.overview(user))

    async def ack(self, request: Request) -> Response:
        user = await self.user(request)
        assert user is not None
        reply = await self.ask(
            rpc.NOTIFY_ACK, {"alert_id": request.path_params["alert_id"], "account": user.account}
        )
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse(reply, status_code=200 if reply.get("ok") else 409)
        return RedirectResponse("/", status_code=303)

    async def people_page(self, request: Request) -> Response:
        user = await self.user(request)
        result: dict[str, Any] | None = None
        error = None
        if request.method == "POST":
            assert user is not None
            f = await request.form()
            upload = f.get("file")
            try:
                if hasattr(upload, "read"):
                    content = (await upload.read()).decode("utf-8-sig")  # type: ignore[union-attr]
                    plan = people.plan_import(str(upload.filename or ""), content)  # type: ignore[union-attr]
                    if f.get("dry_run"):
                        result = {"dry_run": True, "people": [p.account for p in plan.people]}
                    else:
                        result = await people.apply(self.pool, plan, by=user.account,
                                                    reason="console import")  # fmt: skip
                elif f.get("account") and f.get("action") in ("disable", "enable"):
                    result = await self._set_disabled(
                        str(f["account"]), f.get("action") == "disable", user.account,
                        str(f.get("reason", "")),
                    )  # fmt: skip
            except (people.PeopleRejected, LookupError, UnicodeDecodeError) as exc:
                error = str(exc)
        return templates.TemplateResponse(
            request, "people.html",
            {"user": user, "people": await people.list_people(self.pool), "result": result,
             "error": error},
            status_code=422 if error else 200,
        )  # fmt: skip

    async def person_page(self, request: Request) -> Response:
        """Edit one person (their shift and zone put them on the duty roster, Art. 13): the
        same checks as a row of the import, each problem named by its field."""
        user = await self.user(request)
        account = request.path_params["account"]
        found = await people.get_person(self.pool, account)
        if found is None:
            return security.error_page(request, 404, f"没有此人 no person {account!r}")
        person, errors, saved = found.model_dump(), [], None
        if request.method == "POST":
            assert user is not None
            f = await request.form()
            person |= {k: str(f.get(k) or "").strip() for k in PERSON_FIELDS}
            person["roles"] = [r.strip() for r in str(f.get("roles") or "").split(",") if r]
            person["zone"] = person["zone"] or None
            try:
                record = contract.PersonRecord.model_validate(person)
            except ValidationError as exc:
                errors = [
                    f"{'.'.join(str(p) for p in e.get('loc', ())) or '-'}: {e['msg']}"
                    for e in exc.errors()
                ]
            else:
                reason = str(f.get("reason") or "console edit")
                saved = await people.put_person(self.pool, record, by=user.account, reason=reason)
                person = record.model_dump()
        return templates.TemplateResponse(
            request, "people_edit.html",
            {"user": user, "person": person, "errors": errors, "saved": saved},
            status_code=422 if errors else 200,
        )  # fmt: skip

    async def people_export(self, request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("csv", "yaml"):
            return security.error_page(request, 404, f"未知格式 unknown format {fmt}")
        text = people.export(await people.list_people(self.pool), fmt)
        media = "text/csv" if fmt == "csv" else "application/yaml"
        disposition = f"attachment; filename=people.{fmt}"
        return Response(
            text,
            media_type=f"{media}; charset=utf-8",
            headers={"content-disposition": disposition},
        )

    async def _set_disabled(
        self, account: str, disabled: bool, by: str, reason: str
    ) -> dict[str, Any]:
        found = await people.get_person(self.pool, account)
        if found is None:
            raise LookupError(f"没有此人 no person {account!r}")
        record = found.model_copy(update={"disabled": disabled})
        change = await people.put_person(self.pool, record, by=by, reason=reason)
        return {"account": account, "change": change}

    # --- request-reply (the CLI and other services) ---------------------------------------

    async def rpc_login(self, q: LoginRequest, _call: RpcCall) -> dict[str, Any]:
        """`cctv login`: a local password gives a token for the CLI, audited like any login."""
        user, _reason = await people.authenticate(
            self.pool, q.account, q.password, via="cli", remote="nats"
        )
        if user is None:
            raise RpcError("账号或密码错误或已锁定 — wrong account or password, or locked")
        assert self.svc.signer is not None, "the console needs IDENTITY_SIGNING_KEY"
        ttl = self.settings.cli_token_ttl_s
        token = self.svc.signer.sign(user.identity(via="cli"), ttl_s=ttl)
        expires = datetime.now(UTC) + timedelta(seconds=ttl)
        return {"token": token, "expires_at": expires.isoformat(), "account": user.account,
                "name": user.name, "roles": list(user.roles)}  # fmt: skip

    async def rpc_people(self, _q: Empty, _call: RpcCall) -> dict[str, Any]:
        return {"people": [p.model_dump() for p in await people.list_people(self.pool)]}

    async def rpc_import(self, q: PeopleFileRequest, _call: RpcCall) -> dict[str, Any]:
        who = require_caller("sysadmin", what="importing people")
        try:
            plan = people.plan_import(q.filename, q.content)
        except people.PeopleRejected as exc:
            return {"imported": False, "error": str(exc),
                    "errors": [e.__dict__ for e in exc.errors]}  # fmt: skip
        if q.dry_run:
            return {"imported": False, "dry_run": True, "people": [p.account for p in plan.people]}
        done = await people.apply(self.pool, plan, by=who.account, reason=q.reason)
        return {"imported": True, **done}

    async def rpc_export(self, q: FormatRequest, _call: RpcCall) -> dict[str, Any]:
        require_caller("sysadmin", what="exporting people")
        content = people.export(await people.list_people(self.pool), q.format)
        return {"filename": f"people.{q.format}", "content": content}

    async def rpc_set(self, q: PersonSetRequest, _call: RpcCall) -> dict[str, Any]:
        who = require_caller("sysadmin", what="changing a person")
        try:
            record = contract.PersonRecord.model_validate(q.person)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "person"
            raise RpcError.bilingual(
                "invalid_request", f"人员信息有误：{where}", f"person.{where}: {err['msg']}"
            ) from exc
        if q.password:
            problems = policy_problems(q.password, record.account)
            if problems:
                raise RpcError("；".join(problems))
        change = await people.put_person(self.pool, record, by=who.account, reason=q.reason)
        if q.password:
            await people.set_password(self.pool, record.account, hash_password(q.password),
                                      by=who.account, reason="set by NIC")  # fmt: skip
        return {"person": record.model_dump(), "change": change}

    async def rpc_disable(self, q: DisableRequest, _call: RpcCall) -> dict[str, Any]:
        who = require_caller("sysadmin", what="disabling a person")
        try:
            return await self._set_disabled(q.account, q.disabled, who.account, q.reason)
        except LookupError as exc:
            raise RpcError(str(exc)) from exc

    # --- routes --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Every page with its permission beside its path (`security.guarded_route`); a route
        that declares none stops the build (`security.check_routes`) rather than serve."""
        routes: list[BaseRoute] = [
            guarded_route("/", self.home, SIGNED_IN),
            guarded_route("/login", self.login_page, PUBLIC, methods=["GET"]),
            guarded_route("/login", self.login, PUBLIC, methods=["POST"]),
            guarded_route("/logout", self.logout, SIGNED_IN, methods=["POST"]),
            guarded_route(
                "/account/password", self.password_page, SIGNED_IN, methods=["GET", "POST"]
            ),
            guarded_route("/partials/live", self.live, SIGNED_IN),
            guarded_route("/api/overview", self.api_overview, SIGNED_IN),
            guarded_route("/alerts/{alert_id}/ack", self.ack, "alerts.ack", methods=["POST"]),
            guarded_route("/people", self.people_page, "people.admin", methods=["GET", "POST"]),
            guarded_route("/people/export.{fmt}", self.people_export, "people.admin"),
            guarded_route(
                "/people/{account}", self.person_page, "people.admin", methods=["GET", "POST"]
            ),
        ]
        routes += sso.routes(self)
        for pages in (workflow_pages, audit_pages, inventory_pages, duty_pages, viewer_pages):
            routes += pages.routes
        static = Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
        static.permission = PUBLIC  # type: ignore[attr-defined]
        routes.append(static)
        security.check_routes(routes)
        return routes


def check_secret(settings: ConsoleSettings) -> None:
    """Refuse to start with a default, empty or short SESSION_SECRET unless in demo mode."""
    secret = settings.session_secret.get_secret_value()
    if settings.seed_demo:
        return
    if not secret or secret in KNOWN_DEFAULT_SECRETS or len(secret) < 32:
        raise SystemExit(
            "console: refusing to start — SESSION_SECRET is empty, a known default or shorter "
            "than 32 characters. Mount a random secret (e.g. `openssl rand -base64 48` as "
            "/run/secrets/session_secret), or set SEED_DEMO=true for the demo."
        )


def build(settings: ConsoleSettings | None = None) -> Service:
    settings = settings or ConsoleSettings()
    svc = Service("console", settings, migrations=HERE / "migrations")
    svc.metrics_public = False  # this port faces people: /metrics for loopback or METRICS_TOKEN
    console = Console(svc, settings)
    svc.routes.extend(console.routes())
    svc.middleware.append(Middleware(security.Gate, console=console))
    svc.state["console"] = console

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "内部错误 internal error"
        return security.error_page(request, status, str(detail))

    async def person(q: AccountRequest, _call: RpcCall) -> PersonReply:
        """Who an account is, from the people directory (no password or lockout detail)."""
        user = await people.get_user(svc.pool, q.account) if svc.pool else None
        if user is None:
            raise RpcError.bilingual(
                "not_found", f"未知账号「{q.account}」", f"unknown account {q.account!r}"
            )
        return PersonReply(person={**dataclasses.asdict(user), "role": user.role})

    svc.respond(rpc.CONSOLE_PERSON, person, request=AccountRequest)

    svc.exception_handlers[HTTPException] = not_found
    svc.exception_handlers[ServiceSilent] = silent_page
    svc.exception_handlers[500] = not_found

    async def seed() -> None:
        path = settings.people_seed_file
        if path is None:
            return
        await seed_people(console, Path(path))

    async def refuse_default_secret() -> None:
        check_secret(settings)  # `python -m services.console` checks before anything else

    svc.after_start(refuse_default_secret)
    svc.after_start(seed)
    # typed by the contract's models: decoded and validated once, by the shell
    svc.respond(rpc.CONSOLE_LOGIN, console.rpc_login, request=LoginRequest)
    svc.respond(rpc.PEOPLE_LIST, console.rpc_people, request=Empty)
    svc.respond(rpc.PEOPLE_IMPORT, console.rpc_import, request=PeopleFileRequest)
    svc.respond(rpc.PEOPLE_EXPORT, console.rpc_export, request=FormatRequest)
    svc.respond(rpc.PEOPLE_SET, console.rpc_set, request=PersonSetRequest)
    svc.respond(rpc.PEOPLE_DISABLE, console.rpc_disable, request=DisableRequest)
    return svc


async def seed_people(console: Console, path: Path) -> None:
    """The first people (the demo campus's, or a college's initial export) come through the
    same import as any other file; accounts already in the directory are left as NIC keeps
    them."""
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        plan = people.plan_import(path.name, text)
    except (OSError, people.PeopleRejected) as exc:
        print(f"console: people seed {path} not imported: {exc}", file=sys.stderr)
        return
    have = {p.account for p in await people.list_people(console.pool)}
    plan.people = [p for p in plan.people if p.account not in have]
    if plan.people:
        await people.apply(console.pool, plan, by="seed", reason=f"seed file {path.name}")
