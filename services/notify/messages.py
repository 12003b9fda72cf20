"""Alert texts, Chinese first, and the WeCom/DingTalk robot message format."""

from __future__ import annotations

from typing import Any

KIND_ZH = {
    "offline": "摄像机离线 camera offline",
    "auth_failed": "设备认证失败 device refused our credentials",
    "video_loss": "视频丢失 video loss",
    "recording_gap": "录像中断 recording gap",
    "retention_short": "录像保存不足30天 retention under 30 days",
    "storage_error": "存储故障 storage error",
    "clock_drift": "时钟偏差 clock drift",
    "tamper": "遮挡/移动/模糊 tampering",
    "unapproved_outage": "未经批准停用 unapproved outage",
}


def alert_title(kind: str, camera_name: str, camera_id: str) -> str:
    return f"【告警】{KIND_ZH.get(kind, kind)}：{camera_name or camera_id}（{camera_id}）"


def allclear_title(camera_name: str, camera_id: str) -> str:
    return f"【解除】已恢复 all clear：{camera_name or camera_id}（{camera_id}）"


def robot_message(title: str, body: str, recipient: str) -> dict[str, Any]:
    """A group-robot markdown message; WeCom and DingTalk robots both accept this shape."""
    return {
        "msgtype": "markdown",
        "markdown": {"content": f"**{title}**\n> {body}\n> 接收人 recipient: {recipient}"},
    }


def notices_for(event: object) -> list[tuple[str, str, str]]:
    """(recipient, title, body) robot notices for workflow events people must hear of at once:
    a changed responsible person goes to 后勤处 and NIC (Art. 9); a pending approval reminds
    its approver, then escalates (regulation's approval deadlines)."""
    from cctv.contract.events import ApprovalNudge, ResponsibleChanged
    from cctv.contract.orgs import DEPARTMENTS, ROLES

    def dept(key: str | None) -> str:
        return DEPARTMENTS.get(key or "", (key or "",))[0]

    if isinstance(event, ResponsibleChanged):
        title = f"【责任人变更】{event.system_id}（{dept(event.department)}）"
        body = (
            f"新责任人 {event.name} {event.phone}".strip()
            + (f" · 原因 {event.reason}" if event.reason else "")
            + " · responsible person changed (Art. 9)"
        )
        return [(f"dept:{d}", title, body) for d in event.notify_departments]
    if isinstance(event, ApprovalNudge):
        word = "催办 reminder" if event.level == "remind" else "逾期上报 escalated"
        who = f"{dept(event.to_department)}{ROLES.get(event.to_role, (event.to_role,))[0]}"
        title = f"【审批{word.split()[0]}】{event.request_id}"
        body = f"{who} 待审批 {event.step_key} · 自 {event.due_since:%Y-%m-%d %H:%M} · {word}"
        return [(f"{event.to_role}:{event.to_department or '-'}", title, body)]
    return []
