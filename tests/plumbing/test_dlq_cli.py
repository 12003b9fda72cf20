"""`cctv dlq list|replay` (issue 17): a dead letter is listed with its reason; replayed by
the service that refused it — as the operators' `cli` user with a sysadmin's signed
identity — it reaches that consumer again, is recorded with who replayed it and leaves the
list; republished (admin only) it reaches the original subject and leaves the DLQ."""

from __future__ import annotations

import asyncio
import json
import uuid

import nats
import pytest

from cctv.cli.main import main
from cctv.contract import Envelope, Event, subject_for, wrap
from cctv.contract.events import CameraRemoved, DeadLetterReplayed
from cctv.contract.streams import STREAM_BY_NAME
from cctv.devstack.stack import Stack
from cctv.plumbing.identity import HEADER, Identity
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity


def test_dead_letters_are_listed_and_replayed(
    nats_url: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("NATS_URL", nats_url)
    name = f"dlqcli{uuid.uuid4().hex[:8]}"
    ev = CameraRemoved(camera_id="c1", reason="replay me")
    key = name
    env = wrap(ev, source="test", key=key)
    subject = subject_for(ev, key)

    async def dead_letter() -> None:
        svc = Service(name, ServiceSettings(nats_url=nats_url, database_url=database_url))
        await svc.broker.connect()
        try:
            await svc.dead_letter("c", subject, env.to_bytes(), "handler: KeyError('x')", 5)
        finally:
            await svc.broker.stop()

    asyncio.run(dead_letter())
    assert main(["dlq", "list", "--service", name, "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(listed) == 1
    assert listed[0]["reason"] == "handler: KeyError('x')" and listed[0]["subject"] == subject

    async def replay_and_receive() -> bytes:
        nc = await nats.connect(nats_url)
        try:
            sub = await nc.subscribe(subject)
            code = await asyncio.to_thread(
                main, ["dlq", "replay", "--republish", str(listed[0]["seq"])]
            )
            assert code == 0
            msg = await sub.next_msg(timeout=10)
            return bytes(msg.data)
        finally:
            await nc.close()

    assert asyncio.run(replay_and_receive()) == env.to_bytes()
    capsys.readouterr()
    assert main(["dlq", "list", "--service", name, "--json"]) == 0
    assert capsys.readouterr().out.strip() == ""  # replayed letters leave the DLQ
    assert main(["dlq", "replay", "999999999"]) == 2  # a clear error, not a traceback


def test_republishing_with_the_operators_credentials_says_what_it_needs(
    infra: Stack,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The `cli` user lists dead letters (before: `dlq` ignored NATS_USER and could not even
    connect) but may not publish events (ADR 0013): a republish the server refuses is a clear
    error naming the admin credential and the ADR, not a timeout traceback."""
    assert infra.nats is not None and infra.nats_url and infra.nats_passwords
    admin_url = infra.nats_url
    name = f"dlqcli{uuid.uuid4().hex[:8]}"
    ev = CameraRemoved(camera_id="c1", reason="replay me")
    env = wrap(ev, source="ingest", key=name)

    async def dead_letter() -> None:
        svc = Service(name, ServiceSettings(nats_url=admin_url, database_url=database_url))
        await svc.broker.connect()
        try:
            await svc.dead_letter("c", subject_for(ev, name), env.to_bytes(), "handler: x", 5)
        finally:
            await svc.broker.stop()

    asyncio.run(dead_letter())
    # the operators' user, as `make run` and deploy/k8s configure the CLI
    monkeypatch.setenv("NATS_URL", infra.nats.url)
    monkeypatch.setenv("NATS_USER", "cli")
    monkeypatch.setenv("NATS_PASSWORD", infra.nats_passwords["cli"])
    assert main(["dlq", "list", "--service", name, "--json"]) == 0  # reading is allowed
    seq = json.loads(capsys.readouterr().out.splitlines()[0])["seq"]
    assert main(["dlq", "replay", "--republish", str(seq)]) == 2
    err = capsys.readouterr().err
    assert "permissions violation for publish" in err and "admin credential" in err
    assert "0025" in err


async def test_the_service_replays_its_letter_for_a_sysadmin_with_the_cli_user(
    infra: Stack,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert infra.nats is not None and infra.nats_url and infra.nats_passwords
    name = f"dlqsvc{uuid.uuid4().hex[:8]}"
    durable = f"replay-{name}"
    ev = CameraRemoved(camera_id="c9", reason="replay me")
    env = wrap(ev, source="ingest", key=name)
    seen: list[str] = []
    failing = True

    async def handler(got: Envelope, _event: Event) -> None:
        if failing:
            raise KeyError("the cause, since fixed")
        seen.append(got.id)

    svc = Service(name, ServiceSettings(nats_url=infra.nats_url, database_url=database_url))
    svc.consume(f"cctv.camera.removed.{name}", durable=durable, handler=handler)
    bus = await EventLog().start(infra.nats_url, ("cctv.dlq.>", "cctv.ops.>"))
    monkeypatch.setenv("NATS_URL", infra.nats.url)
    monkeypatch.setenv("NATS_USER", "cli")
    monkeypatch.setenv("NATS_PASSWORD", infra.nats_passwords["cli"])

    def cli(*args: str, who: Identity | None = None) -> int:
        token = headers_as(who)[HEADER] if who else ""
        monkeypatch.setenv("CCTV_TOKEN", token)
        return main(["dlq", *args])

    try:
        async with svc.running():
            await svc.dead_letter(durable, subject_for(ev, name), env.to_bytes(), "handler: x", 5)
            [letter] = await bus.wait_for("dlq.dead_letter", lambda d: d["service"] == name)
            assert await asyncio.to_thread(cli, "list", "--service", name, "--json") == 0
            seq = json.loads(capsys.readouterr().out.splitlines()[0])["seq"]

            guard = identity("t_duty", "duty_operator")
            assert await asyncio.to_thread(cli, "replay", str(seq), who=guard) == 2
            assert "sysadmin" in capsys.readouterr().err and not seen

            nic = identity("t_nic", "sysadmin", department="nic")
            assert await asyncio.to_thread(cli, "replay", str(seq), who=nic) == 1  # still failing
            assert "failed — handler: KeyError" in capsys.readouterr().out
            failing = False
            assert await asyncio.to_thread(cli, "replay", str(seq), who=nic) == 0
            assert f"#{seq} {name}: handled" in capsys.readouterr().out
            assert seen == [env.id]
            records = await bus.wait_for(
                "ops.dlq_replayed", lambda d: d["service"] == name, count=2
            )
            assert [r["data"]["outcome"] for r in records] == ["failed", "handled"]
            assert {r["data"]["replayed_by"] for r in records} == {"t_nic"}
            assert records[-1]["data"]["event_id"] == env.id
            assert STREAM_BY_NAME[DeadLetterReplayed.STREAM].audited  # in the audit log too
            assert letter["data"]["consumer"] == durable
            # handled: gone from the list, still in the DLQ (`--all` shows it)
            assert await asyncio.to_thread(cli, "list", "--service", name, "--json") == 0
            assert capsys.readouterr().out.strip() == ""
            assert await asyncio.to_thread(cli, "list", "--service", name, "--all") == 0
            assert f"#{seq}" in capsys.readouterr().out
    finally:
        await bus.close()
