"""The simulated fleet: per-camera fault state, a status endpoint, and a control API.

The control API is what `cctv sim break/mend` talks to. Protocol servers (ISAPI, Dahua,
ONVIF, RTSP) read the same `Fleet` state, so a fault injected here shows on every protocol.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from cctv.contract import CameraRecord

FAULTS = (
    "offline",
    "slow",
    "wrong_password",
    "disk_error",
    "video_loss",
    "clock_drift",
    "covered",
    "moved",
    "blur",
    "recording_gap",
    "early_overwrite",
    "deleted_segment",
    "disarmed",  # Art. 12: the recorder's record schedule / recording job switched off
    # bad input from a misbehaving device (issue #5): malformed XML/JSON/text bodies, an HTML
    # page instead of the API, a device that accepts and never answers (HTTP and RTSP), an
    # NVR listing one-second segments (millions), random bytes on the RTSP socket
    "garbage",
    "wrong_content_type",
    "hang",
    "flood",
)


@dataclass
class SimCamera:
    record: CameraRecord
    faults: set[str] = field(default_factory=set)


class Fleet:
    """All simulated cameras and their injected faults."""

    def __init__(self, cameras: list[CameraRecord]) -> None:
        self.cameras = {c.camera_id: SimCamera(c) for c in cameras}
        self.listeners: list[Callable[[str, set[str]], None]] = []

    def get(self, camera_id: str) -> SimCamera:
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise KeyError(f"no simulated camera {camera_id!r}") from None

    def break_(self, camera_id: str, fault: str = "offline") -> set[str]:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; one of: {', '.join(FAULTS)}")
        cam = self.get(camera_id)
        cam.faults.add(fault)
        self._changed(camera_id, cam.faults)
        return cam.faults

    def mend(self, camera_id: str, fault: str | None = None) -> set[str]:
        cam = self.get(camera_id)
        if fault is None:
            cam.faults.clear()
        else:
            cam.faults.discard(fault)
        self._changed(camera_id, cam.faults)
        return cam.faults

    def _changed(self, camera_id: str, faults: set[str]) -> None:
        for listener in self.listeners:
            listener(camera_id, set(faults))


def control_routes(fleet: Fleet) -> list[web.RouteDef]:
    async def list_cameras(_req: web.Request) -> web.Response:
        return web.json_response(
            [
                {"camera_id": c.record.camera_id, "faults": sorted(c.faults)}
                for c in fleet.cameras.values()
            ]
        )

    async def change(req: web.Request) -> web.Response:
        camera_id = req.match_info["camera_id"]
        body = await req.json() if req.can_read_body else {}
        fault = body.get("fault") if isinstance(body, dict) else None
        try:
            if req.match_info["action"] == "break":
                faults = fleet.break_(camera_id, fault or "offline")
            else:
                faults = fleet.mend(camera_id, fault)
        except KeyError as exc:
            return web.json_response({"error": str(exc)}, status=404)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"camera_id": camera_id, "faults": sorted(faults)})

    async def status(req: web.Request) -> web.Response:
        try:
            cam = fleet.get(req.match_info["camera_id"])
        except KeyError as exc:
            return web.json_response({"error": str(exc)}, status=404)
        if "offline" in cam.faults:
            return web.json_response({"online": False}, status=503)
        if "slow" in cam.faults:
            await asyncio.sleep(3.0)
        return web.json_response(
            {
                "online": True,
                "recording": "recording_gap" not in cam.faults,
                "video": "video_loss" not in cam.faults,
                "disk": "error" if "disk_error" in cam.faults else "ok",
            }
        )

    return [
        web.get("/control/cameras", list_cameras),
        web.post(r"/control/cameras/{camera_id}/{action:break|mend}", change),
        web.get("/cameras/{camera_id}/status", status),
    ]


def build_app(fleet: Fleet) -> web.Application:
    app = web.Application()
    app.add_routes(control_routes(fleet))
    return app


async def serve(fleet: Fleet, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(build_app(fleet), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def main() -> None:
    from demo.campus import demo_size, generate

    parser = argparse.ArgumentParser(description="campus-cctv device simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    # media hook (issue #5): RTSP for every camera. Default: the media gateway address at the
    # simulator's port number (ingest derives it from SIM_ADDRESS); SIM_RTSP_PORT / --rtsp-port
    # put it on --host at that port instead.
    parser.add_argument("--rtsp-port", type=int, default=int(os.environ.get("SIM_RTSP_PORT", 0)))
    # a fleet of other cameras than the demo campus (benches: an inventory file of thousands)
    parser.add_argument("--inventory", default=None, help="YAML list of camera records")
    args = parser.parse_args()
    if args.inventory:
        import yaml

        with open(args.inventory, encoding="utf-8") as f:
            fleet = Fleet([CameraRecord.model_validate(row) for row in yaml.safe_load(f)])
    else:
        fleet = Fleet(generate(f"{args.host}:{args.port}", cameras=demo_size()))

    async def run() -> None:
        await serve(fleet, args.host, args.port)
        from demo.simulator.devices.bridge import DEMO_LOGIN, MEDIA_HOST
        from demo.simulator.rtsp_server import serve_fleet  # media hook (issue #5)

        rtsp_host, rtsp_port = (
            (args.host, args.rtsp_port) if args.rtsp_port else (MEDIA_HOST, args.port)
        )
        rtsp = await serve_fleet(
            fleet, rtsp_host, rtsp_port, username=DEMO_LOGIN[0], password=DEMO_LOGIN[1]
        )
        print(f"simulator: RTSP on {rtsp.url_for('<camera_id>')}", flush=True)
        # devices hook (issue #5): ISAPI / Dahua / ONVIF per camera on 127.0.10.x:<port>
        from demo.simulator.devices.bridge import serve_fleet_devices

        devices = await serve_fleet_devices(fleet, args.port)
        print(
            f"simulator: {len(devices.devices)} devices (ISAPI/Dahua/ONVIF) on 127.0.10.x:"
            f"{args.port}",
            flush=True,
        )
        print(
            f"simulator: {len(fleet.cameras)} cameras on http://{args.host}:{args.port}", flush=True
        )
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
