"""Stopping background tasks so that stopping cannot hang."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None, retry_s: float = 1.0) -> None:
    """Cancel the tasks and wait until every one has ended.

    One `cancel()` is not enough on Python 3.11: `asyncio.wait_for`, which nats-py and asyncpg
    use for every request with a timeout, drops a cancellation that lands just as the awaited
    reply arrives, and the task runs on. Awaiting it then never returns (seen in CI: ingest's
    membership heartbeat kept a shutdown waiting). So cancel again each `retry_s` until it ends.
    """
    pending = {t for t in tasks if t is not None and not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=retry_s)
    for ended in tasks:
        if ended is not None and not ended.cancelled():
            ended.exception()  # retrieved here: it ended while stopping, nothing to report
