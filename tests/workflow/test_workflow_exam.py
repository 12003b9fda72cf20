"""Exam support (Art. 10): 7 working days by the official calendar, holidays and 调休 included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.workflow.base import RequestState
from services.workflow.exam import (
    ExamSupportApplication,
    ExamSupportRequest,
    check_notice,
    earliest_exam_date,
)
from services.workflow.refusals import InvalidInput, Refusal, RuleViolation
from services.workflow.workcalendar import CAMPUS_TZ, CalendarUnknown, WorkCalendar


def bj(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, 0, tzinfo=CAMPUS_TZ)


@pytest.mark.parametrize(
    ("submitted", "exam", "ok"),
    [
        # Spring Festival 2026: 15-23 Feb off, Sat 14 Feb and Sat 28 Feb are working days.
        (bj(2026, 2, 10), bj(2026, 2, 27, 8), True),  # 11,12,13,14(调休),24,25,26
        (bj(2026, 2, 10), bj(2026, 2, 26, 8), False),  # only 6 — weekdays alone would say 11
        (bj(2026, 2, 13), bj(2026, 3, 3, 8), True),  # 14(调休),24,25,26,27,28(调休),2 Mar
        (bj(2026, 2, 13), bj(2026, 3, 2, 8), False),
        # National Day 2026: Sun 20 Sep and Sat 10 Oct are make-up working days, 25 Sep off.
        (bj(2026, 9, 18), bj(2026, 9, 30, 8), True),  # 20(调休),21,22,23,24,28,29
        (bj(2026, 9, 18), bj(2026, 9, 29, 8), False),
        (bj(2026, 10, 8), bj(2026, 10, 17, 8), True),  # 9,10(调休),12,13,14,15,16
        (bj(2026, 10, 8), bj(2026, 10, 16, 8), False),
        # Plain weeks.
        (bj(2026, 3, 2), bj(2026, 3, 12, 8), True),
        (bj(2026, 3, 2), bj(2026, 3, 11, 8), False),
    ],
)
def test_notice_period(submitted: datetime, exam: datetime, ok: bool) -> None:
    if ok:
        check_notice(submitted, exam)
    else:
        with pytest.raises(Refusal) as ei:
            check_notice(submitted, exam)
        assert ei.value.article == "Art. 10"
        e = date.fromisoformat(str(ei.value.detail["earliest_exam_date"]))
        check_notice(submitted, datetime.combine(e, datetime.min.time(), CAMPUS_TZ))
        with pytest.raises(Refusal):  # and the day before it is still too early
            check_notice(
                submitted,
                datetime.combine(e - timedelta(days=1), datetime.min.time(), CAMPUS_TZ),
            )
        last = date.fromisoformat(str(ei.value.detail["latest_submission_date"]))
        check_notice(datetime.combine(last, datetime.min.time(), CAMPUS_TZ), exam)
        with pytest.raises(Refusal):
            check_notice(
                datetime.combine(last + timedelta(days=1), datetime.min.time(), CAMPUS_TZ), exam
            )


def test_spring_festival_message_names_dates() -> None:
    with pytest.raises(Refusal) as ei:
        check_notice(bj(2026, 2, 10), bj(2026, 2, 26, 8))
    msg = str(ei.value)
    assert "2026-02-27" in msg and "2026-02-09" in msg and "(Art. 10)" in msg
    assert earliest_exam_date(bj(2026, 2, 10)) == date(2026, 2, 27)


def test_submission_day_is_campus_local() -> None:
    # 23:30 UTC on 9 Feb is already 10 Feb in Haikou.
    late_utc = datetime(2026, 2, 9, 23, 30, tzinfo=UTC)
    with pytest.raises(Refusal):
        check_notice(late_utc, bj(2026, 2, 26, 8))
    check_notice(late_utc, bj(2026, 2, 27, 8))


def test_year_without_official_arrangement_is_refused_clearly() -> None:
    with pytest.raises(CalendarUnknown) as ei:
        check_notice(bj(2026, 12, 28), bj(2027, 2, 20))
    assert "2027" in str(ei.value) and ei.value.article == "Art. 10"


def test_spring_festival_2027_from_supplied_notice() -> None:
    """2027 as it would be supplied from the State Council notice once published.

    The arrangement below is test data (the package carries years up to 2026): Spring
    Festival on Sat 6 Feb 2027, days off 5-11 Feb, make-up working days Sun 31 Jan and Sat
    20 Feb. What is tested is that a supplied arrangement drives the deadline.
    """
    off = [date(2027, 1, 1), *(date(2027, 2, d) for d in range(5, 12))]
    on = [date(2027, 1, 31), date(2027, 2, 20)]
    cal = WorkCalendar(extra_holidays=off, extra_workdays=on)
    # Submitted Thu 28 Jan 2027: 29 Jan, 31 Jan(调休), 1, 2, 3, 4 Feb, 12 Feb -> 7th is 12 Feb.
    assert earliest_exam_date(bj(2027, 1, 28), cal) == date(2027, 2, 13)
    check_notice(bj(2027, 1, 28), bj(2027, 2, 13, 8), cal)
    with pytest.raises(Refusal):
        check_notice(bj(2027, 1, 28), bj(2027, 2, 12, 8), cal)


def exam_form(**kw) -> ExamSupportApplication:
    base = {
        "organiser": "college_se",
        "exam_name": "全国计算机等级考试",
        "national_exam": True,
        "building": "教学楼",
        "rooms": ["104室"],
        "starts_at": bj(2026, 3, 21, 8),
        "ends_at": bj(2026, 3, 21, 17),
    }
    base.update(kw)
    return ExamSupportApplication.model_validate(base)


def test_exam_request_lifecycle(inventory, people) -> None:
    now = bj(2026, 3, 2)
    req, ts = ExamSupportRequest.submit("EX-1", exam_form(), people["se_staff"], inventory, now)
    assert [t.subject for t in ts] == ["cctv.workflow.exam.submitted"]
    assert sorted(req.watched_cameras) == ["te-exam-104a", "te-exam-104b"]
    with pytest.raises(RuleViolation) as ei:
        req.approve(people["lg_head"], now)
    assert ei.value.code == "not_your_step"
    ts = req.approve(people["ac_head"], now, "同意，请网络信息中心保障")
    assert [t.name for t in ts] == ["opinion", "approved", "watch"]
    assert req.state is RequestState.APPROVED and req.task is not None
    assert req.task.assignee_department == "nic"
    watch = ts[-1].data["watch"]
    assert watch["cameras"] == req.watched_cameras
    assert req.under_watch("te-exam-104a", bj(2026, 3, 21, 9))
    assert not req.under_watch("te-exam-104a", bj(2026, 3, 21, 18))
    assert not req.under_watch("te-exam-105", bj(2026, 3, 21, 9))


def test_exam_request_without_cameras(inventory, people) -> None:
    with pytest.raises(InvalidInput, match="no camera"):
        ExamSupportRequest.submit(
            "EX-2", exam_form(rooms=["999室"]), people["se_staff"], inventory, bj(2026, 3, 2)
        )


def test_late_exam_request_refused(inventory, people) -> None:
    with pytest.raises(Refusal, match=r"Art\. 10"):
        ExamSupportRequest.submit(
            "EX-3", exam_form(), people["se_staff"], inventory, bj(2026, 3, 16)
        )
