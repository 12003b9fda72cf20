"""Stop/move (Art. 8), new points (Art. 6), responsible persons (Art. 9), duty log and
handover (Art. 13-14), reminders in working hours, and the mapping onto the contract."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from cctv.contract import CameraRecord, decode, subject_for, wrap
from services.workflow.base import RequestState
from services.workflow.dutylog import DutyLog, EntryKind, OpenItem, ShiftHandover
from services.workflow.newpoint import NewPointApplication, NewPointRequest, SurveyRow
from services.workflow.publishing import to_event
from services.workflow.refusals import InvalidInput, Refusal, RuleViolation
from services.workflow.reminders import Policy, due_nudges
from services.workflow.responsible import ArmingPeriod, DayKind, Person, SystemFile
from services.workflow.stopmove import StopMoveApplication, StopMoveRequest
from services.workflow.transitions import Transition
from services.workflow.workcalendar import CAMPUS_TZ
from tests.workflow.wf_campus import view_form

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Mon 10:00 in Haikou


def publishable(ts: list[Transition]) -> list[str]:
    """Every transition maps to a contract event that survives the wire."""
    out = []
    for t in ts:
        ev = to_event(t)
        env = wrap(ev, source="workflow", key=t.key, actor=t.actor or "system")
        _, back = decode(env.to_bytes(), subject_for(ev, t.key))
        assert back == ev
        out.append(env.type)
    return out


# ---- stop / move (Art. 8, Annex 3) ----


def sm_form(**kw) -> StopMoveApplication:
    base = {
        "applying_unit": "college_se",
        "reason": "教学楼外墙翻新",
        "points": [
            {"camera_id": "te-class-101", "action": "stop"},
            {"camera_id": "ps-gate-1", "action": "move", "new_position": "南门 朝东 5米"},
        ],
        "count": 2,
        "workaround": "施工期间安排人员巡查",
        "window_from": T + timedelta(days=3),
        "window_until": T + timedelta(days=10),
    }
    base.update(kw)
    return StopMoveApplication.model_validate(base)


def test_stopmove_chain_window_and_completion(inventory, people) -> None:
    req, ts = StopMoveRequest.submit("TY-1", sm_form(), people["se_staff"], inventory, T)
    assert [(s.stage, s.department) for s in req.flow.steps] == [
        (1, "academic"),
        (1, "logistics"),
        (2, "nic"),
    ]
    with pytest.raises(RuleViolation) as ei:
        req.approve(people["nic_head"], T)
    assert ei.value.code == "out_of_order"
    ts += req.approve(people["lg_head"], T)
    ts += req.approve(people["ac_head"], T)
    with pytest.raises(RuleViolation, match="within the requested"):
        req.approve(people["nic_head"], T, window_until=T + timedelta(days=11))
    with pytest.raises(RuleViolation, match="only NIC"):
        req.approve(people["ac_head"], T, window_until=T + timedelta(days=5))
    ts += req.approve(people["nic_head"], T, "同意", window_until=T + timedelta(days=5))
    assert req.state is RequestState.APPROVED and req.window is not None
    assert req.window.covers("ps-gate-1", T + timedelta(days=4))
    assert not req.window.covers("ps-gate-1", T + timedelta(days=6))
    assert not req.window.covers("dorm-1", T + timedelta(days=4))
    done = req.complete(people["se_staff"], T + timedelta(days=4))
    assert done[0].data["moved"] == [{"camera_id": "ps-gate-1", "position": "南门 朝东 5米"}]
    assert req.window.ends_at == T + timedelta(days=4)
    assert publishable(ts + done) == [
        "workflow.stopmove.submitted",
        "workflow.stopmove.opinion",
        "workflow.stopmove.opinion",
        "workflow.stopmove.opinion",
        "workflow.stopmove.approved",
        "workflow.stopmove.completed",
    ]


def test_stopmove_form_rules(inventory, people) -> None:
    with pytest.raises(ValueError, match="count"):
        sm_form(count=3)
    with pytest.raises(ValueError, match="new position"):
        sm_form(points=[{"camera_id": "ps-gate-1", "action": "move"}], count=1)
    with pytest.raises(Refusal, match=r"Art\. 8"):
        StopMoveRequest.submit(
            "TY-2", sm_form(window_from=T - timedelta(hours=1)), people["se_staff"], inventory, T
        )
    # NIC's own cameras: NIC's opinion covers both boxes.
    req, _ = StopMoveRequest.submit(
        "TY-3",
        sm_form(points=[{"camera_id": "nic-room-1", "action": "stop"}], count=1),
        people["se_staff"],
        inventory,
        T,
    )
    assert [(s.stage, s.key) for s in req.flow.steps] == [(1, "nic")]


# ---- new camera points (Art. 6, Annex 2) ----


ROW = {
    "position": "北门停车场 朝南",
    "camera_count": 2,
    "fibre": True,
    "cable_m": 120,
    "break_road": True,
    "break_m": 15,
    "poles": 1,
    "notes": "",
}


def new_camera(cid: str) -> CameraRecord:
    return CameraRecord(
        camera_id=cid,
        name="北门停车场",
        system_id="A1-06",
        department="logistics",
        managing_department="logistics",
        category="public_safety",
        building="北门停车场",
        position="朝南",
        zone="gate",
        brand="hikvision",
        protocol="isapi",
        address="10.0.0.9:80",
    )


def test_urgent_new_point_full_path(people) -> None:
    form = NewPointApplication(
        department="logistics", need="停车场盗窃频发", urgent=True, positions=["北门停车场 朝南"]
    )
    req, ts = NewPointRequest.submit("XZ-1", form, people["lg_staff"], T)
    assert [(s.stage, s.role.value) for s in req.flow.steps] == [(1, "school_leader")]
    ts += req.approve(people["leader"], T)
    with pytest.raises(RuleViolation, match="NIC draws up"):
        req.make_plan(people["lg_head"], T, "方案", 1)
    with pytest.raises(RuleViolation):
        req.file_survey(people["lg_head"], T, [SurveyRow.model_validate(ROW)])
    ts += req.make_plan(people["nic_staff"], T, "立杆一根，光纤接入北门弱电井", 1)
    with pytest.raises(RuleViolation, match="stamps"):
        req.file_survey(people["lg_staff"], T, [SurveyRow.model_validate(ROW)])
    with pytest.raises(InvalidInput, match="plan has 1"):
        req.file_survey(people["lg_head"], T, [SurveyRow.model_validate(ROW)] * 2)
    ts += req.file_survey(people["lg_head"], T, [SurveyRow.model_validate(ROW)])
    with pytest.raises(InvalidInput, match="counts 2"):
        req.implement(people["nic_staff"], T, [new_camera("np-1")])
    ts += req.implement(people["nic_staff"], T, [new_camera("np-1"), new_camera("np-2")])
    assert req.state is RequestState.IMPLEMENTED
    types = publishable(ts)
    assert types[-1] == "workflow.newpoint.implemented"
    assert types[:3] == [
        "workflow.newpoint.submitted",
        "workflow.newpoint.opinion",
        "workflow.newpoint.approved",
    ]


def test_new_point_rules(people) -> None:
    with pytest.raises(Refusal, match="single point"):
        NewPointRequest.submit(
            "XZ-2",
            NewPointApplication(
                department="logistics", need="n", urgent=True, positions=["a", "b"]
            ),
            people["lg_staff"],
            T,
        )
    req, _ = NewPointRequest.submit(
        "XZ-3",
        NewPointApplication(department="logistics", need="n", positions=["a", "b"]),
        people["lg_staff"],
        T,
    )
    assert [s.key for s in req.flow.steps] == ["nic", "leader"]
    with pytest.raises(ValueError, match="break"):
        SurveyRow.model_validate({**ROW, "break_road": False})
    with pytest.raises(ValueError):
        SurveyRow.model_validate({**ROW, "cable_m": -1})


# ---- responsible persons and arming (Art. 9) ----


def test_responsible_change_notifies_logistics_and_nic(people) -> None:
    sf = SystemFile(system_id="A1-09", department="research_equipment")
    with pytest.raises(RuleViolation, match="owning department"):
        sf.set_responsible(people["se_head"], T, Person(person_id="p1", name="王工"), "调动")
    ts = sf.set_responsible(people["re_staff"], T, Person(person_id="p1", name="王工"), "新设")
    ts += sf.set_responsible(people["re_head"], T, Person(person_id="p2", name="李工"), "人员调动")
    assert ts[-1].data["notify_departments"] == ["logistics", "nic"]
    assert ts[-1].data["previous"]["person_id"] == "p1"
    assert publishable(ts) == ["workflow.responsible.changed"] * 2
    assert sf.set_responsible(people["re_head"], T, Person(person_id="p2", name="李工"), "x") == []


def test_arming_schedule_follows_official_calendar(people) -> None:
    sf = SystemFile(system_id="A1-01", department="party_admin")
    with pytest.raises(RuleViolation):
        sf.set_schedule(people["pa_staff"], T, [])
    sf.set_schedule(
        people["pa_head"],
        T,
        [
            ArmingPeriod(days=DayKind.WORKDAY, arm_at=time(18), disarm_at=time(8)),
            ArmingPeriod(days=DayKind.OFFDAY, arm_at=time(0), disarm_at=time(23, 59)),
        ],
    )

    def bj(y: int, m: int, d: int, h: int) -> datetime:
        return datetime(y, m, d, h, tzinfo=CAMPUS_TZ)

    assert sf.should_be_armed(bj(2026, 3, 2, 20))  # Monday evening
    assert sf.should_be_armed(bj(2026, 3, 3, 7))  # night carried from Monday
    assert not sf.should_be_armed(bj(2026, 3, 3, 10))  # Tuesday office hours
    assert sf.should_be_armed(bj(2026, 2, 17, 10))  # Spring Festival holiday, a Tuesday
    assert not sf.should_be_armed(bj(2026, 2, 14, 10))  # Saturday make-up working day


# ---- duty log and handover (Art. 13-14) ----


def test_duty_log_and_handover(people) -> None:
    book = DutyLog()
    with pytest.raises(RuleViolation, match="duty operators"):
        book.record(people["lg_head"], T, "RZ-1", EntryKind.SUSPICIOUS, "x")
    with pytest.raises(InvalidInput, match="reported_to"):
        book.record(people["op_a"], T, "RZ-1", EntryKind.FAULT, "3号杆摄像机黑屏")
    _, ts = book.record(
        people["op_a"],
        T,
        "RZ-1",
        EntryKind.SUSPICIOUS,
        "宿舍区有陌生人徘徊",
        cameras=["dorm-1"],
        reported_to="保卫科值班长",
    )
    book.record(people["op_a"], T, "RZ-2", EntryKind.FAULT, "3号杆黑屏", reported_to="BX-88")
    book.record(people["op_a"], T, "RZ-3", EntryKind.NOTE, "交班前巡查一遍")
    ts += book.close(people["op_a"], T, "RZ-2", "已修复")
    open_now = [
        *book.open_items(),
        OpenItem(kind="alert", ref="AL-7", summary="南门离线"),
        OpenItem(kind="fault", ref="F-3", summary="食堂 录像缺失"),
    ]
    h, hts = ShiftHandover.offer("JB-1", people["op_a"], "op_b", T, open_now)
    assert [i.key for i in h.items] == ["alert:AL-7", "fault:F-3", "log:RZ-1"]
    with pytest.raises(RuleViolation, match="incoming operator"):
        h.confirm(people["op_a"], T, [i.key for i in h.items], open_now)
    with pytest.raises(RuleViolation, match="not yet: log:RZ-1"):
        h.confirm(people["op_b"], T, ["alert:AL-7", "fault:F-3"], open_now)
    newer = [*open_now, OpenItem(kind="alert", ref="AL-8")]
    with pytest.raises(RuleViolation, match="alert:AL-8"):
        h.confirm(people["op_b"], T, [i.key for i in h.items], newer)
    hts += h.confirm(people["op_b"], T, [i.key for i in h.items], open_now)
    assert h.state.value == "confirmed"
    h2, more = ShiftHandover.offer("JB-2", people["op_b"], "op_a", T, open_now)
    more += h2.supersede(people["op_b"], T, by="JB-3")
    with pytest.raises(RuleViolation, match="superseded"):
        h2.confirm(people["op_a"], T, [i.key for i in h2.items], open_now)
    assert publishable(ts + hts + more) == [
        "workflow.dutylog.recorded",
        "workflow.dutylog.closed",
        "workflow.handover.offered",
        "workflow.handover.confirmed",
        "workflow.handover.offered",
        "workflow.handover.superseded",
    ]


# ---- reminders in working hours ----


def test_reminders_count_working_hours_only(inventory, people) -> None:
    from services.workflow.access import AccessRequest

    form = view_form("college_se", ["ps-gate-1"], T, hours=3)
    # Submitted Friday 27 Feb 2026, 16:00 in Haikou (08:00 UTC).
    fri = datetime(2026, 2, 27, 8, 0, tzinfo=UTC)
    req, _ = AccessRequest.submit("DY-9", form, people["se_staff"], inventory, fri)
    policy = Policy(remind_after=timedelta(hours=4), escalate_after=timedelta(hours=8))
    # Sat 28 Feb is a make-up working day: 1.5 h on Friday + 2.5 h Saturday -> 10:30 Sat.
    sat_1029 = datetime(2026, 2, 28, 10, 29, tzinfo=CAMPUS_TZ)
    assert due_nudges([req], sat_1029, policy=policy) == []
    got = due_nudges([req], sat_1029 + timedelta(minutes=1), policy=policy)
    assert [(n.level, n.to_role.value, n.to_department) for n in got] == [
        ("remind", "dept_head", "college_se")
    ]
    # Escalation after 8 working hours: Sat 08:00-17:30 gives 9.5, so 14:30 Saturday.
    esc = due_nudges(
        [req],
        datetime(2026, 2, 28, 14, 30, tzinfo=CAMPUS_TZ),
        policy=policy,
        sent={n.dedupe_key for n in got},
    )
    assert [(n.level, n.to_role.value) for n in esc] == [("escalate", "school_leader")]
    # Once signed, the clock restarts for the next stage.
    req.approve(people["se_head"], datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    assert due_nudges([req], datetime(2026, 3, 2, 10, 0, tzinfo=CAMPUS_TZ), policy=policy) == []


def test_reminders_keep_going_into_a_year_not_on_file(inventory, people) -> None:
    """Issue 15: a request waiting over the year end must not stop every reminder with
    'calendar unknown'; reminders count Monday-Friday in a year not on file."""
    from datetime import date

    from services.workflow.access import AccessRequest
    from services.workflow.workcalendar import DEFAULT_CALENDAR, package_years

    last = int(package_years().split("-")[1])
    day = max(
        date(last, 12, d) for d in range(20, 32) if DEFAULT_CALENDAR.is_workday(date(last, 12, d))
    )
    form = view_form("college_se", ["ps-gate-1"], T, hours=3)
    submitted = datetime.combine(day, time(17, 0), CAMPUS_TZ)  # half an hour before closing
    req, _ = AccessRequest.submit("DY-10", form, people["se_staff"], inventory, submitted)
    a_week_later = submitted + timedelta(days=7)
    got = due_nudges([req], a_week_later, policy=Policy(remind_after=timedelta(hours=4)))
    assert ("remind", "college_se") in [(n.level, n.to_department) for n in got]
    # 0.5 h on the last day + 3.5 h of the first Monday-Friday day of the new year.
    remind = next(n for n in got if n.level == "remind")
    first = min(d for d in (date(last + 1, 1, i) for i in range(1, 8)) if d.weekday() < 5)
    assert remind.fire_at == datetime.combine(first, time(11, 30), CAMPUS_TZ)
