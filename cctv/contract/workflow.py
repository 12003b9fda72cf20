"""The workflow's public vocabulary: processes, request states and duty-log kinds, Chinese first.

What the console, the CLI and other campus systems read in workflow replies and events; the
workflow's domain (services/workflow) uses the same enums, so the names cannot drift.
"""

from __future__ import annotations

from enum import StrEnum

# process key -> (Chinese, English, annex of the paper form or "")
PROCESSES: dict[str, tuple[str, str, str]] = {
    "access": ("视频资料调阅", "footage access", "附件4"),
    "stopmove": ("停用、挪移监控点位", "stop or move cameras", "附件3"),
    "newpoint": ("新增摄像点", "new camera point", "附件2"),
    "exam": ("考试监控保障", "exam monitoring support", ""),
}
PRINTABLE = frozenset({"access", "stopmove", "newpoint"})  # processes with a paper form


class RequestState(StrEnum):
    PENDING = "pending"  # 审批中
    APPROVED = "approved"  # 已批准
    REJECTED = "rejected"  # 未批准
    WITHDRAWN = "withdrawn"  # 已撤回
    RETRIEVED = "retrieved"  # 已调取 (access)
    PLANNED = "planned"  # 已制定安装方案 (new point)
    SURVEYED = "surveyed"  # 已填写工勘记录 (new point)
    IMPLEMENTED = "implemented"  # 已实施 (new point)
    COMPLETED = "completed"  # 已完成 (stop/move: work finished, window closed)


STATE_ZH = {
    RequestState.PENDING: "审批中",
    RequestState.APPROVED: "已批准",
    RequestState.REJECTED: "未批准",
    RequestState.WITHDRAWN: "已撤回",
    RequestState.RETRIEVED: "已调取",
    RequestState.PLANNED: "已制定安装方案",
    RequestState.SURVEYED: "已填写工勘记录",
    RequestState.IMPLEMENTED: "已实施",
    RequestState.COMPLETED: "已完成",
}


class EntryKind(StrEnum):
    """Kinds of duty-logbook entry (Art. 13-14)."""

    SUSPICIOUS = "suspicious"  # 可疑情况 (Art. 14(2))
    FAULT = "fault"  # 设备故障 (Art. 14(4))
    DIRECTIVE = "directive"  # 紧急指令 to guards/gatekeepers (Art. 13)
    NOTE = "note"  # 其他


KIND_ZH = {
    EntryKind.SUSPICIOUS: "可疑情况",
    EntryKind.FAULT: "设备故障",
    EntryKind.DIRECTIVE: "紧急指令",
    EntryKind.NOTE: "其他",
}
