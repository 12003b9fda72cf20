"""Fixtures for the media tests: a recorder serving ONVIF replay, an S3 server, a media service
on the session's real NATS and PostgreSQL, and a way to announce grants as workflow does."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest

from cctv.contract import CameraRecord, subject_for, wrap
from cctv.contract.campustime import to_campus
from cctv.contract.events import (
    AccessApproved,
    AccessHoldExtended,
    AccessRevoked,
    CameraUpserted,
    HoldRecord,
)
from cctv.plumbing.service import Service
from demo.simulator.replay import ReplayServer
from services.media.app import MediaService, build
from services.media.settings import MediaSettings
from services.workflow import rpc as wf_rpc
from tests.support.identity import from_actor, headers_as
from tests.support.waiting import eventually, table_changes
from tests.workflow.test_workflow_service import Client, actor

CAMERAS = ["OFF-001", "OFF-002", "DORM-007"]


@pytest.fixture
async def recorder() -> AsyncIterator[ReplayServer]:
    async with ReplayServer(cameras=CAMERAS) as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a real socket (it speaks the S3 REST protocol, as MinIO would)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Media:
    svc: Any
    media: MediaService
    prefix: str
    nc: Any
    now: datetime
    tag: str = ""  # its schema is media_<tag>, its durables end in -<tag>

    async def rpc(self, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A request; its `actor` goes as the signed identity the console would send."""
        payload = dict(payload)
        actor = payload.pop("actor", None)
        headers = headers_as(from_actor(actor)) if actor else None
        msg = await self.nc.request(
            self.prefix + subject, json.dumps(payload).encode(), 30, headers=headers
        )
        reply: dict[str, Any] = json.loads(msg.data)
        return reply

    async def announce(self, request_id: str, *, export: bool = True, **grant: Any) -> dict:
        """workflow's `access.approved` event with the grant, on the real stream."""
        g = {
            "grant_id": f"{request_id}-G",
            "request_id": request_id,
            "grantee": "李老师",
            "method": "copy" if export else "view",
            "cameras": ["OFF-001", "OFF-002"],
            "footage_from": (self.now - timedelta(hours=2)).isoformat(),
            "footage_until": (self.now - timedelta(hours=2) + timedelta(seconds=4)).isoformat(),
            "valid_until": (self.now + timedelta(days=7)).isoformat(),
            "export": export,
            "watermark": f"李老师 · {request_id}",
        }
        g.update({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in grant.items()})
        event = AccessApproved(
            request_id=request_id, process="access", transition="approved", state="approved",
            at=self.now, summary={"request_id": request_id, "state": "approved", "grant": g},
        )  # fmt: skip
        await self._until_grant(request_id, "known", publish=event)
        return g

    async def wait_grant(self, request_id: str, *, cameras: list[str]) -> None:
        """Wait until media holds this grant (taken from workflow's `approved` event)."""
        await self._until_grant(request_id, "known", cameras=cameras)

    async def revoke(self, request_id: str) -> None:
        """workflow's `access.revoked` event; returns once media has taken it."""
        event = AccessRevoked(
            request_id=request_id, process="access", transition="revoked", state="approved",
            at=self.now, summary={"request_id": request_id, "state": "approved"},
        )  # fmt: skip
        await self._until_grant(request_id, "revoked", column="revoked_at", publish=event)

    async def _until_grant(
        self,
        request_id: str,
        what: str,
        *,
        column: str = "1",
        cameras: list[str] | None = None,
        publish: Any = None,
    ) -> None:
        """Wait until media's grants row of the request (with these cameras) has `column`;
        `publish` the event first, once changes to the table are watched (none is missed)."""
        table = f"{self.svc.schema}.grants"
        sql = f"SELECT {column} FROM {table} WHERE request_id = $1"
        args: list[Any] = [request_id]
        if cameras is not None:
            sql, args = sql + " AND cameras = $2", [request_id, cameras]
        async with table_changes(self.svc.settings.database_url, table) as ch:
            if publish is not None:
                await self._publish(publish, request_id)

            async def found() -> object:
                return await self.media.pool.fetchval(sql, *args)

            await eventually(found, changes=ch, timeout=30, what=f"grant {request_id} {what}")

    async def extend_hold(self, request_id: str, until: str) -> None:
        event = AccessHoldExtended(
            request_id=request_id, process="access", transition="hold_extended",
            state="retrieved", at=self.now,
            summary={"request_id": request_id},
            hold=HoldRecord.model_validate({
                "hold_id": f"{request_id}-H1", "cameras": ["OFF-001", "OFF-002"],
                "footage_from": self.now - timedelta(hours=2),
                "footage_until": self.now - timedelta(hours=2) + timedelta(seconds=4),
                "until": until, "basis": "Art. 18; (2026)琼0106刑初9号",
            }),
        )  # fmt: skip
        await self._publish(event, request_id)

    async def _publish(self, event: Any, key: str) -> None:
        env = wrap(event, source="workflow", key=key, actor="approver")
        await self.nc.jetstream().publish(
            subject_for(event, key), env.to_bytes(), headers={"Nats-Msg-Id": env.id}
        )


async def announce_cameras(nats_url: str, *cameras: CameraRecord) -> None:
    """Cameras in the inventory, as ingest announces them (`camera.upserted`) — before media
    starts, so its inventory view reads them in its snapshot."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for cam in cameras:
        env = wrap(CameraUpserted(camera=cam), source="ingest", key=cam.camera_id)
        await js.publish(
            f"cctv.camera.upserted.{cam.camera_id}", env.to_bytes(),
            headers={"Nats-Msg-Id": env.id},
        )  # fmt: skip
    await nc.close()


async def own_request_numbers(wf: Service, tag: str) -> None:
    """Request numbers of a test's own (from its hex `tag`): every test's workflow starts at
    DY-<year>-00001, and media reads all of them from the shared stream."""
    assert wf.pool is not None
    await wf.pool.execute(
        f"INSERT INTO {wf.schema}.counters (prefix, year, n) VALUES ('DY', $1, $2)",
        to_campus(datetime.now(UTC)).year, int(tag, 16) % 90_000 + 9_999,
    )  # fmt: skip


async def approve_access(client: Client, form: dict[str, Any], applicant: dict) -> dict:
    """An access request submitted and approved by every step of its chain through
    workflow's real requests; the request as the last approval left it."""
    sub = await client(wf_rpc.SUBMIT, {"process": "access", "form": form, "actor": applicant})
    assert sub["ok"], sub
    rid = sub["request"]["request_id"]
    for step in sub["request"]["flow"]["steps"]:
        who = actor(f"t_{step['role']}_{step['department']}", step["department"], step["role"])
        ok = await client(
            wf_rpc.APPROVE, {"request_id": rid, "actor": who, "step_key": step["key"]}
        )
        assert ok["ok"], ok
    request: dict[str, Any] = ok["request"]
    return request


SYSADMIN = {"person_id": "nic_admin", "name": "赵敏", "department": "nic", "roles": ["sysadmin"]}
TEACHER = {"person_id": "teacher1", "name": "李老师", "department": "academic", "roles": []}


def request_id() -> str:
    return f"DY-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def start_media(
    nats_url: str,
    database_url: str,
    recorder: ReplayServer,
    tmp: Path,
    now: datetime,
    rpc_prefix: str | None = None,
    *,
    clock: Any = None,
    workflow_rpc_prefix: str | None = None,
    replica_of: Media | None = None,
    **overrides: Any,
) -> AsyncIterator[Media]:
    """A media service; its subjects get a prefix of their own unless `rpc_prefix` is given
    ("" = the real subjects, for the CLI). `replica_of`: another replica of that media (its
    schema and durables; its own subjects, so a test asks one replica or the other)."""
    tag = replica_of.tag if replica_of is not None else uuid.uuid4().hex[:8]
    overrides.setdefault("evidence_store", str(tmp / "evidence"))
    settings = MediaSettings(
        nats_url=nats_url,
        database_url=database_url,
        replay_url_template=f"rtsp://127.0.0.1:{recorder.port}/replay/{{camera_id}}",
        job_poll_s=0.2,
        data_dir=tmp,
        **overrides,
    )
    prefix = f"t{uuid.uuid4().hex[:8]}." if rpc_prefix is None else rpc_prefix
    extra = {"workflow_rpc_prefix": workflow_rpc_prefix} if workflow_rpc_prefix else {}
    svc = build(
        settings, schema=f"media_{tag}", clock=clock or (lambda: now), durable_suffix=f"-{tag}",
        rpc_prefix=prefix, **extra,
    )  # fmt: skip
    nc = await nats.connect(nats_url)
    async with svc.running():
        yield Media(svc, svc.state["media"], prefix, nc, now, tag)
    await nc.close()


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def media(
    nats_url: str, database_url: str, recorder: ReplayServer, tmp_path: Path, now: datetime
) -> AsyncIterator[Media]:
    async with start_media(nats_url, database_url, recorder, tmp_path, now) as m:
        yield m
