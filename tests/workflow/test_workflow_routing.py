"""Table-driven routing: each case names the exact chain (stage, role, department) expected."""

from __future__ import annotations

from typing import Any

import pytest

from services.workflow.inventory import Inventory
from services.workflow.org import BodyKind
from services.workflow.refusals import InvalidInput, Refusal
from services.workflow.routing import Method, chain_summary, derive_access_chain

H, L = "dept_head", "school_leader"  # cctv.contract.orgs.Role values
LETTER: dict[str, Any] = {"letter_ref": "龙华公(2026)15号", "id_checked": True}

CASES = [
    # id, body, unit, method, cameras, extra, expected chain
    (
        "internal public safety",
        "internal",
        "college_se",
        "view",
        ["ps-gate-1"],
        {},
        [(1, H, "college_se"), (2, H, "logistics")],
    ),
    (
        "internal teaching",
        "internal",
        "college_se",
        "view",
        ["te-class-101"],
        {},
        [(1, H, "college_se"), (2, H, "academic")],
    ),
    (
        "internal dormitory",
        "internal",
        "college_se",
        "copy",
        ["dorm-1"],
        {},
        [(1, H, "college_se"), (2, H, "student")],
    ),
    (
        "department subsystem of another dept",
        "internal",
        "college_se",
        "view",
        ["re-train-1"],
        {},
        [(1, H, "college_se"), (2, H, "research_equipment")],
    ),
    (
        "department's own subsystem: its head alone",
        "internal",
        "research_equipment",
        "view",
        ["re-train-1"],
        {},
        [(1, H, "research_equipment")],
    ),
    (
        "confidential subsystem",
        "internal",
        "college_se",
        "view",
        ["pa-conf-1"],
        {},
        [(1, H, "college_se"), (2, H, "party_admin")],
    ),
    (
        "own confidential room",
        "internal",
        "party_admin",
        "view",
        ["pa-conf-1"],
        {},
        [(1, H, "party_admin")],
    ),
    (
        "sensitive: national exam",
        "internal",
        "college_se",
        "view",
        ["te-exam-104a"],
        {},
        [(1, H, "college_se"), (2, H, "academic"), (3, L, None)],
    ),
    (
        "sensitive: exam paper vault",
        "internal",
        "college_se",
        "view",
        ["te-vault-1"],
        {},
        [(1, H, "college_se"), (2, H, "academic"), (3, L, None)],
    ),
    (
        "sensitive: privacy",
        "internal",
        "college_se",
        "view",
        ["dorm-corridor-1"],
        {},
        [(1, H, "college_se"), (2, H, "student"), (3, L, None)],
    ),
    (
        "sensitive: key point, own department",
        "internal",
        "logistics",
        "view",
        ["ps-key-1"],
        {},
        [(1, H, "logistics"), (2, L, None)],
    ),
    (
        "multi-department: each approves its part",
        "internal",
        "college_se",
        "view",
        ["ps-gate-1", "dorm-1", "te-class-101"],
        {},
        [(1, H, "college_se"), (2, H, "academic"), (2, H, "logistics"), (2, H, "student")],
    ),
    (
        "multi-department, one sensitive: strictest path",
        "internal",
        "college_se",
        "copy",
        ["ps-gate-1", "te-exam-104a"],
        {},
        [(1, H, "college_se"), (2, H, "academic"), (2, H, "logistics"), (3, L, None)],
    ),
    (
        "managing department asks for its own and others'",
        "internal",
        "logistics",
        "view",
        ["ps-gate-1", "dorm-1"],
        {},
        [(1, H, "logistics"), (2, H, "student")],
    ),
    (
        "external police with letter, view",
        "police",
        "海口市公安局龙华分局",
        "view",
        ["ps-gate-1"],
        LETTER,
        [(1, H, "logistics"), (2, L, None)],
    ),
    (
        "external police copy for a case",
        "police",
        "海口市公安局龙华分局",
        "copy",
        ["ps-gate-1"],
        {**LETTER, "case_number": "龙公刑(2026)088"},
        [(1, H, "logistics"), (2, L, None)],
    ),
    # Art. 16(2)2: 经后勤处主要负责人批准同意报分管院领导审批 — the head of 后勤处, then the
    # school leader in charge, whatever department manages the cameras: no 教务处 / 学生处 /
    # 科研设备处 / 党政办 step in between (issue 15).
    (
        "education authority view",
        "education_authority",
        "海南省教育厅",
        "view",
        ["te-exam-104a"],
        LETTER,
        [(1, H, "logistics"), (2, L, None)],
    ),
    (
        "judiciary copy across departments",
        "judiciary",
        "海口市龙华区人民法院",
        "copy",
        ["dorm-1", "ps-gate-1"],
        {**LETTER, "case_number": "(2026)琼0106民初123号"},
        [(1, H, "logistics"), (2, L, None)],
    ),
    (
        "police across every managing department",
        "police",
        "海口市公安局龙华分局",
        "view",
        ["ps-gate-1", "te-class-101", "dorm-1", "re-train-1", "pa-conf-1"],
        LETTER,
        [(1, H, "logistics"), (2, L, None)],
    ),
]

REFUSED = [
    (
        "personal capacity",
        "personal",
        "张三",
        "view",
        ["ps-gate-1"],
        {},
        "personal_capacity",
        "个人身份调阅不予受理 — personal-capacity access is not allowed (Art. 16)",
    ),
    (
        "a company",
        "other_external",
        "某物业公司",
        "view",
        ["ps-gate-1"],
        LETTER,
        "external_not_entitled",
        None,
    ),
    (
        "police without letter",
        "police",
        "海口市公安局",
        "view",
        ["ps-gate-1"],
        {"id_checked": True},
        "letter_required",
        None,
    ),
    (
        "police without ID",
        "police",
        "海口市公安局",
        "view",
        ["ps-gate-1"],
        {"letter_ref": "x"},
        "id_required",
        None,
    ),
    (
        "police copy without case",
        "police",
        "海口市公安局",
        "copy",
        ["ps-gate-1"],
        LETTER,
        "case_number_required",
        None,
    ),
    (
        "education authority asking to copy",
        "education_authority",
        "海南省教育厅",
        "copy",
        ["te-exam-104a"],
        {**LETTER, "case_number": "X"},
        "copy_not_allowed",
        None,
    ),
]


@pytest.mark.parametrize(
    ("body", "unit", "method", "cams", "extra", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_chain(inventory: Inventory, body, unit, method, cams, extra, expected) -> None:
    steps = derive_access_chain(
        inventory,
        body=BodyKind(body),
        applying_unit=unit,
        method=Method(method),
        camera_ids=cams,
        **extra,
    )
    assert chain_summary(steps) == expected
    # Every camera's part is approved by a head: each managing department approves its part.
    covered = [c for s in steps if s.role.value == "dept_head" for c in s.cameras]
    assert sorted(covered) == sorted(cams)


@pytest.mark.parametrize(
    ("body", "unit", "method", "cams", "extra", "code", "message"),
    [c[1:] for c in REFUSED],
    ids=[c[0] for c in REFUSED],
)
def test_refused(inventory: Inventory, body, unit, method, cams, extra, code, message) -> None:
    with pytest.raises(Refusal) as ei:
        derive_access_chain(
            inventory,
            body=BodyKind(body),
            applying_unit=unit,
            method=Method(method),
            camera_ids=cams,
            **extra,
        )
    assert ei.value.code == code
    assert "Art. 16" in ei.value.article
    if message:
        assert str(ei.value) == message


def test_unknown_camera_is_named(inventory: Inventory) -> None:
    with pytest.raises(InvalidInput, match="cam-x"):
        derive_access_chain(
            inventory,
            body=BodyKind.INTERNAL,
            applying_unit="college_se",
            method=Method.VIEW,
            camera_ids=["ps-gate-1", "cam-x"],
        )


def test_sensitive_leader_step_names_why(inventory: Inventory) -> None:
    steps = derive_access_chain(
        inventory,
        body=BodyKind.INTERNAL,
        applying_unit="college_se",
        method=Method.VIEW,
        camera_ids=["te-exam-104a", "dorm-corridor-1", "ps-gate-1"],
    )
    leader = steps[-1]
    assert leader.key == "leader"
    assert set(leader.cameras) == {"te-exam-104a", "dorm-corridor-1"}
    assert "国家教育考试" in leader.why and "师生个人隐私" in leader.why


def test_outside_body_chain_is_logistics_head_then_leader(inventory: Inventory) -> None:
    """Art. 16(2)2: the head of 后勤处 signs for every camera, the leader right after."""
    cams = ["te-exam-104a", "dorm-corridor-1", "pa-conf-1", "re-train-1"]
    steps = derive_access_chain(
        inventory,
        body=BodyKind.POLICE,
        applying_unit="海口市公安局龙华分局",
        method=Method.VIEW,
        camera_ids=cams,
        **LETTER,
    )
    assert [s.key for s in steps] == ["managing:logistics", "leader"]
    assert steps[0].cameras == cams and "Art. 16(2)2" in steps[0].why
    assert set(steps[1].cameras) == set(cams) and "Art. 16(2)2" in steps[1].why
