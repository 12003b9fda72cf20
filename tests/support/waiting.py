"""Waiting for a state that announces itself with no event (a row in a log, a lease in a KV
bucket): poll the condition until it holds, bounded by a deadline. Where an event exists,
use EventLog.wait_for instead."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool] = bool,
    *,
    timeout: float = 30.0,
    every: float = 0.05,
    what: str = "condition",
) -> T:
    """Call `probe` until `done(result)`; return that result, or fail after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await probe()
        if done(result):
            return result
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout}s; last: {result!r}")
        await asyncio.sleep(every)  # the one poll interval of the suite; see module docstring
