"""Signed identities for tests: the session's own key pair (tests/conftest.py puts it in the
environment, so every service built in the test process verifies with it)."""

from __future__ import annotations

import os
from typing import Any

from cctv.plumbing.identity import Claims, Identity, Signer, Verifier

ROLE_OF = {"head": "dept_head", "leader": "school_leader", "sysadmin": "sysadmin",
           "operator": "duty_operator"}  # fmt: skip


def signer() -> Signer:
    return Signer(os.environ["IDENTITY_SIGNING_KEY"])


def identity(account: str, *roles: str, department: str | None = None, name: str = "",
             zone: str | None = None, via: str = "console") -> Identity:  # fmt: skip
    return Identity(account=account, name=name or account, department=department,
                    roles=tuple(roles), zone=zone, via=via)  # fmt: skip


def headers_as(who: Identity, ttl_s: float = 60.0) -> dict[str, str]:
    from cctv.plumbing.identity import HEADER

    return {HEADER: signer().sign(who, ttl_s)}


def from_actor(actor: dict[str, Any]) -> Identity:
    """The identity a workflow test's `actor` dict describes (workflow role names mapped to
    the directory's), as the console would sign it for that person."""
    from cctv.contract.orgs import ROLES

    roles = tuple(ROLE_OF.get(r, r) for r in actor.get("roles", ()) if ROLE_OF.get(r, r) in ROLES)
    return identity(actor["person_id"], *roles, department=actor.get("department"),
                    name=actor.get("name", ""))  # fmt: skip


def claims_of(who: Identity) -> Claims:
    """Verified claims for `who`, for a test that calls a responder's method directly
    (wrap the call in `calling_as(claims_of(...))`)."""
    return Verifier([os.environ["IDENTITY_PUBLIC_KEY"]]).verify(signer().sign(who))
