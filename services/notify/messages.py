"""Alert texts, Chinese first, and the WeCom/DingTalk robot message format."""

from __future__ import annotations

from typing import Any

from cctv.contract.orgs import FAULT_KINDS

KIND_ZH = {kind: f"{zh} {en}" for kind, (zh, en) in FAULT_KINDS.items()}


def alert_title(kind: str, camera_name: str, camera_id: str) -> str:
    return f"【告警】{KIND_ZH.get(kind, kind)}：{camera_name or camera_id}（{camera_id}）"


def allclear_title(camera_name: str, camera_id: str) -> str:
    return f"【解除】已恢复 all clear：{camera_name or camera_id}（{camera_id}）"


_MD_SPECIAL = set("\\`*_[]|~<")  # what forms inline markup; every line starts "> " already


def md_escape(text: str) -> str:
    """Text from the estate (camera names, reasons) shown literally: markdown punctuation
    backslash-escaped, `<` as an entity (WeCom reads <font> tags), newlines kept inside the
    quote, so a name cannot add links, mentions or lines of its own."""
    out = "".join("&lt;" if c == "<" else f"\\{c}" if c in _MD_SPECIAL else c for c in str(text))
    return out.replace("\r", "").replace("\n", "\n> ")


def robot_message(title: str, body: str, recipient: str) -> dict[str, Any]:
    """A group-robot markdown message; WeCom and DingTalk robots both accept this shape."""
    content = (
        f"**{md_escape(title)}**\n> {md_escape(body)}\n> 接收人 recipient: {md_escape(recipient)}"
    )
    return {"msgtype": "markdown", "markdown": {"content": content}}


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
