"""Campus sign-on against stand-in identity services on real sockets (issue 11): OIDC
authorization code with PKCE, and CAS 3.0 ticket validation. The identity service says who;
the people directory says whether they may come in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.console.app import build as build_console
from services.console.settings import ConsoleSettings
from tests.support.events import EventLog
from tests.support.idp import StandInIdP

BASE = "http://console"


@pytest.fixture
async def idp() -> AsyncIterator[StandInIdP]:
    server = await StandInIdP().start()
    yield server
    await server.stop()


@pytest.fixture
async def console(nats_url: str, database_url: str, idp: StandInIdP) -> AsyncIterator[Any]:
    svc = build_console(
        ConsoleSettings(
            nats_url=nats_url,
            database_url=database_url,
            seed_demo=True,
            oidc_issuer=idp.url,
            oidc_client_id=idp.client_id,
            oidc_client_secret=idp.client_secret,
            cas_url=f"{idp.url}/cas",
            public_url=BASE,
        )
    )
    async with svc.running():
        yield svc


def browser(svc: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.asgi()), base_url=BASE)


async def via_idp(client: httpx.AsyncClient, start: str) -> httpx.Response:
    """Follow the browser's round trip: console → identity service → console callback."""
    to_idp = await client.get(start)
    assert to_idp.status_code == 303, to_idp.text
    async with httpx.AsyncClient() as outside:  # the identity service is a real server
        back = await outside.get(to_idp.headers["location"])
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(BASE)
    return await client.get(callback.removeprefix(BASE))


async def test_login_page_offers_campus_sign_on(console: Any) -> None:
    async with browser(console) as c:
        page = await c.get("/login")
        assert "/auth/oidc/login" in page.text and "/auth/cas/login" in page.text


async def test_oidc_code_flow_with_pkce_signs_on_a_person_in_the_directory(
    console: Any, idp: StandInIdP, nats_url: str
) -> None:
    bus = await EventLog().start(nats_url, ("cctv.people.>",))
    try:
        async with browser(console) as c:
            to_idp = await c.get("/auth/oidc/login")
            assert "code_challenge_method=S256" in to_idp.headers["location"]
            assert "nonce=" in to_idp.headers["location"]
            done = await via_idp(c, "/auth/oidc/login")
            assert done.status_code == 303 and done.headers["location"] == "/", done.text
            assert (await c.get("/api/overview")).status_code == 200
        assert idp.token_requests[-1]["code_verifier"]  # PKCE: the verifier went to the token
        await bus.wait_for(
            "people.login", lambda d: d["account"] == "leader" and d["via"] == "oidc" and d["ok"]
        )
    finally:
        await bus.close()


async def test_oidc_refuses_a_forged_token_a_foreign_state_and_unknown_people(
    console: Any, idp: StandInIdP
) -> None:
    async with browser(console) as c:
        idp.foreign_key = True
        r = await via_idp(c, "/auth/oidc/login")
        assert r.status_code == 401 and "signature" in r.text
        assert (await c.get("/api/overview")).status_code == 401
    idp.foreign_key = False
    async with browser(console) as c:
        to_idp = await c.get("/auth/oidc/login")
        async with httpx.AsyncClient() as outside:
            back = await outside.get(to_idp.headers["location"])
        forged = back.headers["location"].removeprefix(BASE).replace("state=", "state=x")
        r = await c.get(forged)
        assert r.status_code == 401 and "state" in r.text
    async with browser(console) as c:  # an attacker's browser never started a sign-on
        r = await c.get("/auth/oidc/callback?code=abc&state=def")
        assert r.status_code == 401
    idp.user = "stranger"
    async with browser(console) as c:
        r = await via_idp(c, "/auth/oidc/login")
        assert r.status_code == 403 and "people directory" in r.text


async def test_cas_ticket_validation_signs_on_and_refuses_a_replayed_ticket(
    console: Any, idp: StandInIdP
) -> None:
    idp.user = "guard"
    async with browser(console) as c:
        to_cas = await c.get("/auth/cas/login")
        assert to_cas.headers["location"].startswith(f"{idp.url}/cas/login?service=")
        async with httpx.AsyncClient() as outside:
            back = await outside.get(to_cas.headers["location"])
        callback = back.headers["location"].removeprefix(BASE)
        done = await c.get(callback)
        assert done.status_code == 303, done.text
        assert (await c.get("/api/overview")).status_code == 200
    async with browser(console) as c:
        again = await c.get(callback)  # a service ticket is good once
        assert again.status_code == 401 and "INVALID_TICKET" in again.text
        assert (await c.get("/api/overview")).status_code == 401
