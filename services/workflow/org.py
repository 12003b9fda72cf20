"""Organisations and roles of the regulation, as the workflow uses them.

The vocabulary (departments, roles, bodies, :class:`Actor`) lives in the contract,
:mod:`cctv.contract.orgs`; what stays here is the workflow's own policy on top of it.

Approvers are never named by the requester: a step of a chain asks for a *role* (head of a
department, school leader in charge, system administrator), and any person holding that role
may fill it, subject to the separation-of-duty rules in :mod:`approval`.
"""

from __future__ import annotations

from cctv.contract.orgs import (
    ACADEMIC,
    BODY_NAMES,
    DEPARTMENT_NAMES,
    LOGISTICS,
    NIC,
    PARTY_ADMIN,
    RESEARCH_EQUIPMENT,
    ROLE_NAMES,
    STUDENT,
    Actor,
    BodyKind,
    Role,
    actor_for,
    department_en,
    department_zh,
)

__all__ = [
    "ACADEMIC",
    "BODY_NAMES",
    "COPY_ALLOWED_EXTERNAL",
    "DEPARTMENT_NAMES",
    "EXTERNAL_ALLOWED",
    "LOGISTICS",
    "NIC",
    "PARTY_ADMIN",
    "RESEARCH_EQUIPMENT",
    "ROLE_NAMES",
    "STUDENT",
    "Actor",
    "BodyKind",
    "Role",
    "actor_for",
    "department_en",
    "department_zh",
]

# Art. 16: which outside bodies may see footage, and which may take a copy away.
EXTERNAL_ALLOWED = frozenset({BodyKind.POLICE, BodyKind.JUDICIARY, BodyKind.EDUCATION_AUTHORITY})
COPY_ALLOWED_EXTERNAL = frozenset({BodyKind.POLICE, BodyKind.JUDICIARY})
