"""audit's wiring: one pull consumer per audited stream, all feeding the single writer;
FastStream request-reply handlers for queries, proofs, checkpoints and exports.

The witness loops stay thin: turn each raw message into a Witnessed item (an event, or a
rejected message with the reason), hand the batch to the writer, ack after it committed.
They use nats-py subscriptions directly rather than FastStream's batch subscriber, which
waits for a full batch until its timeout and loses a partly fetched batch on timeout
(redelivered only after ack_wait) — fatal for the latency target; and rather than nats-py's
pull fetch, whose per-message overhead capped throughput. See docs/adr/0003-audit-log.md.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import Any

import asyncpg
import nats
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Gauge, Histogram

from cctv.contract import AUDITED_STREAMS, ContractError, StreamSpec, decode
from cctv.plumbing.bus import connect_kwargs
from cctv.plumbing.identity import require_caller
from cctv.plumbing.service import RpcError, Service

from . import api
from .checkpoint import load_or_create_signer
from .entry import Witnessed, payload_fields
from .settings import AuditSettings
from .writer import AuditWriter, WriterConfig

log = structlog.get_logger()

APPENDED = Counter("cctv_audit_entries_total", "Entries appended to the audit log")
DUPLICATES = Counter("cctv_audit_duplicates_total", "Deliveries already in the log")
LOG_SIZE = Gauge("cctv_audit_log_size", "Entries in the audit log")
BATCH_SECONDS = Histogram(
    "cctv_audit_batch_seconds",
    "From fetch to commit of one consumer batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


def witness(subject: str, raw: bytes) -> Witnessed:
    """An event that meets the contract, or the raw bytes recorded as rejected, with why."""
    try:
        env, _ = decode(raw, subject)
    except ContractError as exc:
        return Witnessed.rejected(subject, raw, str(exc))
    # Query columns from the JSON exactly as verify will derive them from the stored bytes.
    return Witnessed.event(subject, env.id, raw, payload_fields(subject, raw))


# who may read the log over request-reply: it names who viewed which footage (Art. 15-17)
READERS = ("sysadmin", "school_leader", "dept_head")


class AuditService:
    def __init__(self, svc: Service, settings: AuditSettings) -> None:
        self.svc = svc
        self.settings = settings
        self.schema = settings.audit_schema
        self.signer = load_or_create_signer(settings.key_path(), settings.audit_key_name)
        self.vkey = self.signer.verifier.vkey()
        self.pool: asyncpg.Pool | None = None
        self.writer: AuditWriter | None = None
        self.ready = asyncio.Event()
        self.skip_acks = 0
        """Test hook: leave this many batches unacked, so JetStream redelivers them."""

    def writer_dsn(self) -> tuple[str, dict[str, Any]]:
        if self.settings.audit_writer_url:
            return self.settings.audit_writer_url, {}
        return self.settings.database_url, {"user": f"{self.schema}_writer"}

    async def start(self) -> None:
        dsn, extra = self.writer_dsn()
        self.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, **extra)
        assert self.pool is not None
        self.writer = AuditWriter(
            self.pool,
            self.schema,
            self.signer,
            WriterConfig(
                origin=self.settings.audit_origin,
                checkpoint_every=self.settings.checkpoint_every,
                checkpoint_interval_s=self.settings.checkpoint_interval_s,
                tamper_evidence=self.settings.tamper_evidence,
            ),
        )
        self.writer.kill_in_commit = self.settings.audit_test_kill_in_commit
        self.writer.kill_after_commit = self.settings.audit_test_kill_after_commit
        await self.writer.start(dsn=self.settings.database_url)
        self.export_public_key()
        LOG_SIZE.set(self.writer.size)
        self.ready.set()
        log.info("audit writer ready", vkey=self.vkey)

    def export_public_key(self) -> None:
        """Write the verifier key where operators can hand it out (also: `cctv audit key`)."""
        path = self.settings.public_key_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_text(encoding="ascii").strip() != self.vkey:
                path.write_text(self.vkey + "\n", encoding="ascii")
        except OSError as exc:
            log.warning("public key not written", path=str(path), error=repr(exc))

    async def stop(self) -> None:
        if self.writer is not None:
            await self.writer.stop()
        if self.pool is not None:
            await self.pool.close()

    def durable(self, spec: StreamSpec) -> str:
        prefix = self.schema.replace("_", "-")
        return f"{prefix}-{spec.name.lower().replace('_', '-')}-v3"

    async def witness_stream(self, spec: StreamSpec) -> None:
        """Buffer what the consumer pushes; commit whatever has gathered; ack the last (ack-all).

        Messages gather while the previous batch commits, so the batch size follows the load
        and an idle log commits a single event at once. Ack-all is safe: push delivery is in
        stream order, batches commit in arrival order, and a failing batch is retried in
        place, so every message up to the one acked has committed.
        """
        await self.ready.wait()
        assert self.writer is not None
        nc = await nats.connect(
            **connect_kwargs(self.settings), max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )
        buf: list[Any] = []
        wake = asyncio.Event()

        async def arrived(msg: Any) -> None:
            buf.append(msg)
            wake.set()

        try:
            durable = self.durable(spec)
            await nc.jetstream().subscribe(
                spec.subjects[0],
                durable=durable,
                stream=spec.name,
                cb=arrived,
                manual_ack=True,
                pending_msgs_limit=4 * self.settings.max_ack_pending,
                config=ConsumerConfig(
                    durable_name=durable,
                    ack_policy=AckPolicy.ALL,
                    # never give up: bad input is appended as "rejected"; a failed append
                    # is an outage, retried until the database is back
                    max_deliver=-1,
                    ack_wait=self.settings.ack_wait_s,
                    max_ack_pending=self.settings.max_ack_pending,
                    deliver_policy=DeliverPolicy.ALL,
                ),
            )
            while True:
                await wake.wait()
                wake.clear()
                while buf:
                    batch = buf[: self.settings.batch_size]
                    del buf[: len(batch)]
                    await self.on_batch(batch, durable)
        finally:
            await nc.close()

    async def on_batch(self, msgs: list[Any], durable: str) -> None:
        assert self.writer is not None
        with BATCH_SECONDS.time():
            items = [witness(m.subject, m.data) for m in msgs]
            delay = 0.2
            while True:
                try:
                    n = await self.writer.append(items)
                    break
                except Exception as exc:
                    log.warning("append failed; retrying the same batch", error=repr(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            if self.skip_acks > 0:
                self.skip_acks -= 1  # test hook: as if the ack were lost -> redelivery
            else:
                # acknowledged by the server before the next batch: a lost ack shows here, and
                # whoever watches the consumer sees it drained once the server confirms
                try:
                    await msgs[-1].ack_sync()
                except Exception as exc:  # redelivered after ack_wait; the log dedupes it
                    log.warning("ack not confirmed", durable=durable, error=repr(exc))
        for msg, item in zip(msgs, items, strict=True):
            if item.kind == "rejected":
                # Recorded as evidence above; dead-lettered too, like every other consumer.
                # The entry is what counts: a failed DLQ publish must not stop the witness.
                try:
                    await self.svc.dead_letter(
                        durable, msg.subject, msg.data, f"contract: {item.reason}", 1
                    )
                except Exception as exc:
                    log.warning("dead letter not published", subject=msg.subject, error=repr(exc))
        APPENDED.inc(n)
        DUPLICATES.inc(max(0, len(items) - n))
        LOG_SIZE.set(self.writer.size)

    async def checkpoints(self) -> None:
        """Sign a checkpoint every T seconds when entries arrived since the last one."""
        await self.ready.wait()
        assert self.writer is not None
        while True:
            await asyncio.sleep(min(1.0, self.settings.checkpoint_interval_s))
            await self.writer.checkpoint_if_due()

    # --- request-reply ----------------------------------------------------------------

    async def _call(self, fn: Any, req: dict[str, Any], *args: Any) -> dict[str, Any]:
        await self.ready.wait()
        assert self.pool is not None
        try:
            async with self.pool.acquire() as conn:
                result: dict[str, Any] = await fn(conn, self.schema, req, *args)
                return result
        except api.AuditError as exc:
            raise RpcError(str(exc)) from exc

    async def rpc_query(self, req: dict[str, Any]) -> dict[str, Any]:
        require_caller(*READERS, what="reading the audit log (Art. 15, 17)")
        if req.get("proof"):
            await self._cover_latest()
        return await self._call(api.query, req)

    async def rpc_prove(self, req: dict[str, Any]) -> dict[str, Any]:
        require_caller(*READERS, what="reading the audit log (Art. 15, 17)")
        await self._cover_latest()
        return await self._call(api.prove, req)

    async def rpc_export(self, req: dict[str, Any]) -> dict[str, Any]:
        require_caller(*READERS, what="exporting audit evidence (Art. 15, 17)")
        await self._cover_latest()
        return {"bundle": await self._call(api.export, req, self.vkey)}

    async def rpc_checkpoint(self, _req: dict[str, Any]) -> dict[str, Any]:
        await self._cover_latest()
        assert self.pool is not None
        latest = await api.store.latest_checkpoint(self.pool, self.schema)
        return {
            "verifier_key": self.vkey,
            "origin": self.settings.audit_origin,
            "tree_size": latest[0] if latest else 0,
            "checkpoint": latest[1] if latest else None,
        }

    async def _cover_latest(self) -> None:
        """Proofs are against signed checkpoints: sign one now if entries are uncovered."""
        await self.ready.wait()
        assert self.writer is not None
        await self.writer.checkpoint_if_due(force=True)


def build(settings: AuditSettings | None = None) -> Service:
    settings = settings or AuditSettings()
    svc = Service(
        "audit",
        settings,
        migrations=Path(__file__).parent / "migrations",
        schema=settings.audit_schema,
    )
    audit = AuditService(svc, settings)
    svc.state["audit"] = audit
    for spec in AUDITED_STREAMS:
        svc.consumers.append((spec.subjects[0], spec.name, audit.durable(spec)))
        svc.loop(f"witness-{spec.name}", functools.partial(audit.witness_stream, spec))
    svc.after_start(audit.start)
    svc.loop("checkpoints", audit.checkpoints)
    svc.respond(api.AUDIT_QUERY, audit.rpc_query)
    svc.respond(api.AUDIT_PROVE, audit.rpc_prove)
    svc.respond(api.AUDIT_EXPORT, audit.rpc_export)
    svc.respond(api.AUDIT_CHECKPOINT, audit.rpc_checkpoint)
    _stop = svc._on_shutdown

    async def on_shutdown() -> None:
        await _stop()
        await audit.stop()

    svc._on_shutdown = on_shutdown  # type: ignore[method-assign]
    return svc
