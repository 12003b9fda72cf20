"""What every console page shares: one template environment (base.html reads the
organisations and roles from it) and the Console behind the request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.templating import Jinja2Templates

from cctv.contract.campustime import campus_time
from cctv.contract.orgs import DEPARTMENTS, FAULT_KINDS, ROLES

from .nav import nav_links
from .views import STATE_LABEL

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(
    STATE_LABEL=STATE_LABEL,
    ROLES=ROLES,
    DEPARTMENTS=DEPARTMENTS,
    FAULT_KINDS=FAULT_KINDS,
    nav_links=nav_links,  # each link filtered by its route's own permission
)
# Every time a person reads is campus time with the zone marked: {{ t|campus }} (issue 15).
templates.env.filters["campus"] = campus_time
templates.env.filters["campus_s"] = lambda t: campus_time(t, seconds=True)


def console_of(request: Request) -> Any:
    """The Console (accounts, ask) the app was built with."""
    return request.app.state.console
