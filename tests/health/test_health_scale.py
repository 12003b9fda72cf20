"""Health at a NIC's scale (issue 9, 5,000 cameras): ingest is asked about a camera only when
a fault needs its zone, once at a time, never during the inventory snapshot; every camera the
view holds has its series."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from cctv.contract import CameraRecord, rpc
from cctv.contract.events import CameraUpserted
from services.health.app import CAMERA_UP, HealthService
from tests.health.harness import T0, feed, open_faults, sample
from tests.support.waiting import ChangeFeed, eventually


def record(camera_id: str, zone: str) -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name="走廊", system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building="综合楼",
        position="1F", zone=zone, brand="hikvision", protocol="isapi", address="127.0.0.1:80",
    )  # fmt: skip


class IngestStandIn:
    """Answers `cctv.rpc.ingest.cameras` for this test's cameras and counts the questions."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.asked: list[str] = []
        self.changes = ChangeFeed()
        self.hold = asyncio.Event()  # set: answer; clear: keep the askers waiting
        self.hold.set()

    async def on_request(self, msg: Msg) -> None:
        camera_id = json.loads(msg.data or b"{}").get("camera_id", "")
        if not camera_id.startswith(self.prefix):
            return  # another test's question (the session shares NATS)
        self.asked.append(camera_id)
        self.changes.bump()
        await self.hold.wait()
        cam = record(camera_id, "来自采集 from ingest").model_dump(mode="json")
        await msg.respond(json.dumps({"ok": True, "cameras": [cam]}).encode())


@pytest.fixture
async def ingest(health: HealthService, nats_url: str) -> AsyncIterator[IngestStandIn]:
    stand_in = IngestStandIn(f"SC{uuid.uuid4().hex[:6]}")
    nc = await nats.connect(nats_url)
    await nc.subscribe(rpc.INGEST_CAMERAS, cb=stand_in.on_request)
    await nc.flush()
    await health.svc.broker.connect()
    yield stand_in
    stand_in.hold.set()
    await nc.close()
    await health.svc.broker.stop()


async def test_an_up_transition_never_asks_ingest(
    health: HealthService, ingest: IngestStandIn
) -> None:
    """A sample that outran its inventory event and finds the camera well: nothing to alert,
    so nothing to ask (at 5,000 cameras every cold start asked thousands of times)."""
    cameras = [f"{ingest.prefix}-U{i}" for i in range(20)]
    for camera_id in cameras:
        await sample(health, camera_id, T0, True)
    assert all(health.cache[c].state == "up" for c in cameras)
    assert ingest.asked == []


async def test_a_fault_for_an_unknown_camera_asks_once_at_a_time(
    health: HealthService, ingest: IngestStandIn
) -> None:
    """Raising a fault needs the zone: ingest is asked, once however many ask meanwhile."""
    camera_id = f"{ingest.prefix}-F"
    ingest.hold.clear()

    conns = [await health.pool.acquire() for _ in range(5)]
    askers = [asyncio.ensure_future(health._ask_inventory(c, camera_id)) for c in conns]
    await eventually(
        lambda: _value(len(ingest.asked)), changes=ingest.changes, what="ingest to be asked"
    )
    ingest.hold.set()
    found = await asyncio.gather(*askers)
    for conn in conns:
        await health.pool.release(conn)
    assert ingest.asked == [camera_id]
    assert all(c is not None and c.zone == "来自采集 from ingest" for c in found)

    # a camera down for good: the fault carries the zone ingest gave, without asking again
    other = f"{ingest.prefix}-G"
    for i in range(3):
        await sample(health, other, T0 + timedelta(seconds=i), False)
    faults = await open_faults(health, other)
    assert [f["kind"] for f in faults] == ["offline"]
    assert ingest.asked == [camera_id, other]


async def test_samples_wait_for_the_inventory_snapshot_instead_of_asking(
    health: HealthService, ingest: IngestStandIn
) -> None:
    """While the view still reads its snapshot, a camera's fault waits for it: the snapshot
    knows the camera, so ingest is never asked."""
    camera_id = f"{ingest.prefix}-S"
    waiting = ChangeFeed()
    health.view.ready = _WatchedEvent(waiting)
    for i in range(2):
        await sample(health, camera_id, T0 + timedelta(seconds=i), False)
    third = asyncio.ensure_future(sample(health, camera_id, T0 + timedelta(seconds=2), False))
    await eventually(
        lambda: _value(waiting.version), changes=waiting, what="the sample to wait for the view"
    )
    assert not third.done()
    # the snapshot arrives, holding the camera
    await health.view.apply(
        CameraUpserted(camera=record(camera_id, "快照 snapshot")), T0, notify=False
    )
    health.view.ready.set()
    await third
    assert ingest.asked == []
    assert [f["kind"] for f in await open_faults(health, camera_id)] == ["offline"]
    labels = {s.labels["zone"] for s in _up_series(camera_id)}
    assert labels == {"快照 snapshot"}


class _WatchedEvent(asyncio.Event):
    """The view's readiness, telling the test when someone starts waiting for it."""

    def __init__(self, feed: ChangeFeed) -> None:
        super().__init__()
        self.feed = feed

    async def wait(self) -> bool:  # type: ignore[override]
        if not self.is_set():
            self.feed.bump()
        return await super().wait()


def _up_series(camera_id: str) -> list[Any]:
    return [
        s for m in CAMERA_UP.collect() for s in m.samples if s.labels.get("camera_id") == camera_id
    ]


async def _value(value: int) -> int:
    return value


async def test_a_camera_the_view_took_silently_still_gets_its_series(
    health: HealthService,
) -> None:
    """The view's snapshot takes a camera without telling listeners; the durable consumer then
    delivers the same upsert, which the view sees as no change: the series is made anyway."""
    camera_id = f"SV{uuid.uuid4().hex[:6]}"
    event = CameraUpserted(camera=record(camera_id, "东区"))
    await health.view.apply(event, T0, notify=False)
    assert _up_series(camera_id) == []
    await feed(health, event, T0)
    assert {s.labels["zone"] for s in _up_series(camera_id)} == {"东区"}


async def test_housekeeping_gives_every_camera_in_the_view_its_series(
    health: HealthService,
) -> None:
    cameras = [f"SH{uuid.uuid4().hex[:6]}-{i}" for i in range(300)]
    for camera_id in cameras:
        await health.view.apply(CameraUpserted(camera=record(camera_id, "西区")), T0, notify=False)
    await health.ensure_series()
    assert all(len(_up_series(c)) == 1 for c in cameras)
