"""Stopping background tasks so that stopping cannot hang."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger()


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


def quiet_cancellations(loop: asyncio.AbstractEventLoop) -> None:
    """Report what a finaliser reports ("exception was never retrieved") without formatting a
    traceback, and drop it when it is only a cancellation.

    A future cancelled or failed while nobody awaited it (asyncpg's COPY when its task is
    cancelled mid-copy at shutdown) is reported from the future's finaliser. On Python 3.11,
    formatting a traceback parses source (caret anchors); when that finaliser runs in the middle
    of another `ast.parse`, the shared AST builder state is left off and every later parse in
    the process fails with "AST constructor recursion depth mismatch" (seen: pytest could no
    longer report a failure, and import-time assertion rewriting broke).
    """
    previous = loop.get_exception_handler()
    if getattr(previous, "quiet_cancellations", False):
        return  # already installed on this loop (several services in one test process)

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if "never retrieved" in str(context.get("message", "")) or "destroyed" in str(
            context.get("message", "")
        ):
            if isinstance(exc, asyncio.CancelledError):
                return
            log.warning("unobserved failure", message=context.get("message"), error=repr(exc))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.quiet_cancellations = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
