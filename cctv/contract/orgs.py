"""The regulation's organisations and roles, Chinese first (spec: Organisations and roles)."""

from zoneinfo import ZoneInfo

DEPARTMENTS: dict[str, tuple[str, str]] = {
    "nic": ("网络信息中心", "Network Information Center"),
    "logistics": ("后勤处", "Logistics Office"),
    "academic": ("教务处", "Academic Affairs Office"),
    "student": ("学生处", "Student Affairs Office"),
    "party_admin": ("党政办", "Party and Administration Office"),
    "research_equipment": ("科研设备处", "Research and Equipment Office"),
}

BY_CHINESE = {zh: key for key, (zh, _en) in DEPARTMENTS.items()}

ROLES: dict[str, tuple[str, str]] = {
    "duty_operator": ("监控值班人员", "duty operator"),
    "guard": ("巡逻人员", "patrol guard"),
    "gatekeeper": ("门卫", "gatekeeper"),
    "dept_head": ("部门主要负责人", "head of a department"),
    "school_leader": ("分管校领导", "school leader in charge"),
    "sysadmin": ("系统管理人员", "system administrator"),
}

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
}

CAMPUS_TZ = ZoneInfo("Asia/Shanghai")
"""The campus's clock: shifts, working hours and the official calendar are in Beijing time."""
