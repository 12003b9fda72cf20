from __future__ import annotations

from datetime import time

from services.notify.channels.base import Outbound
from services.notify.channels.robot import _markdown
from services.notify.escalation import first_recipients
from services.notify.messages import alert_title
from services.notify.roster import RosterEntry

ROSTER = [
    RosterEntry("day", "张伟", "guard", "教学区", time(8), time(20)),
    RosterEntry("night", "李强", "guard", "教学区", time(20), time(8)),
    RosterEntry("gate", "孙丽", "gatekeeper", "校门与道路"),
    RosterEntry("duty", "陈静", "duty_operator", None),
]


def names(at: time, zone: str) -> list[str]:
    holding = [r for r in ROSTER if r.on_duty(at)]  # who holds the duty at `at`
    return [r.account for r in first_recipients(holding, zone, "offline", "major")[1]]


def test_the_guard_on_shift_in_the_zone_gets_it() -> None:
    assert names(time(9), "教学区") == ["day"]
    assert names(time(23), "教学区") == ["night"]
    assert names(time(3), "教学区") == ["night"]  # overnight shift wraps midnight
    assert names(time(20), "教学区") == ["night"]


def test_nobody_on_duty_in_a_zone_falls_back_to_the_duty_operator() -> None:
    assert names(time(9), "生活区") == ["duty"]
    assert names(time(9), "") == ["duty"]


def test_round_the_clock_entries_are_always_on() -> None:
    assert names(time(0), "校门与道路") == ["gate"]


def test_alert_texts_are_chinese_first() -> None:
    title = alert_title("offline", "综合楼5楼走廊南", "OFF-001")
    assert title.startswith("【告警】摄像机离线")
    text = _markdown(Outbound("alert", title, "综合楼 · 教学区", "guard"))
    assert "OFF-001" in text and "综合楼" in text


def test_robot_markdown_cannot_be_injected_through_a_camera_name() -> None:
    title = alert_title("offline", "[点此](http://evil.example) **紧急** <@all>", "X-1")
    text = _markdown(Outbound("alert", title, "# 标题", "guard"))
    assert "[点此]" not in text and "\\[点此\\]" in text
    assert "<@all>" not in text and "\\# 标题" in text
