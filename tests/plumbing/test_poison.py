"""Every message ends recorded: a payload that blows the parser's stack (RecursionError, not a
contract error) amid a burst of valid events is dead-lettered with its reason, and every valid
event is handled; request-reply answers it instead of leaving the caller to time out (issue 17)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import nats

from cctv.contract import Envelope, Event, subject_for, wrap
from cctv.contract.events import CameraRemoved
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from tests.support.waiting import ChangeFeed, eventually

DEPTH = 100_000
POISON = b"[" * DEPTH + b"]" * DEPTH  # 200 KB, nested 100,000 deep


def removed(key: str, i: int) -> tuple[str, bytes, str]:
    ev = CameraRemoved(camera_id=f"{key}-{i}", reason="burst")
    env = wrap(ev, source="test", key=key)
    return subject_for(ev, key), env.to_bytes(), env.id


async def test_a_recursion_bomb_amid_valid_events_is_dead_lettered_and_loses_nothing(
    nats_url: str, database_url: str
) -> None:
    key = f"p{uuid.uuid4().hex[:8]}"
    name = f"poison{key}"
    svc = Service(name, ServiceSettings(nats_url=nats_url, database_url=database_url),
                  schema=f"s_{key}")  # fmt: skip
    handled: set[str] = set()
    changes = ChangeFeed()

    async def handler(env: Envelope, _event: Event) -> None:
        handled.add(env.id)
        changes.bump()

    svc.consume(f"cctv.camera.removed.{key}", durable=f"poison-{key}", handler=handler)
    dead: list[dict[str, Any]] = []
    nc = await nats.connect(nats_url)

    async def on_dead(msg: Any) -> None:
        dead.append(json.loads(msg.data))
        changes.bump()

    await nc.subscribe(f"cctv.dlq.dead_letter.{name}", cb=on_dead)
    js = nc.jetstream()
    valid = [removed(key, i) for i in range(60)]
    try:
        async with svc.running():
            for i, (subject, data, eid) in enumerate(valid):
                if i % 20 == 10:
                    await js.publish(subject, POISON)
                await js.publish(subject, data, headers={"Nats-Msg-Id": eid})
            ids = {eid for _, _, eid in valid}

            async def progress() -> tuple[int, int]:
                return len(handled & ids), len(dead)

            await eventually(
                progress,
                lambda got: got == (60, 3),
                changes=changes,
                timeout=30,
                what="60 valid handled and 3 poison dead-lettered",
            )
            info = await js.consumer_info("CCTV_CAMERA", f"poison-{key}")
            assert info.config.max_deliver == -1  # the server never drops one unrecorded
    finally:
        await nc.close()
    for letter in dead:
        data = letter["data"]
        assert data["consumer"] == f"poison-{key}"
        assert "nested too deep" in data["reason"], data["reason"]
        assert base64.b64decode(data["raw_base64"]) == POISON[:65536]


async def test_a_responder_answers_a_request_it_cannot_parse(
    nats_url: str, database_url: str
) -> None:
    key = uuid.uuid4().hex[:8]
    svc = Service(f"rpc{key}", ServiceSettings(nats_url=nats_url, database_url=database_url),
                  schema=f"s_rpc{key}")  # fmt: skip

    async def echo(req: dict[str, Any]) -> dict[str, Any]:
        return {"echo": req}

    subject = f"cctv.rpc.test{key}"
    svc.respond(subject, echo)
    nc = await nats.connect(nats_url)
    try:
        async with svc.running():
            reply = await nc.request(subject, POISON, timeout=10)
            body = json.loads(reply.data)
            assert body["ok"] is False and body["error"]
            good = await nc.request(subject, b'{"x": 1}', timeout=10)
            assert json.loads(good.data) == {"ok": True, "echo": {"x": 1}}
    finally:
        await nc.close()
