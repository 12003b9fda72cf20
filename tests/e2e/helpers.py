from __future__ import annotations

import os
import subprocess
import sys

import httpx

from cctv.devstack.stack import REPO, Stack


def cctv(system: Stack, *args: str) -> subprocess.CompletedProcess[str]:
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
    )


async def login(client: httpx.AsyncClient, system: Stack, account: str) -> None:
    from demo.campus import DEMO_PASSWORD

    resp = await client.post(
        f"{system.url('console')}/login", data={"account": account, "password": DEMO_PASSWORD}
    )
    assert resp.status_code == 303, resp.text


async def repairs_for(client: httpx.AsyncClient, system: Stack, fault_id: str) -> list[dict]:
    resp = await client.get(
        f"{system.url('repair')}/api/v1/repairs", params={"external_ref": fault_id}
    )
    return resp.json()
