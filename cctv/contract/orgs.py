"""The regulation's organisations and roles, Chinese first (spec: Organisations and roles).

One vocabulary for the whole system: a person's account role (console, people directory,
notify rosters) is the same :class:`Role` an approval step asks for (workflow), so no service
translates between two sets of names. See docs/adr/ on the contract's vocabulary.
"""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

# Department keys used throughout the contract (CameraRecord.department / managing_department).
NIC = "nic"
LOGISTICS = "logistics"
ACADEMIC = "academic"
STUDENT = "student"
PARTY_ADMIN = "party_admin"
RESEARCH_EQUIPMENT = "research_equipment"

DEPARTMENTS: dict[str, tuple[str, str]] = {
    NIC: ("网络信息中心", "Network Information Center"),
    LOGISTICS: ("后勤处", "Logistics Office"),
    ACADEMIC: ("教务处", "Academic Affairs Office"),
    STUDENT: ("学生处", "Student Affairs Office"),
    PARTY_ADMIN: ("党政办", "Party and Administration Office"),
    RESEARCH_EQUIPMENT: ("科研设备处", "Research and Equipment Office"),
}
DEPARTMENT_NAMES = DEPARTMENTS

BY_CHINESE = {zh: key for key, (zh, _en) in DEPARTMENTS.items()}


def department_zh(key: str) -> str:
    """Chinese name of a department; unknown keys (a college, 二级学院) are shown as given."""
    return DEPARTMENTS.get(key, (key, key))[0]


def department_en(key: str) -> str:
    return DEPARTMENTS.get(key, (key, key))[1]


class Role(StrEnum):
    """What a person is and may do: an account's role, and what a step of a chain asks for."""

    HEAD = "dept_head"  # 部门主要负责人: signs for a department (Art. 16)
    LEADER = "school_leader"  # 分管校领导: school leader in charge (Art. 6, Art. 16)
    SYSADMIN = "sysadmin"  # 系统管理人员: performs and records retrievals (Art. 16(3))
    OPERATOR = "duty_operator"  # 监控值班人员: duty operator (Art. 13-14)
    GUARD = "guard"  # 巡逻人员 (Art. 13)
    GATEKEEPER = "gatekeeper"  # 门卫 (Art. 13)
    NIC_ONCALL = "nic_oncall"  # 网络信息中心值班: NIC on call, third in the duty chain (Art. 13)
    SECURITY_HEAD = "security_head"  # 保卫部门负责人: top of the duty chain (Art. 13)
    STAFF = "staff"  # any member of a department who may fill in forms

    @classmethod
    def _missing_(cls, value: object) -> Role | None:
        """Names workflow used before the one vocabulary (stored requests still carry them)."""
        return _LEGACY_ROLES.get(str(value))


_LEGACY_ROLES = {"head": Role.HEAD, "leader": Role.LEADER, "operator": Role.OPERATOR}

ROLES: dict[str, tuple[str, str]] = {
    Role.OPERATOR: ("监控值班人员", "duty operator"),
    Role.GUARD: ("巡逻人员", "patrol guard"),
    Role.GATEKEEPER: ("门卫", "gatekeeper"),
    Role.HEAD: ("部门主要负责人", "head of a department"),
    Role.LEADER: ("分管校领导", "school leader in charge"),
    Role.SYSADMIN: ("系统管理人员", "system administrator"),
    Role.NIC_ONCALL: ("网络信息中心值班人员", "NIC on call"),
    Role.SECURITY_HEAD: ("保卫部门负责人", "security office head"),
    Role.STAFF: ("工作人员", "staff member"),
}
ROLE_NAMES: dict[Role, tuple[str, str]] = {Role(k): v for k, v in ROLES.items()}
# who may watch footage live (Art. 13-14): media enforces it, the console offers it
LIVE_ROLES = (Role.OPERATOR.value, Role.GUARD.value, Role.GATEKEEPER.value)


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


def actor_for(account: str, name: str, role: str, department: str | None) -> Actor:
    """The actor an account acts as: its role, and (like everyone) the right to fill in forms.

    An account role outside the vocabulary gives no role beyond that."""
    try:
        roles = frozenset({Role(role), Role.STAFF})
    except ValueError:
        roles = frozenset({Role.STAFF})
    return Actor(person_id=account, name=name, department=department or None, roles=roles)


CATEGORIES: dict[str, tuple[str, str]] = {
    "public_safety": ("公共安全", "public safety"),
    "teaching_exam": ("教学与考试", "teaching and exams"),
    "dormitory": ("学生宿舍", "dormitories"),
    "department": ("部门自建", "department subsystem"),
    "confidential": ("保密室", "confidential room"),
}

SENSITIVITY: dict[str, tuple[str, str]] = {
    "privacy": ("个人隐私", "personal privacy"),
    "national_exam": ("国家教育考试", "national education exam"),
    "exam_paper_vault": ("试卷保密室", "exam-paper vault"),
    "key_point": ("重点监控部位", "key monitored point"),
}


def dept_label(key: str) -> str:
    zh, en = DEPARTMENTS.get(key, (key, key))
    return f"{zh} {en}"


FAULT_KINDS: dict[str, tuple[str, str]] = {
    "offline": ("摄像机离线", "camera offline"),
    "auth_failed": ("设备认证失败", "device refused our credentials"),
    "video_loss": ("视频丢失", "video loss"),
    "recording_gap": ("录像中断", "recording gap"),
    "retention_short": ("录像保存不足30天", "retention under 30 days"),
    "storage_error": ("存储故障", "storage error"),
    "clock_drift": ("时钟偏差", "clock drift"),
    "tamper": ("遮挡/移动/模糊", "tampering"),
    "unapproved_outage": ("未经批准停用", "unapproved outage"),
    "recording_deleted": ("录像在保存期内被删除", "footage deleted while it had to be kept"),
    "recorder_offline": ("录像机离线", "recorder down, its cameras with it"),
    "suspected_network": ("疑似网络/系统故障", "suspected network or monitoring fault"),
    "not_armed": ("未按计划布防", "not armed on schedule"),
}

CAMPUS_TZ = ZoneInfo("Asia/Shanghai")
"""The campus's clock: shifts, working hours and the official calendar are in Beijing time."""
