"""Ingest tests run several in-process services in one session.

structlog caches each module logger on first use together with the `sys.stderr` of that
moment (cctv.plumbing.logging), and pytest swaps and closes that stream per test: a later
test's service would then fail writing a log line. Here every log line goes to whatever
`sys.stderr` is when it is written. (A fix in cctv.plumbing.logging would make this moot.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
import structlog


class _CurrentStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture(autouse=True, scope="session")
def _logs_to_current_stderr() -> Iterator[None]:
    original = structlog.PrintLoggerFactory
    structlog.PrintLoggerFactory = lambda file=None: original(file=_CurrentStderr())  # type: ignore[assignment,misc,arg-type]
    yield
    structlog.PrintLoggerFactory = original  # type: ignore[misc]
