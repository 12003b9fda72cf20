"""Exam support (Art. 10): 7 working days by the official calendar, holidays and 调休 included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from wf_campus import CAMERAS, PEOPLE

from services.workflow.base import RequestState
from services.workflow.exam import (
    ExamSupportApplication,
    ExamSupportRequest,
    check_notice,
    earliest_exam_date,
)
from services.workflow.inventory import Inventory
from services.workflow.refusals import InvalidInput, Refusal, RuleViolation
from services.workflow.workcalendar import (
    CAMPUS_TZ,
    CalendarUnknown,
    WorkCalendar,
    import_notice,
    package_years,
    parse_notice,
)


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


# ---- issue 15: a December request for January's exams; NIC's notice for a missing year ----

LAST = int(package_years().split("-")[1])  # the last year chinese-calendar carries
NEXT = LAST + 1  # a year it does not: its arrangement is unknown until NIC enters it


def test_december_request_for_january_exam_counts_only_this_year() -> None:
    """Art. 10: the seven working days are all in December; January is never looked at."""
    check_notice(bj(LAST, 12, 1), bj(NEXT, 1, 12, 8))
    req, _ = ExamSupportRequest.submit(
        "EX-15",
        exam_form(starts_at=bj(NEXT, 1, 12, 8), ends_at=bj(NEXT, 1, 12, 11)),
        PEOPLE["se_staff"],
        Inventory(CAMERAS),
        bj(LAST, 12, 1),
    )
    assert req.state is RequestState.PENDING


def test_too_late_whatever_the_unknown_year_says() -> None:
    """Six calendar days cannot hold seven working days: refused, not 'calendar unknown'."""
    with pytest.raises(Refusal) as ei:
        check_notice(bj(LAST, 12, 28), bj(NEXT, 1, 4, 8))
    assert ei.value.code == "exam_notice_too_late" and ei.value.article == "Art. 10"
    assert "至多" in ei.value.zh and "at most" in ei.value.en
    assert ei.value.detail["earliest_exam_date"] == ""  # it lies in the unknown year
    assert "尚未收录" in ei.value.zh


def test_unknown_only_when_the_answer_depends_on_it() -> None:
    with pytest.raises(CalendarUnknown) as ei:
        check_notice(bj(LAST, 12, 28), bj(NEXT, 1, 25, 8))
    assert ei.value.detail["year"] == NEXT and "calendar import" in ei.value.en


NOTICE = {
    "year": NEXT,
    "source": "国办发明电〔测试〕1号 (test data)",
    "holidays": [f"{NEXT}-01-01", f"{NEXT}-02-05..{NEXT}-02-11"],
    "workdays": [f"{NEXT}-01-31", f"{NEXT}-02-20"],
}


def test_notice_entered_by_nic_drives_the_deadline() -> None:
    notice = parse_notice(NOTICE)
    assert len(notice.holidays) == 8 and notice.workdays[0] == date(NEXT, 1, 31)
    cal = WorkCalendar().with_notices([notice])
    check_notice(bj(LAST, 12, 28), bj(NEXT, 1, 25, 8), cal)  # now answerable
    assert not cal.is_workday(date(NEXT, 2, 8)) and cal.is_workday(date(NEXT, 2, 20))
    assert cal.is_workday(date(NEXT, 3, 1)) == (date(NEXT, 3, 1).weekday() < 5)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"holidays": [f"{NEXT + 1}-01-01"]}, "notice"),
        ({"workdays": [f"{NEXT}-01-01"]}, "notice"),
        ({"source": " "}, "source"),
        ({"holidays": []}, "holidays"),
        ({"holidays": ["明天"]}, "holidays"),
    ],
)
def test_bad_notice_is_named(change: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        parse_notice({**NOTICE, **change})
    assert ei.value.article == "Art. 10" and ei.value.code == "invalid_notice"
    assert field in ei.value.en


def test_only_nic_enters_the_notice_and_only_for_a_missing_year() -> None:
    with pytest.raises(RuleViolation) as ei:
        import_notice(PEOPLE["lg_head"], bj(LAST, 12, 1), NOTICE)
    assert ei.value.code == "calendar_nic_only" and ei.value.article == "Art. 10"
    with pytest.raises(InvalidInput) as ei2:
        on_file = {**NOTICE, "year": LAST, "holidays": [f"{LAST}-01-01"], "workdays": []}
        import_notice(PEOPLE["nic_admin"], bj(LAST, 12, 1), on_file)
    assert ei2.value.code == "calendar_on_file"
    notice, ts = import_notice(PEOPLE["nic_admin"], bj(LAST, 12, 1), NOTICE)
    assert notice.year == NEXT
    assert [t.subject for t in ts] == ["cctv.workflow.calendar.imported"]
    assert ts[0].key == f"calendar-{NEXT}" and ts[0].actor == "nic_admin"
