"""The regulation's constants, once (issue 8): every service reads the same numbers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cctv.contract import events, regulation
from cctv.contract.orgs import ACADEMIC, LOGISTICS, STUDENT, Actor, Role, actor_for


def test_retention_and_preservation() -> None:
    assert regulation.RETENTION == timedelta(days=30)  # Art. 7
    assert regulation.preserved_until(date(2026, 3, 1)) == date(2027, 3, 1)  # Art. 18
    assert regulation.preserved_until(date(2028, 2, 29)) == date(2029, 2, 28)
    t = datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
    assert regulation.preserved_until(t) == datetime(2029, 2, 28, 9, 30, tzinfo=UTC)


def test_services_use_the_contract_numbers() -> None:
    from services.health import conditions
    from services.ingest import segments
    from services.workflow import access, inventory

    assert segments.RETENTION is regulation.RETENTION
    assert conditions.RETENTION is regulation.RETENTION
    assert access.PRESERVATION_YEARS == regulation.PRESERVATION_YEARS
    assert inventory.CATEGORY_MANAGER is regulation.CATEGORY_MANAGER
    assert events.CATEGORY_MANAGER is regulation.CATEGORY_MANAGER


def test_category_decides_the_managing_department() -> None:
    assert regulation.managing_department("public_safety", "college_se") == LOGISTICS
    assert regulation.managing_department("teaching_exam", "nic") == ACADEMIC
    assert regulation.managing_department("dormitory", "nic") == STUDENT
    assert regulation.managing_department("department", "college_se") == "college_se"
    assert regulation.managing_department("confidential", "academic") == "academic"


def test_one_role_vocabulary() -> None:
    """An account's role is the role an approval step asks for; old workflow names still load."""
    head = actor_for("lg_head", "刘洋", "dept_head", "logistics")
    assert head.roles == {Role.HEAD, Role.STAFF} and Role.HEAD == "dept_head"
    assert actor_for("x", "", "guard", None).roles == {Role.GUARD, Role.STAFF}
    assert actor_for("x", "", "no-such-role", None).roles == {Role.STAFF}
    stored = Actor.model_validate({"person_id": "p", "roles": ["head", "leader", "operator"]})
    assert stored.roles == {Role.HEAD, Role.LEADER, Role.OPERATOR}
