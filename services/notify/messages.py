"""Alert texts, Chinese first; each channel lays them out in its own format (channels/)."""

from __future__ import annotations

from cctv.contract.campustime import campus_time
from cctv.contract.orgs import FAULT_KINDS

KIND_ZH = {kind: f"{zh} {en}" for kind, (zh, en) in FAULT_KINDS.items()}


def alert_title(kind: str, camera_name: str, camera_id: str) -> str:
    return f"【告警】{KIND_ZH.get(kind, kind)}：{camera_name or camera_id}（{camera_id}）"


def allclear_title(camera_name: str, camera_id: str) -> str:
    return f"【解除】已恢复 all clear：{camera_name or camera_id}（{camera_id}）"


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
        body = f"{who} 待审批 {event.step_key} · 自 {campus_time(event.due_since)} · {word}"
        return [(f"{event.to_role}:{event.to_department or '-'}", title, body)]
    return []
