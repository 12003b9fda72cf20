"""Session fixtures: a real nats-server (JetStream) and a real PostgreSQL, on free ports,
started by the test session itself — never the servers of a running `make run`."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cctv.devstack.demo_people import demo_people_file
from cctv.devstack.stack import Stack
from cctv.plumbing.identity import new_keypair
from cctv.plumbing.tasks import quiet_cancellations
from tests.support.events import EventLog

# the session's own CCTV_HOME: a `make run` home in the checkout (.cctv/endpoints.env: that
# stack's NATS login, its CLI token) must not reach the session's servers and services
os.environ["CCTV_HOME"] = tempfile.mkdtemp(prefix="cctv-test-home-")
# the session's identity keys: services built in this process verify with the public key,
# tests sign who they act for with the private one (tests/support/identity.py)
os.environ["IDENTITY_SIGNING_KEY"], os.environ["IDENTITY_PUBLIC_KEY"] = new_keypair()
# consoles built in this process (seed_demo) import the demo people like `make run` does
os.environ["PEOPLE_SEED_FILE"] = str(
    demo_people_file(Path(tempfile.mkdtemp(prefix="cctv-people-")) / "demo-people.yaml")
)


def stack_home(prefix: str) -> Path:
    """A fresh folder the `pgserver` OS user can enter (pytest's tmp dirs are root-only)."""
    home = Path(tempfile.mkdtemp(prefix=f"cctv-{prefix}-"))
    home.chmod(0o755)
    return home


@pytest.fixture(scope="session", autouse=True)
async def _quiet_cancellations() -> None:
    """The services' own loop setting, on the loop the tests run them in (see
    cctv.plumbing.tasks.quiet_cancellations: Python 3.11 otherwise breaks later ast.parse)."""
    quiet_cancellations(asyncio.get_running_loop())


@pytest.fixture(scope="session")
def infra() -> Iterator[Stack]:
    """NATS + PostgreSQL + streams, shared by the whole session."""
    stack = Stack.for_tests(stack_home("infra"))
    stack.start_infra()
    yield stack
    stack.stop()
    shutil.rmtree(stack.home, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_url(infra: Stack) -> str:
    assert infra.nats_url
    return infra.nats_url


@pytest.fixture(scope="session")
def database_url(infra: Stack) -> str:
    assert infra.database_url
    return infra.database_url


@pytest.fixture
async def console(nats_url: str, database_url: str) -> AsyncIterator[Any]:
    """The console with the demo people (as `make run` seeds them), on the session's servers."""
    from services.console.app import build as build_console  # only the tests that ask for it
    from services.console.settings import ConsoleSettings

    svc = build_console(
        ConsoleSettings(nats_url=nats_url, database_url=database_url, seed_demo=True)
    )
    async with svc.running():
        yield svc


@pytest.fixture
async def events(nats_url: str) -> AsyncIterator[EventLog]:
    log = await EventLog().start(nats_url)
    yield log
    await log.close()
