"""A device's connection is kept from one sample to the next (issue 9): at 5,000 cameras a
new TCP connection per probe, opened and closed by both ends, was a tenth of ingest's CPU."""

from __future__ import annotations

import resource
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from services.ingest.adapters.base import DeviceTarget
from services.ingest.adapters.http import DeviceHttp, HttpSettings, allow_open_files
from services.ingest.adapters.wiring import DeviceProbes, resolver_from
from services.ingest.settings import IngestSettings


@pytest.fixture
async def device() -> AsyncIterator[tuple[int, list[int]]]:
    """A device answering on a free port; each request's client port, in order."""
    peers: list[int] = []

    async def status(request: web.Request) -> web.Response:
        assert request.transport is not None
        peers.append(request.transport.get_extra_info("peername")[1])
        return web.Response(text="<ok/>", content_type="application/xml")

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port, peers
    await runner.cleanup()


async def test_consecutive_samples_of_a_device_share_one_connection(
    device: tuple[int, list[int]],
) -> None:
    port, peers = device
    http = DeviceHttp(HttpSettings(keepalive_s=60.0))
    target = DeviceTarget("KA-1", "isapi", "127.0.0.1", port, 1, None)
    try:
        for _ in range(3):
            assert (await http.request(target, "GET", "/status")).status == 200
    finally:
        await http.close()
    assert len(peers) == 3 and len(set(peers)) == 1  # one connection, three requests


def test_the_connection_outlives_the_sample_period(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """aiohttp closes a connection idle for 15 s by default: with samples 30 s apart every
    probe opened a new one."""
    for period in (5.0, 30.0, 120.0):
        settings = IngestSettings(sample_interval_s=period, device_secrets_dir=tmp_path)
        probes = DeviceProbes(settings, resolver_from(settings))
        assert probes.http.settings.keepalive_s > period + 1.0


def test_open_files_are_allowed_up_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    got = allow_open_files()
    assert got >= soft
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == got
    if hard != resource.RLIM_INFINITY:
        assert got == hard
