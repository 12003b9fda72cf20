"""A consumer ignores, and records, an event whose envelope names a source that may not
publish it (issue 11) — the second line behind the server's permissions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest

from cctv.contract import Envelope, Event, wrap
from cctv.contract.events import CameraRemoved
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from tests.support.events import EventLog


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[EventLog]:
    log = await EventLog().start(nats_url, ("cctv.dlq.>",))
    yield log
    await log.close()


async def test_an_event_from_the_wrong_source_is_dead_lettered_not_handled(
    nats_url: str, database_url: str, bus: EventLog
) -> None:
    key = f"cam{uuid.uuid4().hex[:8]}"
    svc = Service(
        "health",
        ServiceSettings(nats_url=nats_url, database_url=database_url),
        schema=f"src_{key}",
    )
    handled: list[str] = []
    genuine_handled = asyncio.Event()

    async def handler(env: Envelope, _event: Event) -> None:
        handled.append(env.source)
        genuine_handled.set()

    svc.consume(f"cctv.camera.removed.{key}", durable=f"src-{key}", handler=handler)
    event = CameraRemoved(camera_id=key, reason="forged")
    forged = wrap(event, source="workflow", key=key)
    genuine = wrap(event, source="ingest", key=key)
    async with svc.running():
        nc = await nats.connect(nats_url)  # admin: what the server would have refused
        try:
            js = nc.jetstream()
            await js.publish(f"cctv.camera.removed.{key}", forged.to_bytes())
            await js.publish(f"cctv.camera.removed.{key}", genuine.to_bytes())
        finally:
            await nc.close()
        [letter] = await bus.wait_for("dlq.dead_letter", lambda d: key in d["subject"])
        assert letter["data"]["reason"].startswith("source: 'workflow' may not publish")
        assert "only ingest" in letter["data"]["reason"]
        await asyncio.wait_for(genuine_handled.wait(), 15)  # published after the forged one
    assert handled == ["ingest"]
