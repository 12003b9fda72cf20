"""Art. 13: an alert nobody acknowledges goes up the duty chain, once per step, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify import escalation, store
from services.notify.app import NotifyService
from tests.notify.acting import ack
from tests.notify.harness import a_zone, alerts_of, fault, open_fault, resolve, staff, staged


async def test_unacknowledged_alert_climbs_the_chain_one_level_per_time_limit(
    notify: NotifyService,
) -> None:
    zone = a_zone()
    who = await staff(notify, zone)
    f = fault(zone, severity="major")
    await open_fault(notify, f)
    assert set(await alerts_of(notify, f.fault_id)) == {who["guard"]}

    soon = datetime.now(UTC) + timedelta(minutes=4)  # under the 5-minute limit for major
    assert f.fault_id not in await notify.escalate_due(soon)
    later = datetime.now(UTC) + timedelta(minutes=5, seconds=1)
    assert f.fault_id in await notify.escalate_due(later)
    told = await alerts_of(notify, f.fault_id)
    assert who["duty_operator"] in told and told[who["duty_operator"]]["level"] == 1
    assert who["nic_oncall"] not in told
    assert told[who["duty_operator"]]["title"].startswith("【升级 escalated】")
    # the step is measured from the last escalation, not from the first alert
    assert f.fault_id not in await notify.escalate_due(later)
    assert f.fault_id in await notify.escalate_due(later + timedelta(minutes=5, seconds=1))
    assert who["nic_oncall"] in await alerts_of(notify, f.fault_id)
    assert len(await staged(notify, "cctv.alert.escalated")) >= 2


async def test_an_acknowledgement_stops_the_climb(notify: NotifyService) -> None:
    zone = a_zone()
    who = await staff(notify, zone)
    f = fault(zone)
    await open_fault(notify, f)
    [alert] = (await alerts_of(notify, f.fault_id)).values()
    await ack(notify, {"alert_id": alert["alert_id"], "account": who["guard"]})
    assert f.fault_id not in await notify.escalate_due(datetime.now(UTC) + timedelta(hours=1))
    assert set(await alerts_of(notify, f.fault_id)) == {who["guard"]}


async def test_a_cleared_fault_stops_the_climb(notify: NotifyService) -> None:
    zone = a_zone()
    await staff(notify, zone)
    f = fault(zone)
    await open_fault(notify, f)
    await resolve(notify, f)
    assert f.fault_id not in await notify.escalate_due(datetime.now(UTC) + timedelta(hours=1))


async def test_critical_tampering_starts_at_the_duty_room_and_the_guard_hears_too(
    notify: NotifyService,
) -> None:
    zone = a_zone()
    who = await staff(notify, zone)
    f = fault(zone, kind="tamper", severity="critical")
    await open_fault(notify, f)
    told = await alerts_of(notify, f.fault_id)
    assert {who["guard"], who["duty_operator"]} <= set(told)
    assert told[who["duty_operator"]]["level"] == 1
    # critical: two minutes per step, straight to NIC on call next
    assert f.fault_id in await notify.escalate_due(
        datetime.now(UTC) + timedelta(minutes=2, seconds=1)
    )
    assert who["nic_oncall"] in await alerts_of(notify, f.fault_id)


async def test_the_top_of_the_chain_is_the_end(notify: NotifyService) -> None:
    zone = a_zone()
    who = await staff(notify, zone)
    f = fault(zone, severity="critical")
    await open_fault(notify, f)
    t = datetime.now(UTC)
    for _ in range(6):
        t += timedelta(minutes=3)
        await notify.escalate_due(t)
    levels = {r["recipient"]: r["level"] for r in (await alerts_of(notify, f.fault_id)).values()}
    assert levels[who["security_head"]] == escalation.TOP
    rows = await notify.pool.fetch(
        f"SELECT count(*) AS n FROM {store.SCHEMA}.alerts WHERE fault_id=$1 GROUP BY recipient",
        f.fault_id,
    )
    assert all(r["n"] == 1 for r in rows)  # nobody hears of one fault twice


def test_quiet_hours_span_midnight() -> None:
    night = datetime(2026, 12, 1, 23, 30)
    assert escalation.quiet_until(night, "22:00-07:00") == datetime(2026, 12, 2, 7, 0)
    assert escalation.quiet_until(datetime(2026, 12, 2, 6, 0), "22:00-07:00") == datetime(
        2026, 12, 2, 7, 0
    )
    assert escalation.quiet_until(datetime(2026, 12, 2, 12, 0), "22:00-07:00") is None
    assert escalation.quiet_until(night, "") is None


def test_a_storm_still_arriving_waits_for_its_pause_but_not_forever() -> None:
    from services.notify.grouping import still_arriving

    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    wait = timedelta(seconds=1)
    row = {"attempts": 0, "severity": "major"}
    storm = [{**row, "queued_at": t0 + timedelta(seconds=0.1 * i)} for i in range(10)]
    now = t0 + timedelta(seconds=1.0)  # the last arrived 0.1 s ago
    assert still_arriving(storm, now, wait) == t0 + timedelta(seconds=1.15)
    assert still_arriving(storm, t0 + timedelta(seconds=1.5), wait) is None  # capped
    assert still_arriving(storm, t0 + timedelta(seconds=1.3), wait) is None  # it paused
    urgent = [{**storm[0], "severity": "critical"}]
    assert still_arriving(urgent, t0, wait) is None
