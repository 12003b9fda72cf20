"""The shape every service shares: a FastStream app on NATS with /metrics, /healthz, /readyz,
its own PostgreSQL schema, durable JetStream consumers with explicit ack and dead-lettering,
request-reply responders, an outbox relay, and background loops. Handlers stay thin.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import structlog
import uvicorn
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from faststream.security import SASLPlaintext
from nats.js.api import INBOX_PREFIX as JS_INBOX_PREFIX
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from cctv.contract import ContractError, Envelope, Event, decode, rpc, subject_for, wrap
from cctv.contract.events import DeadLetter, DeadLetterReplayed, ReplayOutcome
from cctv.contract.permissions import publisher_of, source_allowed
from cctv.contract.rpcmodels import (
    DlqReplayed,
    DlqReplayReply,
    DlqReplayRequest,
    RpcCall,
    RpcRequest,
    error_reply,
    invalid_request,
)

from .bigpayload import pack, unpack
from .bus import connect_kwargs, js_inbox
from .db import apply_migrations, create_pool, dsn_user, pending_migrations
from .failures import is_infrastructure
from .identity import (
    Identity,
    IdentityError,
    Signer,
    Verifier,
    calling_as,
    headers_for,
    require_caller,
    verify_headers,
)
from .logging import configure_logging
from .metrics import CONSUMER_PENDING, DEAD_LETTERS, HANDLE_SECONDS, INFRA_WAITING, MESSAGES
from .ordering import in_stream_order
from .outbox import OutboxRelay
from .settings import ServiceSettings
from .tasks import cancel_and_wait, quiet_cancellations

Handler = Callable[[Envelope, Event], Awaitable[None]]
Responder = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Loop = Callable[[], Awaitable[None]]

log = structlog.get_logger()

DLQ_STREAM = DeadLetter.STREAM


class RpcError(Exception):
    """A request the service refuses, answered in the one error shape of every service
    (:class:`cctv.contract.rpcmodels.ErrorReply`): a code, the reason in Chinese and English,
    and the article when the regulation is the reason.

    ``RpcError("一句话 one line")`` still works: the line is then both texts."""

    def __init__(
        self,
        message: str,
        article: str | None = None,
        *,
        code: str = "refused",
        zh: str | None = None,
        en: str | None = None,
        **detail: Any,
    ) -> None:
        super().__init__(message)
        self.article = article
        self.code = code
        self.zh = zh or message
        self.en = en or message
        self.detail = detail

    @classmethod
    def bilingual(
        cls, code: str, zh: str, en: str, article: str | None = None, **detail: Any
    ) -> RpcError:
        return cls(f"{zh} — {en}", article, code=code, zh=zh, en=en, **detail)

    def reply(self) -> dict[str, Any]:
        return error_reply(self.code, self.zh, self.en, self.article, **self.detail)


TypedResponder = Callable[[Any, RpcCall], Awaitable[BaseModel | dict[str, Any]]]


class Service:
    """One service process. Build it, register consumers/responders/loops, then `run()`."""

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        migrations: Path | None = None,
        schema: str | None = None,
        grant_tables: bool = True,
    ) -> None:
        self.name = name
        self.grant_tables = grant_tables
        """False when the service's migrations grant its tables themselves (audit)."""
        self.settings = settings
        self.schema = schema or name
        self.migrations = migrations
        configure_logging(name, settings.log_level)
        conn = connect_kwargs(settings)
        security: dict[str, Any] = {}
        if "user" in conn:
            security = {
                "security": SASLPlaintext(username=conn["user"], password=conn["password"]),
                "inbox_prefix": conn["inbox_prefix"],
            }
        self._js_inbox = js_inbox(settings)
        self.broker = NatsBroker(
            conn["servers"],
            **security,
            graceful_timeout=15.0,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            # FastStream's own failures (a message it could not hand over, a broken
            # subscription) must be heard: its logger at WARNING, per-message chatter at DEBUG.
            logger=_broker_logger(),
            log_level=logging.DEBUG,
        )
        self.verifier = Verifier(settings.identity_public_key.split(","))
        key = settings.identity_signing_key.get_secret_value()
        self.signer: Signer | None = Signer(key) if key else None
        self.pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self._js_of: tuple[Any, Any] | None = None  # (connection, its JetStream context)
        self.consumers: list[tuple[str, str, str]] = []  # (subject, stream, durable)
        self._handlers: dict[str, Handler] = {}  # durable -> handler (dead-letter replay)
        self.responders: list[str] = []  # request-reply subjects
        self._loops: list[tuple[str, Loop]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._started: list[Callable[[], Awaitable[None]]] = []
        self._before_consuming: list[Callable[[], Awaitable[None]]] = []
        self._stopping: list[Callable[[], Awaitable[None]]] = []
        self.middleware: list[Middleware] = []
        self.exception_handlers: dict[Any, Any] = {}
        self.state: dict[str, Any] = {}
        self._waiting: dict[str, int] = {}  # consumer -> messages held for the infrastructure
        self._waiting_reason = ""
        self._ready_checks: list[Callable[[], list[str]]] = []
        self.metrics_public = True
        """False where the HTTP port faces people (console): /metrics then needs loopback or
        METRICS_TOKEN."""
        self.routes: list[BaseRoute] = [
            Route("/healthz", self._healthz),
            Route("/readyz", self._readyz),
            Route("/metrics", self._metrics),
        ]
        # every service replays its own dead letters, for a sysadmin (ADR 0025)
        self.respond(rpc.dlq_replay(name), self._replay, request=DlqReplayRequest)

    # --- registration -------------------------------------------------------------------

    def consume(
        self,
        subject: str,
        *,
        durable: str,
        handler: Handler,
        stream: str | None = None,
        batch_size: int = 32,
    ) -> None:
        """A durable pull consumer with explicit ack; bad messages go to dead-letter.

        The stream is the one whose subjects hold `subject` unless named."""
        stream = stream or _stream_of(subject)
        if stream is None:
            raise ValueError(f"no stream holds {subject!r} (cctv.contract.streams)")
        if self.settings.infra_backoff_max_s >= self.settings.ack_wait_s:
            # a message held through an outage is kept by in_progress() once per pause; a
            # pause as long as ack_wait lets JetStream redeliver it meanwhile, each time
            # counting a delivery toward the poison limit — a long outage would end in
            # dead letters
            raise ValueError(
                f"INFRA_BACKOFF_MAX_S ({self.settings.infra_backoff_max_s}) must be shorter "
                f"than ACK_WAIT_S ({self.settings.ack_wait_s}): messages held through an "
                "outage would be redelivered meanwhile"
            )
        self.consumers.append((subject, stream, durable))
        self._handlers[durable] = handler
        sub = self.broker.subscriber(
            subject,
            stream=JStream(stream, declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
            ack_policy=AckPolicy.MANUAL,
            # The server never gives up on a message (max_deliver -1): _handle decides, so an
            # outage or a crash loop cannot make a message expire unrecorded.
            config=ConsumerConfig(max_deliver=-1, ack_wait=self.settings.ack_wait_s),
            title=f"{self.name}:{durable}",
            inbox_prefix=self._js_inbox or JS_INBOX_PREFIX,
        )

        async def on_message(msg: NatsMessage) -> None:
            await self._dispatch(msg, durable, handler)

        sub(on_message)
        in_stream_order(sub, every_s=self.settings.ack_wait_s / 3)

    def respond(
        self,
        subject: str,
        handler: Responder | TypedResponder,
        *,
        request: type[RpcRequest] | None = None,
    ) -> None:
        """Core-NATS request-reply in a queue group, so replicas share the load.

        With ``request`` (a model of :mod:`cctv.contract.rpcmodels`) the body is decoded and
        validated here, once, and ``handler(model, call)`` gets the typed request and the
        :class:`RpcCall` (subject, headers: where the caller's identity travels). Without it
        the handler gets the JSON object as a dict (older responders). Either way every
        failure is answered in the one error shape, never left to time out."""
        self.responders.append(subject)
        fn: Any = handler  # typed or dict handler, as `request` says

        async def on_request(msg: NatsMessage) -> Any:
            reply = await answer(msg)
            return await pack(self._js(), json.dumps(reply, ensure_ascii=False).encode())

        async def answer(msg: NatsMessage) -> dict[str, Any]:
            try:
                claims = verify_headers(self.verifier, msg.headers)
            except IdentityError as exc:  # a bad token never reaches the handler
                log.warning("identity refused", subject=subject, reason=str(exc))
                return error_reply(
                    "identity", "身份凭证无效", f"identity refused: {exc}", kind="identity"
                )
            try:
                raw = await unpack(self._js(), bytes(msg.body or b""))
                with calling_as(claims):
                    if request is not None:
                        try:
                            typed = request.model_validate_json(raw or b"{}")
                        except ValidationError as exc:
                            return invalid_request(request, exc)
                        call = RpcCall(subject=subject, headers=dict(msg.headers or {}))
                        reply: Any = await fn(typed, call)
                    else:
                        body = json.loads(raw or b"{}")
                        if not isinstance(body, dict):
                            raise RpcError.bilingual(
                                "bad_request", "请求须为JSON对象", "request must be a JSON object"
                            )
                        reply = await fn(body)
                if isinstance(reply, BaseModel):
                    reply = reply.model_dump(mode="json")
                if reply.get("ok") is False:  # a handler that answered with an error itself
                    return reply
                return {**reply, "ok": True}
            except IdentityError as exc:
                return error_reply("identity", "需要已认证身份", str(exc), kind="identity")
            except RpcError as exc:
                return exc.reply()
            except ValidationError as exc:
                return error_reply("bad_request", "请求有误", f"bad request: {_first(exc)}")
            except (ValueError, KeyError, TypeError) as exc:
                return error_reply("bad_request", "请求有误", f"bad request: {exc}")
            except Exception as exc:  # never leave the caller waiting for a timeout
                log.exception("request failed", subject=subject, error=repr(exc))
                return error_reply("internal", "内部错误", f"internal error: {exc!r}"[:500])

        self.broker.subscriber(subject, queue=f"{self.name}-rpc", title=f"{self.name}:rpc")(
            on_request
        )

    def loop(self, name: str, fn: Loop) -> None:
        """A background task started after the broker; restarted if it crashes."""
        self._loops.append((name, fn))

    def ready_check(self, fn: Callable[[], list[str]]) -> None:
        """A service's own reasons not to be ready (a stalled loop…), added to /readyz."""
        self._ready_checks.append(fn)

    def before_consuming(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run once the database is migrated and before any message is consumed: a seed the
        consumers build on must be there before a durable replays what arrived meanwhile."""
        self._before_consuming.append(fn)

    def after_start(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._started.append(fn)

    def before_stop(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run at shutdown once the loops have stopped, while NATS and PostgreSQL are still
        there (leave a membership, close device connections); last registered runs first."""
        self._stopping.append(fn)

    # --- publishing ---------------------------------------------------------------------

    async def publish(
        self,
        event: Event,
        *,
        key: str | None = None,
        actor: str = "system",
        correlation_id: str | None = None,
    ) -> Envelope:
        """Publish straight to JetStream (telemetry); state changes go through the outbox."""
        env = wrap(event, source=self.name, key=key, actor=actor, correlation_id=correlation_id)
        await self.publish_raw(subject_for(event, key), env.to_bytes(), env.id)
        return env

    async def publish_raw(self, subject: str, payload: bytes, msg_id: str) -> None:
        await self.broker.publish(
            payload,
            subject,
            headers={"Nats-Msg-Id": msg_id, "content-type": "application/json"},
            stream=_stream_of(subject),
            timeout=5.0,
        )

    async def publish_many(
        self, items: list[tuple[Event, str | None]], timeout: float = 10.0
    ) -> list[Envelope]:
        """Telemetry in bulk, each (event, key) as `publish` would: one acknowledgement round
        trip for the lot (ingest's samples, 170 a second at 5,000 cameras)."""
        envs = [wrap(e, source=self.name, key=k) for e, k in items]
        await self.publish_batch(
            [
                (subject_for(e, k), env.to_bytes(), env.id)
                for (e, k), env in zip(items, envs, strict=True)
            ],
            timeout,
        )
        return envs

    async def publish_batch(
        self, items: list[tuple[str, bytes, str]], timeout: float = 10.0
    ) -> None:
        """Publish (subject, payload, msg id) in order, then wait for every acknowledgement:
        one connection keeps the order, and the wait is one round trip for the whole batch.
        A failure raises (the caller publishes again; Nats-Msg-Id drops what had landed)."""
        js = self._js()
        futures: list[asyncio.Future[Any]] = []
        try:
            for subject, payload, msg_id in items:
                headers = {"Nats-Msg-Id": msg_id, "content-type": "application/json"}
                futures.append(
                    await js.publish_async(
                        subject, payload, stream=_stream_of(subject), headers=headers
                    )
                )
            await asyncio.wait_for(asyncio.gather(*futures), timeout)
        finally:
            for fut in futures:
                if not fut.done():
                    fut.cancel()
                elif not fut.cancelled():
                    fut.exception()  # retrieved: the first failure is the one raised

    async def request(
        self,
        subject: str,
        payload: dict[str, Any] | BaseModel,
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        *,
        acting_for: Identity | None = None,
    ) -> Any:
        """Ask another service; ``payload`` may be the subject's contract request model.
        Acting for a person (`acting_for`, or the task's `act_as`) adds that person's signed
        identity header, which only a process holding the signing key can make. Bodies past
        the message size limit go through the object store (cctv.plumbing.bigpayload)."""
        js = self._js()
        body = (
            payload.model_dump_json().encode()
            if isinstance(payload, BaseModel)
            else json.dumps(payload, ensure_ascii=False).encode()
        )
        headers = {**headers_for(self.signer, acting_for), **(headers or {})} or None
        body = await pack(js, body)
        reply = await self.broker.request(body, subject, timeout=timeout, headers=headers)
        return json.loads(await unpack(js, bytes(reply.body)))

    def _js(self) -> Any:
        """One JetStream context per connection (its async-publish reply inbox is made once),
        made again if the broker was restarted on a new connection."""
        conn = self.broker.connection
        if self._js_of is None or self._js_of[0] is not conn:
            self._js_of = (conn, conn.jetstream())
        return self._js_of[1]

    # --- message handling ---------------------------------------------------------------

    async def _dispatch(self, msg: NatsMessage, consumer: str, handler: Handler) -> None:
        """Every message ends acked, dead-lettered (then acked) or held for a retry — never
        dropped by an exception escaping to FastStream, which would leave it to expire."""
        try:
            await self._handle(msg, consumer, handler)
        except asyncio.CancelledError:
            raise  # shutdown: the unacked message is redelivered to whoever runs next
        except Exception as exc:  # a bug in the shell itself: say so, leave it for redelivery
            log.error("message left unsettled", consumer=consumer, error=repr(exc))
            MESSAGES.labels(self.name, consumer, "unsettled").inc()
            with contextlib.suppress(Exception):
                await msg.nack(delay=5.0)

    async def _handle(self, msg: NatsMessage, consumer: str, handler: Handler) -> None:
        raw = msg.raw_message
        deliveries = int(getattr(getattr(raw, "metadata", None), "num_delivered", 1) or 1)
        subject, body = raw.subject, bytes(msg.body or b"")
        pending = getattr(getattr(raw, "metadata", None), "num_pending", None)
        if pending is not None:  # consumer lag, for the alert rules (deploy/monitoring)
            CONSUMER_PENDING.labels(self.name, consumer).set(pending)
        started = time.perf_counter()
        decoded = _decoded(body, subject)
        if isinstance(decoded, str):
            await self._reject(msg, consumer, subject, body, decoded, deliveries)
            return
        env, event = decoded
        if deliveries > self.settings.poison_deliveries:
            reason = f"poison: delivered {deliveries} times without an outcome"
            await self._reject(msg, consumer, subject, body, reason, deliveries)
            return
        forged = _forged(env)
        if forged is not None:
            MESSAGES.labels(self.name, consumer, "forged").inc()
            await self._reject(msg, consumer, subject, body, forged, deliveries)
            return
        with structlog.contextvars.bound_contextvars(
            event_id=env.id, correlation_id=env.correlation_id, event_type=env.type
        ):
            delay = 0.5
            waiting = False
            try:
                while True:
                    try:
                        await handler(env, event)
                        break
                    except Exception as exc:
                        if not is_infrastructure(exc):
                            await self._failed(msg, consumer, subject, body, exc, deliveries)
                            return
                        if not waiting:
                            waiting = True
                            self._waiting[consumer] = self._waiting.get(consumer, 0) + 1
                            INFRA_WAITING.labels(self.name, consumer).inc()
                            self._waiting_reason = f"{type(exc).__name__}: {exc}"[:300]
                            log.warning(
                                "infrastructure unavailable; holding the message",
                                consumer=consumer,
                                error=repr(exc),
                            )
                        await self._hold(msg, delay)
                        delay = min(delay * 2, self.settings.infra_backoff_max_s)
            finally:
                if waiting:
                    self._waiting[consumer] -= 1
                    if not self._waiting[consumer]:
                        del self._waiting[consumer]
                    INFRA_WAITING.labels(self.name, consumer).dec()
                    log.info("infrastructure back; message handled", consumer=consumer)
            await self._settle(msg, consumer, "ok")
            HANDLE_SECONDS.labels(self.name, consumer).observe(time.perf_counter() - started)

    async def _hold(self, msg: NatsMessage, delay: float) -> None:
        """Wait before retrying in place; tell JetStream we are still on it, so the message
        is not redelivered meanwhile and its delivery count (the bad-message budget) stays."""
        await asyncio.sleep(delay)
        with contextlib.suppress(Exception):  # NATS may be the thing that is down
            await msg.in_progress()

    async def _failed(
        self,
        msg: NatsMessage,
        consumer: str,
        subject: str,
        body: bytes,
        exc: Exception,
        deliveries: int,
    ) -> None:
        """The infrastructure is up and the handler still failed: retry a few deliveries with
        backoff (a race, a lock), then dead-letter with the reason."""
        if deliveries >= self.settings.max_deliver:
            log.error("giving up on message", error=repr(exc), deliveries=deliveries)
            await self._reject(msg, consumer, subject, body, f"handler: {exc!r}", deliveries)
            return
        log.warning("handler failed, will retry", error=repr(exc), deliveries=deliveries)
        try:
            await msg.nack(delay=min(0.5 * 2**deliveries, 30.0))
        except Exception as nack_exc:  # redelivered after ack_wait anyway
            log.warning("nack not sent", consumer=consumer, error=repr(nack_exc))
        MESSAGES.labels(self.name, consumer, "retry").inc()

    async def _reject(
        self,
        msg: NatsMessage,
        consumer: str,
        subject: str,
        body: bytes,
        reason: str,
        deliveries: int,
    ) -> None:
        """Dead-letter, then ack. If the dead letter cannot be published the message is not
        acked: it comes back and is dead-lettered then (nothing is dropped unrecorded)."""
        try:
            await self.dead_letter(consumer, subject, body, reason, deliveries)
        except Exception as exc:
            log.error(
                "dead letter not published; message left for redelivery",
                consumer=consumer,
                subject=subject,
                reason=reason,
                error=repr(exc),
            )
            with contextlib.suppress(Exception):
                await msg.nack(delay=min(0.5 * 2**deliveries, 30.0))
            MESSAGES.labels(self.name, consumer, "retry").inc()
            return
        await self._settle(msg, consumer, "dead_letter")

    async def _settle(self, msg: NatsMessage, consumer: str, outcome: str) -> None:
        try:
            await msg.ack()
        except Exception as exc:  # redelivered later; consumers dedupe on the event id
            log.warning("ack not sent", consumer=consumer, outcome=outcome, error=repr(exc))
        MESSAGES.labels(self.name, consumer, outcome).inc()

    async def dead_letter(
        self, consumer: str, subject: str, raw: bytes, reason: str, deliveries: int
    ) -> None:
        short = reason.split(":", 1)[0]
        DEAD_LETTERS.labels(self.name, short).inc()
        log.warning("dead letter", consumer=consumer, subject=subject, reason=reason)
        await self.publish(
            DeadLetter(
                service=self.name,
                consumer=consumer,
                subject=subject,
                reason=reason[:2000],
                raw_base64=base64.b64encode(raw[:65536]).decode(),
                deliveries=deliveries,
            ),
            key=self.name,
        )

    async def _replay(self, req: DlqReplayRequest, _call: RpcCall) -> DlqReplayReply:
        """`cctv dlq replay`: run this service's dead letters again through the consumer that
        refused them, for a sysadmin's signed identity — no admin credential, no republishing
        of another service's events, only the consumer that failed sees the message again.
        Each replay is recorded (`dlq.replayed`, with who); the DLQ itself is never edited."""
        who = require_caller("sysadmin", what="replaying dead letters (cctv dlq replay)")
        js = self._js()
        return DlqReplayReply(replayed=[await self._replay_one(js, s, who) for s in req.seqs])

    async def _replay_one(self, js: Any, seq: int, who: Identity) -> DlqReplayed:
        from nats.js.errors import NotFoundError

        try:
            stored = await js.get_msg(DLQ_STREAM, seq)
        except NotFoundError:
            return DlqReplayed(seq=seq, outcome="not_found", reason=f"no #{seq} in {DLQ_STREAM}")
        decoded = _decoded(bytes(stored.data or b""), str(stored.subject))
        letter = None if isinstance(decoded, str) else decoded[1]
        if not isinstance(letter, DeadLetter):
            return DlqReplayed(seq=seq, outcome="not_found", reason=f"#{seq} is no dead letter")
        if letter.service != self.name:
            return DlqReplayed(
                seq=seq, outcome="not_mine", reason=f"#{seq} is {letter.service}'s letter"
            )
        consumer, subject = letter.consumer, letter.subject
        outcome, reason, event_id = await self._rerun(
            consumer, subject, base64.b64decode(letter.raw_base64)
        )
        await self.publish(
            DeadLetterReplayed(
                service=self.name,
                consumer=consumer,
                subject=subject,
                dlq_seq=seq,
                event_id=event_id,
                outcome=outcome,
                reason=reason,
                replayed_by=who.account,
            ),
            key=self.name,
            actor=who.account,
        )
        log.info("dead letter replayed", seq=seq, outcome=outcome, by=who.account, reason=reason)
        return DlqReplayed(seq=seq, outcome=outcome, reason=reason)

    async def _rerun(
        self, consumer: str, subject: str, raw: bytes
    ) -> tuple[ReplayOutcome, str, str | None]:
        """(outcome, reason, event id) of running one letter through its consumer again."""
        handler = self._handlers.get(consumer)
        if handler is None:
            return "no_consumer", f"{self.name} has no consumer {consumer!r}", None
        decoded = _decoded(raw, subject)  # the consumer's own checks, as on delivery
        if isinstance(decoded, str):
            return "still_bad", decoded[:500], None
        env, event = decoded
        forged = _forged(env)
        if forged is not None:
            return "still_bad", forged, env.id
        try:
            await handler(env, event)
        except Exception as exc:
            return "failed", f"handler: {exc!r}"[:500], env.id
        return "handled", "", env.id

    # --- lifecycle ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        """Start database, migrations, broker, relay and loops; stop them in reverse order."""
        await self._on_startup()
        try:
            for fn in self._before_consuming:
                await fn()
            await self.broker.start()
            await self._reconcile_consumers()
            await self._after_startup()
            yield self
        finally:
            await self._on_shutdown()
            await self.broker.stop()
            await self._after_shutdown()

    def asgi(self) -> Starlette:
        """The HTTP side (/healthz, /readyz, /metrics and any routes added), tied to the broker."""

        @contextlib.asynccontextmanager
        async def lifespan(_app: Starlette) -> Any:
            async with self.running():
                yield

        app = Starlette(
            routes=self.routes,
            middleware=self.middleware,
            lifespan=lifespan,
            exception_handlers=self.exception_handlers,
        )
        app.state.service = self
        for key, value in self.state.items():
            setattr(app.state, key, value)
        return app

    async def migrate_as_owner(self) -> list[str] | None:
        """Apply the migrations as the schema owner and grant the service's role what it
        needs (issue 13); None when no separate owner is configured."""
        owner = self.settings.migration_database_url
        if not owner or owner == self.settings.database_url:
            return None
        mpool = await create_pool(owner, min_size=1, max_size=1)
        try:
            return await apply_migrations(
                mpool,
                self.schema,
                self.migrations,
                grant_to=dsn_user(self.settings.database_url),
                grant_tables=self.grant_tables,
            )
        finally:
            await mpool.close()

    async def migrate_only(self) -> list[str]:
        """MIGRATE=only: what a pod's init container runs, then exits (no NATS, no HTTP)."""
        applied = await self.migrate_as_owner()
        if applied is None:
            pool = await create_pool(self.settings.database_url, min_size=1, max_size=1)
            try:
                applied = await apply_migrations(pool, self.schema, self.migrations)
            finally:
                await pool.close()
        log.info("migrations applied", schema=self.schema, applied=applied)
        return applied

    async def _on_startup(self) -> None:
        quiet_cancellations(asyncio.get_running_loop())
        if self.settings.migrate == "check":
            # the pod's init container migrated (MIGRATE=only); this process has no owner
            # password and only says what is missing (/readyz keeps saying it)
            self.pool = await create_pool(self.settings.database_url)
            pending = await pending_migrations(self.pool, self.schema, self.migrations)
            if pending:
                log.error("migrations pending: run MIGRATE=only first", pending=pending)
            return
        applied = await self.migrate_as_owner()
        self.pool = await create_pool(self.settings.database_url)
        if applied is None:
            applied = await apply_migrations(self.pool, self.schema, self.migrations)
        log.info("migrations applied", applied=applied)

    async def _reconcile_consumers(self) -> None:
        """Durables created before the server stopped giving up (max_deliver 5) keep that
        setting; lift it in place (an editable field), or messages still expire silently."""
        from nats.js.errors import NotFoundError

        jsm = self.broker.connection.jetstream()
        for _subject, stream, durable in self.consumers:
            try:
                info = await jsm.consumer_info(stream, durable)
            except NotFoundError:
                continue
            if info.config.max_deliver not in (None, -1):
                info.config.max_deliver = -1
                try:
                    await jsm.add_consumer(stream, config=info.config)
                    log.info("consumer now never gives up", consumer=durable)
                except Exception as exc:
                    log.warning("consumer max_deliver not updated", consumer=durable,
                                error=repr(exc))  # fmt: skip

    async def _after_startup(self) -> None:
        assert self.pool is not None
        self.relay = OutboxRelay(
            self.pool, self.schema, self.name, self.publish_raw, self.publish_batch
        )
        await self.relay.start()
        for fn in self._started:
            await fn()
        for name, fn in self._loops:
            self._tasks.append(asyncio.create_task(self._supervise(name, fn), name=name))
        log.info("service started", http_port=self.settings.http_port)

    async def _supervise(self, name: str, fn: Loop) -> None:
        while True:
            try:
                await fn()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("background loop crashed; restarting", loop=name, error=repr(exc))
                await asyncio.sleep(1.0)

    async def _on_shutdown(self) -> None:
        await cancel_and_wait(*self._tasks)
        for fn in reversed(self._stopping):
            try:
                await fn()
            except Exception as exc:  # one failed step must not keep the rest from running
                log.warning(
                    "shutdown step failed", step=getattr(fn, "__name__", repr(fn)), error=repr(exc)
                )

    async def _after_shutdown(self) -> None:
        if self.relay is not None:
            with contextlib.suppress(Exception):
                await self.relay.stop()
        if self.pool is not None:
            await self.pool.close()

    async def _metrics(self, request: Request) -> Response:
        if not self.metrics_public and not self._may_scrape(request):
            return PlainTextResponse("not found", status_code=404)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    def _may_scrape(self, request: Request) -> bool:
        """On a port people reach, metrics (consumer names, error reasons, load) are for
        loopback or a scraper with the bearer token (METRICS_TOKEN) only."""
        token = self.settings.metrics_token
        given = request.headers.get("authorization", "")
        if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
        host = request.client.host if request.client else ""
        return host in ("127.0.0.1", "::1", "localhost")

    async def _healthz(self, _request: Request) -> Response:
        return PlainTextResponse("ok")

    async def _readyz(self, _request: Request) -> Response:
        problems = await self.readiness_problems()
        if problems:
            return PlainTextResponse("; ".join(problems), status_code=503)
        return PlainTextResponse("ready")

    async def readiness_problems(self) -> list[str]:
        problems: list[str] = [
            f"consumer {name}: {n} message(s) waiting for the infrastructure "
            f"({self._waiting_reason})"
            for name, n in sorted(self._waiting.items())
        ]
        for check in self._ready_checks:
            problems.extend(check())
        try:
            if not await self.broker.ping(timeout=1.0):
                problems.append("nats: no answer")
        except Exception as exc:
            problems.append(f"nats: {exc}")
        if self.pool is None:
            problems.append("postgres: not connected")
        else:
            try:
                pending = await asyncio.wait_for(
                    pending_migrations(self.pool, self.schema, self.migrations), 5.0
                )
                if pending:
                    problems.append(f"migrations pending: {pending}")
            except Exception as exc:
                problems.append(f"postgres: {exc!r}")
        return problems

    def run(self) -> None:
        """Serve HTTP and the broker until SIGINT/SIGTERM, then finish in-flight messages;
        with MIGRATE=only, apply the migrations and return."""
        if self.settings.migrate == "only":
            asyncio.run(self.migrate_only())
            return
        config = uvicorn.Config(
            self.asgi(),
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=20,
        )
        uvicorn.Server(config).run()


def _decoded(body: bytes, subject: str) -> tuple[Envelope, Event] | str:
    """The message as its contract reads it, or why it never reaches a handler."""
    try:
        return decode(body, subject)
    except ContractError as exc:
        return f"contract: {exc}"
    except Exception as exc:  # RecursionError, MemoryError…: a hostile payload, not a bug
        return f"contract: undecodable ({type(exc).__name__}: {str(exc)[:200]})"


def _forged(env: Envelope) -> str | None:
    """Why a message's source may not have published it, or None. Only one service may
    publish each type (cctv.contract.permissions); the server refuses the rest, and anything
    that still got through (an admin credential misused, a misconfigured server) is recorded
    and never acted on."""
    if source_allowed(env.type, env.source, env.key):
        return None
    return (
        f"source: {env.source!r} may not publish {env.type!r} (only {publisher_of_label(env.type)})"
    )


def publisher_of_label(event_type: str) -> str:
    try:
        return publisher_of(event_type) or "the service named in the key"
    except KeyError:
        return "no service"


def _broker_logger() -> logging.Logger:
    logger = logging.getLogger("cctv.broker")
    logger.setLevel(logging.WARNING)
    return logger


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err.get('loc', ())) or 'request'}: {err.get('msg')}"


def _stream_of(subject: str) -> str | None:
    from cctv.contract.streams import STREAMS

    for spec in STREAMS:
        for pattern in spec.subjects:
            if subject.startswith(pattern.removesuffix(">")):
                return spec.name
    return None
