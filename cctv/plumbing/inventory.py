"""The whole camera inventory in memory from the moment a service starts: a snapshot, then
every change (issue 9).

Learning cameras one `camera.upserted` event at a time from a durable consumer means a
service that starts behind (or on a busy machine) acts for minutes on a partial inventory:
faults without building or zone, cameras without a metric. The view reads the CCTV_CAMERA
stream with DeliverPolicy LAST_PER_SUBJECT over `cctv.camera.upserted.*` and
`cctv.camera.removed.*`: the server hands over the last upsert and the last removal of every
camera, in stream order (so a removal after an upsert wins, and a re-add after a removal
wins), then keeps delivering new changes on the same ephemeral consumer. `start()` returns
once the snapshot is complete.

Known limit: the stream keeps 400 days; a camera whose last upsert is older has aged out of
it. The view says which cameras it saw removed (`removed`), so a service keeps its own copy
of a camera the view does not know rather than treating it as gone (see docs/adr/0010).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from cctv.contract import CameraRecord, ContractError, decode
from cctv.contract.events import CameraRemoved, CameraUpserted

from .tasks import cancel_and_wait

SUBJECTS = ("cctv.camera.upserted.*", "cctv.camera.removed.*")
STREAM = "CCTV_CAMERA"

Change = Callable[[str, CameraRecord | None, CameraRecord | None, datetime], Awaitable[None]]
"""(camera_id, before, after, when): after is None when the camera was removed."""

log = structlog.get_logger()


class InventoryView:
    """Every camera as the inventory last described it; `on_change` hears each change after
    the snapshot (the snapshot itself is read with `cameras` once `start()` returns)."""

    def __init__(self, on_change: Change | None = None, *, batch: int = 512) -> None:
        self.cameras: dict[str, CameraRecord] = {}
        self.removed: dict[str, datetime] = {}  # cameras whose last word was a removal
        self.changed_at: dict[str, datetime] = {}
        self.on_change = on_change
        self.batch = batch
        self.ready = asyncio.Event()
        self._last_seq = 0
        self._nc: NatsClient | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None

    def get(self, camera_id: str) -> CameraRecord | None:
        return self.cameras.get(camera_id)

    def remember(self, camera: CameraRecord) -> bool:
        """A camera the service knows from elsewhere (its own copy, the stream no longer
        holding its last upsert; ingest's answer): kept until the inventory says otherwise.
        Never over the inventory's own word: a record the view holds stays, and a camera the
        view saw removed is not brought back (False)."""
        if camera.camera_id in self.removed:
            return False
        self.cameras.setdefault(camera.camera_id, camera)
        return True

    def __len__(self) -> int:
        return len(self.cameras)

    async def start(self, nc: NatsClient, timeout: float = 60.0) -> None:
        """Read the snapshot (every camera's last word), then follow changes in the background."""
        self._nc = nc
        await asyncio.wait_for(self._snapshot(), timeout)
        self.ready.set()
        self._task = asyncio.create_task(self._follow(), name="inventory-view")
        log.info("inventory snapshot read", cameras=len(self.cameras), removed=len(self.removed))

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self._unsubscribe()

    async def _subscribe(self, start_seq: int | None) -> int:
        """A fresh ephemeral consumer; returns how many messages it has pending now."""
        assert self._nc is not None
        await self._unsubscribe()
        js = self._nc.jetstream()
        config = api.ConsumerConfig(
            filter_subjects=list(SUBJECTS),
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=300.0,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
        )
        if start_seq is not None:  # resuming after a lost consumer: from where we were
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = start_seq
        sub = await js.pull_subscribe("", stream=STREAM, config=config)
        self._sub = sub
        info = await sub.consumer_info()
        return int(info.num_pending or 0)

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _snapshot(self) -> None:
        pending = await self._subscribe(None)
        while pending > 0:
            assert self._sub is not None
            try:
                msgs = await self._sub.fetch(min(self.batch, pending), timeout=5.0)
            except NatsTimeout:
                continue
            for msg in msgs:
                await self._take(msg, notify=False)
                pending = int(msg.metadata.num_pending)

    async def _follow(self) -> None:
        idle = 0
        while True:
            try:
                if self._sub is None:
                    await self._subscribe(self._last_seq + 1)
                assert self._sub is not None
                msgs = await self._sub.fetch(self.batch, timeout=5.0)
                idle = 0
                for msg in msgs:
                    await self._take(msg, notify=True)
            except NatsTimeout:
                idle += 1
                if idle % 12 == 0 and self._sub is not None:  # a quiet minute: still there?
                    try:
                        await self._sub.consumer_info()
                    except NotFoundError:
                        self._sub = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS restarted, consumer gone: resume where we were
                log.warning("inventory view lost its consumer; resuming", error=repr(exc))
                self._sub = None
                await asyncio.sleep(1.0)

    async def _take(self, msg: object, *, notify: bool) -> None:
        seq = int(msg.metadata.sequence.stream)  # type: ignore[attr-defined]
        if seq <= self._last_seq:
            return
        self._last_seq = seq
        try:
            env, event = decode(msg.data, msg.subject)  # type: ignore[attr-defined]
        except ContractError as exc:
            log.warning("inventory view skipped a bad message", seq=seq, error=str(exc))
            return
        await self.apply(event, env.time, notify=notify)

    async def apply(self, event: object, at: datetime, *, notify: bool = True) -> None:
        """Fold one inventory event in; also how a service hands the view a change it saw
        first on its own consumer (older news than what the view holds changes nothing)."""
        if isinstance(event, CameraUpserted):
            camera_id, after = event.camera.camera_id, event.camera
        elif isinstance(event, CameraRemoved):
            camera_id, after = event.camera_id, None
        else:
            return
        seen = self.changed_at.get(camera_id)
        if seen is not None and at < seen:
            return
        before = self.cameras.get(camera_id)
        self.changed_at[camera_id] = at
        if after is None:
            self.cameras.pop(camera_id, None)
            self.removed[camera_id] = at
        else:
            self.cameras[camera_id] = after
            self.removed.pop(camera_id, None)
        if notify and self.on_change is not None and before != after:
            try:
                await self.on_change(camera_id, before, after, at)
            except Exception as exc:  # a listener's failure must not stop the view
                log.warning("inventory listener failed", camera_id=camera_id, error=repr(exc))
