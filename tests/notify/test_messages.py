"""Robot notices for workflow events: who hears of them and what they say."""

from __future__ import annotations

from datetime import UTC, datetime

from cctv.contract.events import ApprovalNudge, CameraRemoved, ResponsibleChanged
from services.notify.messages import notices_for


def test_a_responsible_change_goes_to_logistics_and_nic() -> None:
    event = ResponsibleChanged(
        system_id="A1-07", department="academic", person_id="t", name="李老师", reason="人员调动"
    )
    told = notices_for(event)
    assert [r for r, _t, _b in told] == ["dept:logistics", "dept:nic"]
    assert all("A1-07" in t and "教务处" in t and "Art. 9" in b for _r, t, b in told)


def test_an_escalated_approval_names_who_is_late() -> None:
    event = ApprovalNudge(
        request_id="ACC-2026-0001", process="access", step_key="leader", level="escalate",
        to_role="school_leader", to_department=None, due_since=datetime(2026, 11, 2, tzinfo=UTC),
    )  # fmt: skip
    [(recipient, title, body)] = notices_for(event)
    assert recipient == "school_leader:-"
    assert "逾期上报" in title and "ACC-2026-0001" in title and "分管校领导" in body
    assert "自 2026-11-02 08:00 (UTC+8)" in body  # campus time, zone marked (issue 15)


def test_other_events_say_nothing() -> None:
    assert notices_for(CameraRemoved(camera_id="X", reason="r")) == []
