"""The whole system as processes: embedded NATS and PostgreSQL of its own, the stand-ins and
every service, with short sampling and damping so that the path runs in seconds."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
import pytest

from cctv.devstack.stack import Stack
from tests.conftest import stack_home
from tests.support.events import EventLog

FAST = {
    "SAMPLE_INTERVAL_S": "1.0",
    "PROBE_TIMEOUT_S": "1.0",
    "DOWN_AFTER": "3",
    "UP_AFTER": "2",
    "TICKET_POLL_S": "0.2",
    "DELIVERY_POLL_S": "0.1",
    "GROUP_WINDOW_S": "0",  # each e2e alert its own robot message; grouping: tests/notify
    "LOG_LEVEL": "INFO",
}


@contextmanager
def whole_system(prefix: str) -> Iterator[Stack]:
    """Everything started as `make run` starts it, in a folder of its own, removed after
    (the e2e tests and bench/bench_ingest_rpc.py)."""
    stack = Stack.for_tests(stack_home(prefix), **FAST)
    try:
        stack.start_infra()
        stack.write_endpoints()
        stack.start_standins()
        stack.start_services()
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(stack.home, ignore_errors=True)


@pytest.fixture(scope="module")
def system() -> Iterator[Stack]:
    with whole_system("system") as stack:
        yield stack


@pytest.fixture
async def bus(system: Stack) -> AsyncIterator[EventLog]:
    assert system.nats_url
    log = await EventLog().start(system.nats_url)
    yield log
    await log.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
