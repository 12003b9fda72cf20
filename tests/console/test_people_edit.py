"""A person's shift and zone are edited in the console (issue 10: rosters edited like the
inventory), with the import's checks, each problem named by its field; NIC only."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from cctv.contract.people import PersonRecord
from services.console import people
from tests.support.console import sign_in

BASE = "http://console"


async def test_nic_edits_a_guards_shift_and_a_bad_one_names_the_field(console: Any) -> None:
    account = f"g-{uuid.uuid4().hex[:6]}"
    guard = PersonRecord(account=account, name="张伟", department="logistics", roles=["guard"],
                         zone="教学区", shift="08:00-20:00")  # fmt: skip
    await people.put_person(console.pool, guard, by="test")
    form = {"name": "张伟", "department": "logistics", "roles": "guard", "zone": "教学区",
            "phone": "", "email": "", "reason": "换班 shift swap"}  # fmt: skip
    transport = httpx.ASGITransport(app=console.asgi())
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as c:
        await sign_in(c, "nic_admin")
        assert (await c.get(f"/people/{account}")).status_code == 200
        bad = await c.post(f"/people/{account}", data=form | {"shift": "20:00-32:00"})
        assert bad.status_code == 422 and "shift" in bad.text
        missing_zone = await c.post(f"/people/{account}", data=form | {"zone": "", "shift": ""})
        assert missing_zone.status_code == 422 and "zone" in missing_zone.text
        ok = await c.post(f"/people/{account}", data=form | {"shift": "20:00-08:00"})
        assert ok.status_code == 200 and "已保存" in ok.text
    [me] = [p for p in await people.list_people(console.pool) if p.account == account]
    assert me.shift == "20:00-08:00" and me.zone == "教学区"
    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=30) as c:
        await sign_in(c, "duty")
        assert (await c.get(f"/people/{account}")).status_code == 403
