"""Request-reply past NATS's 1 MB payload limit (issue 17): a 20,000-camera list (~8 MB) and
an import of the same size go through the object store; handlers and callers see plain JSON."""

from __future__ import annotations

import uuid
from typing import Any

from cctv.plumbing.bigpayload import INLINE_LIMIT
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings


def camera(i: int) -> dict[str, Any]:
    return {"camera_id": f"CAM-{i:05d}", "name": f"教学楼{i}号摄像机", "building": "教学楼",
            "address": f"10.{i // 250}.{i % 250}.1:80", "note": "x" * 300}  # fmt: skip


async def test_twenty_thousand_cameras_both_ways(nats_url: str, database_url: str) -> None:
    key = uuid.uuid4().hex[:8]
    settings = ServiceSettings(nats_url=nats_url, database_url=database_url)
    server = Service(f"big{key}", settings, schema=f"s_big{key}")
    client = Service(f"bigc{key}", settings, schema=f"s_bigc{key}")
    estate = [camera(i) for i in range(20_000)]
    received: list[int] = []

    async def cameras(req: dict[str, Any]) -> dict[str, Any]:
        received.append(len(req.get("content", [])))
        return {"cameras": estate}

    subject = f"cctv.rpc.big{key}"
    server.respond(subject, cameras)
    async with server.running(), client.running():
        reply = await client.request(subject, {"content": estate}, timeout=60)
        assert reply["ok"] is True
        assert reply["cameras"] == estate
        assert received == [20_000]
        small = await client.request(subject, {}, timeout=60)  # small requests stay inline
        assert len(small["cameras"]) == 20_000
    assert len(str(estate).encode()) > 2 * 1024 * 1024 > INLINE_LIMIT
