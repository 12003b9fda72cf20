"""An audit service behind the console's Audit pages, for the tests that open them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.audit import fresh, running


@pytest.fixture
async def audit_behind(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[None]:
    """An audit service of its own schema, running and ready (tests/support/audit.py)."""
    async with running(fresh(nats_url, database_url, tmp_path)):
        yield
