"""Waiting for a state that is not itself an event (a row, a lease, a consumer's pending count):
check it again each time the system reports a change that could have made it hold, never on
a clock. Where the state is an event, use EventLog.wait_for instead.

A `ChangeFeed` counts changes; `eventually` notes the count before each check and then waits
for a later one, so a change between the check and the wait is not missed. Feeds:
`EventLog.changes` (any envelope on the bus), `table_changes` (PostgreSQL NOTIFY from a
statement trigger on the tables read), `subject_changes` (NATS messages on a subject: a KV
bucket's puts, or JetStream deliveries and ack confirmations on `_INBOX.>`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import nats

T = TypeVar("T")


class ChangeFeed:
    """A counter of changes that can be awaited past a given value; `ChangeFeed(a, b)` counts
    the changes of both."""

    def __init__(self, *sources: ChangeFeed) -> None:
        self.version = 0
        self._next = asyncio.Event()
        self._followers: list[ChangeFeed] = []
        for source in sources:
            source._followers.append(self)

    def bump(self) -> None:
        self.version += 1
        self._next.set()
        self._next = asyncio.Event()
        for follower in self._followers:
            follower.bump()

    async def wait_after(self, version: int) -> None:
        while self.version <= version:
            await self._next.wait()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool] = bool,
    *,
    changes: ChangeFeed,
    timeout: float = 30.0,
    what: str = "condition",
) -> T:
    """Check `probe` now and after every change; return once `done(result)`, or fail after
    `timeout` seconds with the last result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        seen = changes.version
        result = await probe()
        if done(result):
            return result
        try:
            await asyncio.wait_for(changes.wait_after(seen), deadline - loop.time())
        except TimeoutError:
            raise AssertionError(
                f"{what} did not hold within {timeout}s; last: {repr(result)[:2000]}"
            ) from None


@asynccontextmanager
async def table_changes(database_url: str, *tables: str) -> AsyncIterator[ChangeFeed]:
    """Changes to the given `schema.table`s, told by PostgreSQL itself (NOTIFY from an
    AFTER statement trigger that lives only as long as the wait)."""
    feed = ChangeFeed()
    channel = f"test_changes_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(database_url)
    await conn.execute(
        f"CREATE FUNCTION {channel}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{channel}', TG_TABLE_NAME); RETURN NULL; END $$"
    )
    for table in tables:
        await conn.execute(
            f"CREATE TRIGGER {channel} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {channel}()"
        )
    await conn.add_listener(channel, lambda *_args: feed.bump())
    try:
        yield feed
    finally:
        for table in tables:
            await conn.execute(f"DROP TRIGGER IF EXISTS {channel} ON {table}")
        await conn.execute(f"DROP FUNCTION IF EXISTS {channel}()")
        await conn.close()


@asynccontextmanager
async def subject_changes(
    nats_url: str, subject: str, keep: Callable[[Any], bool] = lambda _msg: True
) -> AsyncIterator[ChangeFeed]:
    """Every message on `subject` that `keep` accepts (core NATS: also `$KV.<bucket>.>` puts
    and deletes, or JetStream deliveries on `_INBOX.>`)."""
    feed = ChangeFeed()
    nc = await nats.connect(nats_url)

    async def on_msg(msg: Any) -> None:
        if keep(msg):
            feed.bump()

    await nc.subscribe(subject, cb=on_msg)
    try:
        yield feed
    finally:
        await nc.close()
