"""Fixtures for the workflow tests: a small campus inventory and the people who act on it."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # wf_campus, whatever pytest's import mode

from wf_campus import CAMERAS, PEOPLE

from services.workflow.inventory import Inventory
from services.workflow.org import Actor


@pytest.fixture
def inventory() -> Inventory:
    return Inventory(CAMERAS)


@pytest.fixture
def people() -> dict[str, Actor]:
    return PEOPLE


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Haikou
