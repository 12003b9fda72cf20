"""The workflow service over a real nats-server and PostgreSQL: request-reply, events, outbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest

from cctv.contract import CameraRecord, wrap
from cctv.contract import rpcmodels as m
from cctv.contract.events import CameraUpserted
from cctv.plumbing.bigpayload import unpack
from cctv.plumbing.db import apply_migrations, create_pool
from cctv.plumbing.identity import calling_as
from cctv.plumbing.outbox import OutboxRelay
from cctv.plumbing.service import Service
from services.workflow import rpc
from services.workflow.app import WorkflowService, build
from services.workflow.settings import WorkflowSettings
from tests.support.events import EventLog
from tests.support.identity import claims_of, from_actor, headers_as
from tests.support.waiting import eventually, subject_changes, table_changes


def record(cid: str, category: str, dept: str, *sens: str) -> CameraRecord:
    return CameraRecord(
        camera_id=cid,
        name=f"测试 {cid}",
        system_id="A1-06",
        department=dept,
        managing_department=dept,
        category=category,  # type: ignore[arg-type]
        sensitivity=list(sens),  # type: ignore[arg-type]
        building="综合楼",
        position="一楼 大厅 朝北",
        zone="office",
        brand="hikvision",
        protocol="isapi",
        address="127.0.0.1:1",
    )


def actor(pid: str, dept: str | None, *roles: str) -> dict[str, Any]:
    return {"person_id": pid, "name": pid, "department": dept, "roles": list(roles)}


STAFF = actor("t_staff", "college_se", "staff")
SE_HEAD = actor("t_se_head", "college_se", "head")
LG_HEAD = actor("t_lg_head", "logistics", "head")
NIC_HEAD = actor("t_nic_head", "nic", "head")
LEADER = actor("t_leader", None, "leader")
ADMIN = actor("t_admin", "nic", "sysadmin")


class Client:
    def __init__(self, nc: Any, prefix: str) -> None:
        self.nc = nc
        self.prefix = prefix

    async def __call__(self, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
        subject = self.prefix + subject.removeprefix(rpc.PREFIX)
        # who acts is the signed identity, as the console sends it (issue 11)
        # no actor named: NIC's administrator, who may see every request
        headers = headers_as(from_actor(payload.get("actor") or ADMIN))
        msg = await self.nc.request(
            subject, json.dumps(payload).encode(), timeout=10, headers=headers
        )
        # a reply past the inline limit comes through the object store, as for the CLI
        reply: dict[str, Any] = json.loads(await unpack(self.nc.jetstream(), msg.data))
        return reply


@pytest.fixture
async def wf(nats_url: str, database_url: str) -> AsyncIterator[tuple[Client, str, Service]]:
    tag = uuid.uuid4().hex[:8]
    settings = WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0)
    svc = build(
        settings,
        schema=f"wf_{tag}",
        durable_suffix=f"-{tag}",
        rpc_prefix=f"test.wf.{tag}",
    )
    nc = await nats.connect(nats_url)
    async with svc.running():
        yield Client(nc, f"test.wf.{tag}"), tag, svc
    await nc.close()


async def seed_cameras(svc: Service, client: Client, cams: list[CameraRecord]) -> None:
    """Publish inventory events as ingest would, then wait until the workflow has them."""
    cameras = f"{svc.schema}.cameras"
    async with table_changes(svc.settings.database_url, cameras) as stored:
        nc = await nats.connect(svc.settings.nats_url)
        js = nc.jetstream()
        for cam in cams:
            env = wrap(CameraUpserted(camera=cam), source="ingest", key=cam.camera_id)
            await js.publish(
                f"cctv.camera.upserted.{cam.camera_id}",
                env.to_bytes(),
                headers={"Nats-Msg-Id": env.id},
            )
        await nc.close()
        wanted = {c.camera_id for c in cams}

        async def have() -> set[str]:
            return {c["camera_id"] for c in (await client(rpc.CAMERAS, {}))["cameras"]}

        await eventually(
            have, lambda got: wanted <= got, changes=stored, timeout=20, what="cameras in workflow"
        )


def access_form(cams: list[str], **kw: Any) -> dict[str, Any]:
    t = datetime.now(UTC) - timedelta(days=1)
    return {
        "body": "internal",
        "applying_unit": "college_se",
        "viewer": "李老师",
        "method": "view",
        "reason": "查找遗失的笔记本电脑",
        "cameras": cams,
        "footage_from": t.isoformat(),
        "footage_until": (t + timedelta(hours=1)).isoformat(),
        **kw,
    }


async def test_access_request_over_nats(wf, nats_url: str, events: EventLog) -> None:
    client, tag, svc = wf
    gate, vault = f"g{tag}", f"v{tag}"
    await seed_cameras(
        svc,
        client,
        [
            record(gate, "public_safety", "logistics"),
            record(vault, "confidential", "academic", "exam_paper_vault"),
        ],
    )
    form = access_form([gate])
    preview = await client(rpc.PREVIEW, {"process": "access", "form": form, "actor": STAFF})
    assert preview["ok"], preview
    assert [(s["stage"], s["department"]) for s in preview["steps"]] == [
        (1, "college_se"),
        (2, "logistics"),
    ]
    sub = await client(rpc.SUBMIT, {"process": "access", "form": form, "actor": STAFF})
    assert sub["ok"], sub
    rid = sub["request"]["request_id"]
    assert rid.startswith("DY-")

    wrong = await client(rpc.APPROVE, {"request_id": rid, "actor": LG_HEAD})
    assert not wrong["ok"] and wrong["code"] == "out_of_order" and wrong["article"] == "Art. 16"
    own = await client(rpc.APPROVE, {"request_id": rid, "actor": STAFF})
    assert own["code"] == "own_request"

    inbox = await client(rpc.INBOX, {"actor": SE_HEAD})
    assert [x["request_id"] for x in inbox["to_act"]] == [rid]
    assert (await client(rpc.INBOX, {"actor": LG_HEAD}))["to_act"] == []

    assert (await client(rpc.APPROVE, {"request_id": rid, "actor": SE_HEAD, "text": "同意"}))["ok"]
    done = await client(rpc.APPROVE, {"request_id": rid, "actor": LG_HEAD})
    assert done["ok"] and done["request"]["state"] == "approved"
    assert done["request"]["grant"]["cameras"] == [gate]

    got = await client(
        rpc.ACT,
        {
            "request_id": rid,
            "actor": ADMIN,
            "action": "retrieve",
            "args": {"purpose": "查找失物", "destination": "学院办公室"},
        },
    )
    assert got["ok"], got
    assert got["request"]["holds"][0]["custodian"] == "nic"

    full = await client(rpc.GET, {"request_id": rid})
    # what the viewer's check reads, typed (media never digs through the request's document)
    access = m.GetReply.model_validate(full).access
    assert access is not None and access.state == "retrieved"
    assert access.grant is not None and access.grant.cameras == [gate]
    assert access.grant.grantee == "李老师"
    assert (access.requester_id, access.applying_unit) == (STAFF["person_id"], "college_se")
    subjects = [h["subject"].rsplit(".", 1)[0] for h in full["history"]]
    assert subjects == [
        "cctv.workflow.access.submitted",
        "cctv.workflow.access.opinion",
        "cctv.workflow.access.opinion",
        "cctv.workflow.access.approved",
        "cctv.workflow.access.retrieved",
        "cctv.access.recorded",
        "cctv.workflow.access.held",
    ]

    # Published through the outbox, each exactly once. (Request numbers are per schema and
    # other tests use other schemas on the same bus: the test's own camera tells them apart.)
    def ours(d: dict[str, Any]) -> bool:
        return d.get("request_id") == rid and d.get("summary", {}).get("cameras") == [gate]

    await events.wait_for("workflow.access.held", ours)  # the last one: the rest came before
    for typ in ("workflow.access.submitted", "workflow.access.approved", "workflow.access.held"):
        assert len(events.matching(typ, ours)) == 1, typ
    rec = await events.wait_for(
        "access.recorded", lambda d: d.get("request_no") == rid and d.get("camera_ids") == [gate]
    )
    assert rec[0]["data"]["actor"] == "t_admin" and "Art. 16" in rec[0]["data"]["detail"]

    # A sensitive camera adds the school leader.
    pv = await client(
        rpc.PREVIEW, {"process": "access", "form": access_form([vault]), "actor": STAFF}
    )
    assert [s["role"] for s in pv["steps"]] == ["dept_head", "dept_head", "school_leader"]


async def test_submission_goes_through_the_chain_that_was_shown(wf, nats_url: str) -> None:
    """The chain is shown before submission; if the inventory changes in between (a camera
    becomes sensitive), the submission is stopped and the new chain must be looked at."""
    client, tag, svc = wf
    cam = record(f"k{tag}", "public_safety", "logistics")
    await seed_cameras(svc, client, [cam])
    form = access_form([cam.camera_id])
    shown = await client(rpc.PREVIEW, {"process": "access", "form": form, "actor": STAFF})
    assert [s["role"] for s in shown["steps"]] == ["dept_head", "dept_head"]
    await seed_cameras(
        svc, client, [cam.model_copy(update={"sensitivity": ["key_point"], "zone": "x"})]
    )

    async def preview() -> dict[str, Any]:
        return await client(rpc.PREVIEW, {"process": "access", "form": form, "actor": STAFF})

    # the workflow has the new record once the chain changes
    async with table_changes(svc.settings.database_url, f"{svc.schema}.cameras") as stored:
        again = await eventually(
            preview, lambda r: len(r["steps"]) == 3, changes=stored, timeout=20, what="new chain"
        )
    stale = await client(
        rpc.SUBMIT,
        {
            "process": "access",
            "form": form,
            "actor": STAFF,
            "expected_chain": shown["chain_key"],
        },
    )
    assert stale["code"] == "chain_changed" and stale["article"] == "Art. 16, Annex 4", stale
    ok = await client(
        rpc.SUBMIT,
        {"process": "access", "form": form, "actor": STAFF, "expected_chain": again["chain_key"]},
    )
    assert ok["ok"] and ok["request"]["flow"]["steps"][-1]["role"] == "school_leader"


async def test_refusal_is_on_the_record(wf, events: EventLog) -> None:
    client, _tag, _svc = wf
    form = access_form(["whatever"], body="personal", applying_unit="张三")
    reply = await client(rpc.SUBMIT, {"process": "access", "form": form, "actor": STAFF})
    assert not reply["ok"] and reply["kind"] == "refusal"
    assert (
        reply["error"] == "个人身份调阅不予受理 — personal-capacity access is not allowed (Art. 16)"
    )
    ev = await events.wait_for(
        "workflow.access.refused", lambda d: d.get("request_id") == reply["request_id"]
    )
    assert ev[0]["data"]["summary"]["refusal"]["code"] == "personal_capacity"
    bad = await client(
        rpc.SUBMIT, {"process": "access", "form": {"body": "internal"}, "actor": STAFF}
    )
    assert not bad["ok"] and bad["kind"] == "invalid"
    assert bad["article"] == "Art. 16, Annex 4" and "applying_unit" in bad["error"]

    # Every process's refusal is on the record, naming its article (here Art. 8: in advance).
    started = datetime.now(UTC) - timedelta(hours=1)
    late = await client(
        rpc.SUBMIT,
        {
            "process": "stopmove",
            "actor": STAFF,
            "form": {
                "applying_unit": "college_se",
                "reason": "装修",
                "points": [{"camera_id": "x", "action": "stop"}],
                "count": 1,
                "workaround": "巡查",
                "window_from": started.isoformat(),
                "window_until": (started + timedelta(days=1)).isoformat(),
            },
        },
    )
    assert late["kind"] == "refusal" and late["article"] == "Art. 8", late
    ev = await events.wait_for(
        "workflow.stopmove.refused", lambda d: d.get("request_id") == late["request_id"]
    )
    assert ev[0]["data"]["summary"]["refusal"]["code"] == "not_in_advance"


async def test_responsible_change_reaches_logistics_and_nic_at_once(wf, events: EventLog) -> None:
    """Art. 9: the change, its event and the notices to 后勤处 and NIC commit together."""
    client, tag, _svc = wf
    re_head = actor("t_re_head", "research_equipment", "head")
    reply = await client(
        rpc.RESPONSIBLE_SET,
        {
            "actor": re_head,
            "system_id": f"A1-{tag}",
            "department": "research_equipment",
            "person": {"person_id": "p1", "name": "王工", "phone": "0898-1"},
            "reason": "人员调动",
        },
    )
    assert reply["ok"] and reply["notified"] == ["logistics", "nic"], reply
    for who in (actor("t_lg", "logistics", "staff"), actor("t_nic", "nic", "sysadmin")):
        notices = (await client(rpc.INBOX, {"actor": who}))["notices"]
        assert [(n["kind"], n["ref"]) for n in notices] == [("responsible.changed", f"A1-{tag}")]
        assert "王工" in notices[0]["text_zh"]
    assert (await client(rpc.INBOX, {"actor": actor("t_st", "student", "head")}))["notices"] == []
    ev = await events.wait_for(
        "workflow.responsible.changed", lambda d: d.get("system_id") == f"A1-{tag}"
    )
    assert ev[0]["id"] == notices[0]["event_id"]
    same = await client(
        rpc.RESPONSIBLE_SET,
        {
            "actor": re_head,
            "system_id": f"A1-{tag}",
            "person": {"person_id": "p1", "name": "王工", "phone": "0898-1"},
            "reason": "重复提交",
        },
    )
    assert same["ok"] and same["notified"] == []  # nothing changed, nobody is bothered


async def test_stopmove_window_reaches_health_contract(wf, nats_url: str, events: EventLog) -> None:
    client, tag, svc = wf
    cam = f"s{tag}"
    await seed_cameras(svc, client, [record(cam, "public_safety", "logistics")])
    start = datetime.now(UTC) + timedelta(days=2)
    form = {
        "applying_unit": "college_se",
        "reason": "综合楼一楼装修",
        "points": [{"camera_id": cam, "action": "stop"}],
        "count": 1,
        "workaround": "临时增设移动监控",
        "window_from": start.isoformat(),
        "window_until": (start + timedelta(days=3)).isoformat(),
    }
    sub = await client(rpc.SUBMIT, {"process": "stopmove", "form": form, "actor": STAFF})
    assert sub["ok"], sub
    rid = sub["request"]["request_id"]
    assert (await client(rpc.APPROVE, {"request_id": rid, "actor": LG_HEAD}))["ok"]
    narrowed = (start + timedelta(days=1)).isoformat()
    ok = await client(rpc.APPROVE, {"request_id": rid, "actor": NIC_HEAD, "window_until": narrowed})
    assert ok["ok"], ok
    ev = await events.wait_for("workflow.stopmove.approved", lambda d: d.get("request_id") == rid)
    assert ev[0]["data"]["camera_ids"] == [cam]
    assert datetime.fromisoformat(ev[0]["data"]["ends_at"]) == datetime.fromisoformat(narrowed)


async def test_outbox_crash_between_commit_and_publish(nats_url: str, database_url: str) -> None:
    """Commit, die before publishing; die again after publishing but before marking it sent;
    a fresh relay then delivers the event: exactly one copy on the stream, none lost."""
    tag = uuid.uuid4().hex[:8]
    schema = f"wf_crash_{tag}"
    settings = WorkflowSettings(nats_url=nats_url, database_url=database_url)
    svc = Service(
        "workflow",
        settings,
        schema=schema,
        migrations=__import__("pathlib").Path(build.__code__.co_filename).parent / "migrations",
    )
    pool = await create_pool(database_url)
    svc.pool = pool
    await apply_migrations(pool, schema, svc.migrations)
    wf = WorkflowService(svc, settings)
    # Request numbers count per schema; start this one's far away from other tests' numbers,
    # so that the subject below is this test's alone on the shared stream.
    await pool.execute(
        f"INSERT INTO {schema}.counters VALUES ('XZ', $1, $2)",
        datetime.now(UTC).year,
        int(tag, 16) % 10**9 + 10**6,
    )
    with calling_as(claims_of(from_actor(STAFF))):
        reply = await wf.submit(
            {
                "process": "newpoint",
                "actor": STAFF,
                "form": {
                    "department": "college_se",
                    "need": "新建停车场无监控",
                    "urgent": True,
                    "positions": ["北门停车场 朝南"],
                },
            }
        )
    rid = reply["request"]["request_id"]
    subject = f"cctv.workflow.newpoint.submitted.{rid}"
    pending = await pool.fetchval(
        f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"
    )
    assert pending == 1  # committed with the state change, not yet published
    # A refused action commits nothing: no state change, no history row, no event.
    with pytest.raises(Exception, match="own request"):
        with calling_as(claims_of(from_actor(STAFF))):
            await wf.approve({"request_id": rid, "actor": STAFF})
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox") == 1
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.history") == 1
    assert await pool.fetchval(f"SELECT version FROM {schema}.requests") == 1

    nc = await nats.connect(nats_url)
    js = nc.jetstream()

    async def publish(subj: str, payload: bytes, msg_id: str) -> None:
        await js.publish(subj, payload, headers={"Nats-Msg-Id": msg_id})

    async def publish_then_die(subj: str, payload: bytes, msg_id: str) -> None:
        await publish(subj, payload, msg_id)
        raise ConnectionError("process killed before marking the row published")

    with pytest.raises(ConnectionError):
        await OutboxRelay(pool, schema, "workflow", publish_then_die).drain()
    assert (
        await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 1
    )

    assert await OutboxRelay(pool, schema, "workflow", publish).drain() == 1
    assert await OutboxRelay(pool, schema, "workflow", publish).drain() == 0
    info = await js.stream_info("CCTV_WORKFLOW", subjects_filter=subject)
    assert info.state.subjects == {subject: 1}
    await nc.close()
    await pool.close()


async def test_exam_deadline_reminders_and_handover(
    nats_url: str, database_url: str, events: EventLog
) -> None:
    """Exam support on a controlled clock around Spring Festival 2026, then reminders in
    working hours, then a handover that carries an open fault learned from health's events."""
    from cctv.contract.events import FaultOpened

    tag = uuid.uuid4().hex[:8]
    now = [datetime(2026, 2, 10, 2, 0, tzinfo=UTC)]  # Tue 10 Feb, 10:00 in Haikou
    svc = build(
        WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0),
        schema=f"wfe_{tag}",
        durable_suffix=f"-e{tag}",
        rpc_prefix=f"test.wfe.{tag}",
        clock=lambda: now[0],
    )
    nc = await nats.connect(nats_url)
    client = Client(nc, f"test.wfe.{tag}")
    async with svc.running():
        wf: WorkflowService = svc.state["workflow"]
        room = f"考场{tag}"
        cam = record(f"e{tag}", "teaching_exam", "academic", "national_exam")
        cam = cam.model_copy(update={"position": f"{room} 前"})
        await seed_cameras(svc, client, [cam])
        form = {
            "organiser": "college_se",
            "exam_name": "全国计算机等级考试",
            "building": "综合楼",
            "rooms": [room],
            "starts_at": "2026-02-26T08:30:00+08:00",
            "ends_at": "2026-02-26T11:30:00+08:00",
        }
        late = await client(rpc.SUBMIT, {"process": "exam", "form": form, "actor": STAFF})
        assert late["kind"] == "refusal" and late["detail"]["earliest_exam_date"] == "2026-02-27"
        await events.wait_for(
            "workflow.exam.refused", lambda d: d.get("request_id") == late["request_id"]
        )
        form.update(starts_at="2026-02-27T08:30:00+08:00", ends_at="2026-02-27T11:30:00+08:00")
        sub = await client(rpc.SUBMIT, {"process": "exam", "form": form, "actor": STAFF})
        assert sub["ok"], sub
        rid = sub["request"]["request_id"]

        now[0] = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)  # 17:00: 7 working hours later
        assert await wf.nudge_once() == 1
        assert await wf.nudge_once() == 0  # each level fires once
        nudge = await events.wait_for(
            "workflow.approval.nudge", lambda d: d.get("request_id") == rid
        )
        assert nudge[0]["data"]["level"] == "remind"
        assert nudge[0]["data"]["to_department"] == "academic"
        ac_head = actor("t_ac_head", "academic", "head")
        box = await client(rpc.INBOX, {"actor": ac_head})
        assert [(n["kind"], n["ref"]) for n in box["notices"]] == [("nudge.remind", rid)]
        assert (await client(rpc.INBOX, {"actor": LG_HEAD}))["notices"] == []
        now[0] = datetime(2026, 2, 11, 3, 0, tzinfo=UTC)  # Wed 11:00: past 8 working hours
        assert await wf.nudge_once() == 1
        box = await client(rpc.INBOX, {"actor": LEADER})
        assert [(n["kind"], n["ref"]) for n in box["notices"]] == [("nudge.escalate", rid)]

        ok = await client(rpc.APPROVE, {"request_id": rid, "actor": ac_head})
        assert ok["ok"] and ok["transitions"][-1].startswith("cctv.workflow.exam.watch")
        watch = await events.wait_for("workflow.exam.watch", lambda d: d.get("request_id") == rid)
        assert watch[0]["data"]["camera_ids"] == [f"e{tag}"]

        # Handover: an open fault from health's events and a log entry must both be carried.
        js = nc.jetstream()
        fault = FaultOpened(
            fault_id=f"F{tag}",
            camera_id=f"e{tag}",
            kind="offline",
            severity="major",
            detected_at=now[0],
            camera_name="考场前",
        )
        env = wrap(fault, source="health", key=f"e{tag}")
        await js.publish(
            f"cctv.fault.opened.e{tag}", env.to_bytes(), headers={"Nats-Msg-Id": env.id}
        )

        async def open_items() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = (await client(rpc.OPEN_ITEMS, {}))["items"]
            return items

        async with table_changes(database_url, f"{svc.schema}.open_items") as opened:
            await eventually(
                open_items,
                lambda items: any(i["key"] == f"fault:F{tag}" for i in items),
                changes=opened,
                timeout=20,
                what="the fault among the open items",
            )

        # The shared streams hold other tests' faults and alerts: the handover below must not
        # see them arrive between its offer and its confirmation (that is a re-offer, rightly).
        async def behind() -> int:
            total = 0
            for stream, kind in (("CCTV_FAULT", "faults"), ("CCTV_ALERT", "alerts")):
                info = await js.consumer_info(stream, f"workflow-{kind}-v1-e{tag}")
                total += info.num_pending + info.num_ack_pending
            return total

        async with subject_changes(nats_url, "$JS.ACK.>") as acked:
            await eventually(
                behind, lambda n: n == 0, changes=acked, timeout=30,
                what="workflow caught up with the shared streams",
            )  # fmt: skip
        op_a, op_b = (
            actor("t_op_a", "logistics", "operator"),
            actor("t_op_b", "logistics", "operator"),
        )
        entry = await client(
            rpc.LOG_RECORD,
            {
                "actor": op_a,
                "kind": "suspicious",
                "text": "南门有人翻越围墙",
                "reported_to": "保卫科",
            },
        )
        assert entry["ok"], entry
        offer = await client(rpc.HANDOVER_OFFER, {"actor": op_a, "incoming": "t_op_b"})
        keys = [i["kind"] + ":" + i["ref"] for i in offer["handover"]["items"]]
        assert f"fault:F{tag}" in keys and f"log:{entry['entry']['entry_id']}" in keys
        hid = offer["handover"]["handover_id"]
        short = await client(
            rpc.HANDOVER_CONFIRM, {"actor": op_b, "handover_id": hid, "acknowledged": keys[:-1]}
        )
        assert short["code"] == "not_acknowledged" and short["article"] == "Art. 14(3)"
        # Offered again: the first offer lapses, on the record; only the new one counts.
        again = await client(rpc.HANDOVER_OFFER, {"actor": op_a, "incoming": "t_op_b"})
        assert again["ok"], again
        lapsed = await events.wait_for(
            "workflow.handover.superseded", lambda d: d.get("request_id") == hid
        )
        assert lapsed[0]["data"]["summary"]["superseded_by"] == again["handover"]["handover_id"]
        stale = await client(
            rpc.HANDOVER_CONFIRM, {"actor": op_b, "handover_id": hid, "acknowledged": keys}
        )
        assert stale["code"] == "handover_done"
        hid = again["handover"]["handover_id"]
        done = await client(
            rpc.HANDOVER_CONFIRM, {"actor": op_b, "handover_id": hid, "acknowledged": keys}
        )
        assert done["ok"] and done["handover"]["state"] == "confirmed"
        await events.wait_for("workflow.handover.confirmed", lambda d: d.get("request_id") == hid)
    await nc.close()
