"""The process registry and the notice wording, driven without a broker or a database.

The service only dispatches through the registry (ADR 0018): what is checked here is what the
service does for every process — names, numbers, chain, opening, actions, paper form, the
events and inbox notices a transition brings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cctv.contract.events import AccessRecorded, FaultOpened, WorkflowTransition
from cctv.contract.rpcmodels import ACT_ARGS
from cctv.contract.workflow import PRINTABLE
from cctv.contract.workflow import PROCESSES as VOCABULARY
from services.workflow import notices, processes
from services.workflow.access import AccessRequest
from services.workflow.processes import APPROVALS, REGISTRY, Context
from services.workflow.refusals import InvalidInput, Refusal
from services.workflow.reminders import Nudge
from services.workflow.responsible import ArmingPeriod, Person, SystemFile
from services.workflow.transitions import Transition
from services.workflow.workcalendar import DEFAULT_CALENDAR

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Haikou
F0 = datetime(2026, 2, 27, 12, 0, tzinfo=UTC)

FORMS: dict[str, dict[str, Any]] = {
    "access": {
        "body": "internal",
        "applying_unit": "college_se",
        "viewer": "李老师",
        "method": "view",
        "reason": "学生物品丢失，查看走廊",
        "cameras": ["ps-gate-1"],
        "footage_from": F0.isoformat(),
        "footage_until": (F0 + timedelta(hours=2)).isoformat(),
    },
    "stopmove": {
        "applying_unit": "college_se",
        "reason": "教学楼改造",
        "points": [{"camera_id": "te-class-101", "action": "stop"}],
        "count": 1,
        "workaround": "临时巡逻",
        "window_from": (T + timedelta(days=3)).isoformat(),
        "window_until": (T + timedelta(days=4)).isoformat(),
    },
    "newpoint": {
        "department": "college_se",
        "need": "实训室新增",
        "positions": ["实训楼 201 朝北", "实训楼 202 朝北"],
    },
    "exam": {
        "organiser": "college_se",
        "exam_name": "期末考试",
        "building": "教学楼",
        "rooms": ["104室"],
        "starts_at": (T + timedelta(days=20)).isoformat(),
        "ends_at": (T + timedelta(days=20, hours=2)).isoformat(),
    },
}
TITLES = {  # college_se has no Chinese name on this test campus: the key stands in
    "access": "college_se 查阅 1路视频 — 学生物品丢失，查看走廊",
    "stopmove": "college_se 停用/挪移 1个点位",
    "newpoint": "college_se 新增2个点位",
    "exam": "期末考试 教学楼104室",
}


def ctx(inventory, now: datetime = T) -> Context:
    return Context(inventory=inventory, calendar=DEFAULT_CALENDAR, now=now)


def test_one_entry_per_process_with_names_article_and_number() -> None:
    published = {"access", "stopmove", "newpoint", "exam"}
    published |= {"responsible", "dutylog", "handover", "calendar"}
    assert set(REGISTRY) == published
    assert list(APPROVALS) == list(VOCABULARY)  # the console's vocabulary, in its order
    for name, p in REGISTRY.items():
        assert p.name == name and p.zh and p.en and p.article.startswith(("Art.", "Annex"))
    for name, p in APPROVALS.items():
        assert (p.zh, p.en) == VOCABULARY[name][:2]
    numbered = {n: p.prefix for n, p in REGISTRY.items() if p.prefix}
    assert numbered == {
        "access": "DY",
        "stopmove": "TY",
        "newpoint": "XZ",
        "exam": "KS",
        "dutylog": "RZ",
        "handover": "JB",
    }
    with pytest.raises(KeyError):
        processes.prefix("responsible")  # keyed by the system id, never numbered


def test_paper_forms_and_actions_agree_with_the_contract() -> None:
    assert {n for n, p in APPROVALS.items() if p.paper} == PRINTABLE
    for p in APPROVALS.values():
        for name, action in p.actions.items():
            assert action.args is ACT_ARGS[name], name
    every = [a for p in APPROVALS.values() for a in p.actions]
    assert sorted(every) == sorted(ACT_ARGS)  # each action belongs to exactly one process


@pytest.mark.parametrize("name", list(FORMS))
def test_each_process_opens_through_the_registry(name, inventory, people) -> None:
    proc = processes.approval(name)
    form = proc.parse(FORMS[name])
    steps = proc.chain(form, ctx(inventory))
    req, ts = proc.open(f"{proc.prefix}-2026-00001", form, people["se_staff"], ctx(inventory))
    assert isinstance(req, proc.request) and processes.of(req) is proc
    assert [s.key for s in req.flow.steps] == [s.key for s in steps]
    assert [t.subject for t in ts] == [f"cctv.workflow.{name}.submitted"]
    assert proc.title(req) == TITLES[name]


def test_unknown_process_action_and_bad_form_name_what_is_wrong(inventory, people) -> None:
    with pytest.raises(InvalidInput) as e:
        processes.approval("parking")
    assert e.value.code == "unknown_process" and "access, stopmove, newpoint, exam" in e.value.en
    with pytest.raises(InvalidInput) as e:
        processes.approval("stopmove").parse({**FORMS["stopmove"], "count": 2})
    assert e.value.code == "invalid_form" and e.value.article == "Art. 8, Annex 3"
    access = processes.approval("access")
    req, _ = access.open(
        "DY-2026-00009", access.parse(FORMS["access"]), people["se_staff"], ctx(inventory)
    )
    with pytest.raises(InvalidInput) as e:
        access.action("implement")
    assert (e.value.code, e.value.article) == ("unknown_action", "Art. 16, Annex 4")
    with pytest.raises(InvalidInput) as e:
        access.action("extend_hold")(req, people["nic_admin"], T, {"hold_id": "H1"})
    assert e.value.code == "invalid_form" and e.value.article == "Art. 18"
    assert e.value.detail["field"] == "until"


def test_the_exam_chain_reads_the_calendar_of_the_context(inventory) -> None:
    exam = processes.approval("exam")
    late = exam.parse({**FORMS["exam"], "starts_at": (T + timedelta(days=3)).isoformat(),
                       "ends_at": (T + timedelta(days=3, hours=2)).isoformat()})  # fmt: skip
    with pytest.raises(Refusal) as e:
        exam.chain(late, ctx(inventory))
    assert e.value.code == "exam_notice_too_late"


def test_a_retrieval_also_goes_on_the_access_record() -> None:
    rec = {
        "retrieved_by": "nic_admin",
        "cameras": ["ps-gate-1"],
        "footage_from": F0.isoformat(),
        "footage_until": (F0 + timedelta(hours=1)).isoformat(),
        "purpose": "失物查找",
        "destination": "保卫科",
    }
    t = Transition(
        process="access",
        name="retrieved",
        key="DY-2026-00001",
        time=T,
        data={"request_id": "DY-2026-00001", "state": "retrieved", "retrieval": rec},
    )
    events = REGISTRY["access"].events(t)
    assert len(events) == 2 and isinstance(events[0], WorkflowTransition)
    recorded = events[1]
    assert isinstance(recorded, AccessRecorded) and events[0].TYPE == "workflow.access.retrieved"
    assert recorded.grant_id == "DY-2026-00001-G" and recorded.request_no == "DY-2026-00001"
    assert recorded.detail == "调取 retrieval: 失物查找 → 保卫科 (Art. 16)"
    held = t.model_copy(update={"name": "held"})
    assert notices.access_recorded(held) == []
    assert REGISTRY["exam"].notices(t) == []  # only Art. 9 changes notify by themselves


def test_on_file_changes_tell_logistics_and_nic(people) -> None:
    sf = SystemFile(system_id="A1-09", department="research_equipment")
    sf.set_responsible(people["re_staff"], T, Person(person_id="p1", name="王工"), "新设")
    [t] = sf.set_responsible(
        people["re_head"], T, Person(person_id="p2", name="李工", phone="138"), "人员调动"
    )
    told = REGISTRY["responsible"].notices(t)
    assert [(n.to_department, n.kind, n.ref) for n in told] == [
        ("logistics", "responsible.changed", "A1-09"),
        ("nic", "responsible.changed", "A1-09"),
    ]
    assert told[0].text_zh.endswith("责任人变更为李工（138），原责任人王工；原因：人员调动")
    assert told[0].text_en == "system A1-09: responsible person is now 李工 (was 王工) (Art. 9)"
    period = ArmingPeriod.model_validate({"arm_at": "18:00", "disarm_at": "08:00"})
    [s] = sf.set_schedule(people["re_head"], T, [period])
    [n, _] = notices.on_file_changed(s)
    assert (n.kind, n.text_zh) == ("responsible.schedule_set", "系统 A1-09 布防计划已变更")


def test_reminder_and_escalation_wording(inventory, people) -> None:
    access = processes.approval("access")
    req, _ = access.open(
        "DY-2026-00003", access.parse(FORMS["access"]), people["se_staff"], ctx(inventory)
    )
    assert isinstance(req, AccessRequest)
    step = req.flow.due_steps()[0]
    remind = Nudge(
        level="remind",
        process="access",
        request_id=req.request_id,
        step_key=step.key,
        role=step.role,
        department=step.department,
        to_role=step.role,
        to_department=step.department,
        due_since=T,
        fire_at=T,
    )
    n = notices.nudge_notice(remind, access.title(req), step)
    assert (n.kind, n.ref, n.to_department, n.to_role) == (
        "nudge.remind", req.request_id, "college_se", "dept_head",
    )  # fmt: skip
    assert n.text_zh == f"请审批：{TITLES['access']}（{step.title_zh}），已超过提醒时限"
    assert n.text_en == f"please decide {req.request_id}: '{step.title_en}' is waiting"
    from services.workflow.org import Role

    up = Nudge(**{**remind.__dict__, "level": "escalate", "to_role": Role.LEADER})
    e = notices.nudge_notice(up, access.title(req), step)
    assert e.kind == "nudge.escalate" and e.to_role == "school_leader"
    assert e.text_zh == f"逾期未审批，已上报：{TITLES['access']}（{step.who_zh}）"


def test_a_fault_reads_as_an_open_item() -> None:
    f = FaultOpened(
        fault_id="F-1",
        camera_id="cam-9",
        kind="offline",
        severity="major",
        detected_at=T,
        building="综合楼",
    )
    assert notices.fault_item(f) == "cam-9 综合楼 offline"
    named = f.model_copy(update={"camera_name": "南门"})
    assert notices.fault_item(named) == "南门 综合楼 offline"


def test_the_shell_and_the_store_name_no_process() -> None:
    """app.py and store.py dispatch through the registry: no process name appears in them as
    a value (a reply's key such as {"handover": ...} is not dispatch)."""
    import ast
    from pathlib import Path

    here = Path(__file__).parents[2] / "services" / "workflow"
    named = []
    for file in ("app.py", "store.py"):
        tree = ast.parse((here / file).read_text(encoding="utf-8"))
        keys = {id(k) for d in ast.walk(tree) if isinstance(d, ast.Dict) for k in d.keys}
        named += [
            f"{file}:{node.lineno} {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in REGISTRY and id(node) not in keys
        ]
    assert named == []
