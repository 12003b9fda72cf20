"""Domain transitions → contract events (cctv.workflow.<process>.<transition>.<request_id>).

The typed events other services act on (the stop/move window for health, the exam watch, new
cameras for ingest, a responsible-person change for notify) get their own bodies; every other
transition travels as a WorkflowTransition with a summary of the request.
"""

from __future__ import annotations

from cctv.contract import REGISTRY, Event
from cctv.contract.events import (
    ApprovalNudge,
    ExamWatch,
    NewPointImplemented,
    ResponsibleChanged,
    StopMoveWindowApproved,
    WorkflowTransition,
)

from .reminders import Nudge
from .transitions import Transition


def event_type(t: Transition) -> str:
    return f"workflow.{t.process}.{t.name}"


def to_event(t: Transition) -> Event:
    typ = event_type(t)
    d = t.data
    if typ == StopMoveWindowApproved.TYPE:
        w = d["window"]
        return StopMoveWindowApproved(
            request_id=t.key,
            camera_ids=list(w["cameras"]),
            starts_at=w["starts_at"],
            ends_at=w["ends_at"],
        )
    if typ == ExamWatch.TYPE:
        w = d["watch"]
        return ExamWatch(
            request_id=t.key,
            camera_ids=list(w["cameras"]),
            starts_at=w["from"],
            ends_at=w["until"],
            reason=w.get("reason", ""),
        )
    if typ == NewPointImplemented.TYPE:
        return NewPointImplemented(request_id=t.key, cameras=d["cameras"])
    if typ == ResponsibleChanged.TYPE:
        person, before = d["responsible"], d.get("previous") or {}
        return ResponsibleChanged(
            system_id=d["system_id"],
            department=d["department"],
            person_id=person["person_id"],
            name=person["name"],
            phone=person.get("phone", ""),
            previous_person_id=before.get("person_id"),
            reason=d.get("reason", ""),
            notify_departments=list(d["notify_departments"]),
        )
    model = REGISTRY.get(typ)
    if model is None or not issubclass(model, WorkflowTransition):
        raise KeyError(f"no contract event for {typ}")
    # What consumers act on travels in typed fields (hold, moved, window_ends_at); the model
    # reads them from the summary, where the domain puts them, so both always agree.
    return model(
        request_id=t.key,
        process=t.process,
        transition=t.name,
        state=str(d.get("state", "")),
        at=t.time,
        summary=d,
    )


def nudge_event(nudge: Nudge) -> ApprovalNudge:
    """A reminder or escalation as the contract's event (notify may push it further)."""
    return ApprovalNudge(
        request_id=nudge.request_id,
        process=nudge.process,
        step_key=nudge.step_key,
        level=nudge.level,  # type: ignore[arg-type]
        to_role=nudge.to_role.value,
        to_department=nudge.to_department,
        due_since=nudge.due_since,
    )
