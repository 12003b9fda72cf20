"""`cctv dlq list|replay` (issue 17): a dead letter is listed with its reason, and replayed
onto its original subject it reaches the consumer again and leaves the DLQ."""

from __future__ import annotations

import asyncio
import json
import uuid

import nats
import pytest

from cctv.cli.main import main
from cctv.contract import subject_for, wrap
from cctv.contract.events import CameraRemoved
from cctv.devstack.stack import Stack
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings


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
            code = await asyncio.to_thread(main, ["dlq", "replay", str(listed[0]["seq"])])
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


def test_replay_with_the_operators_credentials_says_what_it_needs(
    infra: Stack,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The `cli` user lists dead letters (before: `dlq` ignored NATS_USER and could not even
    connect) but may not publish events (ADR 0013): a replay the server refuses is a clear
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
    assert main(["dlq", "replay", str(seq)]) == 2
    err = capsys.readouterr().err
    assert "permissions violation for publish" in err and "admin credential" in err
    assert "0025" in err
