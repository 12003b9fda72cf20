from __future__ import annotations

from datetime import time

from services.notify.messages import alert_title, robot_message
from services.notify.roster import RosterEntry, recipients

ROSTER = [
    RosterEntry("day", "张伟", "guard", "教学区", time(8), time(20)),
    RosterEntry("night", "李强", "guard", "教学区", time(20), time(8)),
    RosterEntry("gate", "孙丽", "gatekeeper", "校门与道路"),
    RosterEntry("duty", "陈静", "duty_operator", None),
]


def names(at: time, zone: str) -> list[str]:
    return [r.account for r in recipients(ROSTER, zone, at)]


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
    msg = robot_message(title, "综合楼 · 教学区", "guard")
    assert msg["msgtype"] == "markdown"
    assert "OFF-001" in msg["markdown"]["content"]


def test_robot_markdown_shows_estate_text_literally() -> None:
    """A camera name or reason cannot add a link, bold text, a font tag or a line of its own
    to the duty room's robot message (issue 17)."""
    msg = robot_message(
        "【告警】[点我](http://evil.example) <font color=red>x</font> **urgent**",
        "综合楼\n**伪造的一行** forged line",
        "guard",
    )
    content = msg["markdown"]["content"]
    assert "[点我](" not in content and "\\[点我\\]" in content
    assert "<font" not in content and "&lt;font" in content
    assert "**urgent**" not in content
    lines = content.split("\n")
    assert all(line.startswith(("**", "> ")) for line in lines), lines
    assert "OFF-001" in robot_message("OFF-001", "10.2.1.20", "guard")["markdown"]["content"]
