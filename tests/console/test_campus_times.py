"""Issue 15: every time a person reads on the console is campus time with the zone marked —
alerts, faults, acknowledgements, opinions and audit entries — through one filter."""

from __future__ import annotations

from types import SimpleNamespace

from services.console.web import templates

RAISED = "2026-11-30T09:00:00+00:00"  # 17:00 on campus


def test_live_page_alert_and_fault_times_are_campus_time() -> None:
    alert = {
        "alert_id": "x", "status": "acknowledged", "cleared_at": None, "raised_at": RAISED,
        "title": "t", "body": "b", "zone": "z", "recipient": "guard",
        "acknowledged_at": "2026-11-30T09:03:00Z",
    }  # fmt: skip
    fault = {
        "camera_id": "OFF-001", "status": "open", "severity": "major", "kind": "offline",
        "opened_at": "2026-11-30T16:30:00+00:00", "detail": "", "ticket_no": None,
    }  # fmt: skip
    html = templates.get_template("_live.html").render(
        alerts=[alert], buildings=[], faults=[fault], totals={}, open_faults=[fault], errors=[]
    )
    assert "2026-11-30 17:00:00 (UTC+8)" in html  # raised
    assert "2026-11-30 17:03:00 (UTC+8)" in html  # acknowledged
    assert "2026-12-01 00:30:00 (UTC+8)" in html  # the fault: already the next day on campus
    assert "2026-11-30 09:00" not in html and "16:30" not in html


def test_opinion_time_in_the_chain_is_campus_time() -> None:
    step = SimpleNamespace(
        key="unit", stage=1, who_zh="后勤处部门主要负责人", title_zh="单位意见", title_en="unit",
        cameras=[], why="Art. 16(1)1",
    )  # fmt: skip
    opinion = {
        "decision": "approve", "text": "同意", "approver": {"name": "刘洋"}, "time": RAISED,
    }  # fmt: skip
    html = templates.get_template("workflow/_chain.html").render(
        steps=[step], opinions={"unit": opinion}
    )
    assert "刘洋 2026-11-30 17:00 (UTC+8)" in html and "09:00" not in html


def test_audit_entry_times_are_campus_time() -> None:
    entry = SimpleNamespace(
        seq=7, kind="event", reason="", event_type="workflow.access.approved", event_id="e",
        subject="s", event_time=RAISED, recorded_at="2026-11-30T09:00:01.250000Z", actor="a",
        camera_ids=[], request_no="DY-2026-00001", leaf_hash="h",
    )  # fmt: skip
    html = templates.get_template("audit/entry.html").render(
        e=entry,
        problem=None,
        checkpoint=None,
        header=SimpleNamespace(prev="p"),
        proof=[],
        user=SimpleNamespace(name="赵敏", role="sysadmin", department="nic"),
    )
    assert "2026-11-30 17:00:00 (UTC+8)" in html and "2026-11-30 17:00:01 (UTC+8)" in html
