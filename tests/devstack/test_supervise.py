"""`make run` supervises (issue 17): a killed stand-in and a killed NATS are reported and
started again after their backoff, on the same port (and NATS with the same store)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from cctv.devstack.embedded import EmbeddedNats, wait_for_port
from cctv.devstack.stack import Restarts, Stack
from tests.conftest import stack_home


@pytest.fixture
def home() -> Iterator[Path]:
    path = stack_home("supervise")
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _stream_names(url: str) -> list[str]:
    nc = await nats.connect(url, max_reconnect_attempts=0)
    try:
        return [s.config.name or "" for s in await nc.jetstream().streams_info()]
    finally:
        await nc.close()


async def _add_stream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().add_stream(name="KEPT", subjects=["kept.>"])
    finally:
        await nc.close()


def test_killed_processes_are_reported_and_restarted_with_backoff(
    home: Path, database_url: str
) -> None:
    stack = Stack.for_tests(home)
    try:
        stack.nats = EmbeddedNats(home / "nats", stack.ports["nats"]).start()
        stack.nats_url, stack.database_url = stack.nats.url, database_url
        asyncio.run(_add_stream(stack.nats_url))
        port = stack.ports["webhook"]
        stack.spawn("webhook", ["-m", "demo.webhook_sink", "--port", str(port), "--log",
                                str(home / "hooks.jsonl")], port)  # fmt: skip
        wait_for_port("127.0.0.1", port)
        assert stack.supervise(now=0.0) == []  # all up: nothing to say

        stack.procs["webhook"].popen.kill()
        stack.procs["webhook"].popen.wait()
        assert stack.nats.proc is not None
        stack.nats.proc.kill()
        stack.nats.proc.wait()

        said = stack.supervise(now=100.0)
        assert any(s.startswith("!! webhook exited") and "restarting in 1s" in s for s in said)
        assert any(s.startswith("!! nats exited") for s in said), said
        assert stack.supervise(now=100.5) == []  # still inside the backoff
        said = stack.supervise(now=101.5)
        assert sorted(said) == ["-> nats restarted (restart 1)", "-> webhook restarted (restart 1)"]
        wait_for_port("127.0.0.1", port)
        assert "KEPT" in asyncio.run(_stream_names(stack.nats_url))  # same store

        # dying again soon after: the pause doubles
        stack.procs["webhook"].popen.kill()
        stack.procs["webhook"].popen.wait()
        said = stack.supervise(now=110.0)
        assert said and "restarting in 2s (restart 2)" in said[0], said
    finally:
        stack.stop()


def test_backoff_grows_and_resets_after_a_minute_up() -> None:
    r = Restarts(started=0.0)
    assert [r.down(1.0), r.down(2.0), r.down(3.0), r.down(4.0)] == [1.0, 2.0, 4.0, 8.0]
    for _ in range(10):
        r.down(5.0)
    assert r.down(5.0) == 30.0
    r.started = 10.0
    assert r.down(100.0) == 1.0
