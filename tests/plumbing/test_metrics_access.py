"""/metrics on a port people reach (the console) is not public (issue 17): a remote client
gets 404, loopback and a scraper with METRICS_TOKEN get the metrics; other services keep
serving them to the cluster's Prometheus."""

from __future__ import annotations

import httpx

from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings


async def scrape(svc: Service, client: str, token: str | None = None) -> int:
    transport = httpx.ASGITransport(app=svc.asgi(), client=(client, 40000))
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        return (await http.get("/metrics", headers=headers)).status_code


async def test_metrics_on_a_people_facing_port_need_loopback_or_the_token() -> None:
    svc = Service("facing", ServiceSettings(metrics_token="s3cret"), schema="s_unused")
    svc.metrics_public = False
    assert await scrape(svc, "203.0.113.9") == 404
    assert await scrape(svc, "203.0.113.9", "wrong") == 404
    assert await scrape(svc, "203.0.113.9", "s3cret") == 200
    assert await scrape(svc, "127.0.0.1") == 200


async def test_console_keeps_its_metrics_private() -> None:
    from services.console.app import build

    svc = build()
    assert svc.metrics_public is False
    assert await scrape(svc, "203.0.113.9") == 404


async def test_internal_services_still_serve_prometheus() -> None:
    svc = Service("inner", ServiceSettings(), schema="s_unused")
    assert await scrape(svc, "10.1.2.3") == 200
