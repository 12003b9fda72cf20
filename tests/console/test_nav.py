"""Navigation shows only what a role may open: each link's permission is its route's own."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from services.console.nav import NAV
from tests.support.console import sign_in

BASE = "http://console"
NAV_BLOCK = re.compile(r"<nav>(.*?)</nav>", re.S)
HREF = re.compile(r'href="([^"]+)"')
# one demo account per role (demo/campus.py DEMO_PEOPLE)
ACCOUNTS = (
    "duty", "guard", "gatekeeper", "logistics_head", "leader", "nic_admin", "nic_duty",
    "security_head",
)  # fmt: skip


# an audit service of its own behind the Audit page (conftest.py), beside the console
pytestmark = pytest.mark.usefixtures("audit_behind")


def opens(page: httpx.Response) -> bool:
    """The page was let through: 200, or 503 because the service behind it is not running
    here (only audit is; the gate refuses with 403 before a page asks any service)."""
    if page.status_code == 503:
        return "audit service did not answer" not in page.text and "did not answer" in page.text
    return page.status_code == 200


@pytest.mark.parametrize("account", ACCOUNTS)
async def test_every_link_shown_opens_and_no_link_leads_to_a_refusal(
    console: Any, account: str
) -> None:
    transport = httpx.ASGITransport(app=console.asgi())
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as c:
        await sign_in(c, account)
        page = await c.get("/")
        assert page.status_code == 200
        block = NAV_BLOCK.search(page.text)
        assert block, "no navigation on the overview"
        shown = HREF.findall(block.group(1))
        assert "/" in shown and "/duty" in shown
        for path in shown:
            assert opens(await c.get(path)), (account, path)
        for link in NAV:
            if link.path not in shown:
                assert (await c.get(link.path)).status_code == 403, (account, link.path)


async def test_the_audit_link_is_not_shown_to_duty_or_guards(console: Any) -> None:
    transport = httpx.ASGITransport(app=console.asgi())
    for account, sees_audit in (("duty", False), ("guard", False), ("leader", True)):
        async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as c:
            await sign_in(c, account)
            block = NAV_BLOCK.search((await c.get("/")).text)
            assert block is not None
            assert ('href="/audit"' in block.group(1)) is sees_audit, account
