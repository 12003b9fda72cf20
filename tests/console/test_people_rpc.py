"""The console's people responders take the contract's typed requests (issue 8): a request
that does not fit is refused naming the field, and a refused change changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from cctv.contract import rpc
from cctv.contract.people import PersonRecord
from services.console import people
from tests.support import asking
from tests.support.identity import headers_as, identity

NIC = identity("nic_admin", "sysadmin", department="nic", name="赵敏")


async def ask(nats_url: str, subject: str, body: Any) -> dict[str, Any]:
    return await asking.ask(nats_url, subject, body, headers_as(NIC))


async def test_people_requests_are_typed_and_a_refused_password_changes_nobody(
    console: Any, nats_url: str
) -> None:
    account = f"g-{uuid.uuid4().hex[:6]}"
    guard = PersonRecord(account=account, name="张伟", department="logistics", roles=["guard"],
                         zone="教学区", shift="08:00-20:00")  # fmt: skip
    await people.put_person(console.pool, guard, by="test")

    bad = await ask(nats_url, rpc.PEOPLE_EXPORT, {"format": "xlsx"})
    assert bad["ok"] is False and bad["code"] == "invalid_request" and "format" in bad["error"]
    bad = await ask(nats_url, rpc.PEOPLE_IMPORT, {"content": "x"})
    assert bad["ok"] is False and "filename" in bad["error"]
    bad = await ask(nats_url, rpc.PEOPLE_SET, {"person": {**guard.model_dump(), "shift": "8-20"}})
    assert bad["ok"] is False and "shift" in bad["error"]

    # a password the policy refuses: the whole change is refused, the shift stays as it was
    moved = {**guard.model_dump(), "shift": "20:00-08:00"}
    weak = await ask(nats_url, rpc.PEOPLE_SET, {"person": moved, "password": "short"})
    assert weak["ok"] is False
    [now] = [p for p in await people.list_people(console.pool) if p.account == account]
    assert now.shift == "08:00-20:00"
    done = await ask(nats_url, rpc.PEOPLE_SET, {"person": moved, "reason": "换班"})
    assert done["ok"] and done["person"]["shift"] == "20:00-08:00"
