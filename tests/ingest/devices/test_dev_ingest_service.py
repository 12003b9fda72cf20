"""The whole ingest service (real NATS + PostgreSQL) against cameras an operator adds:
each read at its own address on its own loop, what it saw shown by `cctv cameras show`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from cctv.cli.main import main as cctv
from demo.simulator.rtsp_server import RtspServer
from services.ingest import store
from services.ingest.app import build
from services.ingest.settings import IngestSettings
from tests.support.events import EventLog


async def empty_inventory(database_url: str) -> None:
    """The service's schema is fixed ("ingest"): each test seeds its own cameras into it."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        if await conn.fetchval("SELECT to_regclass('ingest.cameras') IS NOT NULL"):
            await conn.execute("DELETE FROM ingest.cameras")
    finally:
        await conn.close()


BASE = {
    "name": "实训楼一层", "system_id": "A1-07", "department": "logistics",
    "managing_department": "logistics", "category": "public_safety", "building": "实训楼",
    "position": "一层走廊", "zone": "教学区", "brand": "rtsp", "protocol": "rtsp",
}  # fmt: skip


async def seeded_ingest(
    cams: list[dict[str, Any]], nats_url: str, database_url: str, tmp_path: Path, **settings: Any
) -> Any:
    """One ingest replica (no sharding, device secrets in `tmp_path`) whose emptied inventory
    is seeded with `cams`; `settings` as IngestSettings fields."""
    await empty_inventory(database_url)
    seed = tmp_path / "inventory.yaml"
    seed.write_text(yaml.safe_dump(cams, allow_unicode=True), encoding="utf-8")
    base: dict[str, Any] = {
        "sharding": False,
        "device_secrets_dir": tmp_path,
        "probe_timeout_s": 1.0,
    }
    return build(
        IngestSettings(
            nats_url=nats_url, database_url=database_url, seed_inventory=seed,
            **(base | settings),
        )
    )  # fmt: skip


async def test_plain_rtsp_cameras_are_read_where_they_are(
    nats_url: str, database_url: str, events: EventLog, monkeypatch: Any, tmp_path: Path,
    capsys: Any,
) -> None:  # fmt: skip
    rtsp = RtspServer()
    await rtsp.start()
    rtsp.add_camera("RT-OK")
    at = f"127.0.0.1:{rtsp.port}"
    cams = [
        {**BASE, "camera_id": "RT-OK", "address": at, "stream_url": f"rtsp://{at}/cam/RT-OK"},
        # its stream path is gone: DESCRIBE 404 is a camera that cannot be used
        {**BASE, "camera_id": "RT-GONE", "address": at, "stream_url": f"rtsp://{at}/cam/none"},
    ]
    monkeypatch.setenv("NATS_URL", nats_url)  # the `cctv` CLI below
    svc = await seeded_ingest(
        cams, nats_url, database_url, tmp_path, tamper_watch=False, sample_interval_s=0.5
    )

    def of(cid: str):  # type: ignore[no-untyped-def]
        return lambda d: d.get("camera_id") == cid

    try:
        async with svc.running():
            # a busy machine may time a first probe out: the camera is read, at its address,
            # once a round completes (what this test is about), not necessarily the first
            await events.wait_for(
                "telemetry.sample", lambda d: of("RT-OK")(d) and d["reachable"] and d["measured"]
            )
            [gone] = await events.wait_for(
                "telemetry.sample",
                lambda d: of("RT-GONE")(d) and not str(d.get("error") or "").startswith("timeout"),
            )
            assert not gone["data"]["reachable"]
            assert gone["data"]["error"].startswith("not_found"), gone

            code = await asyncio.to_thread(cctv, ["cameras", "show", "RT-OK"])
            shown = yaml.safe_load(capsys.readouterr().out)
            assert code == 0
            assert shown["camera"]["stream_url"] == f"rtsp://{at}/cam/RT-OK"
            assert shown["last_sample"]["camera_id"] == "RT-OK"
            assert shown["state"]["state"] == "unknown"  # no health in this test
            assert await asyncio.to_thread(cctv, ["cameras", "reload-secrets"]) == 0
            assert "read again" in capsys.readouterr().out

            await rtsp.stop()  # the camera itself goes away: its samples say so
            await events.wait_for(
                "telemetry.sample", lambda d: of("RT-OK")(d) and not d["reachable"]
            )
    finally:
        await rtsp.stop()


async def test_request_reply_answers_while_the_prober_is_busy(
    nats_url: str, database_url: str, events: EventLog, monkeypatch: Any, tmp_path: Path
) -> None:
    """Issue 9: heavy probe work (here 0.4 s of CPU per probe, as frame decoding or a big XML
    parse would be) never holds up the loop that answers request-reply."""
    import json
    import statistics
    import time

    import nats

    from services.ingest.adapters.wiring import DeviceProbes

    real_probe = DeviceProbes.probe

    async def heavy(self: DeviceProbes, camera: Any) -> Any:
        end = time.perf_counter() + 0.4
        while time.perf_counter() < end:  # CPU, holding its loop (not a sleep)
            pass
        return await real_probe(self, camera)

    monkeypatch.setattr(DeviceProbes, "probe", heavy)
    cams = [
        {**BASE, "camera_id": f"RT-BUSY-{i}", "address": f"127.0.0.1:{9 + i}"} for i in range(4)
    ]
    svc = await seeded_ingest(
        cams, nats_url, database_url, tmp_path,
        tamper_watch=False, sample_interval_s=0.5, probe_concurrency=8,
    )  # fmt: skip
    async with svc.running():
        await events.wait_for("telemetry.sample", lambda d: d["camera_id"] == "RT-BUSY-0")
        nc = await nats.connect(nats_url)
        took = []
        try:
            for _ in range(5):
                t0 = time.perf_counter()
                reply = await nc.request("cctv.rpc.ingest.cameras", b"{}", timeout=10)
                took.append(time.perf_counter() - t0)
                assert json.loads(reply.data)["ok"]
        finally:
            await nc.close()
    assert statistics.median(took) < 1.0, took


async def test_frames_that_cannot_be_read_round_after_round_say_no_stream(
    nats_url: str, database_url: str, events: EventLog, tmp_path: Path
) -> None:
    """Issue 16 item 3: a camera that answers RTSP but whose frame checks fail on every round
    has a fault of its own: its samples say `streaming: false` (video loss in health)."""
    rtsp = RtspServer()
    await rtsp.start()
    rtsp.add_camera("RT-DARK")
    rtsp.add_fault("RT-DARK", "video_loss")  # described, set up, never a frame
    at = f"127.0.0.1:{rtsp.port}"
    cams = [{**BASE, "camera_id": "RT-DARK", "address": at,
             "stream_url": f"rtsp://{at}/cam/RT-DARK"}]  # fmt: skip
    svc = await seeded_ingest(
        cams, nats_url, database_url, tmp_path,
        tamper_interval_s=0.3, rtsp_timeout_s=0.5, deep_probe_every=100000, sample_interval_s=0.3,
    )  # fmt: skip
    try:
        async with svc.running():
            # the first probe is deep (its own frame: no video); later ones are OPTIONS +
            # DESCRIBE only, so `streaming: false` there comes from the failed frame checks
            dark = await events.wait_for(
                "telemetry.sample",
                lambda d: d["camera_id"] == "RT-DARK" and d["streaming"] is False,
                count=3,
                timeout=30,
            )
            assert all(d["data"]["reachable"] for d in dark)
    finally:
        await rtsp.stop()


async def test_the_seed_is_laid_before_a_new_point_replayed_at_start(
    nats_url: str, database_url: str, events: EventLog, tmp_path: Path
) -> None:
    """Found by CI: a new point NIC carried out while ingest was down (Art. 6) waits in
    ingest's durable consumer; replayed at start, it landed before the seed's "is the
    inventory empty?" and the whole seed file was skipped. The seed now comes first."""
    import nats

    from cctv.contract import wrap
    from cctv.contract.events import CameraRecord, NewPointImplemented

    added = CameraRecord.model_validate(
        {**BASE, "camera_id": "RT-NP-NEW", "address": "127.0.0.1:9"}
    )
    event = NewPointImplemented(request_id="NP-SEED-RACE", cameras=[added])
    env = wrap(event, source="workflow", key=event.request_id)
    nc = await nats.connect(nats_url)
    try:  # published while no ingest runs: the durable holds it for the next start
        await nc.jetstream().publish(
            f"cctv.{event.TYPE}.{event.request_id}", env.to_bytes(),
            headers={"Nats-Msg-Id": env.id},
        )  # fmt: skip
    finally:
        await nc.close()
    seeded = [{**BASE, "camera_id": f"RT-SEEDED-{i}", "address": "127.0.0.1:9"} for i in range(3)]
    svc = await seeded_ingest(
        seeded, nats_url, database_url, tmp_path, tamper_watch=False, sample_interval_s=5.0
    )
    async with svc.running():
        [np] = await events.wait_for(
            "camera.upserted", lambda d: d["camera"]["camera_id"] == "RT-NP-NEW"
        )
        assert np["actor"] == "workflow:NP-SEED-RACE"
        # staged before the relay started, told all the same
        await events.wait_for(
            "camera.upserted", lambda d: d["camera"]["camera_id"] == "RT-SEEDED-2"
        )
        have = {c.camera_id for c in await store.list_cameras(svc.pool, svc.schema)}
    assert {"RT-NP-NEW", "RT-SEEDED-0", "RT-SEEDED-1", "RT-SEEDED-2"} <= have, have
