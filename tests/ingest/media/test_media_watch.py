"""The tamper watch in ingest: frames over RTSP from the simulator, references and findings in
PostgreSQL, events through the outbox onto NATS (real servers throughout)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Literal

import pytest
import pytest_asyncio

from cctv.cli import tamper as cli
from cctv.cli.main import CliError
from cctv.contract import CameraRecord, rpc
from cctv.plumbing.db import apply_migrations, create_pool
from cctv.plumbing.identity import HEADER
from demo.simulator.fleet import Fleet
from demo.simulator.rtsp_server import RtspServer, attach_to_fleet
from services.ingest import store
from services.ingest.adapters.rtsp_probe import RtspProbe
from services.ingest.app import IngestService
from services.ingest.frames import FrameSampler
from services.ingest.settings import IngestSettings
from services.ingest.sharding import Shard
from services.ingest.tamper import TamperKind
from services.ingest.tamper_watch import TamperWatch, rtsp_url
from tests.support.identity import headers_as, identity

Brand = Literal["hikvision", "dahua", "jingyeda"]
MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "ingest" / "migrations"


def camera(
    camera_id: str, address: str = "127.0.0.1:1", brand: Brand = "hikvision"
) -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name="东门口朝南", system_id="A1-01", department="logistics",
        managing_department="logistics", category="public_safety", building="东门",
        position="东门口朝南", zone="gate", brand=brand, protocol="isapi", address=address,
        channel=3,
    )  # fmt: skip


@pytest_asyncio.fixture(loop_scope="session")
async def rtsp():
    server = RtspServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def watch_env(database_url, rtsp):
    schema = f"media_{uuid.uuid4().hex[:8]}"
    pool = await create_pool(database_url)
    await apply_migrations(pool, schema, MIGRATIONS)
    sampler = FrameSampler(max_concurrency=2, open_timeout=5.0, read_timeout=4.0)
    probe = RtspProbe(connect_timeout=5.0, request_timeout=5.0, sampler=sampler)
    template = f"rtsp://127.0.0.1:{rtsp.port}/cam/{{camera_id}}"
    watch = TamperWatch(pool, probe, schema=schema, url_template=template)
    yield watch, pool, schema
    probe.close()
    await pool.close()


async def outbox(pool, schema: str, camera_id: str) -> list[dict]:
    rows = await pool.fetch(f"SELECT payload FROM {schema}.outbox ORDER BY seq")
    envs = [json.loads(r["payload"]) for r in rows]
    return [e for e in envs if e["data"].get("camera_id") == camera_id]


def test_each_camera_is_read_at_its_own_address_never_at_another_device():
    """Issue 16 items 1 and 7: no simulator template reaches an operator's camera; a plain
    RTSP camera is read at its inventory host *and port*, an explicit stream URL wins, an
    ONVIF camera where the device said (GetStreamUri), and nothing is guessed for a
    generic ONVIF camera that announced nothing."""
    plain = camera("RT-1", "192.0.2.7:8555").model_copy(
        update={"protocol": "rtsp", "brand": "rtsp", "channel": None}
    )
    assert rtsp_url(plain) == "rtsp://192.0.2.7:8555/"
    hik_rtsp = plain.model_copy(update={"brand": "hikvision", "address": "192.0.2.8"})
    assert rtsp_url(hik_rtsp) == "rtsp://192.0.2.8:554/Streaming/Channels/101"
    explicit = plain.model_copy(update={"stream_url": "rtsp://192.0.2.7:10554/live/main"})
    assert rtsp_url(explicit) == "rtsp://192.0.2.7:10554/live/main"
    ov = camera("OV-1", "192.0.2.9:8080", brand="onvif").model_copy(update={"protocol": "onvif"})
    with pytest.raises(ValueError, match="stream address unknown"):
        rtsp_url(ov)
    said = {"OV-1": "rtsp://192.0.2.9:8554/onvif/media/ch1/main"}
    assert rtsp_url(ov, discovered=said.get) == said["OV-1"]
    assert "url_template" not in IngestSettings.model_fields  # no fleet-wide template left


def test_rtsp_url_from_template_and_vendor_defaults():
    cam = camera("PUB-007", "10.20.1.5:80")
    assert rtsp_url(cam, "rtsp://{host}:8554/cam/{camera_id}?ch={channel}") == (
        "rtsp://10.20.1.5:8554/cam/PUB-007?ch=3"
    )
    assert rtsp_url(cam) == "rtsp://10.20.1.5:554/Streaming/Channels/301"
    dahua = camera("DORM-001", "10.20.2.9:80", brand="dahua")
    assert rtsp_url(dahua) == "rtsp://10.20.2.9:554/cam/realmonitor?channel=3&subtype=0"


async def test_findings_start_and_clear_and_only_an_operator_moves_the_reference(rtsp, watch_env):
    watch, pool, schema = watch_env
    cid = "W-001"
    rtsp.add_camera(cid, variant=5)
    cam = camera(cid)

    first = await watch.check(cam)
    assert first.enrolled and first.started == () and first.assessment is not None
    enrolment = await watch.state(cid)
    assert enrolment["reference"]["confirmed_by"] == "system" and enrolment["active"] == []

    rtsp.set_faults(cid, ["covered"])
    covered = await watch.check(cam)
    assert covered.started == (TamperKind.COVERED,)
    again = await watch.check(cam)  # still covered: nothing new to announce
    assert again.started == () and again.cleared == ()

    rtsp.set_faults(cid, ["moved"])
    moved = await watch.check(cam)
    assert moved.started == (TamperKind.MOVED,) and moved.cleared == (TamperKind.COVERED,)
    for _ in range(2):  # however long it stays moved, the moved view never becomes the norm
        assert (await watch.check(cam)).assessment.kinds == {TamperKind.MOVED}  # type: ignore[union-attr]
    assert (await watch.state(cid))["reference"] == enrolment["reference"]

    confirmed = await watch.confirm(cam, "nic-engineer-li", "经批准移位 approved move, Annex 3")
    assert confirmed.replaced_previous and confirmed.confirmed_by == "nic-engineer-li"
    state = await watch.state(cid)
    assert state["active"] == [] and state["reference"]["confirmed_by"] == "nic-engineer-li"
    assert state["reference"]["pixels_sha256"] != enrolment["reference"]["pixels_sha256"]
    assert (await watch.check(cam)).assessment.kinds == set()  # type: ignore[union-attr]

    rtsp.set_faults(cid, [])  # back to the old view: against the new reference, that moved
    assert (await watch.check(cam)).started == (TamperKind.MOVED,)

    events = await outbox(pool, schema, cid)
    kinds = [(e["type"], e["data"].get("finding")) for e in events]
    assert kinds == [
        ("camera.tamper_reference", None),
        ("camera.tamper", "covered"),
        ("camera.tamper", "moved"),
        ("camera.tamper_cleared", "covered"),
        ("camera.tamper_reference", None),
        ("camera.tamper_cleared", "moved"),
        ("camera.tamper", "moved"),
    ]
    refs = [e for e in events if e["type"] == "camera.tamper_reference"]
    assert [e["actor"] for e in refs] == ["system", "nic-engineer-li"]
    assert all(e["key"] == cid for e in events)


async def test_confirmation_is_refused_without_operator_or_for_a_covered_view(rtsp, watch_env):
    watch, _pool, _schema = watch_env
    cid = "W-002"
    rtsp.add_camera(cid, variant=6)
    cam = camera(cid)
    with pytest.raises(ValueError, match=r"Art\. 12"):
        await watch.confirm(cam, "  ")
    with pytest.raises(ValueError, match=r"Art\. 12"):
        await watch.confirm(cam, "system")  # the enrolment name is not an operator
    rtsp.set_faults(cid, ["covered"])
    with pytest.raises(ValueError, match="covered"):
        await watch.confirm(cam, "duty-operator")
    first = await watch.check(cam)  # covered on first sight: found, but not enrolled
    assert not first.enrolled and first.started == (TamperKind.COVERED,)
    assert (await watch.state(cid))["reference"] is None


async def test_video_loss_and_per_camera_thresholds(rtsp, watch_env):
    watch, pool, schema = watch_env
    cid = "W-003"
    rtsp.add_camera(cid, variant=7)
    cam = camera(cid)
    assert (await watch.check(cam)).enrolled
    rtsp.set_faults(cid, ["video_loss"])
    impatient = RtspProbe(
        connect_timeout=1.0,
        request_timeout=1.0,
        sampler=FrameSampler(max_concurrency=1, open_timeout=1.0, read_timeout=0.8),
    )
    quick = TamperWatch(pool, impatient, schema=schema, url_template=watch.url_template)
    lost = await quick.check(cam)
    impatient.close()
    assert lost.assessment is None and lost.probe.streaming is False
    assert "视频丢失" in ((await watch.state(cid))["last_error"] or "")

    rtsp.set_faults(cid, ["blur"])
    await watch.set_thresholds(cid, {"blur_ratio": 0.01})
    assert (await watch.check(cam)).started == ()  # this camera's lens is allowed to be soft
    await watch.set_thresholds(cid, {})
    assert (await watch.check(cam)).started == (TamperKind.BLURRED,)
    with pytest.raises(ValueError, match="blurriness"):
        await watch.set_thresholds(cid, {"blurriness": 0.2})
    with pytest.raises(ValueError, match="blur_ratio"):
        await watch.set_thresholds(cid, {"blur_ratio": 3})
    assert [e["type"] for e in await outbox(pool, schema, cid)] == [
        "camera.tamper_reference",
        "camera.tamper",
    ]


async def test_ingest_service_publishes_findings_from_fleet_faults(
    nats_url, database_url, events, monkeypatch
):
    """End to end over NATS: `cctv sim break --fault covered` → fleet → RTSP → ingest →
    cctv.camera.tamper; mend → cctv.camera.tamper_cleared; an operator's confirmation by
    request-reply → cctv.camera.tamper_reference with the operator as actor."""
    rtsp = RtspServer()
    await rtsp.start()
    cid = f"E2E-{uuid.uuid4().hex[:6]}"
    other = f"{cid}-other-shard"
    cams = [
        camera(c).model_copy(update={"stream_url": f"rtsp://127.0.0.1:{rtsp.port}/cam/{c}"})
        for c in (cid, other)
    ]  # as the demo stack's inventory says where the simulator serves them
    fleet = Fleet(cams)
    attach_to_fleet(fleet, rtsp)
    settings = IngestSettings(
        nats_url=nats_url,
        database_url=database_url,
        tamper_interval_s=0.4,
        rtsp_timeout_s=1.5,
        sharding=False,
    )

    class ThisReplicasShare(Shard):
        """Another replica owns `other` (as the members bucket would say)."""

        def owns(self, camera_id: str) -> bool:
            return camera_id != other

        async def owned(self, cameras: list) -> list:  # type: ignore[override]
            return [c for c in cameras if c.camera_id != other]

    schema = f"media_{cid[4:]}"
    ingest = IngestService(
        settings, schema=schema, shard=ThisReplicasShare("this-replica", enabled=False)
    )
    svc = ingest.svc
    try:
        async with svc.running():
            await store.upsert_cameras(ingest.pool, cams, actor="test", schema=schema)

            def mine(d: dict) -> bool:
                return d.get("camera_id") == cid

            await events.wait_for("camera.tamper_reference", mine, timeout=20)
            fleet.break_(cid, "covered")
            found = await events.wait_for("camera.tamper", mine, timeout=20)
            assert found[0]["data"]["finding"] == "covered"
            assert found[0]["_subject"] == f"cctv.camera.tamper.{cid}"
            fleet.mend(cid)
            await events.wait_for("camera.tamper_cleared", mine, timeout=20)

            chen = identity("duty-chen", "duty_operator", department="logistics")
            reply = await svc.request(
                rpc.INGEST_TAMPER_CONFIRM, {"camera_id": cid}, timeout=10, acting_for=chen
            )
            assert reply["ok"], reply
            refs = await events.wait_for("camera.tamper_reference", mine, count=2, timeout=20)
            assert refs[1]["actor"] == "duty-chen" and refs[1]["data"]["replaced_previous"]

            fleet.break_(cid, "covered")
            refused = await svc.request(
                rpc.INGEST_TAMPER_CONFIRM, {"camera_id": cid}, timeout=10, acting_for=chen
            )
            assert not refused["ok"] and refused["article"] == "Art. 12"
            unknown = await svc.request(rpc.INGEST_TAMPER_STATE, {"camera_id": "nope"}, timeout=10)
            assert not unknown["ok"] and "nope" in unknown["error"]
            state = await svc.request(rpc.INGEST_TAMPER_STATE, {"camera_id": cid}, timeout=10)
            assert state["ok"] and state["reference"]["confirmed_by"] == "duty-chen"

            # the operators' command line reaches the same subjects
            monkeypatch.setenv("NATS_URL", nats_url)
            wang = identity("duty-wang", "duty_operator", department="logistics")
            monkeypatch.setenv("CCTV_TOKEN", headers_as(wang)[HEADER])
            assert (cli.RPC_TAMPER_CONFIRM, cli.RPC_TAMPER_STATE) == (
                rpc.INGEST_TAMPER_CONFIRM,
                rpc.INGEST_TAMPER_STATE,
            )
            fleet.mend(cid)
            said = await asyncio.to_thread(cli.confirm, cid, "after cleaning")
            assert "duty-wang" in said and "参考画面已确认" in said
            shown = await asyncio.to_thread(lambda: cli.describe(cli.state(cid)))
            assert "duty-wang" in shown and "当前告警 active: 无 none" in shown
            with pytest.raises(CliError, match="needs one of the roles sysadmin"):
                await asyncio.to_thread(cli.set_thresholds, cid, ["blur_ratio=0.2"])
            nic = identity("nic-zhao", "sysadmin", department="nic")  # thresholds are NIC's
            monkeypatch.setenv("CCTV_TOKEN", headers_as(nic)[HEADER])
            with pytest.raises(CliError, match="blurriness"):
                await asyncio.to_thread(cli.set_thresholds, cid, ["blurriness=0.2"])
            # many rounds have passed: the other replica's camera was never checked here
            assert (
                events.matching("camera.tamper_reference", lambda d: d["camera_id"] == other) == []
            )
    finally:
        await rtsp.stop()


async def test_cctv_sim_break_covered_reaches_the_rtsp_picture(monkeypatch):
    """`cctv sim break CAM --fault covered|moved|blur` over the simulator's control API
    changes what the camera's RTSP stream shows; `mend` restores it."""
    from cctv.cli import sim as sim_cli
    from cctv.devstack.embedded import free_port
    from demo.simulator.fleet import serve
    from demo.simulator.rtsp_server import serve_fleet
    from services.ingest.tamper import assess, confirm_reference

    cid = "SIM-CLI-1"
    fleet = Fleet([camera(cid)])
    port = free_port()
    runner = await serve(fleet, "127.0.0.1", port)
    rtsp = await serve_fleet(fleet, "127.0.0.1", 0)
    probe = RtspProbe(sampler=FrameSampler(open_timeout=5.0, read_timeout=4.0))
    monkeypatch.setenv("SIM_CONTROL_URL", f"http://127.0.0.1:{port}")

    async def frame():
        r = await probe.probe(cid, rtsp.url_for(cid), grab_frame=True)
        assert r.frame is not None, r.error
        return r.frame.pixels

    try:
        ref = confirm_reference(cid, await frame(), "duty-operator")
        for fault, kind in (("covered", "covered"), ("moved", "moved"), ("blur", "blurred")):
            assert await asyncio.to_thread(sim_cli.change, cid, "break", fault) == 0
            assert {k.value for k in assess(cid, await frame(), ref).kinds} == {kind}
            assert await asyncio.to_thread(sim_cli.change, cid, "mend", None) == 0
            assert assess(cid, await frame(), ref).kinds == set()
    finally:
        probe.close()
        await rtsp.stop()
        await runner.cleanup()
