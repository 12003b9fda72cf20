"""A backing service that does not answer at all is a 503 naming it, on every page module —
not a 422, which blames the person's input; the overview still shows what it knows and marks
the rest unknown; a real refusal stays 422.

The console runs on the session's NATS with no ingest, health, notify, workflow or audit
service: every request it makes meets no responders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.support.console import sign_in

BASE = "http://console"

# (method, path, the service that must be named): a sample of each page module's pages
PAGES = [
    ("POST", "/alerts/a-silent-alert/ack", "notify"),  # app.py
    ("GET", "/requests", "workflow"),  # workflow_pages
    ("GET", "/requests/new/access", "workflow"),
    ("GET", "/requests/DY-2026-00001", "workflow"),
    ("GET", "/duty", "workflow"),
    ("GET", "/systems", "workflow"),
    ("GET", "/audit", "audit"),  # audit_pages
    ("GET", "/audit/entries/1", "audit"),
    ("GET", "/inventory", "ingest"),  # inventory_pages
    ("GET", "/inventory/silent-cam-1", "ingest"),
    ("GET", "/inventory/export.csv", "ingest"),
    ("GET", "/duty/directives", "notify"),  # duty_pages
]
API = [
    ("/api/audit/entries", "audit"),
    ("/alerts/a-silent-alert/ack", "notify"),
]


@asynccontextmanager
async def signed_in(console: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A system administrator (who may open every page) on the console."""
    transport = httpx.ASGITransport(app=console.asgi())
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as c:
        await sign_in(c, "nic_admin")
        yield c


@pytest.fixture
async def client(console: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(console) as c:
        yield c


async def test_each_page_module_answers_503_naming_the_silent_service(
    client: httpx.AsyncClient,
) -> None:
    for method, path, service in PAGES:
        r = await client.request(method, path, headers={"accept": "text/html"})
        assert r.status_code == 503, (path, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html"), path
        assert f"the {service} service did not answer" in r.text, (path, r.text[:300])
        assert "暂未应答" in r.text and "无人应答 no one answers" in r.text, path  # zh, en
        assert r.headers.get("retry-after"), path


async def test_the_api_answers_503_json_naming_the_service(client: httpx.AsyncClient) -> None:
    for path, service in API:
        method = "POST" if path.endswith("/ack") else "GET"
        r = await client.request(method, path, headers={"accept": "application/json"})
        assert r.status_code == 503, (path, r.text[:300])
        body: dict[str, Any] = r.json()
        assert body["ok"] is False and body["service"] == service, body
        assert body["code"] == "unavailable" and "did not answer" in body["error"]


async def test_the_overview_still_answers_and_marks_what_is_unknown(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert "unknown: a service did not answer" in page.text
    overview = (await client.get("/api/overview")).json()
    assert overview["totals"] is None and overview["open_faults"] is None
    assert any("the ingest service did not answer" in e for e in overview["errors"])


async def test_a_real_validation_error_is_still_422(client: httpx.AsyncClient) -> None:
    """The console's own check of an upload (no file chosen): the person's input, 422."""
    r = await client.post("/inventory/import", files={"other": ("x.txt", b"x")})
    assert r.status_code == 422, r.text[:300]
    assert "choose a .csv or .yaml file" in r.text


@pytest.fixture
async def with_audit(console: Any, audit_behind: None) -> AsyncIterator[httpx.AsyncClient]:
    """The console with an audit service of its own schema behind the audit pages."""
    async with signed_in(console) as c:
        yield c


async def test_a_service_that_answers_with_a_refusal_is_still_422(
    with_audit: httpx.AsyncClient,
) -> None:
    """Audit answers, refusing a time that is not one: the person's input, 422, its reason."""
    r = await with_audit.get("/audit", params={"since": "not-a-time"})
    assert r.status_code == 422, r.text[:300]
    assert "did not answer" not in r.text
    assert (await with_audit.get("/audit")).status_code == 200
