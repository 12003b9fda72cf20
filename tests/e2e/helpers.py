from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import nats

from cctv.devstack.stack import REPO, Stack
from tests.support.console import sign_in
from tests.support.waiting import eventually, table_changes


def cctv(system: Stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the operators' CLI against this stack, as an operator would."""
    env = {**os.environ, "CCTV_HOME": str(system.home)}
    for key in ("NATS_URL", "DATABASE_URL", "SIM_CONTROL_URL"):
        env.pop(key, None)  # found through the stack's endpoints.env, like after `make run`
    return subprocess.run(
        [sys.executable, "-m", "cctv.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def as_nic(system: Stack) -> dict[str, str]:
    """Acting for NIC's administrator, signed with this stack's own identity key."""
    from cctv.plumbing.identity import HEADER, Identity, Signer

    who = Identity(account="nic_admin", name="赵敏", department="nic", roles=("sysadmin",))
    return {HEADER: Signer(system.identity_private).sign(who)}


async def login(client: httpx.AsyncClient, system: Stack, account: str) -> None:
    from demo.campus import DEMO_PASSWORD

    await sign_in(client, account, DEMO_PASSWORD, base=system.url("console"))


async def repairs_for(client: httpx.AsyncClient, system: Stack, fault_id: str) -> list[dict]:
    resp = await client.get(
        f"{system.url('repair')}/api/v1/repairs", params={"external_ref": fault_id}
    )
    return resp.json()


async def audited(system: Stack, events: list[dict], timeout: float = 30.0) -> dict[str, int]:
    """How many audit entries hold each event id, once every one of them is in the log
    (asked of audit's query over request-reply, by event type and camera)."""
    assert system.nats_url
    nc = await nats.connect(system.nats_url)

    async def count() -> dict[str, int]:
        counts: dict[str, int] = {}
        for ev in events:
            req = {"event_type": ev["type"], "limit": 500}
            if ev["data"].get("camera_id"):
                req["camera_id"] = ev["data"]["camera_id"]
            raw = await nc.request(
                "cctv.rpc.audit.query", json.dumps(req).encode(), 10, headers=as_nic(system)
            )
            reply = json.loads(raw.data)
            assert reply["ok"], reply
            counts[ev["id"]] = sum(e["event_id"] == ev["id"] for e in reply["entries"])
        return counts

    assert system.database_url
    try:
        async with table_changes(system.database_url, "audit.entry") as appended:
            return await eventually(
                count,
                lambda c: all(c.values()),
                changes=appended,
                timeout=timeout,
                what="path events in audit",
            )
    finally:
        await nc.close()


async def cameras(system: Stack, camera_id: str) -> list[dict]:
    """The inventory's record of one camera, as ingest answers it."""
    assert system.nats_url
    nc = await nats.connect(system.nats_url)
    try:
        req = json.dumps({"camera_id": camera_id}).encode()
        reply = json.loads((await nc.request("cctv.rpc.ingest.cameras", req, 10)).data)
    finally:
        await nc.close()
    assert reply["ok"], reply
    return reply["cameras"]
