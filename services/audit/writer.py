"""The single writer: dedupe, assign positions, hash, store, checkpoint — one transaction.

Why one writer: the log has one total order and each entry commits to the one before, so
appends are serialised. Consumers of every audited stream hand their batches here; whoever
holds the lock commits everything queued so far (group commit), so the batch grows with the
load instead of the commit rate limiting throughput. Messages are acked only after commit;
a redelivery or a duplicate publish finds its event id already stored and adds nothing.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import asyncpg
import structlog

from cctv.contract.events import CheckpointPublished
from cctv.evidence.chain import Appended, LogState
from cctv.evidence.checkpoint import Checkpoint, Signer
from cctv.evidence.entry import ZERO_HASH, Witnessed, utc_now
from cctv.plumbing.outbox import stage

from . import store

log = structlog.get_logger()


@dataclass
class WriterConfig:
    origin: str
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 10.0
    tamper_evidence: bool = True
    """Off only for the benchmark's baseline: no hashing, no tree, no checkpoints."""


class Faults(Protocol):
    """Where a test makes the audit service fail, to show nothing is lost or repeated: inside
    a commit's transaction, right after a commit (before its messages are acked), and at the
    ack itself. The product runs :class:`NoFaults`; tests inject their own (issue 8: no
    test-only switches in the product settings)."""

    def in_transaction(self) -> None:
        """Called inside each commit's transaction, after the batch is written."""

    def after_commit(self) -> None:
        """Called after each commit, before the batch's messages are acked."""

    def drop_ack(self) -> bool:
        """True: leave this batch unacked, as if the ack were lost (JetStream redelivers)."""


class NoFaults:
    """The product's faults: none."""

    def in_transaction(self) -> None:
        return None

    def after_commit(self) -> None:
        return None

    def drop_ack(self) -> bool:
        return False


class AuditWriter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        signer: Signer,
        config: WriterConfig,
        faults: Faults | None = None,
    ) -> None:
        self.pool = pool
        self.schema = schema
        self.signer = signer
        self.config = config
        self.state = LogState()
        self.last_checkpoint = 0
        self.last_checkpoint_at = time.monotonic()
        self._lock = asyncio.Lock()
        self._queue: list[tuple[Sequence[Witnessed], asyncio.Future[int]]] = []
        self._leader: asyncpg.Connection | None = None
        self.faults: Faults = faults or NoFaults()
        # called with the event ids of each committed batch (metrics, benchmarks)
        self.on_commit: Callable[[list[str]], None] | None = None

    async def start(self, dsn: str | None = None) -> None:
        """Become the only active writer (a standby blocks here), then load the frontier."""
        if dsn is not None:
            self._leader = await asyncpg.connect(dsn)
            await self._leader.execute(
                "SELECT pg_advisory_lock($1)",
                zlib.crc32(f"cctv-audit-writer-{self.schema}".encode()),
            )
        async with self.pool.acquire() as conn:
            self.state = await store.load_state(
                conn, self.schema, self.signer.verifier, self.config.origin
            )
            await store.record_key(conn, self.schema, self.signer.verifier.vkey())
            last = await store.latest_checkpoint(conn, self.schema)
        self.last_checkpoint = last[0] if last else 0
        log.info("audit log loaded", size=self.state.size, checkpoint=self.last_checkpoint)

    async def stop(self) -> None:
        if self._leader is not None:
            await self._leader.close()
            self._leader = None

    @property
    def size(self) -> int:
        return self.state.size

    async def append(self, items: Sequence[Witnessed]) -> int:
        """Append (once) what is new in ``items``; returns once it is committed."""
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((items, fut))
        async with self._lock:
            if not fut.done():
                queued, self._queue = self._queue, []
                try:
                    n = await self._commit([i for batch, _ in queued for i in batch])
                except BaseException as exc:
                    for _, f in queued:
                        if not f.done():
                            f.set_exception(exc)
                    raise
                for _, f in queued:
                    if not f.done():
                        f.set_result(n)
        return await fut

    async def _commit(self, items: list[Witnessed]) -> int:
        uniq: dict[str, Witnessed] = {}
        for it in items:
            uniq.setdefault(it.event_id, it)
        if not uniq:
            return 0
        async with self.pool.acquire() as conn:
            known = await store.existing_ids(conn, self.schema, list(uniq))
            fresh = [it for eid, it in uniq.items() if eid not in known]
            if not fresh:
                return 0
            snap = self.state.snapshot()
            cp_snap = (self.last_checkpoint, self.last_checkpoint_at)
            try:
                now = utc_now()
                batch = [self._append(it, now) for it in fresh]
                async with conn.transaction():
                    await store.write_batch(
                        conn, self.schema, batch, (self.state.size, self._root())
                    )
                    if self._checkpoint_due():
                        await self._checkpoint(conn)
                    self.faults.in_transaction()
            except BaseException:
                self.state.restore(snap)
                self.last_checkpoint, self.last_checkpoint_at = cp_snap
                raise
        if self.on_commit is not None:
            self.on_commit([it.event_id for it in fresh])
        self.faults.after_commit()
        return len(fresh)

    def _append(self, it: Witnessed, now: str) -> Appended:
        if self.config.tamper_evidence:
            return self.state.append(it, now)
        entry = it.at(self.state.size, ZERO_HASH, now)
        self.state.tree.size += 1  # position only: no hashes in the baseline
        return Appended(entry, entry.encode(), ZERO_HASH, [], it.fields)

    def _root(self) -> bytes:
        return self.state.root() if self.config.tamper_evidence else ZERO_HASH

    def _checkpoint_due(self, by_time: bool = False) -> bool:
        if not self.config.tamper_evidence or self.state.size <= self.last_checkpoint:
            return False
        if self.state.size - self.last_checkpoint >= self.config.checkpoint_every:
            return True
        waited = time.monotonic() - self.last_checkpoint_at
        return by_time and waited >= self.config.checkpoint_interval_s

    async def _checkpoint(self, conn: asyncpg.Connection) -> Checkpoint:
        cp = Checkpoint(self.config.origin, self.state.size, self.state.root())
        note = cp.sign(self.signer)
        await store.save_checkpoint(conn, self.schema, cp, note)
        await store.save_cover(conn, self.schema, cp.size, self.state.tree.frontier)
        await stage(
            conn,
            self.schema,
            CheckpointPublished(
                origin=cp.origin, tree_size=cp.size, root_hash=cp.root_hash.hex(), note=note
            ),
            source="audit",
            key=str(cp.size),  # cctv.audit.checkpoint.<tree size>, as the contract declares
        )
        self.last_checkpoint = cp.size
        self.last_checkpoint_at = time.monotonic()
        return cp

    async def checkpoint_if_due(self, force: bool = False) -> Checkpoint | None:
        """Called every few seconds: sign what arrived since the last checkpoint (or T s)."""
        async with self._lock:
            due = self._checkpoint_due(by_time=True) or (
                force and self.config.tamper_evidence and self.state.size > self.last_checkpoint
            )
            if not due:
                return None
            async with self.pool.acquire() as conn, conn.transaction():
                return await self._checkpoint(conn)
