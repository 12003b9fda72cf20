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
