"""The overview tells the truth: unknown is not zero, open faults first, alarmed is not green."""

from __future__ import annotations

from services.console.views import cameras_by_building, faults_open_first
from services.console.web import templates

CAMS = [
    {"camera_id": "A", "building": "综合楼", "name": "a", "position": "1F"},
    {"camera_id": "B", "building": "综合楼", "name": "b", "position": "2F"},
]


def test_a_covered_camera_that_answers_probes_is_not_shown_green() -> None:
    states = [{"camera_id": "A", "state": "up"}, {"camera_id": "B", "state": "up"}]
    faults = [{"camera_id": "A", "status": "open", "severity": "critical", "kind": "tamper"}]
    [b] = cameras_by_building(CAMS, states, faults)
    alarmed = {c["camera_id"]: c["alarm"] for c in b["cameras"]}
    assert alarmed == {"A": True, "B": False}


def test_open_and_critical_faults_come_first() -> None:
    faults = [
        {"camera_id": "1", "status": "resolved", "severity": "critical", "opened_at": "2026-11-30"},
        {"camera_id": "2", "status": "open", "severity": "major", "opened_at": "2026-11-29"},
        {"camera_id": "3", "status": "open", "severity": "critical", "opened_at": "2026-11-28"},
        {"camera_id": "4", "status": "open", "severity": "major", "opened_at": "2026-11-30"},
    ]
    assert [f["camera_id"] for f in faults_open_first(faults)] == ["3", "4", "2", "1"]


def test_a_service_that_does_not_answer_shows_unknown_not_zero() -> None:
    html = templates.get_template("_live.html").render(
        alerts=[], buildings=[], faults=[], totals=None, open_faults=None, errors=["timeout"]
    )
    summary = html[html.index('<section class="summary">') :]
    assert "<b>?</b>" in summary and "<b>0</b>" not in summary
    assert "unknown: a service did not answer" in html


def test_a_cleared_alert_does_not_ask_to_be_acknowledged() -> None:
    alert = {
        "alert_id": "x", "status": "delivered", "cleared_at": "2026-11-30T10:00:00+00:00",
        "raised_at": "2026-11-30T09:00:00+00:00", "title": "t", "body": "b", "zone": "z",
        "recipient": "guard", "acknowledged_at": None,
    }  # fmt: skip
    html = templates.get_template("_live.html").render(
        alerts=[alert], buildings=[], faults=[], totals={}, open_faults=[], errors=[]
    )
    assert 'data-alert-id="x"' in html and 'button class="ack"' not in html


def test_an_alert_handed_over_at_a_shift_change_says_to_whom_and_asks_nothing() -> None:
    alert = {
        "alert_id": "h", "status": "handed_over", "cleared_at": None,
        "raised_at": "2026-11-30T09:00:00+00:00", "title": "t", "body": "b", "zone": "z",
        "recipient": "guard", "acknowledged_at": None, "handed_to": ["guard2"],
        "handed_over_at": "2026-11-30T12:00:00+00:00",
    }  # fmt: skip
    html = templates.get_template("_live.html").render(
        alerts=[alert], buildings=[], faults=[], totals={}, open_faults=[], errors=[]
    )
    assert "已转交" in html and "guard2" in html and "20:00" in html
    assert 'button class="ack"' not in html


def test_the_directives_page_shows_who_is_on_duty_and_who_handed_over() -> None:
    html = templates.get_template("duty/directives.html").render(
        request=None, user=None, can_send=False, zones=[], error=None,
        on_duty=[{"account": "guard2", "name": "李强", "role": "guard", "zone": "生活区",
                  "shift_start": "20:00:00", "shift_end": "08:00:00", "on_duty": True}],
        directives=[{"directive_id": "DIR-1", "zone": "生活区", "body": "巡查", "recipients": [
            {"account": "guard", "level": 0, "status": "handed_over", "acknowledged_at": None},
            {"account": "guard2", "level": 0, "status": "raised", "acknowledged_at": None}]}],
    )  # fmt: skip
    assert 'data-account="guard2">李强' in html and "20:00–08:00" in html
    assert 'data-status="handed_over">guard' in html and "已交班转交" in html
