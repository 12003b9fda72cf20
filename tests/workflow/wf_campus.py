"""The small campus the workflow tests use: cameras of every category and the people."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.workflow.access import AccessApplication
from services.workflow.inventory import CameraInfo
from services.workflow.org import Actor, BodyKind, Role
from services.workflow.routing import Method


def cam(cid: str, dept: str, category: str, *sens: str, building: str = "", position: str = ""):
    return CameraInfo(
        camera_id=cid,
        name=cid,
        department=dept,
        category=category,
        sensitivity=list(sens),
        building=building,
        position=position,
    )


CAMERAS = [
    cam("ps-gate-1", "logistics", "public_safety", building="校门", position="南门 朝南"),
    cam("ps-canteen-1", "logistics", "public_safety", building="第1食堂", position="大厅"),
    cam(
        "ps-key-1", "logistics", "public_safety", "key_point", building="综合楼", position="财务室"
    ),
    cam("te-class-101", "academic", "teaching_exam", building="教学楼", position="101室 前"),
    cam(
        "te-exam-104a",
        "academic",
        "teaching_exam",
        "national_exam",
        building="教学楼",
        position="104室 前",
    ),
    cam(
        "te-exam-104b",
        "academic",
        "teaching_exam",
        "national_exam",
        building="教学楼",
        position="104室 后",
    ),
    cam("te-exam-105", "academic", "teaching_exam", building="教学楼", position="105室 前"),
    cam(
        "te-vault-1",
        "academic",
        "confidential",
        "exam_paper_vault",
        building="综合楼",
        position="1001 保密室",
    ),
    cam("dorm-1", "student", "dormitory", building="学生宿舍区", position="1栋 入口"),
    cam(
        "dorm-corridor-1",
        "student",
        "dormitory",
        "privacy",
        building="学生宿舍区",
        position="1栋 走廊",
    ),
    cam("pa-conf-1", "party_admin", "confidential", building="综合楼", position="1001"),
    cam("re-train-1", "research_equipment", "department", building="实训楼", position="101室"),
    cam("nic-room-1", "nic", "department", building="学院中心机房", position="机柜区"),
]


def person(pid: str, dept: str | None, *roles: Role) -> Actor:
    return Actor(person_id=pid, name=pid, department=dept, roles=frozenset(roles))


PEOPLE = {
    "se_staff": person("se_staff", "college_se", Role.STAFF),
    "se_head": person("se_head", "college_se", Role.HEAD),
    "lg_staff": person("lg_staff", "logistics", Role.STAFF),
    "lg_head": person("lg_head", "logistics", Role.HEAD),
    "lg_head2": person("lg_head2", "logistics", Role.HEAD),
    "ac_staff": person("ac_staff", "academic", Role.STAFF),
    "ac_head": person("ac_head", "academic", Role.HEAD),
    "st_head": person("st_head", "student", Role.HEAD),
    "pa_staff": person("pa_staff", "party_admin", Role.STAFF),
    "pa_head": person("pa_head", "party_admin", Role.HEAD),
    "re_staff": person("re_staff", "research_equipment", Role.STAFF),
    "re_head": person("re_head", "research_equipment", Role.HEAD),
    "nic_staff": person("nic_staff", "nic", Role.STAFF),
    "nic_head": person("nic_head", "nic", Role.HEAD),
    "nic_admin": person("nic_admin", "nic", Role.SYSADMIN),
    "leader": person("leader", None, Role.LEADER),
    "op_a": person("op_a", "logistics", Role.OPERATOR),
    "op_b": person("op_b", "logistics", Role.OPERATOR),
}


def view_form(
    unit: str,
    cameras: list[str],
    until: datetime,
    *,
    hours: int = 2,
    viewer: str = "v",
    reason: str = "r",
) -> AccessApplication:
    """A department asking to view its cameras' last `hours` before `until`: the plain access
    request most tests start from (one builder, so a new required field is added once)."""
    return AccessApplication(
        body=BodyKind.INTERNAL,
        applying_unit=unit,
        viewer=viewer,
        method=Method.VIEW,
        reason=reason,
        cameras=cameras,
        footage_from=until - timedelta(hours=hours),
        footage_until=until,
    )
