"""Who may open what, as one table: every console route and method with the permission it needs.

The table below is what the routes declared before the permissions moved beside the paths
(app.py's PAGE_PERMISSIONS and the routes app.py guarded itself). A change of who may see or
do what shows up here, in review, rather than only in a page module's route list.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from services.console import duty_pages
from services.console.app import build as build_console
from services.console.people import User
from services.console.security import (
    PUBLIC,
    SIGNED_IN,
    MissingPermission,
    check_routes,
    guard,
    guarded_route,
    needs,
)
from services.console.settings import ConsoleSettings

# (path, method) -> permission; HEAD is not listed: it needs what GET needs
EXPECTED: dict[tuple[str, str], str] = {
    ("/", "GET"): SIGNED_IN,
    ("/login", "GET"): PUBLIC,
    ("/login", "POST"): PUBLIC,
    ("/logout", "POST"): SIGNED_IN,
    ("/account/password", "GET"): SIGNED_IN,
    ("/account/password", "POST"): SIGNED_IN,
    ("/partials/live", "GET"): SIGNED_IN,
    ("/api/overview", "GET"): SIGNED_IN,
    ("/alerts/{alert_id}/ack", "POST"): "alerts.ack",
    ("/people", "GET"): "people.admin",
    ("/people", "POST"): "people.admin",
    ("/people/export.{fmt}", "GET"): "people.admin",
    ("/people/{account}", "GET"): "people.admin",
    ("/people/{account}", "POST"): "people.admin",
    ("/auth/oidc/login", "GET"): PUBLIC,
    ("/auth/oidc/callback", "GET"): PUBLIC,
    ("/auth/cas/login", "GET"): PUBLIC,
    ("/auth/cas/callback", "GET"): PUBLIC,
    ("/requests", "GET"): SIGNED_IN,
    ("/requests/new/{process}", "GET"): SIGNED_IN,
    ("/requests/new/{process}", "POST"): SIGNED_IN,
    ("/requests/{rid}", "GET"): SIGNED_IN,
    ("/requests/{rid}/print", "GET"): SIGNED_IN,
    ("/requests/{rid}/print.{fmt}", "GET"): SIGNED_IN,
    ("/requests/{rid}/{action}", "POST"): SIGNED_IN,
    ("/duty", "GET"): SIGNED_IN,
    ("/duty", "POST"): SIGNED_IN,
    ("/systems", "GET"): SIGNED_IN,
    ("/systems", "POST"): "systems.edit",  # Art. 9: not guards
    ("/audit", "GET"): "audit.read",
    ("/audit/entries/{seq}", "GET"): "audit.read",
    ("/audit/entries/{seq}/bundle.json", "GET"): "audit.read",
    ("/api/audit/entries", "GET"): "audit.read",
    ("/inventory", "GET"): "inventory.view",
    ("/inventory/import", "POST"): "inventory.edit",
    ("/inventory/export.{fmt:str}", "GET"): "inventory.view",
    ("/inventory/{camera_id:str}", "GET"): "inventory.view",
    ("/inventory/{camera_id:str}", "POST"): "inventory.edit",
    ("/inventory/{camera_id:str}/remove", "POST"): "inventory.edit",
    ("/duty/directives", "GET"): SIGNED_IN,
    ("/duty/directives", "POST"): SIGNED_IN,
    ("/viewer", "GET"): SIGNED_IN,
    ("/api/viewer/ice", "POST"): SIGNED_IN,
    ("/api/viewer/offer", "POST"): SIGNED_IN,
    ("/static", "*"): PUBLIC,
}
# the service shell's probes, not the console's pages (cctv.plumbing.service)
PROBES = ("/healthz", "/readyz", "/metrics")


def every_sign_on() -> ConsoleSettings:
    """Campus sign-on configured both ways, so its routes are in the table too."""
    return ConsoleSettings(
        seed_demo=True, oidc_issuer="https://idp.example", cas_url="https://cas.example"
    )


def table(routes: list[BaseRoute]) -> dict[tuple[str, str], str | None]:
    """What each route declares, by path and method; HEAD checked to follow GET."""
    out: dict[tuple[str, str], str | None] = {}
    for route in routes:
        if isinstance(route, Mount):
            out[(route.path, "*")] = getattr(route, "permission", None)
            continue
        assert isinstance(route, Route), route
        if route.path in PROBES:
            continue
        perm = getattr(route.endpoint, "permission", None)
        for method in sorted(route.methods or ()):  # GET before HEAD
            got = needs(perm, method) if perm is not None else None
            if method == "HEAD":
                assert got == out[(route.path, "GET")], (route.path, perm)
                continue
            # a second route for the same path and method would never be reached
            assert (route.path, method) not in out, f"{method} {route.path} routed twice"
            out[(route.path, method)] = got
    return out


def test_every_console_route_needs_what_it_needed() -> None:
    got = table(build_console(every_sign_on()).routes)
    changed = {k: (EXPECTED.get(k), got.get(k)) for k in EXPECTED.keys() | got.keys()}
    changed = {k: v for k, v in changed.items() if v[0] != v[1]}
    assert not changed, f"(path, method): (expected, declared) — {changed}"


async def _page(request: Request) -> Response:
    return PlainTextResponse("page")


def test_a_page_route_without_a_permission_stops_the_build(monkeypatch: Any) -> None:
    """A page module adding a plain Route: the console is not built, rather than serve it."""
    path = f"/unguarded-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(duty_pages, "routes", [*duty_pages.routes, Route(path, _page)])
    with pytest.raises(MissingPermission, match=path):
        build_console(ConsoleSettings(seed_demo=True))


def test_a_method_without_a_permission_or_a_mount_without_one_is_refused() -> None:
    by_method = guard({"GET": SIGNED_IN}, _page)
    with pytest.raises(MissingPermission, match="POST"):
        check_routes([Route("/x", by_method, methods=["GET", "POST"])])
    with pytest.raises(MissingPermission, match="/files"):
        check_routes([Mount("/files", routes=[])])
    with pytest.raises(ValueError, match="differ"):
        guarded_route("/x", _page, {"GET": SIGNED_IN}, methods=["GET", "POST"])
    with pytest.raises(ValueError, match="unknown permission"):
        guarded_route("/x", _page, "cameras.everything")
    route = guarded_route("/x", _page, {"GET": SIGNED_IN, "POST": "systems.edit"})
    assert route.methods == {"GET", "HEAD", "POST"}
    check_routes([route])


class SignedIn:
    """Stands in for the Gate: the request comes from `user`."""

    def __init__(self, app: ASGIApp, user: User | None) -> None:
        self.app, self.user = app, user

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["cctv_user"] = self.user
        await self.app(scope, receive, send)


@pytest.mark.parametrize(
    ("roles", "head", "post"), [(("guard",), 200, 403), (("dept_head",), 200, 200)]
)
async def test_head_needs_what_get_needs_on_a_route_with_one_permission_per_method(
    roles: tuple[str, ...], head: int, post: int
) -> None:
    """HEAD /systems by a signed-in person was a 500 (no permission named for HEAD)."""
    app = Starlette(
        routes=[guarded_route("/systems", _page, {"GET": SIGNED_IN, "POST": "systems.edit"})]
    )
    user = User(account="a", name="A", department="security", roles=roles)
    transport = httpx.ASGITransport(app=SignedIn(app, user), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as c:
        assert (await c.head("/systems")).status_code == head
        assert (await c.post("/systems")).status_code == post
    anonymous = httpx.ASGITransport(app=SignedIn(app, None), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=anonymous, base_url="http://console") as c:
        assert (await c.head("/systems")).status_code == 401  # never the page
