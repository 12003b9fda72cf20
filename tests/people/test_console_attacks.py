"""Each console attack of issue 11, automated: every one must fail against the console."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from starlette.routing import Mount, Route

from services.console.app import build as build_console
from services.console.app import check_secret
from services.console.security import COOKIE, PERMISSIONS, PUBLIC, SIGNED_IN
from services.console.settings import ConsoleSettings
from services.workflow.app import build as build_workflow
from services.workflow.settings import WorkflowSettings
from tests.support.console import csrf_of, sign_in

BASE = "http://console"


def client(svc: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.asgi()), base_url=BASE)


def test_refuses_to_start_with_a_default_or_empty_secret_outside_the_demo(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    for secret in ("", "change-me-in-production", "short"):
        with pytest.raises(SystemExit, match="SESSION_SECRET"):
            check_secret(ConsoleSettings(session_secret=secret, seed_demo=False))
    check_secret(ConsoleSettings(session_secret="x" * 40, seed_demo=False))
    check_secret(ConsoleSettings(session_secret="", seed_demo=True))
    env = {
        **os.environ,
        "SEED_DEMO": "false",
        "SESSION_SECRET": "change-me-in-production",
        "CCTV_HOME": str(tmp_path),
    }
    run = subprocess.run(
        [sys.executable, "-m", "services.console"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "refusing to start" in run.stderr


async def test_a_cookie_signed_with_the_default_secret_is_not_a_session(console: Any) -> None:
    """The attack: sign {"account": "leader"} with the well-known default secret."""
    forged = URLSafeSerializer("change-me-in-production", salt="cctv-session").dumps("x" * 43)
    async with client(console) as c:
        c.cookies.set(COOKIE, forged)
        r = await c.get("/audit")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        c.cookies.set("session", "eyJhY2NvdW50IjogImxlYWRlciJ9.forged")
        assert (await c.get("/api/overview")).status_code == 401


async def test_logout_ends_the_session_on_the_server(console: Any) -> None:
    async with client(console) as c:
        await sign_in(c, "leader")
        kept = c.cookies.get(COOKIE)
        assert kept is not None
        assert (await c.get("/api/overview")).status_code == 200
        assert (await c.post("/logout")).status_code == 303
    async with client(console) as replay:  # someone who copied the cookie before logout
        replay.cookies.set(COOKIE, kept)
        assert (await replay.get("/api/overview")).status_code == 401


async def test_disabling_a_person_ends_their_sessions(console: Any) -> None:
    async with client(console) as guard, client(console) as nic:
        await sign_in(guard, "guard2")
        assert (await guard.get("/api/overview")).status_code == 200
        await sign_in(nic, "nic_admin")
        r = await nic.post("/people", data={"account": "guard2", "action": "disable"})
        assert r.status_code == 200, r.text
        try:
            assert (await guard.get("/api/overview")).status_code == 401
            async with client(console) as again:
                await sign_in(again, "guard2", expect=401)
        finally:
            await nic.post("/people", data={"account": "guard2", "action": "enable"})


async def test_wrong_passwords_lock_the_account_and_throttle_the_address(console: Any) -> None:
    async with client(console) as c:
        for _ in range(4):
            await sign_in(c, "gatekeeper", "wrong", expect=401)
        await sign_in(c, "gatekeeper", "wrong", expect=423)  # the fifth locks it
        # the next try, even with the right password, meets a locked account
        r = await sign_in(c, "gatekeeper", "cctv-demo", expect=423)
        assert "锁定" in r.text
        for _ in range(4):  # the address is throttled as well (10 failures in 10 minutes)
            await sign_in(c, "nobody", "wrong", expect=401)
        r = await sign_in(c, "duty2", "cctv-demo", expect=429)
        assert "too many attempts" in r.text
    await console.pool.execute(
        "UPDATE console.people SET locked_until=NULL, failed_logins=0 WHERE account='gatekeeper'"
    )
    console.state["console"].throttle._failures.clear()


async def test_a_post_without_csrf_token_or_from_a_foreign_origin_is_refused(console: Any) -> None:
    async with client(console) as c:
        await sign_in(c, "guard")
        token = c.headers.pop("x-csrf-token")
        r = await c.post("/alerts/A-1/ack")  # no token
        assert r.status_code == 403 and "CSRF" in r.text
        r = await c.post(
            "/alerts/A-1/ack", headers={"x-csrf-token": token, "origin": "https://evil.example"}
        )
        assert r.status_code == 403 and "cross-site" in r.text
        del c.headers["origin"]
        r = await c.post("/alerts/A-1/ack", headers={"x-csrf-token": token})
        assert r.status_code == 403 and "Origin" in r.text
        r = await c.post("/alerts/A-1/ack", headers={"x-csrf-token": token, "origin": BASE})
        assert r.status_code != 403


@pytest.fixture
async def with_workflow(nats_url: str, database_url: str, console: Any) -> AsyncIterator[Any]:
    """The console with a workflow of its own schema behind the request and duty pages (a
    silent workflow is a 503 page, without the forms)."""
    tag = uuid.uuid4().hex[:8]
    wf = build_workflow(
        WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0),
        schema=f"wfa_{tag}",
        durable_suffix=f"-a{tag}",
    )
    async with wf.running():
        yield console


async def test_every_post_form_carries_the_csrf_token(with_workflow: Any) -> None:
    console = with_workflow
    async with client(console) as c:
        await sign_in(c, "nic_admin")
        for path in ("/", "/people", "/account/password", "/requests", "/duty", "/systems"):
            page = await c.get(path)
            forms = re.findall(r"<form\b[^>]*method=\"?post[^>]*>", page.text, re.I)
            assert forms, path
            assert page.text.count('name="csrf_token"') >= len(forms), path
            assert csrf_of(page.text) == c.headers["x-csrf-token"]


async def test_session_cookies_are_secure_behind_https(console: Any) -> None:
    async with client(console) as c:
        c.headers["x-forwarded-proto"] = "https"
        c.headers["origin"] = "https://console"
        page = await c.get("/login")
        assert "Secure" in page.headers["set-cookie"]
        # the proxy speaks HTTPS to the browser; httpx (on http://) holds back Secure cookies
        login_cookie = page.headers["set-cookie"].split(";")[0]
        r = await c.post(
            "/login",
            data={"account": "duty", "password": "cctv-demo", "csrf_token": csrf_of(page.text)},
            headers={"cookie": login_cookie},
        )
        assert r.status_code == 303
        session = [h for h in r.headers.get_list("set-cookie") if h.startswith(COOKIE)]
        assert session and "Secure" in session[0] and "HttpOnly" in session[0]
        assert "SameSite=Strict" in session[0]


def test_every_route_declares_its_permission() -> None:
    svc = build_console(ConsoleSettings(seed_demo=True))
    missing = []
    for route in svc.routes:
        if isinstance(route, Route | Mount):
            perm = getattr(
                route.endpoint if isinstance(route, Route) else route, "permission", None
            )
            if route.path in ("/healthz", "/readyz", "/metrics"):
                continue
            if perm is None:
                missing.append(route.path)
                continue
            for p in perm.values() if isinstance(perm, dict) else [perm]:
                assert p in (PUBLIC, SIGNED_IN) or p in PERMISSIONS, (route.path, p)
    assert not missing, f"routes without a declared permission: {missing}"


async def test_a_guard_may_not_change_a_systems_responsible_person(console: Any) -> None:
    async with client(console) as c:
        await sign_in(c, "guard")
        r = await c.post(
            "/systems",
            data={
                "what": "responsible",
                "system_id": "A1-06",
                "department": "logistics",
                "person_id": "x",
                "name": "冒名",
                "reason": "x",
            },
        )
        assert r.status_code == 403 and "Art. 9" in r.text


async def test_people_pages_are_for_nic_only(console: Any) -> None:
    async with client(console) as c:
        await sign_in(c, "duty")
        assert (await c.get("/people")).status_code == 403
        assert (await c.get("/people/export.csv")).status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/requests/<script>alert(1)</script>",
        "/requests/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E/print",
        "/audit/entries/<script>x</script>",
        "/inventory/<script>x</script>",
        "/no/such/<script>x</script>",
        "/people/export.<script>x</script>",
    ],
)
async def test_error_pages_escape_what_they_show(console: Any, path: str) -> None:
    async with client(console) as c:
        await sign_in(c, "nic_admin")
        r = await c.get(path)
        assert "<script>" not in r.text and "<img src=x" not in r.text, r.text


async def test_change_password_keeps_to_the_policy_and_is_audited(
    console: Any, nats_url: str
) -> None:
    from tests.support.events import EventLog

    bus = await EventLog().start(nats_url, ("cctv.people.>",))
    try:
        async with client(console) as c:
            await sign_in(c, "student_head")
            weak = await c.post(
                "/account/password",
                data={"current": "cctv-demo", "new": "short", "confirm": "short"},
            )
            assert weak.status_code == 422 and "12" in weak.text
            named = "Student_head-2026!"
            r = await c.post(
                "/account/password", data={"current": "cctv-demo", "new": named, "confirm": named}
            )
            assert r.status_code == 422 and "account" in r.text
            wrong = await c.post(
                "/account/password",
                data={"current": "nope", "new": "Xy7!abcdefgh", "confirm": "Xy7!abcdefgh"},
            )
            assert wrong.status_code == 422 and "current password is wrong" in wrong.text
            ok = await c.post(
                "/account/password",
                data={"current": "cctv-demo", "new": "Xy7!abcdefgh", "confirm": "Xy7!abcdefgh"},
            )
            assert ok.status_code == 200 and "password changed" in ok.text
        async with client(console) as c:
            await sign_in(c, "student_head", "cctv-demo", expect=401)
            await sign_in(c, "student_head", "Xy7!abcdefgh")
        await bus.wait_for(
            "people.changed",
            lambda d: d["person"]["account"] == "student_head" and d["change"] == "password",
        )
    finally:
        from cctv.plumbing.passwords import hash_password

        await console.pool.execute(
            "UPDATE console.people SET password_hash=$1, failed_logins=0, locked_until=NULL "
            "WHERE account='student_head'",
            hash_password("cctv-demo"),
        )
        await bus.close()
