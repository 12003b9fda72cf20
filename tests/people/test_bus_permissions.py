"""The bus refuses what a user may not do (issue 11): the test session's nats-server runs with
the same users and permissions as `make run` and deployment (cctv.contract.permissions)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from nats.errors import Error as NatsError

from cctv.contract import wrap
from cctv.contract.events import FaultResolved
from cctv.contract.permissions import inbox_prefix
from cctv.devstack.stack import Stack


class Conn:
    """A connection as one user, with the server's errors (permission violations) queued."""

    def __init__(self) -> None:
        self.errors: asyncio.Queue[Exception] = asyncio.Queue()
        self.nc: Any = None

    async def start(self, infra: Stack, user: str) -> Conn:
        async def on_error(exc: Exception) -> None:
            await self.errors.put(exc)

        assert infra.nats_endpoint
        self.nc = await nats.connect(
            infra.nats_endpoint,
            user=user,
            password=infra.nats_passwords[user],
            inbox_prefix=inbox_prefix(user),
            error_cb=on_error,
            max_reconnect_attempts=0,
        )
        return self

    async def violation(self, timeout: float = 5.0) -> str:
        exc = await asyncio.wait_for(self.errors.get(), timeout)
        return str(exc)


@pytest.fixture
async def as_user(infra: Stack) -> AsyncIterator[Any]:
    conns: list[Conn] = []

    async def connect(user: str) -> Conn:
        conns.append(await Conn().start(infra, user))
        return conns[-1]

    yield connect
    for c in conns:
        await c.nc.close()


def forged_resolution(source: str) -> bytes:
    event = FaultResolved(
        fault_id=f"F-{uuid.uuid4().hex[:8]}",
        camera_id="OFF-001",
        kind="offline",
        resolved_at=datetime.now(UTC),
    )
    return wrap(event, source=source, key="OFF-001").to_bytes()


async def test_a_connection_without_credentials_is_refused(infra: Stack) -> None:
    assert infra.nats_endpoint
    with pytest.raises(NatsError):
        await nats.connect(infra.nats_endpoint, max_reconnect_attempts=0, allow_reconnect=False)
    with pytest.raises(NatsError):
        await nats.connect(
            infra.nats_endpoint,
            user="health",
            password="guess",
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )


@pytest.mark.parametrize(
    ("user", "subject"),
    [
        ("ingest", "cctv.fault.resolved.OFF-001"),  # a forged fault.resolved clears an alert
        ("ingest", "cctv.camera.state.OFF-001"),  # camera state is health's
        ("health", "cctv.workflow.stopmove.approved.OFF-001"),  # silences an outage
        ("notify", "cctv.workflow.newpoint.implemented.NP-1"),  # adds a camera
        ("workflow", "cctv.camera.upserted.OFF-999"),
        ("console", "cctv.fault.resolved.OFF-001"),
        ("audit", "cctv.alert.acknowledged.A-1"),
        ("cli", "cctv.workflow.access.approved.R-1"),
        ("reader", "cctv.fault.resolved.OFF-001"),
        ("ingest", "cctv.dlq.dead_letter.health"),  # dead letters only in one's own name
        ("ingest", "cctv.ops.dlq_replayed.health"),  # replay records too
        ("cli", "cctv.ops.dlq_replayed.ingest"),  # operators ask the service, never forge it
    ],
)
async def test_a_user_is_refused_what_it_may_not_publish(
    as_user: Any, user: str, subject: str
) -> None:
    conn = await as_user(user)
    await conn.nc.publish(subject, forged_resolution(user))
    await conn.nc.flush()
    error = await conn.violation()
    assert "permissions violation" in error.lower() and subject.lower() in error.lower()


async def test_a_forged_event_never_reaches_the_stream(as_user: Any, nats_url: str) -> None:
    """Through JetStream too: the publish is dropped, so no stream ack comes back."""
    conn = await as_user("ingest")
    subject = f"cctv.fault.resolved.FORGED-{uuid.uuid4().hex[:6]}"
    with pytest.raises(NatsError):
        await conn.nc.jetstream().publish(subject, forged_resolution("health"), timeout=1.0)
    admin = await nats.connect(nats_url)
    try:
        info = await admin.jetstream().stream_info("CCTV_FAULT", subjects_filter=subject)
        assert not info.state.subjects
    finally:
        await admin.close()


async def test_the_owner_may_publish_its_events(as_user: Any) -> None:
    """The same publish as health is stored: the refusals above are about who, not what."""
    conn = await as_user("health")
    subject = f"cctv.fault.resolved.OWN-{uuid.uuid4().hex[:6]}"
    ack = await conn.nc.jetstream().publish(subject, forged_resolution("health"), timeout=5.0)
    assert ack.stream == "CCTV_FAULT"
    assert conn.errors.empty()


@pytest.mark.parametrize(
    ("user", "subject"),
    [
        ("workflow", "_INBOX.console.>"),  # another user's replies
        ("health", "_INBOX.>"),
        ("reader", "cctv.workflow.access.>"),  # requests name people: not for other systems
        ("reader", "cctv.rpc.workflow.approve"),
        ("notify", "cctv.rpc.workflow.>"),  # answering in another service's name
    ],
)
async def test_a_user_may_not_read_what_is_not_its_own(
    as_user: Any, user: str, subject: str
) -> None:
    conn = await as_user(user)
    await conn.nc.subscribe(subject)
    await conn.nc.flush()
    error = await conn.violation()
    assert "permissions violation" in error.lower() and "subscription" in error.lower()


async def test_a_service_may_not_erase_the_record(as_user: Any) -> None:
    conn = await as_user("ingest")
    await conn.nc.publish("$JS.API.STREAM.PURGE.CCTV_DLQ", b"{}")
    await conn.nc.flush()
    assert "$js.api.stream.purge.cctv_dlq" in (await conn.violation()).lower()


async def test_request_reply_answers_the_caller_on_its_own_inbox(as_user: Any) -> None:
    """A service answers through allow_responses; the console reads its answer on
    _INBOX.console.…, which no one else may subscribe to."""
    ingest = await as_user("ingest")
    subject = "cctv.rpc.ingest.permtest"

    async def answer(msg: Any) -> None:
        await msg.respond(json.dumps({"ok": True, "to": msg.reply}).encode())

    await ingest.nc.subscribe(subject, cb=answer)
    await ingest.nc.flush()
    console = await as_user("console")
    reply = json.loads((await console.nc.request(subject, b"{}", timeout=5.0)).data)
    assert reply["to"].startswith("_INBOX.console.")
    assert ingest.errors.empty() and console.errors.empty()


def test_the_rendered_config_is_one_nats_server_accepts(tmp_path: Any) -> None:
    """The same table, rendered with passwords (make run, tests) or with the server's
    environment variables (Kubernetes Secrets), is a config nats-server takes (`-t`)."""
    import os
    import subprocess

    from cctv.contract.permissions import nats_users, render_nats_conf
    from cctv.devstack.embedded import nats_server_binary

    users = [u.name for u in nats_users()]
    for name, text, env in (
        ("plain.conf", render_nats_conf({u: f"pw-{u}" for u in users}), {}),
        (
            "env.conf",
            render_nats_conf(env_prefix="NATS_PASSWORD_"),
            {f"NATS_PASSWORD_{u.upper()}": f"pw-{u}" for u in users},
        ),
    ):
        conf = tmp_path / name
        conf.write_text(text, encoding="utf-8")
        run = subprocess.run(
            [nats_server_binary(), "-c", str(conf), "-t"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=30,
        )
        assert run.returncode == 0, run.stdout + run.stderr
    with pytest.raises(ValueError, match="no NATS password"):
        render_nats_conf({"admin": "x"})


async def test_other_campus_systems_read_faults_but_not_requests(as_user: Any) -> None:
    """The read-only account follows state and faults from the streams; requests (they name
    people and footage) stay closed, and it can publish nothing."""
    health = await as_user("health")
    subject = f"cctv.fault.resolved.READ-{uuid.uuid4().hex[:6]}"
    await health.nc.jetstream().publish(subject, forged_resolution("health"), timeout=5.0)
    reader = await as_user("reader")
    js = reader.nc.jetstream()
    got: asyncio.Queue[Any] = asyncio.Queue()

    async def arrived(msg: Any) -> None:
        await got.put(msg)

    sub = await js.subscribe(subject, cb=arrived, ordered_consumer=True)
    msg = await asyncio.wait_for(got.get(), 10)
    assert msg.subject == subject and json.loads(msg.data)["source"] == "health"
    await sub.unsubscribe()
    with pytest.raises(NatsError):
        await js.subscribe("cctv.workflow.access.>", ordered_consumer=True)
    await reader.nc.publish("cctv.alert.raised.X", b"{}")
    await reader.nc.flush()
    assert "permissions violation" in (await reader.violation()).lower()
