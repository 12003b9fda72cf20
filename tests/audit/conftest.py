"""The audit tests' fixtures: an audit service of the test's own, a JetStream context."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from services.audit.settings import AuditSettings
from tests.support.audit import fresh


@pytest.fixture
def cfg(nats_url: str, database_url: str, tmp_path: Path) -> AuditSettings:
    return fresh(nats_url, database_url, tmp_path)


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()
