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
import json
from pathlib import Path
from typing import Any

import asyncpg
import nats
import structlog
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client import Counter, Gauge, Histogram

from cctv.contract import AUDITED_STREAMS, ContractError, StreamSpec, decode, rpc
from cctv.contract import rpcmodels as m
from cctv.contract.rpcmodels import RpcCall
from cctv.evidence.checkpoint import Checkpoint, NoteError, Verifier, load_or_create_signer
from cctv.evidence.entry import Witnessed, payload_fields
from cctv.plumbing.bus import connect_kwargs
from cctv.plumbing.failures import is_infrastructure
from cctv.plumbing.identity import require_caller
from cctv.plumbing.service import RpcError, Service

from . import api, coverage
from .settings import AuditSettings
from .writer import AuditWriter, Faults, NoFaults, WriterConfig

log = structlog.get_logger()

MAX_REPLY_BYTES = 900_000
"""Below NATS's default max_payload (1 MiB) with room for the reply envelope."""

APPENDED = Counter("cctv_audit_entries_total", "Entries appended to the audit log")
DUPLICATES = Counter("cctv_audit_duplicates_total", "Deliveries already in the log")
LOG_SIZE = Gauge("cctv_audit_log_size", "Entries in the audit log")
WRITER_STOPPED = Gauge(
    "cctv_audit_writer_stopped",
    "1 while the writer refuses to append because the stored log contradicts itself",
)
REDELIVERED_IN_HAND = Counter(
    "cctv_audit_redelivered_in_hand_total",
    "Redeliveries of a message the witness already holds (a commit outlasting ack_wait)",
)
BATCH_SECONDS = Histogram(
    "cctv_audit_batch_seconds",
    "From fetch to commit of one consumer batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)


def wire(reply: m.RpcReply) -> dict[str, Any]:
    """A reply as sent: what its model validated, with the keys the handler set (an inclusion
    proof carries no ``start``/``end``; a query without ``proof`` no ``checkpoint``)."""
    return reply.model_dump(mode="json", exclude_unset=True)


def witness(subject: str, raw: bytes) -> Witnessed:
    """An event that meets the contract, or the raw bytes recorded as rejected, with why.

    Total: whatever a message provokes (RecursionError, MemoryError…) makes it a rejected
    entry, never an exception that would crash the batch around it."""
    try:
        env, _ = decode(raw, subject)
        # Query columns from the JSON exactly as verify will derive them from the stored bytes.
        return Witnessed.event(subject, env.id, raw, payload_fields(subject, raw))
    except ContractError as exc:
        return Witnessed.rejected(subject, raw, str(exc))
    except Exception as exc:
        return Witnessed.rejected(subject, raw, f"undecodable: {type(exc).__name__}: {exc}")


def durable_name(schema: str, stream: str, version: int = 4) -> str:
    """The witness consumer of ``stream`` for the log in ``schema`` (one per log and stream);
    ``version`` 3: the ack-all consumer of earlier versions."""
    prefix = schema.replace("_", "-")
    return f"{prefix}-{stream.lower().replace('_', '-')}-v{version}"


def _stream_seq(msg: Any) -> int | None:
    """The message's position in its stream (None for a message without JetStream metadata)."""
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return None


# who may read the log over request-reply: it names who viewed which footage (Art. 15-17)
READERS = ("sysadmin", "school_leader", "dept_head")


class AuditService:
    def __init__(self, svc: Service, settings: AuditSettings, faults: Faults | None = None) -> None:
        self.svc = svc
        self.faults: Faults = faults or NoFaults()
        """Injected by tests only (crashes around the commit, lost acks); none in production."""
        self.settings = settings
        self.schema = settings.audit_schema
        self.signer = load_or_create_signer(
            settings.key_path(), settings.audit_key_name, create=settings.audit_key_create
        )
        self.vkey = self.signer.verifier.vkey()
        self.pool: asyncpg.Pool | None = None
        self.writer: AuditWriter | None = None
        self.ready = asyncio.Event()
        """The writer is appending (the witness loops wait for it)."""
        self.serving = asyncio.Event()
        """The database is reachable: queries, proofs and verify can be answered."""
        self.broken: str | None = None
        self.stalled: dict[str, str] = {}
        """Witness loops that cannot commit right now, with why (shown by /readyz)."""

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
            self.faults,
        )
        self.export_public_key()
        self.serving.set()
        try:
            await self.writer.start(dsn=self.settings.database_url)
        except api.store.StoreError as exc:
            # Do not append or sign on top of a log that contradicts itself; keep answering
            # verify and queries so the operator can see where (issue 13). Messages wait in
            # JetStream until the log is repaired.
            self.broken = str(exc)
            WRITER_STOPPED.set(1)
            log.error("audit writer not started: the stored log contradicts itself", error=str(exc))
            return
        LOG_SIZE.set(self.writer.size)
        WRITER_STOPPED.set(0)
        self.ready.set()
        await self.check_stored_key()
        log.info(
            "audit writer ready", vkey=self.vkey, fingerprint=self.signer.verifier.fingerprint()
        )

    async def check_stored_key(self) -> None:
        """Loud when the log's latest checkpoint is not signed by the configured key: the key
        file (or mounted secret) is the trust anchor, never what the database says."""
        assert self.pool is not None
        latest = await api.store.latest_checkpoint(self.pool, self.schema)
        if latest is None:
            return
        try:
            Checkpoint.open(latest[1], self.signer.verifier, origin=self.settings.audit_origin)
        except NoteError as exc:
            log.error(
                "the latest stored checkpoint is not signed by the configured key: the log "
                "or its checkpoints were replaced, or the key file changed; run `cctv audit "
                "verify` 最新检查点不是由配置的密钥签名",
                size=latest[0],
                error=str(exc),
                fingerprint=self.signer.verifier.fingerprint(),
            )

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
        return durable_name(self.schema, spec.name)

    async def witness_stream(self, spec: StreamSpec) -> None:
        """Buffer what the consumer pushes; commit whatever has gathered; then ack each message
        of the batch, in order (AckExplicit).

        Messages gather while the previous batch commits, so the batch size follows the load
        and an idle log commits a single event at once. Each message is acked for itself:
        under ack-all, a delivery that died with the connection (a NATS reconnect) was
        acknowledged by the next batch's ack and never reached the log (issue 17). Now a lost
        delivery stays pending and JetStream redelivers it after ack_wait; the log dedupes.
        A message already in hand (buffered or committing) is not taken twice when JetStream
        redelivers it meanwhile (a long database outage passes ack_wait many times): the
        buffer stays bounded by max_ack_pending and the ack in hand settles it.
        """
        await self.ready.wait()
        assert self.writer is not None
        nc = await nats.connect(
            **connect_kwargs(self.settings), max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )
        buf: list[Any] = []
        in_hand: set[int] = set()
        wake = asyncio.Event()

        async def arrived(msg: Any) -> None:
            seq = _stream_seq(msg)
            if seq is not None:
                if seq in in_hand:
                    REDELIVERED_IN_HAND.inc()
                    return
                in_hand.add(seq)
            buf.append(msg)
            wake.set()

        try:
            durable = self.durable(spec)
            await self._retire_old_durables(nc, spec)
            await nc.jetstream().subscribe(
                spec.subjects[0],
                durable=durable,
                stream=spec.name,
                cb=arrived,
                manual_ack=True,
                pending_msgs_limit=4 * self.settings.max_ack_pending,
                config=ConsumerConfig(
                    durable_name=durable,
                    ack_policy=AckPolicy.EXPLICIT,
                    # never give up: bad input is appended as "rejected"; a failed append
                    # is an outage, retried until the database is back
                    max_deliver=-1,
                    ack_wait=self.settings.ack_wait_s,
                    max_ack_pending=self.settings.max_ack_pending,
                    deliver_policy=DeliverPolicy.ALL,
                ),
            )
            failures = 0
            while True:
                await wake.wait()
                wake.clear()
                while buf:
                    batch = buf[: self.settings.batch_size]
                    del buf[: len(batch)]
                    try:
                        await self.on_batch(batch, durable)
                        failures = 0
                    except Exception as exc:
                        # Never drop a batch: put it back and try again; /readyz says so.
                        buf[:0] = batch
                        failures += 1
                        self.stalled[durable] = repr(exc)[:300]
                        log.error("witness batch failed; retrying it", durable=durable,
                                  error=repr(exc), failures=failures)  # fmt: skip
                        await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                    else:
                        self.stalled.pop(durable, None)
                        for msg in batch:
                            in_hand.discard(_stream_seq(msg))  # type: ignore[arg-type]
        finally:
            await nc.close()

    async def _retire_old_durables(self, nc: Any, spec: StreamSpec) -> None:
        """The ack-all consumers of earlier versions (-v3) go: their ack floor may stand past
        a delivery lost in a reconnect. The new consumer reads the stream from its start and
        the log keeps what it already holds (dedupe on the event id), so a loss under the
        old consumer is repaired once, at the upgrade."""
        from nats.js.errors import NotFoundError

        old = durable_name(self.schema, spec.name, version=3)
        js = nc.jetstream()
        try:
            await js.consumer_info(spec.name, old)  # asked first: a new install has none
        except NotFoundError:
            return
        except Exception as exc:  # not worth stopping the witness for
            log.warning("old consumer not looked up", consumer=old, error=repr(exc))
            return
        try:
            await js.delete_consumer(spec.name, old)
            log.info("ack-all consumer retired; the stream is read again", consumer=old)
        except Exception as exc:  # the new consumer works anyway; the old one only lingers
            log.warning("old consumer not removed", consumer=old, error=repr(exc))

    async def on_batch(self, msgs: list[Any], durable: str) -> None:
        assert self.writer is not None
        with BATCH_SECONDS.time():
            items = [witness(msg.subject, msg.data) for msg in msgs]
            n = await self._append(items, durable)
            if not self.faults.drop_ack():
                await self._ack_each(msgs, durable)
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

    async def _ack_each(self, msgs: list[Any], durable: str) -> None:
        """Ack every committed message, in order; the last is confirmed by the server (acks
        on one connection are processed in order), so whoever watches the consumer sees it
        drained once the server has them. An ack that does not arrive leaves its message
        pending: redelivered after ack_wait, found in the log, acked then."""
        try:
            for msg in msgs[:-1]:
                await msg.ack()
            await msgs[-1].ack_sync(timeout=5.0)  # a batch of acks ahead of it, on a busy server
        except Exception as exc:
            log.warning("ack not confirmed", durable=durable, error=repr(exc))

    async def _append(self, items: list[Witnessed], durable: str) -> int:
        """Commit the batch. An outage is waited out, retrying the same batch (never given up,
        never acked past). A batch the database refuses with the database up holds an item it
        cannot store (a NUL in a text field…): each item is then appended alone, and the one
        refused is recorded as rejected with the reason instead."""
        assert self.writer is not None
        delay = 0.2
        while True:
            try:
                n = await self.writer.append(items)
                self.stalled.pop(durable, None)
                return n
            except Exception as exc:
                if is_infrastructure(exc):
                    self.stalled[durable] = f"waiting for the database: {exc!r}"[:300]
                    log.warning("append failed; retrying the same batch", error=repr(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                if len(items) == 1:
                    raise  # the caller below turns it into a rejected entry (or, for a
                    # rejection that cannot be stored either, the witness loop retries)
                log.warning("batch refused; appending one by one", error=repr(exc))
                n = 0
                for item in items:
                    try:
                        n += await self._append([item], durable)
                    except Exception as one_exc:
                        if is_infrastructure(one_exc):
                            raise
                        bad = Witnessed.rejected(
                            item.subject, item.payload, f"not storable: {one_exc!r}"
                        )
                        n += await self._append([bad], durable)
                return n

    async def checkpoints(self) -> None:
        """Sign a checkpoint every T seconds when entries arrived since the last one."""
        await self.ready.wait()
        assert self.writer is not None
        while True:
            await asyncio.sleep(min(1.0, self.settings.checkpoint_interval_s))
            await self.writer.checkpoint_if_due()

    # --- request-reply ----------------------------------------------------------------

    async def _call(self, fn: Any, req: Any, *args: Any) -> Any:
        """Run an api function on a pooled connection; its refusal in the one error shape."""
        await self.serving.wait()
        assert self.pool is not None
        try:
            async with self.pool.acquire() as conn:
                return await fn(conn, self.schema, req, *args)
        except api.AuditError as exc:
            raise RpcError.bilingual(exc.code, exc.zh, exc.en, exc.article) from exc

    async def rpc_query(self, req: m.AuditQueryRequest, _call: RpcCall) -> dict[str, Any]:
        require_caller(*READERS, what="reading the audit log (Art. 15, 17)")
        if req.proof:
            await self._cover_latest()
        return wire(await self._call(api.query, req))

    async def rpc_prove(self, req: m.AuditProveRequest, _call: RpcCall) -> dict[str, Any]:
        require_caller(*READERS, what="reading the audit log (Art. 15, 17)")
        await self._cover_latest()
        return wire(await self._call(api.prove, req))

    async def rpc_export(self, req: m.AuditExportRequest, _call: RpcCall) -> dict[str, Any]:
        require_caller(*READERS, what="exporting audit evidence (Art. 15, 17)")
        await self._cover_latest()
        doc = await self._call(api.export, req, self.vkey)
        size = len(json.dumps(doc))
        if size > MAX_REPLY_BYTES:
            raise RpcError.bilingual(
                "too_large",
                "导出范围过大，请缩小范围",
                f"the bundle is {size} bytes, more than one reply carries ({MAX_REPLY_BYTES}): "
                "export a shorter range (--range START END)",
            )
        return wire(m.AuditExportReply(bundle=doc))

    async def rpc_verify(self, req: m.AuditVerifyRequest, _call: RpcCall) -> dict[str, Any]:
        """Recompute chain, tree and stored nodes against the key the *caller* trusts.

        The caller (the CLI) sends its configured key; there is no default: the key recorded
        in the database being verified is not evidence of anything (issue 13)."""
        if req.key is None or not req.key.strip():
            raise RpcError.bilingual(
                "no_key",
                "未提供公钥：请传入日志公布的公钥（--key 或 AUDIT_PUBLIC_KEY_FILE）",
                "no verifier key given: pass the log's published key (--key or "
                "AUDIT_PUBLIC_KEY_FILE); the key in the database is not a trust anchor",
            )
        try:
            verifier = Verifier.from_vkey(req.key)
        except NoteError as exc:
            raise RpcError.bilingual("bad_key", f"公钥无效：{exc}", f"verifier key: {exc}") from exc
        await self.serving.wait()
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            report, problems = await api.verify(
                conn,
                self.schema,
                verifier,
                origin=self.settings.audit_origin,
                extra_checkpoints=req.checkpoints,
            )
            problems = [*problems, *await self.coverage_problems(conn)]
        if self.broken:
            problems = [*problems, f"the writer refused to start: {self.broken}"]
        return wire(
            m.AuditVerifyReply(
                size=report.size,
                root=report.root.hex(),
                checkpoints_ok=report.checkpoints_ok,
                findings=[
                    m.AuditFinding(index=f.index, kind=f.kind, detail=f.detail)
                    for f in report.findings
                ],
                problems=problems,
                signing_key=self.vkey,
            )
        )

    async def coverage_problems(self, conn: asyncpg.Connection) -> list[str]:
        """Messages the witness acknowledged that are not in the log (see coverage.py), read
        on the service's own connection (the one this request came in on)."""
        problems: list[str] = []
        try:
            js = self.svc.broker.connection.jetstream()
            for spec in AUDITED_STREAMS:
                durable = self.durable(spec)
                _floor, missing = await coverage.uncovered(
                    js, conn, self.schema, spec.name, spec.subjects[0], durable, witness
                )
                if missing:
                    problems.append(coverage.problem(spec.name, durable, missing))
        except Exception as exc:
            problems.append(f"stream coverage not checked: {exc!r}"[:500])
        return problems

    async def rpc_checkpoint(self, _req: m.Empty, _call: RpcCall) -> dict[str, Any]:
        await self._cover_latest()
        assert self.pool is not None
        latest = await api.store.latest_checkpoint(self.pool, self.schema)
        return wire(
            m.AuditCheckpointReply(
                verifier_key=self.vkey,
                fingerprint=self.signer.verifier.fingerprint(),
                origin=self.settings.audit_origin,
                tree_size=latest[0] if latest else 0,
                checkpoint=latest[1] if latest else None,
            )
        )

    async def _cover_latest(self) -> None:
        """Proofs are against signed checkpoints: sign one now if entries are uncovered
        (not when the writer refused to start: then only what is already signed)."""
        await self.serving.wait()
        if self.ready.is_set() and self.writer is not None:
            await self.writer.checkpoint_if_due(force=True)


def build(settings: AuditSettings | None = None, faults: Faults | None = None) -> Service:
    """The audit service; ``faults`` is for tests (see :class:`writer.Faults`)."""
    settings = settings or AuditSettings()
    svc = Service(
        "audit",
        settings,
        migrations=Path(__file__).parent / "migrations",
        schema=settings.audit_schema,
        grant_tables=False,  # 001_log.sql grants the log INSERT and SELECT only
    )
    audit = AuditService(svc, settings, faults)
    svc.state["audit"] = audit
    for spec in AUDITED_STREAMS:
        svc.consumers.append((spec.subjects[0], spec.name, audit.durable(spec)))
        svc.loop(f"witness-{spec.name}", functools.partial(audit.witness_stream, spec))
    svc.after_start(audit.start)
    svc.ready_check(lambda: [f"witness {d}: {why}" for d, why in sorted(audit.stalled.items())])
    svc.loop("checkpoints", audit.checkpoints)
    for subject, handler in (
        (rpc.AUDIT_QUERY, audit.rpc_query),
        (rpc.AUDIT_PROVE, audit.rpc_prove),
        (rpc.AUDIT_EXPORT, audit.rpc_export),
        (rpc.AUDIT_CHECKPOINT, audit.rpc_checkpoint),
        (rpc.AUDIT_VERIFY, audit.rpc_verify),
    ):
        svc.respond(subject, handler, request=m.OPERATIONS[subject][0])
    svc.before_stop(audit.stop)  # after the witness loops, before NATS and the pool go
    return svc
