"""The prober on an event loop of its own, in its own thread (issue 9: request-reply never
starves behind probes).

Why a thread with its own loop: probing thousands of devices is a steady stream of small
awaits (HTTP, XML, SOAP, RTSP). On the loop that also answers request-reply, every await of
a reply handler waits behind the whole queue of ready probe callbacks, so a reply made of
ten awaits took ten times the loop's lag: `cctv cameras list` timed out for minutes on a
busy machine. With the prober on its own loop, the service loop's queue stays short; the
two threads share the CPU through the GIL (switching every 5 ms), so a reply needs a few
milliseconds of CPU, not a turn behind every probe.

The prober thread touches nothing of the service loop's: it gets the camera list as an
immutable snapshot the service loop refreshes, and hands each sample back with
`call_soon_threadsafe` to a queue the service loop drains and publishes (one NATS
connection, with the service's own credentials and permissions).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog
from prometheus_client import Counter, Gauge

from cctv.contract import CameraRecord
from cctv.contract.events import HealthSample

log = structlog.get_logger("ingest.prober")
QUEUED = Gauge("cctv_ingest_samples_queued", "Samples waiting to be published")
DROPPED = Counter(
    "cctv_ingest_samples_dropped_total", "Samples dropped: the publish queue was full"
)

T = TypeVar("T")
ProberMain = Callable[
    [Callable[[], list[CameraRecord]], Callable[[HealthSample], None]], Awaitable[None]
]


class ProberThread:
    """Runs `main(cameras, hand_back)` on a fresh event loop in a daemon thread."""

    def __init__(self, main: ProberMain, *, queue_max: int = 20000) -> None:
        self.main = main
        self.cameras: list[CameraRecord] = []  # replaced whole, never mutated: thread-safe
        self.queue: asyncio.Queue[HealthSample] = asyncio.Queue()
        self.queue_max = queue_max
        self._service_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self.done = threading.Event()
        self._stopping = threading.Event()
        self._ended = asyncio.Event()  # on the service loop, set when the thread ends
        self.error: BaseException | None = None

    async def submit(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the prober's loop (device I/O and parsing, e.g. a recording
        scan) and wait for its result here, on the service loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError("the prober is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(make(), loop))

    def _hand_back(self, sample: HealthSample) -> None:
        """Called in the prober thread: the sample goes to the service loop's queue."""
        loop = self._service_loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._enqueue, sample)

    def _enqueue(self, sample: HealthSample) -> None:
        if self.queue.qsize() >= self.queue_max:
            DROPPED.inc()
            return
        self.queue.put_nowait(sample)
        QUEUED.set(self.queue.qsize())

    def _run(self) -> None:
        async def guarded() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            if self._stopping.is_set():  # stopped before this loop existed: nothing to cancel
                return
            await self.main(lambda: self.cameras, self._hand_back)

        try:
            asyncio.run(guarded())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported to the service loop, which restarts us
            self.error = exc
            log.error("prober stopped", error=repr(exc))
        finally:
            self.done.set()
            if self._service_loop is not None:
                with contextlib.suppress(RuntimeError):  # the service loop closed meanwhile
                    self._service_loop.call_soon_threadsafe(self._ended.set)

    def start(self) -> None:
        self._service_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="ingest-prober", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        # first the flag, then the loop: a thread not yet running its loop sees the flag
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop closed meanwhile
                pass
        if self._thread is not None:
            self._thread.join(timeout_s)

    async def wait(self) -> None:
        """Until the prober thread ends; raises what ended it. Told by the thread itself, not
        waited for in an executor thread that a prober which never ends would hold forever."""
        await self._ended.wait()
        if self.error is not None:
            raise RuntimeError(f"prober thread stopped: {self.error!r}") from self.error


async def publish_from(
    prober: ProberThread,
    emit: Callable[[list[HealthSample]], Awaitable[None]],
    max_batch: int = 64,
) -> None:
    """Drain the prober's samples on the service loop: what has queued up goes out together,
    one acknowledgement round trip per batch (one sample each through the broker's publish
    was a twentieth of ingest's CPU at 5,000 cameras)."""
    while True:
        batch = [await prober.queue.get()]
        while len(batch) < max_batch and not prober.queue.empty():
            batch.append(prober.queue.get_nowait())
        QUEUED.set(prober.queue.qsize())
        try:
            await emit(batch)
        except Exception as exc:  # a failed publish loses these samples, never the loop
            log.warning("samples not published", count=len(batch), error=repr(exc))
