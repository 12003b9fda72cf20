"""What ingest and health act on in workflow events is typed (issue 8): the hold of
`workflow.access.held`, the moved cameras and the real end of the window of
`workflow.stopmove.completed` -- no consumer digs in the untyped summary."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cctv.contract import ContractError, decode, wrap
from cctv.contract.events import AccessApproved, AccessHeld, HoldRecord, StopMoveCompleted
from services.workflow.publishing import to_event
from services.workflow.transitions import Transition

T = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
HOLD = {
    "hold_id": "DY-2026-00001-H1",
    "request_id": "DY-2026-00001",
    "custodian": "nic",
    "cameras": ["c1", "c2"],
    "footage_from": "2026-11-29T01:00:00+00:00",
    "footage_until": "2026-11-29T02:00:00+00:00",
    "since": T.isoformat(),
    "until": "2027-11-30",
    "basis": "Art. 18",
}


def test_workflow_publishes_the_hold_typed() -> None:
    data = {"request_id": "DY-2026-00001", "state": "retrieved", "hold": HOLD}
    t = Transition(process="access", name="held", key="DY-2026-00001", actor="a", time=T, data=data)
    event = to_event(t)
    assert isinstance(event, AccessHeld)
    assert event.hold == HoldRecord(
        hold_id="DY-2026-00001-H1",
        cameras=["c1", "c2"],
        footage_from=datetime(2026, 11, 29, 1, tzinfo=UTC),
        footage_until=datetime(2026, 11, 29, 2, tzinfo=UTC),
        until=date(2027, 11, 30),
        basis="Art. 18",
    )
    env = wrap(event, source="workflow", key=t.key)
    _env, back = decode(env.to_bytes(), "cctv.workflow.access.held.DY-2026-00001")
    assert isinstance(back, AccessHeld) and back.hold == event.hold


def test_stopmove_completed_carries_moved_cameras_and_window_end() -> None:
    ends = "2026-11-30T07:30:00+00:00"
    t = Transition(
        process="stopmove",
        name="completed",
        key="TY-2026-00001",
        actor="a",
        time=T,
        data={
            "request_id": "TY-2026-00001",
            "state": "completed",
            "window": {"cameras": ["c1"], "starts_at": T.isoformat(), "ends_at": ends},
            "moved": [{"camera_id": "c1", "position": "北门 朝南"}],
        },
    )
    event = to_event(t)
    assert isinstance(event, StopMoveCompleted)
    assert [(m.camera_id, m.position) for m in event.moved] == [("c1", "北门 朝南")]
    assert event.window_ends_at == datetime.fromisoformat(ends)
    raw = wrap(event, source="workflow", key=t.key).to_bytes()
    assert b'"window_ends_at"' in raw and b'"moved"' in raw


def test_consumers_read_typed_fields_not_the_summary() -> None:
    root = Path(__file__).resolve().parents[2]
    for rel in ("services/ingest", "services/health", "services/notify"):
        for path in (root / rel).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr == "summary":
                    raise AssertionError(f"{path.relative_to(root)}:{node.lineno} reads .summary")
                if isinstance(node, ast.Constant) and node.value == "summary":
                    raise AssertionError(f"{path.relative_to(root)}:{node.lineno} reads summary")


GRANT = {
    "grant_id": "DY-2026-00001-G",
    "request_id": "DY-2026-00001",
    "grantee": "李老师",
    "method": "view",
    "cameras": ["c1"],
    "footage_from": "2026-11-29T01:00:00+00:00",
    "footage_until": "2026-11-29T02:00:00+00:00",
    "valid_until": "2026-12-06T01:00:00+00:00",
    "export": False,
    "watermark": "DY-2026-00001",
}


def test_the_grant_media_acts_on_is_typed() -> None:
    data = {"request_id": "DY-2026-00001", "state": "approved", "grant": GRANT}
    t = Transition(process="access", name="approved", key="DY-2026-00001", actor="a", time=T,
                   data=data)  # fmt: skip
    event = to_event(t)
    assert isinstance(event, AccessApproved) and event.grant is not None
    assert event.grant.cameras == ["c1"]
    assert event.grant.valid_until == datetime(2026, 12, 6, 1, tzinfo=UTC)


def test_a_grant_that_does_not_fit_is_a_contract_error_not_a_crash_of_the_consumer() -> None:
    """Media took a grant without `request_id` as a KeyError and retried it five times;
    now decoding refuses it, so it is dead-lettered at once with the reason."""
    bad = {k: v for k, v in GRANT.items() if k != "request_id"}
    event = AccessApproved.model_construct(
        request_id="DY-2026-00002", process="access", transition="approved", state="approved",
        at=T, summary={"grant": bad},
    )  # fmt: skip
    raw = wrap(event, source="workflow", key="DY-2026-00002").to_bytes()
    with pytest.raises(ContractError, match="request_id"):
        decode(raw, "cctv.workflow.access.approved.DY-2026-00002")
    naive = {**GRANT, "valid_until": "2026-12-06T01:00:00"}
    event = AccessApproved.model_construct(
        request_id="DY-2026-00003", process="access", transition="approved", state="approved",
        at=T, summary={"grant": naive},
    )  # fmt: skip
    with pytest.raises(ContractError, match="valid_until"):
        decode(
            wrap(event, source="workflow", key="x").to_bytes(), "cctv.workflow.access.approved.x"
        )
