"""Signing in to a console as a browser does: fetch the login form for its CSRF token, post it
with the page's Origin, then send the session's token and Origin with every later request."""

from __future__ import annotations

import re

import httpx

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


async def sign_in(
    client: httpx.AsyncClient,
    account: str,
    password: str = "cctv-demo",
    *,
    expect: int = 303,
    base: str = "",
) -> httpx.Response:
    """`base`: the console's URL when the client has no base_url of its own."""
    client.headers["origin"] = base or str(client.base_url).rstrip("/")
    page = await client.get(f"{base}/login")
    data = {"account": account, "password": password, "csrf_token": csrf_of(page.text)}
    r = await client.post(f"{base}/login", data=data)
    assert r.status_code == expect, r.text
    if expect == 303:
        client.headers["x-csrf-token"] = csrf_of(
            (await client.get(f"{base}/account/password")).text
        )
    return r
