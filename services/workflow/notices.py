"""What workflow says to people, in one place: inbox titles, notices, reminders (pure).

Chinese first, English beside it. The service commits each notice with its cause (the same
transaction as the transition or the reminder event), so wording is decided here and storage
there; tests drive these functions without a broker or a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cctv.contract.events import AccessRecorded, FaultOpened

from .org import department_zh
from .routing import METHOD_ZH
from .transitions import Transition

if TYPE_CHECKING:  # the process modules import nothing from here; only types are needed
    from .access import AccessRequest
    from .approval import Step
    from .exam import ExamSupportRequest
    from .newpoint import NewPointRequest
    from .reminders import Nudge
    from .stopmove import StopMoveRequest


@dataclass(frozen=True)
class Notice:
    """One line in the inboxes of a department and/or a role, with the event that caused it."""

    to_department: str | None
    to_role: str | None
    kind: str
    ref: str
    text_zh: str
    text_en: str


# ---- inbox titles: one line a person recognises, per process ----


def access_title(req: AccessRequest) -> str:
    f = req.form
    unit = department_zh(f.applying_unit)
    return f"{unit} {METHOD_ZH[f.method]} {len(f.cameras)}路视频 — {f.reason[:30]}"


def stopmove_title(req: StopMoveRequest) -> str:
    return f"{department_zh(req.form.applying_unit)} 停用/挪移 {req.form.count}个点位"


def newpoint_title(req: NewPointRequest) -> str:
    urgent = "紧急" if req.form.urgent else ""
    return f"{department_zh(req.form.department)} {urgent}新增{len(req.form.positions)}个点位"


def exam_title(req: ExamSupportRequest) -> str:
    return f"{req.form.exam_name} {req.form.building}{'、'.join(req.form.rooms)}"


# ---- Art. 9: what is on file changed; 后勤处 and NIC are told at once ----


def on_file_changed(t: Transition) -> list[Notice]:
    """A responsible person or an arming schedule changed: one notice per department to tell."""
    d = t.data
    if t.name == "changed":
        p, before = d["responsible"], d.get("previous") or {}
        zh = (
            f"{department_zh(d['department'])}系统 {d['system_id']} 责任人变更为"
            f"{p['name']}（{p.get('phone') or '无电话'}），原责任人"
            f"{before.get('name') or '未备案'}；原因：{d.get('reason', '')}"
        )
        en = (
            f"system {d['system_id']}: responsible person is now {p['name']} "
            f"(was {before.get('name') or 'none on file'}) (Art. 9)"
        )
    else:
        zh = f"系统 {d['system_id']} 布防计划已变更"
        en = f"system {d['system_id']}: arming schedule changed (Art. 9)"
    return [
        Notice(
            to_department=dept,
            to_role=None,
            kind=f"responsible.{t.name}",
            ref=d["system_id"],
            text_zh=zh,
            text_en=en,
        )
        for dept in d.get("notify_departments", [])
    ]


# ---- reminders and escalation of pending approvals ----


def nudge_notice(nudge: Nudge, title: str, step: Step) -> Notice:
    """A reminder to the approver's role, or an escalation to the level above."""
    if nudge.level == "remind":
        zh = f"请审批：{title}（{step.title_zh}），已超过提醒时限"
        en = f"please decide {nudge.request_id}: '{step.title_en}' is waiting"
    else:
        zh = f"逾期未审批，已上报：{title}（{step.who_zh}）"
        en = f"escalated: {nudge.request_id} waits for {step.title_en}, overdue"
    return Notice(
        to_department=nudge.to_department,
        to_role=nudge.to_role.value,
        kind=f"nudge.{nudge.level}",
        ref=nudge.request_id,
        text_zh=zh,
        text_en=en,
    )


# ---- the access record and the open items of a shift ----


def access_recorded(t: Transition) -> list[AccessRecorded]:
    """A retrieval is an access to footage: it goes on the audited access record too."""
    if t.name != "retrieved":
        return []
    rec: dict[str, Any] = t.data["retrieval"]
    return [
        AccessRecorded(
            action="admin",
            actor=rec["retrieved_by"],
            camera_ids=rec["cameras"],
            footage_from=rec["footage_from"],
            footage_to=rec["footage_until"],
            grant_id=f"{t.key}-G",
            request_no=t.key,
            detail=f"调取 retrieval: {rec['purpose']} → {rec['destination']} (Art. 16)",
        )
    ]


def fault_item(event: FaultOpened) -> str:
    """How an open fault reads in the handover list."""
    return f"{event.camera_name or event.camera_id} {event.building} {event.kind}".strip()
