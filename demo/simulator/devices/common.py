"""Helpers shared by the simulated protocols: digest gate and the bad-input faults."""

from __future__ import annotations

from aiohttp import web

from . import digest
from .model import SimDevice


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
