"""Events of one key are handled one at a time, in stream order.

Why: FastStream's pull subscriber fetches a batch (up to `batch_size`) and handles its messages
concurrently in a task group. Two events of one request in one batch — approved then revoked,
say — were applied at the same time, in either order, leaving a live grant the regulation had
withdrawn. Handling is serialised per key (the subject's last token: the camera, the request,
the fault), and different cameras still go side by side.

Stream order, not arrival order: FastStream starts one task per message of the batch, in the
order fetched, but its pipeline (middlewares, parsing) can let a later message reach the handler
first on a CPU-starved machine. So each task takes its place in its key's line in its very first
step, before FastStream's pipeline runs (`in_stream_order`), and the next batch is not fetched
until this one is done (ADR 0029).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any


def ordering_key(subject: str) -> str:
    """`cctv.<type>.<key>` -> key; an unkeyed subject orders on its last token (more
    serialisation than needed, never less)."""
    return subject.rsplit(".", 1)[-1]


class KeyedOrder:
    """One FIFO lock per key (asyncio.Lock wakes waiters in the order they asked), dropped
    when nobody holds or waits for it. `turn()` takes its place in line without yielding to
    the event loop first, so tasks that enter in their first step keep their start order."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def turn(
        self,
        key: str,
        keepalive: Callable[[], Awaitable[object]] | None = None,
        every_s: float = 10.0,
    ) -> AsyncIterator[None]:
        """Hold `key`'s turn; while waiting for it, `keepalive` runs every `every_s` (a
        message waiting behind one held through an outage tells JetStream it is still being
        worked on, or it would be redelivered and its delivery count spent)."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        beating = None
        if keepalive is not None and lock.locked():
            beating = asyncio.create_task(_beat(keepalive, every_s))
        try:
            await lock.acquire()
            if beating is not None:
                beating.cancel()
            try:
                yield
            finally:
                lock.release()
        finally:
            if beating is not None:
                beating.cancel()
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


async def _beat(keepalive: Callable[[], Awaitable[object]], every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        with contextlib.suppress(Exception):  # NATS may be the thing that is down
            await keepalive()


def in_stream_order(subscriber: Any, *, every_s: float) -> None:
    """Make a FastStream pull `subscriber` handle one key at a time, in the order fetched.

    Its pull loop starts `subscriber.consume(raw)` as one task per fetched message, in order,
    and reads the attribute when the broker starts, so the wrapper set here is what runs; the
    wrapper's first step is the place in line. A message waiting its turn tells JetStream it
    is being worked on every `every_s`."""
    pulled = getattr(subscriber, "consume", None)
    if pulled is None or not hasattr(subscriber, "pull_sub"):
        # a FastStream upgrade that changed this would silently lose the order: fail at start
        raise TypeError(f"not a FastStream pull subscriber: {type(subscriber).__name__}")
    order = KeyedOrder()

    async def consume_in_turn(raw: Any) -> Any:
        async with order.turn(ordering_key(raw.subject), keepalive=raw.in_progress,
                              every_s=every_s):  # fmt: skip
            return await pulled(raw)

    subscriber.consume = consume_in_turn
