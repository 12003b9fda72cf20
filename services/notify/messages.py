"""Alert texts, Chinese first, and the WeCom/DingTalk robot message format."""

from __future__ import annotations

from typing import Any

KIND_ZH = {
    "offline": "摄像机离线 camera offline",
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
