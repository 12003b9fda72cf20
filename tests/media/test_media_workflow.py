"""The whole governed act: workflow approves a copy, media carries it out, workflow records the
retrieval from what media fetched and hashed — nobody types a hash (issue 12)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats

from cctv.contract import rpc as crpc
from demo.simulator.replay import ReplayServer
from services.workflow import rpc
from services.workflow.app import build as build_workflow
from services.workflow.settings import WorkflowSettings
from tests.media.conftest import approve_access, own_request_numbers, start_media
from tests.support.events import EventLog
from tests.workflow.test_workflow_service import (
    ADMIN,
    STAFF,
    Client,
    access_form,
    record,
    seed_cameras,
)


async def test_copy_grant_end_to_end(
    nats_url: str, database_url: str, tmp_path: Path, events: EventLog
) -> None:
    tag = uuid.uuid4().hex[:8]
    gate = f"g{tag}"
    settings = WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0)
    wf = build_workflow(
        settings, schema=f"wf_{tag}", durable_suffix=f"-{tag}", rpc_prefix=f"test.wf.{tag}"
    )
    nc = await nats.connect(nats_url)
    client = Client(nc, f"test.wf.{tag}")
    async with (
        ReplayServer(cameras=[gate]) as recorder,
        wf.running(),
    ):
        await seed_cameras(wf, client, [record(gate, "public_safety", "logistics")])
        await own_request_numbers(wf, tag)
        form = access_form([gate], method="copy")
        start = form["footage_from"]
        form["footage_until"] = (datetime.fromisoformat(start) + timedelta(seconds=3)).isoformat()
        request = await approve_access(client, form, STAFF)
        rid = request["request_id"]
        assert request["state"] == "approved" and request["grant"]["export"]

        # the typed-in hash is gone: a manual retrieval of a copy grant is refused
        manual = await client(
            rpc.ACT,
            {
                "request_id": rid, "actor": ADMIN, "action": "retrieve",
                "args": {"purpose": "p", "destination": "d", "export_sha256": "ab" * 32},
            },
        )  # fmt: skip
        assert not manual["ok"] and manual["code"] == "export_by_system"

        async with start_media(
            nats_url, database_url, recorder, tmp_path, datetime.now(UTC),
            preserve_on_approval=False,
        ) as media:  # fmt: skip
            await media.wait_grant(rid, cameras=[gate])
            reply = await media.rpc(
                crpc.MEDIA_EXPORT,
                {"actor": ADMIN, "request_id": rid, "purpose": "查找失物", "destination": "学院"},
            )
            assert reply["ok"], reply
            (exp,) = await events.wait_for(
                "access.exported",
                lambda d: d["request_id"] == rid and d["camera_ids"] == [gate],
            )

            def ours(d: dict[str, Any]) -> bool:
                return d.get("request_id") == rid and d.get("summary", {}).get("cameras") == [gate]

            (held,) = await events.wait_for("workflow.access.retrieved", ours)
            rec = held["data"]["summary"]["retrieval"]
            assert rec["export_sha256"] == exp["data"]["manifest_sha256"]
            assert rec["export_id"] == exp["data"]["export_id"]
            assert rec["retrieved_by"] == ADMIN["person_id"] and rec["destination"] == "学院"
            full = await client(rpc.GET, {"request_id": rid})
            assert full["request"]["state"] == "retrieved"
            assert json.dumps(full["request"]["retrievals"][0]["export_sha256"]) == json.dumps(
                exp["data"]["manifest_sha256"]
            )
    await nc.close()
