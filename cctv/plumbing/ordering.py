"""Events of one key are handled one at a time, in the order they reach the handler.

Why: FastStream's pull subscriber fetches a batch (up to `batch_size`) and handles its messages
concurrently in a task group. Two events of one request in one batch — approved then revoked,
say — were applied at the same time, in either order, leaving a live grant the regulation had
withdrawn. Handling is serialised per key (the subject's last token: the camera, the request,
the fault), and different cameras still go side by side. The order is the order of arrival at
the handler: stream order in practice, but FastStream's pipeline was seen to let a later message
of a batch overtake an earlier one on a CPU-starved machine (ADR 0029: a sequence ticket is the
follow-up that would make it stream order always).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable


def ordering_key(subject: str) -> str:
    """`cctv.<type>.<key>` -> key; an unkeyed subject orders on its last token (more
    serialisation than needed, never less)."""
    return subject.rsplit(".", 1)[-1]


class KeyedOrder:
    """One FIFO lock per key (asyncio.Lock wakes waiters in the order they asked), dropped
    when nobody holds or waits for it."""

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
