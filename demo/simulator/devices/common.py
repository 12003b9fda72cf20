"""Helpers shared by the simulated protocols: digest gate, the bad-input faults and the
long-lived event stream."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Container
from typing import TYPE_CHECKING

from aiohttp import web

from . import digest
from .model import SimDevice

if TYPE_CHECKING:
    from .server import DeviceServer


def realm_of(dev: SimDevice) -> str:
    if dev.vendor == "dahua":
        return f"Login to {dev.serial}"
    return f"IP Camera({dev.serial[-5:]})"


def authorize(dev: SimDevice, request: web.Request) -> web.Response | None:
    """None when the request carries a valid digest; otherwise the 401 to send."""
    realm = realm_of(dev)
    verdict = digest.check(
        request.headers.get("Authorization"),
        request.method,
        realm,
        dev.username,
        dev.current_password(),
    )
    if verdict == "ok":
        return None
    return web.Response(
        status=401,
        text="Unauthorized",
        headers={"WWW-Authenticate": digest.challenge(realm, stale=verdict == "stale")},
    )


def misbehave(dev: SimDevice, kind: str) -> web.Response | None:
    """The garbage / wrong-content-type faults, shaped like what broken devices send."""
    if dev.faults.wrong_content_type:
        return web.Response(text="<html><body>Login</body></html>", content_type="text/html")
    if dev.faults.garbage:
        if kind == "xml":
            return web.Response(
                body=b'<?xml version="1.0"?><Time><localTime>2024-', content_type="application/xml"
            )
        return web.Response(body=b"\x00\x01garbage{{{\nno-equals-here", content_type="text/plain")
    return None


async def event_stream(
    sim: DeviceServer,
    dev: SimDevice,
    request: web.Request,
    *,
    content_type: str,
    part_type: str,
    codes: tuple[str, str],
    part: Callable[[int, str, bool], bytes],
    heartbeat: Callable[[], bytes],
    wanted: Container[str] | None = None,
) -> web.StreamResponse:
    """A vendor's multipart event stream, until the device goes offline: a part when a
    channel's video loss or tamper (``codes``: the vendor's names for them, ``wanted`` the
    ones subscribed to) changes, and a heartbeat part every ``heartbeat_s``."""
    boundary = content_type.rsplit("boundary=", 1)[1]
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    await resp.prepare(request)
    last: dict[tuple[int, str], bool] = {}
    beat = 0.0
    while not sim.stopping.is_set() and not dev.faults.offline:
        parts = []
        for ch, st in dev.chan.items():
            for code, on in zip(codes, (st.video_loss, st.tamper), strict=True):
                if wanted is not None and code not in wanted:
                    continue
                if last.get((ch, code), False) != on:
                    parts.append(part(ch, code, on))
                last[(ch, code)] = on
        if beat <= 0:
            parts.append(heartbeat())
            beat = sim.heartbeat_s
        for p in parts:
            head = f"--{boundary}\r\nContent-Type: {part_type}\r\nContent-Length: {len(p)}\r\n\r\n"
            await resp.write(head.encode() + p + b"\r\n")
        await asyncio.sleep(0.1)
        beat -= 0.1
    return resp
