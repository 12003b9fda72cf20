"""Graceful shutdown finishes the message in flight: stopping a service while a handler runs
lets it complete and ack, so nothing is cut half-way or handled twice (issue 2)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import nats

from cctv.contract import Envelope, Event
from cctv.contract.events import CameraRemoved
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings


async def test_stopping_mid_message_finishes_and_acks_it(nats_url: str, database_url: str) -> None:
    key = f"cam{uuid.uuid4().hex[:8]}"
    svc = Service(
        "ingest",  # camera.removed is ingest's to publish (cctv.contract.permissions)
        ServiceSettings(nats_url=nats_url, database_url=database_url),
        schema=f"s_{key}",
    )
    started, release, stop_called = asyncio.Event(), asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def handler(env: Envelope, _event: Event) -> None:
        started.set()
        await release.wait()
        handled.append(env.id)

    durable = f"shutdown-{key}"
    svc.consume(
        f"cctv.camera.removed.{key}", stream="CCTV_CAMERA", durable=durable, handler=handler
    )
    real_stop = svc.broker.stop

    async def observed_stop(*args: Any, **kwargs: Any) -> Any:
        stop_called.set()
        return await real_stop(*args, **kwargs)

    svc.broker.stop = observed_stop  # type: ignore[method-assign]
    running = svc.running()
    await running.__aenter__()
    env = await svc.publish(CameraRemoved(camera_id=key, reason="test"), key=key)
    await asyncio.wait_for(started.wait(), 15)

    stopping = asyncio.create_task(running.__aexit__(None, None, None))
    await asyncio.wait_for(stop_called.wait(), 15)  # shutdown has begun, the handler still runs
    assert not handled
    release.set()
    await asyncio.wait_for(stopping, 30)
    assert handled == [env.id]

    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info("CCTV_CAMERA", durable)
    finally:
        await nc.close()
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
    assert info.ack_floor is not None and info.ack_floor.stream_seq == info.delivered.stream_seq


async def test_shutdown_steps_run_last_first_while_nats_is_up_and_one_failure_stops_none(
    nats_url: str, database_url: str
) -> None:
    """A replica leaves its membership and closes device connections on the way out; NATS must
    still be connected for the leave, and a step that fails must not skip the others."""
    key = f"s_{uuid.uuid4().hex[:8]}"
    svc = Service("shutdowntest", ServiceSettings(nats_url=nats_url, database_url=database_url),
                  schema=key)  # fmt: skip
    ran: list[tuple[str, bool]] = []

    def step(name: str, fail: bool = False) -> Any:
        async def run() -> None:
            ran.append((name, svc.broker.connection.is_connected))
            if fail:
                raise RuntimeError(f"{name} failed")

        return run

    svc.before_stop(step("close devices"))
    svc.before_stop(step("leave membership", fail=True))
    async with svc.running():
        assert ran == []
    assert ran == [("leave membership", True), ("close devices", True)]
