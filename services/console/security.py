"""The console's front door (issue 11): server-side sessions, CSRF tokens and the Origin
check on every state-changing request, security headers, and a permission on every route.

`Gate` is a pure ASGI middleware: it finds the session behind the cookie (a random id whose
hash is the only thing stored; logout and disabling a person end it), refuses a POST whose
Origin is foreign or whose CSRF token does not match the session's, and puts the session's
token into every `<form method="post">` of every HTML page it serves — so a form added later
cannot forget it. Every route is made by `guarded_route(path, endpoint, permission)` where its
path is written, so the path and who may open it are stated once; `check_routes` refuses, when
the console is built, a route that declares none. `PERMISSIONS` says which roles hold which
permission (the table in the console README is this one).
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cctv.plumbing.identity import act_as

from . import people

COOKIE = "cctv_session"
LOGIN_COOKIE = "cctv_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

PUBLIC = "public"  # no sign-on needed: the login pages, static files, probes
SIGNED_IN = "signed_in"  # any signed-in person
# permission -> the roles that hold it (README: "Permissions by role")
PERMISSIONS: dict[str, frozenset[str]] = {
    "alerts.ack": frozenset({"guard", "gatekeeper", "duty_operator", "sysadmin"}),
    "systems.edit": frozenset({"dept_head", "sysadmin"}),  # Art. 9: not guards
    "inventory.view": frozenset(
        {"duty_operator", "dept_head", "school_leader", "sysadmin", "guard", "gatekeeper"}
    ),
    "inventory.edit": frozenset({"sysadmin"}),
    "audit.read": frozenset({"sysadmin", "school_leader", "dept_head"}),
    "people.admin": frozenset({"sysadmin"}),
}


# what a refusal says, Chinese first
REFUSALS: dict[str, str] = {
    "alerts.ack": "无权确认告警 — only guards, gatekeepers and duty operators acknowledge alerts",
    "systems.edit": "无权变更责任人或布防计划 — only the owning department's head and NIC "
    "change a system's responsible person or schedule (Art. 9)",
    "inventory.view": "无权查看摄像机清单 — the inventory is not open to this role",
    "inventory.edit": "无权修改摄像机清单 — only system administrators edit the inventory (Art. 3)",
    "audit.read": "无权查看审计日志 — the audit log is open to system administrators, heads of "
    "department and the school leader in charge (Art. 15, 17)",
    "people.admin": "无权管理人员名册 — only NIC system administrators manage people",
}


def allowed(user: people.User | None, permission: str) -> bool:
    if permission == PUBLIC:
        return True
    if user is None:
        return False
    if permission == SIGNED_IN:
        return True
    return user.has(*PERMISSIONS[permission])


Endpoint = Callable[[Request], Awaitable[Response]]
Permission = str | dict[str, str]
"""One permission for every method of a route, or one per HTTP method ({"GET": …, "POST": …});
a HEAD request needs what GET needs (Starlette serves HEAD with the GET endpoint)."""


def needs(permission: Permission, method: str) -> str | None:
    """What a request of `method` needs under a route's `permission` (None: the route names no
    permission for it); HEAD needs what GET needs."""
    if isinstance(permission, str):
        return permission
    return permission.get("GET" if method == "HEAD" else method)


def guard(permission: Permission, endpoint: Endpoint) -> Endpoint:
    """`endpoint` behind `permission` (or one per HTTP method); `.permission` is stamped on the
    result for the route table, the navigation (nav.py) and `check_routes`."""
    for p in permission.values() if isinstance(permission, dict) else [permission]:
        if p not in (PUBLIC, SIGNED_IN) and p not in PERMISSIONS:
            raise ValueError(f"unknown permission {p!r}")

    async def guarded(request: Request) -> Response:
        wanted = needs(permission, request.method)
        user: people.User | None = request.scope.get("cctv_user")
        act_as(user.identity(request.scope.get("cctv_via", "console")) if user else None)
        if wanted == PUBLIC:
            return await endpoint(request)
        if user is None:
            if _wants_json(request) or request.method != "GET":
                return JSONResponse({"error": "请先登录 login required"}, status_code=401)
            return RedirectResponse("/login", status_code=303)
        if wanted is None or not allowed(user, wanted):  # None: no permission for the method
            return error_page(
                request,
                403,
                f"{REFUSALS.get(wanted or '', '无权访问 — not allowed')} "
                f"(roles: {', '.join(user.roles)}; needs {wanted})",
            )
        return await endpoint(request)

    guarded.permission = permission  # type: ignore[attr-defined]
    guarded.__name__ = getattr(endpoint, "__name__", "endpoint")
    guarded.__doc__ = endpoint.__doc__
    return guarded


def guarded_route(
    path: str,
    endpoint: Endpoint,
    permission: Permission,
    *,
    methods: Sequence[str] | None = None,
    name: str | None = None,
) -> Route:
    """The console's one way to add a page: the path and who may open it, written together.

    `permission` is one for all `methods` (GET when none are given), or one per method — then
    the methods are its keys, so no method of the route can be left without one."""
    if isinstance(permission, dict):
        if methods is not None and {m.upper() for m in methods} != set(permission):
            raise ValueError(
                f"console route {path}: methods {sorted(methods)} differ from the methods "
                f"its permission names {sorted(permission)}"
            )
        methods = sorted(permission)
    return Route(path, guard(permission, endpoint), methods=list(methods or ["GET"]), name=name)


class MissingPermission(ValueError):
    """A console route that does not say who may open it: the console is not built."""


def check_routes(routes: Iterable[BaseRoute]) -> None:
    """Refuse, at build time, a route without a declared permission (a Route not made by
    `guarded_route`/`guard`, a Mount without `.permission`) or a method its per-method
    permission does not name — such a route would serve everyone or fail for everyone."""
    for route in routes:
        if isinstance(route, Route):
            perm = getattr(route.endpoint, "permission", None)
            if perm is None:
                raise MissingPermission(
                    f"console route {route.path} declares no permission: add it with "
                    "security.guarded_route(path, endpoint, permission)"
                )
            missing = [m for m in sorted(route.methods or ()) if needs(perm, m) is None]
            if missing:
                raise MissingPermission(f"console route {route.path}: no permission for {missing}")
        elif isinstance(route, Mount):
            if getattr(route, "permission", None) is None:
                raise MissingPermission(f"console mount {route.path} declares no permission")
        else:
            raise MissingPermission(f"console route {route!r}: not a Route or a Mount")


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.startswith(
        "/api/"
    )


def error_page(request: Request, status: int, message: str) -> Response:
    """Every error the console shows goes through here: escaped, never reflected raw."""
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f'<title>{status}</title><link rel="stylesheet" href="/static/console.css"></head>'
        f'<body><main><section class="card"><h1>{status}</h1>'
        f'<p class="error" role="alert">{html.escape(message)}</p>'
        '<p><a href="/">返回 Back</a></p></section></main></body></html>'
    )
    return HTMLResponse(body, status_code=status)


_FORM = re.compile(rb"<form\b[^>]*\bmethod\s*=\s*[\"']?post[\"']?[^>]*>", re.I)
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'",
}


class Gate:
    """Sessions, CSRF and Origin for every HTTP request of the console."""

    def __init__(self, app: ASGIApp, *, console: Any) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cookies = _cookies(headers.get("cookie", ""))
        sid = self.console.unsign(cookies.get(COOKIE, ""))
        csrf = None
        scope["cctv_user"] = None
        if sid and self.console.svc.pool is not None:
            found = await people.session_user(self.console.svc.pool, sid)
            if found is not None:
                scope["cctv_user"], csrf, scope["cctv_via"] = found
                scope["cctv_sid"] = sid
        scope["cctv_csrf"] = csrf
        login_csrf = cookies.get(LOGIN_COOKIE, "")
        new_login_csrf = ""
        if not csrf and not login_csrf:  # before sign-on: a double-submit token for /login
            new_login_csrf = secrets.token_urlsafe(24)
        if scope["method"] in UNSAFE and not _probe(scope["path"]):
            body, receive = await _buffer(receive)
            problem = self._refuse(scope, headers, body, csrf or login_csrf)
            if problem:
                request = Request(scope, receive)
                await error_page(request, 403, problem)(scope, receive, send)
                return
        token = (csrf or login_csrf or new_login_csrf).encode()
        secure = self.console.cookie_secure(headers, scope)

        async def send_with_token(message: Message) -> None:
            await self._send(message, send, token, state)

        state: dict[str, Any] = {"html": False, "start": None, "chunks": [],
                                 "cookie": new_login_csrf, "secure": secure}  # fmt: skip
        await self.app(scope, receive, send_with_token)

    def _refuse(self, scope: Scope, headers: Headers, body: bytes, expected: str) -> str | None:
        origin = headers.get("origin") or headers.get("referer")
        if origin and not self.console.same_origin(origin, headers, scope):
            return f"跨站请求被拒绝 — cross-site request refused (Origin {origin})"
        if not origin:
            return "缺少 Origin — a state-changing request must carry its Origin"
        given = headers.get(CSRF_HEADER) or _form_field(headers, body, CSRF_FIELD)
        if not expected or not given or not _equal(given, expected):
            return "表单已过期或来源不明，请刷新后重试 — missing or wrong CSRF token"
        return None

    async def _send(
        self, message: Message, send: Send, token: bytes, state: dict[str, Any]
    ) -> None:
        if message["type"] == "http.response.start":
            h = MutableHeaders(scope=message)
            for k, v in SECURITY_HEADERS.items():
                h.setdefault(k, v)
            if state["cookie"]:
                h.append("set-cookie", cookie_header(LOGIN_COOKIE, state["cookie"], 3600,
                                                     secure=state["secure"]))  # fmt: skip
            if h.get("content-type", "").startswith("text/html") and token:
                state["html"] = True
                state["start"] = message
                return
            await send(message)
            return
        if message["type"] == "http.response.body" and state["html"]:
            state["chunks"].append(message.get("body", b""))
            if message.get("more_body"):
                return
            page = b"".join(state["chunks"])
            hidden = (
                b'<input type="hidden" name="'
                + CSRF_FIELD.encode()
                + b'" value="'
                + html.escape(token.decode()).encode()
                + b'">'
            )
            page = _FORM.sub(lambda m: m.group(0) + hidden, page)
            start = state["start"]
            h = MutableHeaders(scope=start)
            h["content-length"] = str(len(page))
            await send(start)
            await send({"type": "http.response.body", "body": page})
            return
        await send(message)


def cookie_header(name: str, value: str, max_age: int, *, secure: bool) -> str:
    """HttpOnly, SameSite=Strict; Secure whenever the browser came over HTTPS."""
    flags = "; Secure" if secure else ""
    return f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{flags}"


def _probe(path: str) -> bool:
    return path in ("/healthz", "/readyz", "/metrics")


def _equal(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _cookies(header: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in header.split(";"):
        if "=" in part:
            k, v = part.strip().split("=", 1)
            out.setdefault(k, v)
    return out


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (to find the CSRF field) and hand the app a replay of it."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _form_field(headers: Headers, body: bytes, name: str) -> str | None:
    ctype = headers.get("content-type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(name)
        return values[0] if values else None
    if ctype.startswith("multipart/form-data"):
        m = re.search(rb'name="' + re.escape(name.encode()) + rb'"\r\n\r\n([^\r\n]*)\r\n', body)
        return m.group(1).decode("latin-1") if m else None
    return None


class CookieSigner:
    """The session cookie carries the random session id, signed with SESSION_SECRET."""

    def __init__(self, secret: str) -> None:
        self._s = URLSafeSerializer(secret, salt="cctv-session")

    def sign(self, sid: str) -> str:
        return self._s.dumps(sid)

    def unsign(self, value: str) -> str | None:
        if not value:
            return None
        try:
            sid = self._s.loads(value)
        except BadSignature:
            return None
        return sid if isinstance(sid, str) else None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
