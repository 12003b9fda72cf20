"""ICE for the viewer: which addresses and UDP ports media offers to browsers (ADR 0022).

Why: aioice (aiortc's ICE, pinned at 0.13.0) leaves loopback out of its host candidates and
binds any ephemeral UDP port. A viewer on the same machine (tests, `make run`) needs
127.0.0.1; a pod behind a Service or a firewall needs a known, small port range. aioice has
no setting for either, so both are set here, at one place, for the whole process: the host
address list replaces `aioice.ice.get_host_addresses`, and the UDP binds aioice makes are
moved into the configured range. ICE servers are explicit: aiortc's default is a public STUN
server, which a campus network must not depend on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from .ice_servers import IceServers, IceSettingError

__all__ = ["IceSettingError", "configure_ice", "port_range", "rtc_configuration"]


def port_range(first: int | None, last: int | None) -> tuple[int, int] | None:
    """MEDIA_RTC_PORT_MIN..MAX as a range; both unset → None (any ephemeral port)."""
    if first is None and last is None:
        return None
    if first is None or last is None or not (1024 <= first <= last <= 65535):
        raise IceSettingError(
            f"MEDIA_RTC_PORT_MIN/MEDIA_RTC_PORT_MAX must both be set, 1024-65535, MIN <= MAX "
            f"(got {first}..{last})"
        )
    return first, last


class _RangeLoop:
    """The running loop, except that a UDP bind to port 0 takes a free port of the range."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
        self._loop = loop
        self._ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, factory: Any, **kw: Any) -> Any:
        local = kw.get("local_addr")
        if not local or local[1] != 0:
            return await self._loop.create_datagram_endpoint(factory, **kw)
        first, last = self._ports
        for port in range(first, last + 1):
            try:
                return await self._loop.create_datagram_endpoint(
                    factory, **{**kw, "local_addr": (local[0], port)}
                )
            except OSError:
                continue
        raise OSError(f"no free UDP port in {first}-{last} on {local[0]} (MEDIA_RTC_PORT_MIN/MAX)")


class _AsyncioInRange:
    """`asyncio` as aioice.ice sees it: the same module, with the range-keeping loop."""

    def __init__(self, ports: tuple[int, int]) -> None:
        self._ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> Any:
        return _RangeLoop(asyncio.get_running_loop(), self._ports)


_ORIGINAL_HOSTS = aioice.ice.get_host_addresses
# aioice and aiortc log every candidate pair check at INFO: a line per check per viewer
for _name in ("aioice", "aiortc"):
    logging.getLogger(_name).setLevel(logging.WARNING)


_ORIGINAL_GATHER = aioice.ice.Connection.get_component_candidates


def _check_ip(address: str, setting: str) -> None:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)
    except OSError as exc:
        raise IceSettingError(f"{setting}: {address!r} is no IP address") from exc


def configure_ice(
    host_addresses: str = "", ports: tuple[int, int] | None = None, advertise: str = ""
) -> None:
    """Limit host candidates to `host_addresses` (comma-separated), UDP binds to `ports`,
    and advertise `advertise` in place of the bound address; empty values restore aioice's
    own behaviour."""
    wanted = [a.strip() for a in host_addresses.split(",") if a.strip()]
    for address in wanted:
        _check_ip(address, "WEBRTC_HOST_ADDRESSES")
    if advertise:
        _check_ip(advertise, "MEDIA_RTC_ADVERTISE_IP")
    if wanted:

        def hosts(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            return [a for a in wanted if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

        aioice.ice.get_host_addresses = hosts  # type: ignore[assignment]
    else:
        aioice.ice.get_host_addresses = _ORIGINAL_HOSTS  # type: ignore[assignment]
    aioice.ice.asyncio = _AsyncioInRange(ports) if ports else asyncio  # type: ignore[assignment]
    if advertise:

        async def gather(self: Any, component: int, addresses: list[str], timeout: int = 5) -> Any:
            found = await _ORIGINAL_GATHER(self, component, addresses, timeout)
            for c in found:
                if c.type == "host":  # the browser reaches the pod through this address
                    c.host = advertise
            return found

        aioice.ice.Connection.get_component_candidates = gather  # type: ignore[method-assign]
    else:
        aioice.ice.Connection.get_component_candidates = _ORIGINAL_GATHER  # type: ignore[method-assign]


def rtc_configuration(servers: IceServers, who: str = "media") -> Any:
    """Media's own peer: the configured servers only (never aiortc's default public STUN
    server). aiortc uses the first STUN and the first TURN URI it can (ADR 0028); with a
    shared secret media takes a login of its own, fresh for each session."""
    ice: list[RTCIceServer] = []
    stun = [u.text for u in servers.uris if not u.is_turn]
    turn = [u.text for u in servers.uris if u.is_turn]
    if stun:
        ice.append(RTCIceServer(urls=stun))
    if turn:
        username, credential, _ = servers.login(who)
        ice.append(RTCIceServer(urls=turn, username=username, credential=credential))
    return RTCConfiguration(iceServers=ice)
