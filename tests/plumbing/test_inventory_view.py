"""The inventory view on the session's real JetStream: snapshot of every camera's last word,
then changes as they come (issue 9)."""

from __future__ import annotations

import uuid
from datetime import datetime

import nats

from cctv.contract import CameraRecord, Event, subject_for, wrap
from cctv.contract.events import CameraRemoved, CameraUpserted
from cctv.plumbing.inventory import InventoryView
from tests.support.waiting import ChangeFeed, eventually


def record(camera_id: str, building: str = "综合楼", zone: str = "办公区") -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name="走廊", system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building=building,
        position="1F", zone=zone, brand="hikvision", protocol="isapi", address="127.0.0.1:80",
        nvr_id="NVR-1", channel=1,
    )  # fmt: skip


async def publish(js: object, event: Event, key: str) -> None:
    env = wrap(event, source="test", key=key)
    await js.publish(subject_for(event, key), env.to_bytes())  # type: ignore[attr-defined]


async def test_snapshot_holds_every_cameras_last_word_then_follows(nats_url: str) -> None:
    p = f"V{uuid.uuid4().hex[:6]}"
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    a, b, c = f"{p}-A", f"{p}-B", f"{p}-C"
    await publish(js, CameraUpserted(camera=record(a)), a)
    await publish(js, CameraUpserted(camera=record(b)), b)
    await publish(js, CameraUpserted(camera=record(a, "图书馆", "教学区")), a)  # moved
    await publish(js, CameraRemoved(camera_id=b, reason="拆除"), b)
    await publish(js, CameraRemoved(camera_id=c, reason="x"), c)
    await publish(js, CameraUpserted(camera=record(c)), c)  # re-added after its removal
    many = [f"{p}-M{i:04d}" for i in range(300)]
    for cid in many:
        await publish(js, CameraUpserted(camera=record(cid)), cid)

    seen: list[tuple[str, str | None, str | None]] = []
    feed = ChangeFeed()

    async def on_change(
        camera_id: str, before: CameraRecord | None, after: CameraRecord | None, _at: datetime
    ) -> None:
        seen.append(
            (camera_id, before.building if before else None, after.building if after else None)
        )
        feed.bump()

    view = InventoryView(on_change, batch=64)
    await view.start(nc)
    try:
        assert view.ready.is_set()
        mine = {k: v for k, v in view.cameras.items() if k.startswith(p)}
        assert set(mine) == {a, c, *many}
        assert mine[a].building == "图书馆" and mine[a].zone == "教学区"
        assert b in view.removed and b not in view.cameras
        assert seen == []  # the snapshot is read, not replayed to listeners

        await publish(js, CameraUpserted(camera=record(a, "体育馆")), a)
        await publish(js, CameraRemoved(camera_id=c), c)
        await eventually(
            lambda: _async(len(seen)), lambda n: n >= 2, changes=feed, timeout=20,
            what="the view to hear both changes",
        )  # fmt: skip
        assert seen == [(a, "图书馆", "体育馆"), (c, "综合楼", None)]
        assert view.get(a).building == "体育馆" and view.get(c) is None  # type: ignore[union-attr]
    finally:
        await view.stop()
        await nc.close()


async def _async(value: int) -> int:
    return value
