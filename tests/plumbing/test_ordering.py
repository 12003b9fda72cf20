"""Events of one key are handled one at a time, in stream order, although a pulled batch is
handled concurrently (FastStream's task group); other keys go side by side.

Found from outside: four approvals of one request number reached media in one batch and it
kept an older grant than the last — approved-then-revoked could have left a live grant. Then,
on a CPU-starved machine, FastStream's pipeline let a later message of a batch reach the
handler before an earlier one (4 runs in 8 with two hogs on two cores)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import nats
from faststream import BaseMiddleware

from cctv.contract import Envelope, Event, subject_for, wrap
from cctv.contract.events import CameraRemoved
from cctv.plumbing.ordering import KeyedOrder, ordering_key
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from tests.support.waiting import ChangeFeed, eventually


def removed(key: str, i: int) -> tuple[str, bytes, str]:
    ev = CameraRemoved(camera_id=f"{key}-{i}", reason=str(i))
    env = wrap(ev, source="ingest", key=key)
    return subject_for(ev, key), env.to_bytes(), env.id


async def handle_batch(
    svc: Service, sent: list[tuple[str, bytes, str]], done: list[str], changes: ChangeFeed
) -> None:
    """Publish `sent` before the consumer exists (its first pull takes them together), then
    run `svc` until its handler has marked every one `done`."""
    nc = await nats.connect(svc.settings.nats_url)
    try:
        for subject, data, eid in sent:
            await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": eid})
    finally:
        await nc.close()
    async with svc.running():

        async def handled() -> list[str]:
            return list(done)

        await eventually(handled, lambda d: len(d) == len(sent), changes=changes, timeout=30,
                         what=f"{len(sent)} events handled")  # fmt: skip


async def test_a_batch_of_one_keys_events_is_handled_one_at_a_time(
    nats_url: str, database_url: str
) -> None:
    key = f"o{uuid.uuid4().hex[:8]}"
    svc = Service(f"order{key}", ServiceSettings(nats_url=nats_url, database_url=database_url),
                  schema=f"s_{key}")  # fmt: skip
    started: dict[str, asyncio.Event] = {f"{key}-{i}": asyncio.Event() for i in range(5)}
    running: set[str] = set()
    overlaps: list[tuple[str, set[str]]] = []
    done: list[str] = []
    changes = ChangeFeed()

    async def handler(_env: Envelope, event: Event) -> None:
        assert isinstance(event, CameraRemoved)
        name = event.camera_id
        if running:
            overlaps.append((name, set(running)))
        running.add(name)
        started[name].set()
        try:
            if name == f"{key}-0":
                # a bounded window for the next event of this key to start alongside
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(started[f"{key}-1"].wait(), 2.0)
        finally:
            running.discard(name)
        done.append(name)
        changes.bump()

    svc.consume(f"cctv.camera.removed.{key}", durable=f"order-{key}", handler=handler)
    await handle_batch(svc, [removed(key, i) for i in range(5)], done, changes)
    assert overlaps == []  # never two of one key at once


async def test_a_pipeline_that_lets_later_messages_through_first_does_not_reorder_a_key(
    nats_url: str, database_url: str
) -> None:
    """What a starved machine did by chance, a middleware does on purpose: each message of the
    batch waits (boundedly) for the next one to pass first, so they reach the handler last
    first unless their turn was taken before FastStream's pipeline."""
    key = f"r{uuid.uuid4().hex[:8]}"
    svc = Service(f"order{key}", ServiceSettings(nats_url=nats_url, database_url=database_url),
                  schema=f"s_{key}")  # fmt: skip
    sent = [removed(key, i) for i in range(5)]
    index = {eid: i for i, (_s, _d, eid) in enumerate(sent)}
    passed = [asyncio.Event() for _ in sent]

    class LastFirst(BaseMiddleware):  # type: ignore[type-arg]
        async def on_receive(self) -> None:
            headers = getattr(self.msg, "headers", None) or {}
            i = index.get(headers.get("Nats-Msg-Id", ""))
            if i is None:
                return
            if i + 1 < len(passed):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(passed[i + 1].wait(), 0.5)
            passed[i].set()

    svc.broker.add_middleware(LastFirst)
    done: list[str] = []
    changes = ChangeFeed()

    async def handler(_env: Envelope, event: Event) -> None:
        assert isinstance(event, CameraRemoved)
        done.append(event.camera_id)
        changes.bump()

    svc.consume(f"cctv.camera.removed.{key}", durable=f"order-{key}", handler=handler)
    await handle_batch(svc, sent, done, changes)
    assert done == [f"{key}-{i}" for i in range(5)]  # stream order


async def test_other_keys_go_alongside_and_no_lock_outlives_its_events() -> None:
    order = KeyedOrder()
    b_started = asyncio.Event()
    a1_started = asyncio.Event()
    seen: list[str] = []

    async def one(name: str) -> None:
        async with order.turn(ordering_key(f"cctv.workflow.access.approved.{name[0]}")):
            seen.append(f"start {name}")
            if name == "a0":
                for ev, what in ((b_started, "b0"), (a1_started, "a1")):
                    try:
                        await asyncio.wait_for(ev.wait(), 0.5)
                        seen.append(f"a0 saw {what}")
                    except TimeoutError:
                        pass
            if name == "a1":
                a1_started.set()
            if name == "b0":
                b_started.set()
            seen.append(f"end {name}")

    await asyncio.gather(*(asyncio.create_task(one(n)) for n in ("a0", "a1", "b0")))
    assert "a0 saw b0" in seen  # another request is not held up
    assert "a0 saw a1" not in seen  # the same request waits its turn
    assert seen.index("end a0") < seen.index("start a1")
    assert len(order) == 0


async def test_a_message_waiting_its_turn_tells_jetstream_it_is_being_worked_on() -> None:
    """Behind a message held through an outage, the next of its key would otherwise be
    redelivered every ack_wait and spend its delivery budget (then be dead-lettered)."""
    order = KeyedOrder()
    release, beaten, holding = asyncio.Event(), asyncio.Event(), asyncio.Event()
    holder_beat: list[int] = []

    async def first() -> None:
        async with order.turn("DY-1", keepalive=lambda: _note(holder_beat), every_s=0.05):
            holding.set()
            await release.wait()

    async def second() -> None:
        async with order.turn("DY-1", keepalive=_set(beaten), every_s=0.05):
            pass

    holder = asyncio.create_task(first())
    await asyncio.wait_for(holding.wait(), 5.0)
    waiter = asyncio.create_task(second())
    await asyncio.wait_for(beaten.wait(), 5.0)  # the waiter kept its message alive
    release.set()
    await asyncio.wait_for(asyncio.gather(holder, waiter), 5.0)
    assert holder_beat == []  # the one holding the turn keeps its own message (its _hold)
    assert len(order) == 0


async def _note(seen: list[int]) -> None:
    seen.append(1)


def _set(ev: asyncio.Event):  # type: ignore[no-untyped-def]
    async def beat() -> None:
        ev.set()

    return beat
