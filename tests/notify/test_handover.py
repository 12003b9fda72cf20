"""Art. 13-14 at a shift boundary: the outgoing operator holds the duty room until the
incoming one takes over through workflow's handover; open alerts and directives pass to who
holds the duty; a handover that does not come is told to the duty room."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from cctv.contract import wrap
from cctv.contract.events import HandoverConfirmed
from cctv.contract.orgs import CAMPUS_TZ, actor_for
from services.notify import store
from services.notify.app import NotifyService
from services.notify.roster import RosterEntry
from services.workflow.dutylog import OpenItem, ShiftHandover
from services.workflow.publishing import to_event
from tests.notify.acting import ack, direct
from tests.notify.harness import a_zone, alerts_of, fault, open_fault, staged


def hm(t: datetime) -> time:
    return t.astimezone(CAMPUS_TZ).time().replace(second=0, microsecond=0)


class Boundary:
    """Two duty operators (and two guards of a zone of this test) whose shifts met 10 minutes
    ago: the Art. 14 handover has not happened yet. NIC on call above them."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.zone = a_zone()
        b = datetime.now(UTC) - timedelta(minutes=10)
        before, after = hm(b - timedelta(hours=8)), hm(b + timedelta(hours=8))
        self.out = RosterEntry(f"out-{tag}", "陈静", "duty_operator", None, before, hm(b))
        self.inn = RosterEntry(f"in-{tag}", "黄敏", "duty_operator", None, hm(b), after)
        self.g_out = RosterEntry(f"go-{tag}", "张伟", "guard", self.zone, before, hm(b))
        self.g_in = RosterEntry(f"gi-{tag}", "李强", "guard", self.zone, hm(b), after)
        self.nic = RosterEntry(f"nic-{tag}", "赵敏", "nic_oncall", None)  # round the clock
        self.people = [self.out, self.inn, self.g_out, self.g_in, self.nic]


@pytest.fixture
async def boundary(notify: NotifyService) -> AsyncIterator[Boundary]:
    b = Boundary()
    await store.seed_roster(notify.pool, b.people)
    yield b
    for p in b.people:  # the roster is shared by every test of the session
        await store.remove_from_roster(notify.pool, p.account)


def confirmed(b: Boundary, alert_ids: list[str]) -> HandoverConfirmed:
    """The event workflow publishes when the incoming operator confirms (its own domain)."""
    out = actor_for(b.out.account, b.out.name, "duty_operator", "logistics")
    inn = actor_for(b.inn.account, b.inn.name, "duty_operator", "logistics")
    now = datetime.now(UTC)
    items = [OpenItem(kind="alert", ref=a, summary="告警") for a in alert_ids]
    h, _ = ShiftHandover.offer(f"JB-{uuid.uuid4().hex[:6]}", out, b.inn.account, now, items)
    [t] = h.confirm(inn, now, [i.key for i in items], items)
    event = to_event(t)
    assert isinstance(event, HandoverConfirmed)
    return event


async def duty_room_alert(notify: NotifyService) -> tuple[str, dict[str, dict[str, Any]]]:
    """A fault in a zone with no guard: it goes to the duty room."""
    f = fault(a_zone())
    await open_fault(notify, f)
    return f.fault_id, await alerts_of(notify, f.fault_id)


async def test_the_outgoing_operator_holds_the_duty_room_until_the_handover(
    notify: NotifyService, boundary: Boundary
) -> None:
    b = boundary
    first, told = await duty_room_alert(notify)
    assert b.out.account in told and b.inn.account not in told

    # a critical tamper in the guards' zone: the duty room and the guard on shift; the guard
    # has it in hand, so it does not pass at the handover
    tamper = fault(b.zone, kind="tamper", severity="critical")
    await open_fault(notify, tamper)
    in_hand = await alerts_of(notify, tamper.fault_id)
    assert {b.out.account, b.g_in.account} <= set(in_hand) and b.inn.account not in in_hand
    await ack(notify, {"alert_id": in_hand[b.g_in.account]["alert_id"], "account": b.g_in.account})

    event = confirmed(b, [told[b.out.account]["alert_id"]])
    await notify.on_handover(wrap(event, source="workflow", key=event.request_id), event)

    # what the outgoing operator had open is the incoming one's now, and the handover lists it
    after = await alerts_of(notify, first)
    old, new = after[b.out.account], after[b.inn.account]
    assert old["status"] == "handed_over" and old["handed_to"] == [b.inn.account]
    assert old["handover_id"] == event.request_id
    assert old["alert_id"] in {i.ref for i in event.items if i.kind == "alert"}
    assert new["status"] == "raised" and new["level"] == old["level"]
    assert "转交 handed over" in new["body"]
    assert await staged(notify, f"cctv.alert.handed_over.{old['camera_id']}")
    untouched = await alerts_of(notify, tamper.fault_id)
    assert untouched[b.out.account]["status"] != "handed_over" and b.inn.account not in untouched

    # from now on the duty room's alerts go to the incoming operator
    _, told = await duty_room_alert(notify)
    assert b.inn.account in told and b.out.account not in told

    # a redelivered handover changes nothing
    before = await alerts_of(notify, first)
    await notify.on_handover(wrap(event, source="workflow", key=event.request_id), event)
    assert await alerts_of(notify, first) == before


async def test_no_handover_in_time_tells_the_duty_room_and_passes_the_alerts(
    notify: NotifyService, boundary: Boundary
) -> None:
    b = boundary
    fault_id, told = await duty_room_alert(notify)
    assert b.out.account in told

    # within the grace nothing moves
    assert told[b.out.account]["alert_id"] not in await notify.shift_changes()
    later = datetime.now(UTC) + timedelta(minutes=25)  # 35 min after the shifts met
    passed = await notify.shift_changes(later)
    assert told[b.out.account]["alert_id"] in passed
    after = await alerts_of(notify, fault_id)
    assert after[b.out.account]["status"] == "handed_over" and b.inn.account in after

    rows = await notify.pool.fetch(
        f"SELECT * FROM {store.SCHEMA}.alerts WHERE fault_id LIKE $1",
        f"handover:{b.out.account}:%",
    )
    assert {r["recipient"] for r in rows} == {b.out.account, b.inn.account}
    assert all(r["level"] == 1 and "handover overdue" in r["title"] for r in rows)
    await notify.shift_changes(later)  # told once
    assert len(await notify.pool.fetch(
        f"SELECT 1 FROM {store.SCHEMA}.alerts WHERE fault_id LIKE $1",
        f"handover:{b.out.account}:%",
    )) == 2  # fmt: skip

    # nobody in the duty room acknowledged it: it climbs to NIC on call
    overdue_id = rows[0]["fault_id"]
    assert overdue_id in await notify.escalate_due(later + timedelta(minutes=5, seconds=1))
    assert b.nic.account in await alerts_of(notify, overdue_id)

    # the handover comes late: the overdue alert is all clear
    event = confirmed(b, [])
    await notify.on_handover(wrap(event, source="workflow", key=event.request_id), event)
    cleared = await notify.pool.fetch(
        f"SELECT cleared_at FROM {store.SCHEMA}.alerts WHERE fault_id LIKE $1",
        f"handover:{b.out.account}:%",
    )
    assert all(r["cleared_at"] is not None for r in cleared)


async def test_a_directive_a_guard_left_unacknowledged_passes_to_the_next_shift(
    notify: NotifyService, boundary: Boundary
) -> None:
    b = boundary
    # issued to the outgoing guard by name just before the shift change
    reply = await direct(
        notify, {"sender": b.inn.account, "accounts": [b.g_out.account], "text": "查看3号门"}
    )
    fault_id = f"directive:{reply['directive_id']}"
    # a zone directive now reaches the guard on shift, not the one who went off
    now = await direct(notify, {"sender": b.inn.account, "zone": b.zone, "text": "巡查东门"})
    assert now["recipients"] == [b.g_in.account]

    passed = await notify.shift_changes()
    old = (await alerts_of(notify, fault_id))[b.g_out.account]
    assert old["alert_id"] in passed and old["status"] == "handed_over"
    listing = (await notify.list_directives({}))["directives"]
    [mine] = [d for d in listing if d["directive_id"] == reply["directive_id"]]
    status = {r["account"]: r["status"] for r in mine["recipients"]}
    assert status == {b.g_out.account: "handed_over", b.g_in.account: "raised"}
    # the incoming guard has not acknowledged: the directive still climbs
    assert fault_id in await notify.escalate_due(datetime.now(UTC) + timedelta(minutes=6))
