"""The one directory of people (issue 11): who they are, where they belong, what they may do.

The console owns it (schema `console`, ADR 0013): it answers the request-reply subjects below
and publishes every change as `people.changed` and every sign-on as `people.login` on
`cctv.people.>` (audited). Notify builds its rosters from `people.changed`; approvals use the
roles the console signs into each identity token (cctv.plumbing.identity).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import rpc
from .events import Event
from .orgs import DEPARTMENTS, ROLES

# request-reply (the console answers); the subjects live with the others in rpc.py
CONSOLE_LOGIN = rpc.CONSOLE_LOGIN  # {account, password} -> {token, expires_at, ...}
PEOPLE_LIST = rpc.PEOPLE_LIST  # {} -> {people}
PEOPLE_IMPORT = rpc.PEOPLE_IMPORT  # {filename, content, dry_run} -> {created, updated, ...}
PEOPLE_EXPORT = rpc.PEOPLE_EXPORT  # {format} -> {filename, content}
PEOPLE_SET = rpc.PEOPLE_SET  # {person, password?} -> {person, change}
PEOPLE_DISABLE = rpc.PEOPLE_DISABLE  # {account, disabled, reason} -> {account, change}

ZONED_ROLES = frozenset({"guard", "gatekeeper"})
# who is on the duty chain (Art. 13): guard/gatekeeper → duty operator → NIC on call → head
ROSTER_ROLES = frozenset({"guard", "gatekeeper", "duty_operator", "nic_oncall", "security_head"})
_SHIFT = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


class PersonRecord(BaseModel):
    """One person as the directory holds them; never a password."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=64)
    department: str
    roles: list[str] = Field(min_length=1)
    zone: str | None = None
    phone: str = Field(default="", max_length=32, pattern=r"^[0-9+\- ]*$")
    email: str = Field(default="", max_length=128)
    shift: str = ""  # "08:00-20:00" for people on a roster; empty: round the clock
    disabled: bool = False

    @field_validator("department")
    @classmethod
    def _known_department(cls, v: str) -> str:
        if v not in DEPARTMENTS:
            raise ValueError(f"unknown department {v!r} (one of {', '.join(DEPARTMENTS)})")
        return v

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in ROLES]
        if bad:
            raise ValueError(f"unknown role(s) {', '.join(bad)} (one of {', '.join(ROLES)})")
        return sorted(set(v))

    @field_validator("shift")
    @classmethod
    def _shift(cls, v: str) -> str:
        v = v.strip()
        if v and not _SHIFT.match(v):
            raise ValueError(f"shift {v!r} is not HH:MM-HH:MM")
        return v

    @model_validator(mode="after")
    def _zone_for_patrols(self) -> PersonRecord:
        if ZONED_ROLES & set(self.roles) and not self.zone:
            raise ValueError("a guard or gatekeeper needs a zone (Art. 13: alerts go by zone)")
        return self


class PersonChanged(Event):
    """A directory change: who changed whom, and the person as they now are."""

    TYPE = "people.changed"
    STREAM = "CCTV_PEOPLE"
    person: PersonRecord
    change: Literal["created", "updated", "disabled", "enabled", "password"]
    by: str
    reason: str = ""


class LoginRecorded(Event):
    """Every sign-on attempt, good or bad (issue 11: all logins audited)."""

    TYPE = "people.login"
    STREAM = "CCTV_PEOPLE"
    account: str = Field(max_length=128)
    via: Literal["local", "oidc", "cas", "cli"]
    ok: bool
    reason: str = ""
    remote: str = ""
    at: datetime
