"""Art. 13 directives: the duty room directs a zone's guards; each acknowledges; who has not
is visible and is escalated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cctv.plumbing.service import RpcError
from services.notify.app import NotifyService
from tests.notify.acting import ack, direct
from tests.notify.harness import a_zone, alerts_of, staff, staged


async def test_a_directive_reaches_the_zone_and_tracks_each_acknowledgement(
    notify: NotifyService,
) -> None:
    zone = a_zone()
    who = await staff(notify, zone)
    second = (await staff(notify, zone))["guard"]
    reply = await direct(
        notify,
        {"sender": who["duty_operator"], "zone": zone, "text": "请立即前往3号门查看可疑人员"},
    )
    assert set(reply["recipients"]) == {who["guard"], second}
    assert await staged(notify, f"cctv.alert.directive.{reply['directive_id']}")
    fault_id = f"directive:{reply['directive_id']}"
    alerts = await alerts_of(notify, fault_id)
    await ack(notify, {"alert_id": alerts[who["guard"]]["alert_id"], "account": who["guard"]})

    listing = (await notify.list_directives({}))["directives"]
    [mine] = [d for d in listing if d["directive_id"] == reply["directive_id"]]
    status = {r["account"]: r["status"] for r in mine["recipients"]}
    assert status[who["guard"]] == "acknowledged" and status[second] != "acknowledged"

    # one guard has not acknowledged: the directive climbs to the duty room
    later = datetime.now(UTC) + timedelta(minutes=5, seconds=1)
    assert fault_id in await notify.escalate_due(later)
    await ack(notify, {"alert_id": alerts[second]["alert_id"], "account": second})
    assert fault_id not in await notify.escalate_due(later + timedelta(minutes=6))


async def test_only_the_duty_room_directs_and_a_directive_must_reach_someone(
    notify: NotifyService,
) -> None:
    zone = a_zone()
    who = await staff(notify, zone)
    with pytest.raises(RpcError, match="only the duty room"):
        await direct(notify, {"sender": who["guard"], "zone": zone, "text": "x"})
    with pytest.raises(RpcError, match="nobody on duty"):
        await direct(notify, {"sender": who["duty_operator"], "zone": a_zone(), "text": "去看看"})
    with pytest.raises(RpcError, match="not on the roster: ghost"):
        await direct(
            notify, {"sender": who["duty_operator"], "accounts": ["ghost"], "text": "去看看"}
        )
    with pytest.raises(RpcError, match="1–500"):
        await direct(notify, {"sender": who["duty_operator"], "zone": zone, "text": " "})


async def test_a_directive_to_named_people(notify: NotifyService) -> None:
    zone = a_zone()
    who = await staff(notify, zone)
    reply = await direct(
        notify,
        {"sender": who["duty_operator"], "accounts": [who["nic_oncall"]], "text": "检查机房"},
    )
    assert reply["recipients"] == [who["nic_oncall"]]
