"""One aiohttp server process that is many devices.

Addressing: a device is what answers at its host:port, as a real one is. The server binds
one listening socket per (host, port) and finds the device from the socket the request
arrived on (the local address), never from anything the client says. Two layouts:
- per-port: every device on 127.0.0.1 with its own port (port 0 = pick a free one);
- per-IP: every device on its own loopback address (127.0.x.y, all routed to `lo` on Linux)
  sharing one port -- thousands of devices without thousands of ports.
Paths pick the protocol: /ISAPI/* Hikvision, /cgi-bin/* Dahua, /onvif/* ONVIF (every device
speaks ONVIF, as real Hikvision and Dahua devices do).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from . import dahua, isapi, onvif
from .model import SimDevice


class DeviceServer:
    def __init__(self, devices: Iterable[SimDevice] = (), heartbeat_s: float = 5.0) -> None:
        self.devices: dict[tuple[str, int], SimDevice] = {}
        self.heartbeat_s = heartbeat_s
        self.stopping = asyncio.Event()
        self._pending = list(devices)
        self._runner: web.AppRunner | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self.state: dict[Any, Any] = {}  # per-device protocol state (finders, subscriptions)
        # what each device was asked: HTTP requests by device_id (401 challenges included),
        # and the last calls as (device_id, "METHOD /path?query" or "POST /onvif/... Op"),
        # so tests can say what one probe cost a device
        self.requests: Counter[str] = Counter()
        self.calls: deque[tuple[str, str]] = deque(maxlen=1000)

    def by_id(self, device_id: str) -> SimDevice:
        for d in self.devices.values():
            if d.device_id == device_id:
                return d
        raise KeyError(device_id)

    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await self.add(self._pending)
        self._pending = []

    async def add(self, devices: Iterable[SimDevice]) -> None:
        """Bind sockets for more devices; devices with port 0 get a free port each."""
        assert self._runner is not None and self._runner.server is not None, "start() first"
        factory = self._runner.server
        loop = asyncio.get_running_loop()
        by_port: dict[int, list[SimDevice]] = {}
        for d in devices:
            if d.port == 0:
                srv = await loop.create_server(factory, host=d.host, port=0)
                d.port = srv.sockets[0].getsockname()[1]
                self._servers.append(srv)
                self.devices[(d.host, d.port)] = d
            else:
                by_port.setdefault(d.port, []).append(d)
        for port, group in by_port.items():
            for i in range(0, len(group), 512):
                chunk = group[i : i + 512]
                srv = await loop.create_server(
                    factory,
                    host=[d.host for d in chunk],
                    port=port,
                    reuse_address=True,
                    backlog=512,
                )
                self._servers.append(srv)
                for d in chunk:
                    self.devices[(d.host, d.port)] = d

    async def stop(self) -> None:
        self.stopping.set()
        for s in self._servers:
            s.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._servers.clear()

    async def __aenter__(self) -> DeviceServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        dev = self.devices.get((sockname[0], sockname[1])) if sockname else None
        if dev is None:
            return web.Response(status=404, text="no such device")
        self.requests[dev.device_id] += 1
        if not request.path.startswith("/onvif/"):  # ONVIF names its operation (onvif.py)
            self.calls.append((dev.device_id, f"{request.method} {request.path_qs}"))
        f = dev.faults
        if f.offline:
            # A dead device: the connection goes away without an answer.
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        if f.hang:
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=3600)
            except TimeoutError:
                pass
            raise web.HTTPServiceUnavailable()
        if f.slow_s:
            await asyncio.sleep(f.slow_s)
        path = request.path
        if path.startswith("/ISAPI/") and dev.vendor == "hikvision":
            return await isapi.handle(self, dev, request)
        if path.startswith("/cgi-bin/") and dev.vendor == "dahua":
            return await dahua.handle(self, dev, request)
        if path.startswith("/onvif/"):
            return await onvif.handle(self, dev, request)
        return web.Response(status=404, text="Not Found")


def loopback_hosts(n: int, start: int = 2) -> list[str]:
    """n distinct loopback addresses 127.0.x.y (y in 1..254), all on `lo`."""
    out: list[str] = []
    i = start
    while len(out) < n:
        hi, lo = divmod(i, 254)
        out.append(f"127.{hi // 256}.{hi % 256}.{lo + 1}")
        i += 1
    return out
