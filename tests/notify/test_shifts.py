"""Who holds the duty at a moment (Art. 13-14): shifts, and the duty room's handover."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from cctv.contract.orgs import CAMPUS_TZ
from services.notify.roster import RosterEntry
from services.notify.shifts import HandoverPolicy, Takeover, on_duty, overdue

DAY = RosterEntry("day", "陈静", "duty_operator", None, time(8), time(20))
NIGHT = RosterEntry("night", "黄敏", "duty_operator", None, time(20), time(8))
GUARD_DAY = RosterEntry("g-day", "张伟", "guard", "教学区", time(8), time(20))
GUARD_NIGHT = RosterEntry("g-night", "李强", "guard", "教学区", time(20), time(8))
ROSTER = [DAY, NIGHT, GUARD_DAY, GUARD_NIGHT]
POLICY = HandoverPolicy(grace=timedelta(minutes=30), early=timedelta(minutes=60))


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 12, 1, hh, mm, tzinfo=CAMPUS_TZ)


def who(now: datetime, *taken: Takeover) -> set[str]:
    return {p.account for p in on_duty(ROSTER, list(taken), now, POLICY)}


def handover(hh: int, mm: int, outgoing: str = "day", incoming: str = "night") -> Takeover:
    return Takeover("JB-1", outgoing, incoming, at(hh, mm))


def test_the_outgoing_operator_stays_responsible_until_the_handover() -> None:
    assert who(at(19, 59)) == {"day", "g-day"}
    # the shift ended, nobody has taken over: the day operator still holds the duty room
    assert who(at(20, 10)) == {"day", "g-night"}
    # the night operator confirmed the Art. 14 handover at 20:05
    assert who(at(20, 10), handover(20, 5)) == {"night", "g-night"}


def test_a_handover_before_the_shift_ends_moves_the_duty_at_once() -> None:
    assert who(at(19, 40), handover(19, 30)) == {"night", "g-day"}
    assert who(at(20, 10), handover(19, 30)) == {"night", "g-night"}
    # whenever in the shift it is confirmed, the incoming operator holds the duty from then on
    assert who(at(18, 40), handover(18, 30)) == {"night", "g-day"}
    assert who(at(20, 10), handover(18, 30)) == {"night", "g-night"}


def test_after_the_grace_the_incoming_operator_holds_it_and_the_handover_is_overdue() -> None:
    assert not overdue(ROSTER, [], at(20, 29), POLICY)
    assert who(at(20, 31)) == {"night", "g-night"}
    [late] = overdue(ROSTER, [], at(20, 31), POLICY)
    assert late.outgoing == DAY and late.incoming == (NIGHT,)
    assert late.ended_at == at(20) and late.fault_id == "handover:day:20261201T2000"
    assert not overdue(ROSTER, [handover(20, 40)], at(20, 45), POLICY)
    # a service started long after the boundary raises no stale alarm
    assert not overdue(ROSTER, [], at(23), POLICY)


def test_guards_go_by_their_shift_and_an_operator_without_successor_just_ends() -> None:
    alone = RosterEntry("alone", "孙杰", "duty_operator", None, time(9), time(17))
    around = RosterEntry("around", "钱主任", "duty_operator", None)
    got = {p.account for p in on_duty([alone, around, GUARD_DAY], [], at(17, 5), POLICY)}
    assert got == {"around", "g-day"}
    assert not overdue([alone, around], [], at(18), POLICY)
    # the overnight shift wraps midnight
    assert who(at(3), handover(20, 5)) == {"night", "g-night"}


def test_a_handover_to_someone_off_schedule_covers_the_rest_of_that_shift() -> None:
    late = RosterEntry("late", "孙杰", "duty_operator", None, time(12), time(18))
    roster = [DAY, NIGHT, late]
    swap = Takeover("JB-2", "day", "late", at(9))
    got = {p.account for p in on_duty(roster, [swap], at(10), POLICY)}
    assert got == {"late"}  # the day operator went home at nine; "late" holds the duty
    assert {p.account for p in on_duty(roster, [swap], at(19), POLICY)} == {"late"}
    # the day shift ends at 20:00: the night operator takes over by the roster again
    got = {p.account for p in on_duty(roster, [swap], at(20, 5), POLICY)}
    assert got == {"night"}
