"""Every channel against a stand-in that speaks its protocol over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from prometheus_client import REGISTRY

from cctv.contract.orgs import CAMPUS_TZ
from cctv.devstack.embedded import free_port
from demo.channel_standins import ChannelStandins
from services.notify import store
from services.notify.channels import (
    ChannelError,
    DingTalkRobot,
    Outbound,
    SmsGateway,
    SmtpMail,
    WeComRobot,
)
from services.notify.roster import RosterEntry
from tests.notify.harness import a_zone, alerts_of, fault, make_notify, open_fault, resolve

MSG = Outbound("alert", "【告警】摄像机离线：综合楼走廊", "综合楼 · 教学区", "guard", "major",
               phone="13800138000", email="guard@campus.example")  # fmt: skip


@pytest.fixture
async def standins() -> AsyncIterator[ChannelStandins]:
    s = await ChannelStandins().start()
    yield s
    await s.stop()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        self.loop.call_soon_threadsafe(self.arrived.set)
        return "250 OK"


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_wecom_robot_takes_a_markdown_message(standins: ChannelStandins) -> None:
    robot = WeComRobot(standins.wecom_url)
    await robot.send(MSG)
    await robot.close()
    [got] = standins.of("wecom")
    assert "摄像机离线" in got["body"]["markdown"]["content"]


async def test_dingtalk_robot_signs_every_call(standins: ChannelStandins) -> None:
    robot = DingTalkRobot(standins.dingtalk_url, standins.dingtalk_secret)
    await robot.send(MSG)
    [got] = standins.of("dingtalk")
    assert got["body"]["markdown"]["title"].startswith("【告警】")
    wrong = DingTalkRobot(standins.dingtalk_url, "SEC-not-the-secret")
    with pytest.raises(ChannelError, match="sign not match"):
        await wrong.send(MSG)
    unsigned = DingTalkRobot(standins.dingtalk_url)
    with pytest.raises(ChannelError, match="refused"):
        await unsigned.send(MSG)
    for r in (robot, wrong, unsigned):
        await r.close()


async def test_sms_gateway_needs_its_key_and_a_phone(standins: ChannelStandins) -> None:
    sms = SmsGateway(standins.sms_url, standins.sms_key)
    await sms.send(MSG)
    assert standins.of("sms")[0]["body"]["phone"] == "13800138000"
    assert not sms.reaches(Outbound("alert", "t", "b", "nobody"))
    bad_key = SmsGateway(standins.sms_url, "wrong")
    with pytest.raises(ChannelError, match="HTTP 401"):
        await bad_key.send(MSG)
    await sms.close()
    await bad_key.close()


async def test_mail_goes_over_a_real_smtp_server(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await SmtpMail("127.0.0.1", port, sender="cctv@campus.example").send(MSG)
    await asyncio.wait_for(inbox.arrived.wait(), 10)
    [mail] = inbox.messages
    assert mail["To"] == "guard@campus.example"
    assert "摄像机离线" in str(make_header(decode_header(mail["Subject"])))
    with pytest.raises(ChannelError, match="unreachable"):
        await SmtpMail("127.0.0.1", free_port(), timeout_s=2).send(MSG)


async def test_an_alert_reaches_each_person_on_every_channel_they_have(
    nats_url: str, database_url: str, standins: ChannelStandins, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    n = await make_notify(
        nats_url, database_url, webhook_url=standins.wecom_url,
        dingtalk_url=standins.dingtalk_url, dingtalk_secret=standins.dingtalk_secret,
        smtp_host="127.0.0.1", smtp_port=port, sms_gateway_url=standins.sms_url,
        sms_api_key=standins.sms_key,
    )  # fmt: skip
    zone = a_zone()
    await store.seed_roster(
        n.pool,
        [RosterEntry(f"g-{zone}", "张伟", "guard", zone, phone="13800138000",
                     email="zw@campus.example"),
         RosterEntry(f"h-{zone}", "李强", "guard", zone)],
    )  # fmt: skip
    f = fault(zone)
    await open_fault(n, f)

    while await n.deliver_pending():  # each call sends what is due; stops when none is
        pass
    ids = [a["alert_id"] for a in (await alerts_of(n, f.fault_id)).values()]
    rows = await n.pool.fetch(
        f"SELECT channel, status, alert_id FROM {store.SCHEMA}.deliveries "
        "WHERE alert_id = ANY($1::text[])",
        ids,
    )
    by = {(r["alert_id"], r["channel"]): r["status"] for r in rows}
    alerts = await alerts_of(n, f.fault_id)
    full, bare = alerts[f"g-{zone}"]["alert_id"], alerts[f"h-{zone}"]["alert_id"]
    assert {by[(full, ch)] for ch in ("console", "webhook", "dingtalk", "mail", "sms")} == {"sent"}
    assert by[(bare, "sms")] == by[(bare, "mail")] == "skipped"  # no phone, no address
    assert by[(bare, "dingtalk")] == "sent"
    await asyncio.wait_for(inbox.arrived.wait(), 10)
    await n.close()
    await n.pool.close()


async def test_the_all_clear_says_the_camera_recovered_not_the_alarm_again(
    nats_url: str, database_url: str, standins: ChannelStandins
) -> None:
    n = await make_notify(nats_url, database_url, webhook_url=standins.wecom_url, group_window_s=0)
    zone = a_zone()
    await store.seed_roster(n.pool, [RosterEntry(f"g-{zone}", "张伟", "guard", zone)])
    f = fault(zone)
    await open_fault(n, f)
    while await n.deliver_pending():
        pass
    await resolve(n, f)
    while await n.deliver_pending():
        pass
    texts = [r["body"]["markdown"]["content"] for r in standins.of("wecom")]
    mine = [t for t in texts if f.camera_id in t]
    assert len(mine) == 2
    alarm, clear = mine
    assert "告警" in alarm and "已恢复" not in alarm
    assert "解除" in clear and "已恢复" in clear and "告警" not in clear
    assert "3 次探测失败" not in clear
    await n.close()
    await n.pool.close()


async def test_a_failing_channel_is_retried_and_shows_on_the_dashboard(
    nats_url: str, database_url: str, standins: ChannelStandins
) -> None:
    n = await make_notify(nats_url, database_url, sms_gateway_url=standins.sms_url,
                          sms_api_key=standins.sms_key)  # fmt: skip
    zone = a_zone()
    await store.seed_roster(
        n.pool, [RosterEntry(f"g-{zone}", "张伟", "guard", zone, phone="13900139000")]
    )
    standins.failing.add("sms")
    f = fault(zone)
    await open_fault(n, f)
    await n.deliver_pending()
    failing = REGISTRY.get_sample_value(
        "cctv_notify_channel_consecutive_failures", {"channel": "sms"}
    )
    assert failing is not None and failing >= 1
    row = await n.pool.fetchrow(
        f"SELECT d.status, d.attempts, d.last_error FROM {store.SCHEMA}.deliveries d "
        f"JOIN {store.SCHEMA}.alerts a USING (alert_id) WHERE a.fault_id=$1 AND d.channel='sms'",
        f.fault_id,
    )
    assert row["status"] == "pending" and row["attempts"] == 1 and "503" in row["last_error"]
    standins.failing.clear()
    await n.pool.execute(
        f"UPDATE {store.SCHEMA}.deliveries SET next_at=now() WHERE channel='sms' "
        "AND status='pending'"
    )
    await n.deliver_pending()
    assert (
        REGISTRY.get_sample_value("cctv_notify_channel_consecutive_failures", {"channel": "sms"})
        == 0
    )
    await n.close()
    await n.pool.close()


async def test_quiet_hours_hold_sms_but_never_a_critical_alert(
    nats_url: str, database_url: str, standins: ChannelStandins
) -> None:
    now = datetime.now(CAMPUS_TZ)
    quiet = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    n = await make_notify(nats_url, database_url, sms_gateway_url=standins.sms_url,
                          sms_api_key=standins.sms_key, quiet_hours=quiet)  # fmt: skip
    zone = a_zone()
    await store.seed_roster(
        n.pool, [RosterEntry(f"g-{zone}", "张伟", "guard", zone, time(0), time(0), "13700137000")]
    )
    minor, critical = fault(zone, severity="warning"), fault(zone, severity="critical")
    await open_fault(n, minor)
    await open_fault(n, critical)

    async def sms_next_at(fault_id: str) -> datetime:
        return await n.pool.fetchval(
            f"SELECT d.next_at FROM {store.SCHEMA}.deliveries d JOIN {store.SCHEMA}.alerts a "
            "USING (alert_id) WHERE a.fault_id=$1 AND d.channel='sms'",
            fault_id,
        )

    assert await sms_next_at(minor.fault_id) > datetime.now(UTC) + timedelta(minutes=30)
    assert await sms_next_at(critical.fault_id) <= datetime.now(UTC)
    await n.close()
    await n.pool.close()


async def test_a_storm_reaches_a_person_as_one_message_then_one_summary(
    nats_url: str, database_url: str, standins: ChannelStandins
) -> None:
    n = await make_notify(nats_url, database_url, webhook_url=standins.wecom_url)
    zone = a_zone()
    me = f"g-{zone}"
    await store.seed_roster(n.pool, [RosterEntry(me, "张伟", "guard", zone)])
    first = fault(zone)
    await open_fault(n, first)
    while await n.deliver_pending():
        pass
    storm = [fault(zone) for _ in range(12)]
    for f in storm:
        await open_fault(n, f)
    while await n.deliver_pending():  # within the window: held, not sent one by one
        pass

    def mine() -> list[str]:
        got = [r["body"]["markdown"]["content"] for r in standins.of("wecom")]
        return [t for t in got if me in t]

    assert len(mine()) == 1
    # the window passes: the first message lies a minute back, the held ones are due
    await n.pool.execute(
        f"UPDATE {store.SCHEMA}.deliveries d SET next_at=now(), "
        "sent_at=d.sent_at - interval '1 minute' FROM "
        f"{store.SCHEMA}.alerts a WHERE a.alert_id=d.alert_id AND a.recipient=$1",
        me,
    )
    while await n.deliver_pending():
        pass
    texts = mine()
    assert len(texts) == 2
    assert "12 条告警" in texts[1]
    assert all(f.camera_id in texts[1] for f in storm)
    # every alert is still delivered, and says so on the bus
    subjects = await n.pool.fetch(
        f"SELECT count(*) AS n FROM {store.SCHEMA}.deliveries d JOIN {store.SCHEMA}.alerts a "
        "USING (alert_id) WHERE a.recipient=$1 AND d.channel='webhook' AND d.status='sent'",
        me,
    )
    assert subjects[0]["n"] == 13
    await n.close()
    await n.pool.close()


async def test_a_critical_alert_never_waits_for_the_window(
    nats_url: str, database_url: str, standins: ChannelStandins
) -> None:
    n = await make_notify(nats_url, database_url, webhook_url=standins.wecom_url)
    zone = a_zone()
    me = f"g-{zone}"
    await store.seed_roster(n.pool, [RosterEntry(me, "张伟", "guard", zone)])
    await open_fault(n, fault(zone))
    while await n.deliver_pending():
        pass
    urgent = fault(zone, kind="tamper", severity="critical")
    await open_fault(n, urgent)
    while await n.deliver_pending():
        pass
    got = [r["body"]["markdown"]["content"] for r in standins.of("wecom")]
    assert any(urgent.camera_id in t and me in t for t in got)
    await n.close()
    await n.pool.close()


async def test_a_recorder_outage_is_one_message_to_the_guard(
    nats_url: str, database_url: str, standins: ChannelStandins
) -> None:
    """64 cameras behind one recorder fail together: the group wait makes them one message
    that names every camera."""
    # a group wait far longer than opening 64 faults takes on a busy machine: the test moves
    # the clock on itself below, so nothing depends on how fast the faults went in
    n = await make_notify(nats_url, database_url, webhook_url=standins.wecom_url,
                          group_wait_s=60.0)  # fmt: skip
    zone = a_zone()
    me = f"g-{zone}"
    await store.seed_roster(n.pool, [RosterEntry(me, "张伟", "guard", zone)])
    outage = [fault(zone) for _ in range(64)]
    for f in outage:
        await open_fault(n, f)
    await n.deliver_pending()  # the console inbox has them at once; the robot waits
    assert not [r for r in standins.of("wecom") if me in str(r)]
    await n.pool.execute(  # the group wait passes, and the storm has paused
        f"UPDATE {store.SCHEMA}.deliveries d SET next_at=now(), "
        f"queued_at=d.queued_at - interval '120 seconds' FROM {store.SCHEMA}.alerts a "
        "WHERE a.alert_id=d.alert_id AND a.recipient=$1",
        me,
    )
    while await n.deliver_pending():
        pass
    texts = [r["body"]["markdown"]["content"] for r in standins.of("wecom") if me in str(r)]
    assert len(texts) == 1
    assert "64 条告警" in texts[0]
    assert all(f.camera_id in texts[0] for f in outage)
    assert len(texts[0].encode()) <= 4096
    await n.close()
    await n.pool.close()
