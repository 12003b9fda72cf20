"""The simplest device check: is the simulator's status endpoint for this camera answering?

The protocol adapters (ISAPI, Dahua, ONVIF, RTSP) replace it camera by camera; it stays as
the fallback for devices whose protocol has no adapter yet.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from cctv.contract import CameraRecord
from cctv.contract.events import HealthSample


class BasicStatusProbe:
    def __init__(self, client: httpx.AsyncClient, timeout_s: float) -> None:
        self.client = client
        self.timeout_s = timeout_s

    async def probe(self, camera: CameraRecord) -> HealthSample:
        started = time.perf_counter()
        now = datetime.now(UTC)
        url = f"http://{camera.address}/cameras/{camera.camera_id}/status"
        try:
            resp = await self.client.get(url, timeout=self.timeout_s)
        except httpx.TimeoutException:
            return HealthSample(
                camera_id=camera.camera_id,
                sampled_at=now,
                reachable=False,
                error=f"no answer within {self.timeout_s}s",
            )
        except httpx.HTTPError as exc:
            return HealthSample(
                camera_id=camera.camera_id,
                sampled_at=now,
                reachable=False,
                error=f"connection failed: {exc.__class__.__name__}",
            )
        latency = (time.perf_counter() - started) * 1000
        if resp.status_code != 200:
            return HealthSample(
                camera_id=camera.camera_id,
                sampled_at=now,
                reachable=False,
                latency_ms=latency,
                error=f"HTTP {resp.status_code}",
            )
        try:
            body = resp.json()
        except ValueError:
            return HealthSample(
                camera_id=camera.camera_id,
                sampled_at=now,
                reachable=True,
                latency_ms=latency,
                error="status is not JSON",
            )
        return HealthSample(
            camera_id=camera.camera_id,
            sampled_at=now,
            reachable=bool(body.get("online")),
            latency_ms=latency,
            streaming=bool(body.get("video", True)),
            recording=bool(body.get("recording", True)),
            disk_state=str(body.get("disk", "ok")),
        )
