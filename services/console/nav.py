"""The navigation bar: a link shows only when its route's own permission lets the person in.

The permission is read from the route table (`guard(...)` stamps it on each endpoint), never
written twice, so a link and the page it opens cannot disagree (issue 10: the Audit link gave
duty operators and guards a 403).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from . import people
from .security import allowed, needs


@dataclass(frozen=True)
class Link:
    path: str
    zh: str
    en: str


NAV: tuple[Link, ...] = (
    Link("/", "总览", "Overview"),
    Link("/inventory", "摄像机清单", "Inventory"),
    Link("/requests", "申请与审批", "Requests"),
    Link("/duty", "值班", "Duty"),
    Link("/duty/directives", "指令", "Directives"),
    Link("/systems", "责任人", "Responsible"),
    Link("/audit", "审计", "Audit"),
    Link("/viewer", "调阅查看", "Viewer"),  # media decides what it shows (ADR 0022)
    Link("/people", "人员", "People"),
)


def permission_of(routes: Iterable[BaseRoute], path: str) -> str | None:
    """What a GET of `path` requires, as its route declares it; None: no such page."""
    for route in routes:
        if isinstance(route, Route) and route.path == path and "GET" in (route.methods or ()):
            perm = getattr(route.endpoint, "permission", None)
            return needs(perm, "GET") if perm is not None else None
    return None


def links_for(user: people.User | None, routes: Iterable[BaseRoute]) -> list[Link]:
    table = list(routes)
    shown = []
    for link in NAV:
        perm = permission_of(table, link.path)
        if perm is not None and allowed(user, perm):
            shown.append(link)
    return shown


def nav_links(request: Request) -> list[Link]:
    """For base.html: the links the signed-in person may open (none for a page rendered
    outside a request)."""
    if not isinstance(request, Request):
        return []
    return links_for(request.scope.get("cctv_user"), request.app.routes)
