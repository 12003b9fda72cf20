"""Organisations and roles of the regulation, with the Chinese names the users know.

Approvers are never named by the requester: a step of a chain asks for a *role* (head of a
department, school leader in charge, system administrator), and any person holding that role
may fill it, subject to the separation-of-duty rules in :mod:`approval`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# Department keys used throughout the contract (CameraRecord.department / managing_department).
NIC = "nic"
LOGISTICS = "logistics"
ACADEMIC = "academic"
STUDENT = "student"
PARTY_ADMIN = "party_admin"
RESEARCH_EQUIPMENT = "research_equipment"

DEPARTMENT_NAMES: dict[str, tuple[str, str]] = {
    NIC: ("网络信息中心", "Network Information Center"),
    LOGISTICS: ("后勤处", "Logistics Office"),
    ACADEMIC: ("教务处", "Academic Affairs Office"),
    STUDENT: ("学生处", "Student Affairs Office"),
    PARTY_ADMIN: ("党政办", "Party and Administration Office"),
    RESEARCH_EQUIPMENT: ("科研设备处", "Research and Equipment Office"),
}


def department_zh(key: str) -> str:
    """Chinese name of a department; unknown keys (a college, 二级学院) are shown as given."""
    return DEPARTMENT_NAMES.get(key, (key, key))[0]


def department_en(key: str) -> str:
    return DEPARTMENT_NAMES.get(key, (key, key))[1]


class Role(StrEnum):
    """What a person may do; a step of a chain asks for one of these."""

    HEAD = "head"  # 部门主要负责人: signs for a department (Art. 16)
    LEADER = "leader"  # 分管校领导: school leader in charge (Art. 6, Art. 16)
    SYSADMIN = "sysadmin"  # 系统管理人员: performs and records retrievals (Art. 16(3))
    OPERATOR = "operator"  # 监控值班人员: duty operator (Art. 13-14)
    STAFF = "staff"  # any member of a department who may fill in forms


ROLE_NAMES: dict[Role, tuple[str, str]] = {
    Role.HEAD: ("部门主要负责人", "head of department"),
    Role.LEADER: ("分管校领导", "school leader in charge"),
    Role.SYSADMIN: ("系统管理人员", "system administrator"),
    Role.OPERATOR: ("监控值班人员", "duty operator"),
    Role.STAFF: ("工作人员", "staff member"),
}


class BodyKind(StrEnum):
    """Who is asking for footage (Art. 16)."""

    INTERNAL = "internal"  # 校内部门
    POLICE = "police"  # 公安机关
    JUDICIARY = "judiciary"  # 司法部门
    EDUCATION_AUTHORITY = "education_authority"  # 学校主管厅局
    OTHER_EXTERNAL = "other_external"  # any other outside body: refused
    PERSONAL = "personal"  # 个人身份: refused


BODY_NAMES: dict[BodyKind, tuple[str, str]] = {
    BodyKind.INTERNAL: ("校内部门", "internal department"),
    BodyKind.POLICE: ("公安机关", "police"),
    BodyKind.JUDICIARY: ("司法部门", "judiciary"),
    BodyKind.EDUCATION_AUTHORITY: ("学校主管厅局", "education authority"),
    BodyKind.OTHER_EXTERNAL: ("其他校外单位", "other external body"),
    BodyKind.PERSONAL: ("个人", "private person"),
}

EXTERNAL_ALLOWED = frozenset({BodyKind.POLICE, BodyKind.JUDICIARY, BodyKind.EDUCATION_AUTHORITY})
COPY_ALLOWED_EXTERNAL = frozenset({BodyKind.POLICE, BodyKind.JUDICIARY})


class Actor(BaseModel):
    """A person acting in a process: who they are, their department and roles."""

    model_config = ConfigDict(frozen=True)

    person_id: str = Field(min_length=1)
    name: str = ""
    department: str | None = None
    roles: frozenset[Role] = frozenset()

    def has(self, role: Role, department: str | None = None) -> bool:
        if role not in self.roles:
            return False
        return department is None or self.department == department

    @property
    def display(self) -> str:
        return self.name or self.person_id


# The console's account roles (cctv.contract.orgs.ROLES) as workflow roles.
CONSOLE_ROLES: dict[str, frozenset[Role]] = {
    "dept_head": frozenset({Role.HEAD}),
    "school_leader": frozenset({Role.LEADER}),
    "sysadmin": frozenset({Role.SYSADMIN}),
    "duty_operator": frozenset({Role.OPERATOR}),
}


def actor_for(account: str, name: str, role: str, department: str | None) -> Actor:
    """The actor a console or CLI user acts as; any other role may fill in forms only."""
    return Actor(
        person_id=account,
        name=name,
        department=department or None,
        roles=CONSOLE_ROLES.get(role, frozenset()) | {Role.STAFF},
    )
