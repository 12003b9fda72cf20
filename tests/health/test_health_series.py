"""Every camera of the inventory view has its series, labelled where the view says it is, and no
other camera has one, after every order in which health can hear of a change — with
`ensure_series` (the housekeeping repair) never running (issue 9).

The view is driven as its own consumer drives it (`InventoryView.apply` with notify, or the
real stream), the durable inventory consumer through `on_inventory`; a step that must land
while another is half-way is held at a store call until the test lets it go."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from prometheus_client import REGISTRY

from cctv.contract import CameraRecord, Event, subject_for, wrap
from cctv.contract.events import CameraRemoved, CameraUpserted, HealthSample
from services.health import app as health_app
from services.health import store
from services.health.app import CAMERA_STATE, CAMERA_STATES, CAMERA_UP, HealthService
from tests.health.harness import feed
from tests.support.waiting import ChangeFeed, eventually

START = datetime.now(UTC).replace(microsecond=0)


def record(camera_id: str, building: str = "综合楼", zone: str = "办公区") -> CameraRecord:
    return CameraRecord(
        camera_id=camera_id, name="走廊", system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building=building,
        position="1F", zone=zone, brand="hikvision", protocol="isapi", address="127.0.0.1:80",
    )  # fmt: skip


def at(step: int) -> datetime:
    """Event times in the order the inventory said things (all in the recent past)."""
    return START - timedelta(minutes=30) + timedelta(seconds=step)


def series(prefix: str) -> dict[str, set[tuple[str, str]]]:
    """(building, zone) of each `cctv_camera_up` series of this test's cameras."""
    found: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for metric in CAMERA_UP.collect():
        for s in metric.samples:
            if s.labels["camera_id"].startswith(prefix):
                found[s.labels["camera_id"]].add((s.labels["building"], s.labels["zone"]))
    return dict(found)


def states(prefix: str) -> dict[str, dict[tuple[str, str, str], float]]:
    found: dict[str, dict[tuple[str, str, str], float]] = defaultdict(dict)
    for metric in CAMERA_STATE.collect():
        for s in metric.samples:
            lb = s.labels
            if lb["camera_id"].startswith(prefix):
                found[lb["camera_id"]][(lb["building"], lb["zone"], lb["state"])] = s.value
    return dict(found)


def assert_series_follow_the_view(h: HealthService, prefix: str, after: str) -> None:
    """The invariant: series exactly for the view's cameras, under their current labels, one
    state set, and `ensure_series` would find nothing to do."""
    want = {c: (r.building, r.zone) for c, r in h.view.cameras.items() if c.startswith(prefix)}
    assert series(prefix) == {c: {lb} for c, lb in want.items()}, f"cctv_camera_up after {after}"
    per_state = states(prefix)
    assert set(per_state) == set(want), f"cctv_camera_state after {after}"
    for camera_id, (building, zone) in want.items():
        assert set(per_state[camera_id]) == {(building, zone, st) for st in CAMERA_STATES}, (
            f"{camera_id}'s state series after {after}"
        )
        assert sum(per_state[camera_id].values()) == 1, f"{camera_id} one state after {after}"


def shown_state(camera_id: str) -> str | None:
    for metric in CAMERA_STATE.collect():
        for s in metric.samples:
            if s.labels["camera_id"] == camera_id and s.value == 1:
                return s.labels["state"]
    return None


class Gate:
    """Holds the first call of a store function for one camera until `open()`."""

    def __init__(self) -> None:
        self.reached = ChangeFeed()
        self.opened = asyncio.Event()
        self.held = False

    def around(self, fn: Callable[..., Awaitable[Any]], camera_id: str) -> Callable[..., Any]:
        async def held(*args: Any, **kwargs: Any) -> Any:
            mentioned = any(
                a == camera_id or getattr(a, "camera_id", None) == camera_id for a in args
            )
            if mentioned and not self.held:
                self.held = True
                self.reached.bump()
                await self.opened.wait()
            return await fn(*args, **kwargs)

        return held

    async def wait_reached(self) -> None:
        await eventually(_true_if(lambda: self.held), changes=self.reached, what="the gate")

    def open(self) -> None:
        self.opened.set()


class LockCalls:
    """Counts the calls of `store.lock_camera` for one camera: a step sent while another holds
    the camera half-way has arrived once it asks for the lock (or has finished, if nothing
    made it wait). Asking is enough: the holder's transaction is open, so whenever the request
    reaches PostgreSQL the step is served after it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, camera_id: str) -> None:
        self.calls = 0
        self.changes = ChangeFeed()
        lock = store.lock_camera

        async def counted(conn: Any, cid: str) -> None:
            if cid == camera_id:
                self.calls += 1
                self.changes.bump()
            await lock(conn, cid)

        monkeypatch.setattr(store, "lock_camera", counted)

    async def arrived(self, step: asyncio.Future[Any], calls: int) -> None:
        """`step` finished, or the camera's lock was asked for `calls` times in all."""
        step.add_done_callback(lambda _f: self.changes.bump())
        await eventually(
            _true_if(lambda: step.done() or self.calls >= calls),
            changes=self.changes,
            what="the racing step to finish or ask for the camera's lock",
        )


def _true_if(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return check()

    return probe


async def failing(h: HealthService, camera_id: str, step: int, ok: bool = False) -> None:
    await feed(h, HealthSample(camera_id=camera_id, sampled_at=at(step), reachable=ok))


# --- the view's snapshot, its own consumer, and the durable consumer lagging behind ---------


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


async def publish(nc: Any, event: Event, when: datetime) -> int:
    key = event.camera.camera_id if isinstance(event, CameraUpserted) else event.camera_id  # type: ignore[attr-defined]
    env = wrap(event, source="ingest", key=key).model_copy(update={"time": when})
    ack = await nc.jetstream().publish(subject_for(event, key), env.to_bytes())
    return int(ack.seq)


def watch_view(h: HealthService) -> ChangeFeed:
    """A feed bumped each time the view folds an event in (told or silent)."""
    changes = ChangeFeed()
    apply = h.view.apply

    async def apply_and_tell(event: object, when: datetime, *, notify: bool = True) -> None:
        await apply(event, when, notify=notify)
        changes.bump()

    h.view.apply = apply_and_tell  # type: ignore[method-assign, assignment]
    return changes


async def test_series_follow_the_view_whoever_hears_first(health: HealthService, js: Any) -> None:
    """Snapshot (silent), then the view's own consumer, then the durable consumer replaying
    the same news late: after each event the series match the view."""
    p = f"SQ{uuid.uuid4().hex[:6]}"
    a, b, c, d = (f"{p}-{x}" for x in "ABCD")
    history: list[tuple[Event, datetime]] = [
        (CameraUpserted(camera=record(a)), at(1)),
        (CameraUpserted(camera=record(b)), at(2)),
        (CameraUpserted(camera=record(b, "图书馆", "教学区")), at(3)),  # moved
        (CameraUpserted(camera=record(c)), at(4)),
        (CameraRemoved(camera_id=c, reason="拆除"), at(5)),
        (CameraUpserted(camera=record(d)), at(6)),
        (CameraRemoved(camera_id=d, reason="更换"), at(7)),
        (CameraUpserted(camera=record(d, "实验楼", "实验区")), at(8)),  # back, elsewhere
    ]
    for event, when in history:
        await publish(js, event, when)
    changes = watch_view(health)
    await health.view.start(js)
    try:
        await health.reconcile()
        assert_series_follow_the_view(health, p, "the snapshot")
        assert set(series(p)) == {a, b, d}

        live: list[tuple[Event, datetime]] = [
            (CameraUpserted(camera=record(f"{p}-E")), at(9)),  # new
            (CameraUpserted(camera=record(a, "体育馆", "运动区")), at(10)),  # moved
            (CameraRemoved(camera_id=b, reason="拆除"), at(11)),
            (CameraUpserted(camera=record(c, "食堂", "生活区")), at(12)),  # re-added
            (CameraRemoved(camera_id=d, reason="拆除"), at(13)),
            (CameraUpserted(camera=record(d, "实验楼", "实验区")), at(14)),  # and back again
        ]
        for event, when in live:
            seq = await publish(js, event, when)
            await eventually(
                _true_if(lambda seq=seq: health.view._last_seq >= seq),  # type: ignore[misc]
                changes=changes,
                what=f"the view to take {event.TYPE}",
            )
            assert_series_follow_the_view(health, p, f"the view took {event.TYPE} at {when}")

        # the durable consumer, behind, delivers the whole history again in stream order
        for event, when in history + live:
            await feed(health, event, when)
            assert_series_follow_the_view(health, p, f"on_inventory {event.TYPE} at {when}")
        assert series(p) == {
            a: {("体育馆", "运动区")},
            c: {("食堂", "生活区")},
            d: {("实验楼", "实验区")},
            f"{p}-E": {("综合楼", "办公区")},
        }
    finally:
        await health.view.stop()


async def test_a_removal_the_durable_consumer_delivers_after_a_re_add_keeps_the_series(
    health: HealthService,
) -> None:
    """The view (its own consumer) already holds the re-added camera when the durable consumer
    gets to the removal before it: health's copy is older than the removal, so the removal is
    carried out there — the series of the camera the view still holds stays."""
    p = f"SR{uuid.uuid4().hex[:6]}"
    cam = f"{p}-1"
    await feed(health, CameraUpserted(camera=record(cam)), at(1))
    await failing(health, cam, 2, ok=True)
    # the view's own consumer runs ahead: removed, then back in another building
    await health.view.apply(CameraRemoved(camera_id=cam), at(3))
    assert_series_follow_the_view(health, p, "the view's removal")
    await health.view.apply(CameraUpserted(camera=record(cam, "图书馆", "教学区")), at(4))
    assert_series_follow_the_view(health, p, "the view's re-add")
    await feed(health, CameraRemoved(camera_id=cam), at(3))
    assert_series_follow_the_view(health, p, "the durable removal after the view's re-add")
    assert shown_state(cam) == "unknown"  # its health starts over, as in the database
    await feed(health, CameraUpserted(camera=record(cam, "图书馆", "教学区")), at(4))
    assert_series_follow_the_view(health, p, "the durable re-add")
    assert series(p) == {cam: {("图书馆", "教学区")}}


async def test_a_restart_with_replays_around_the_snapshot(health: HealthService, js: Any) -> None:
    """A new process: the durable consumer replays before the snapshot is read, while it is
    reconciled, and after; the series follow the view at each step."""
    p = f"SS{uuid.uuid4().hex[:6]}"
    a, b, c = (f"{p}-{x}" for x in "ABC")
    before: list[tuple[Event, datetime]] = [
        (CameraUpserted(camera=record(a)), at(1)),
        (CameraUpserted(camera=record(b)), at(2)),
        (CameraUpserted(camera=record(c)), at(3)),
    ]
    for event, when in before:
        await publish(js, event, when)
        await feed(health, event, when)
    await failing(health, a, 4, ok=True)
    # while health was away
    away: list[tuple[Event, datetime]] = [
        (CameraUpserted(camera=record(a, "图书馆", "教学区")), at(5)),
        (CameraRemoved(camera_id=b), at(6)),
        (CameraRemoved(camera_id=c), at(7)),
        (CameraUpserted(camera=record(c, "食堂", "生活区")), at(8)),
    ]
    for event, when in away:
        await publish(js, event, when)
    # the old process's series are gone with it
    for camera_id in (a, b, c):
        health.unshow(camera_id)
    again = HealthService(health.svc, health.svc.settings, health.repair)  # type: ignore[arg-type]
    await again.load_conditions()
    # consumers start before the snapshot: the first replayed event comes first
    await feed(again, *away[0])
    assert_series_follow_the_view(again, p, "a replay before the snapshot")
    await again.view.start(js)
    try:
        await again.reconcile()
        assert_series_follow_the_view(again, p, "the restart's reconcile")
        assert shown_state(a) == "up"  # restored from the database
        for event, when in away[1:]:
            await feed(again, event, when)
            assert_series_follow_the_view(again, p, f"replayed {event.TYPE} at {when}")
        assert series(p) == {a: {("图书馆", "教学区")}, c: {("食堂", "生活区")}}
    finally:
        await again.view.stop()


# --- a move or a removal while a sample is half-way through its transition ------------------


async def a_known_camera(h: HealthService, prefix: str, failed: int = 0) -> str:
    cam = f"{prefix}-1"
    await feed(h, CameraUpserted(camera=record(cam)), at(1))
    await failing(h, cam, 2, ok=True)
    for i in range(failed):
        await failing(h, cam, 3 + i)
    return cam


async def test_a_move_while_a_camera_goes_down_keeps_the_new_labels(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = f"SM{uuid.uuid4().hex[:6]}"
    cam = await a_known_camera(health, p, failed=2)
    gate = Gate()
    monkeypatch.setattr(store, "set_shown", gate.around(store.set_shown, cam))
    going_down = asyncio.ensure_future(failing(health, cam, 10))
    await gate.wait_reached()
    # the move arrives while the transition is half-way: first the view, then the durable
    await health.view.apply(CameraUpserted(camera=record(cam, "图书馆", "教学区")), at(11))
    assert_series_follow_the_view(health, p, "a move during a transition (view)")
    await feed(health, CameraUpserted(camera=record(cam, "图书馆", "教学区")), at(11))
    assert_series_follow_the_view(health, p, "a move during a transition (durable)")
    gate.open()
    await going_down
    assert_series_follow_the_view(health, p, "the transition after the move")
    assert series(p) == {cam: {("图书馆", "教学区")}}
    assert shown_state(cam) == "down"


async def test_a_camera_going_down_while_its_move_is_stored_ends_with_the_new_labels(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = f"SN{uuid.uuid4().hex[:6]}"
    cam = await a_known_camera(health, p, failed=2)
    gate = Gate()
    monkeypatch.setattr(store, "upsert_camera", gate.around(store.upsert_camera, cam))
    moving = asyncio.ensure_future(
        feed(health, CameraUpserted(camera=record(cam, "图书馆", "教学区")), at(11))
    )
    await gate.wait_reached()
    await failing(health, cam, 10)
    assert_series_follow_the_view(health, p, "a transition during the durable move")
    gate.open()
    await moving
    assert_series_follow_the_view(health, p, "the move after the transition")
    assert series(p) == {cam: {("图书馆", "教学区")}}
    assert shown_state(cam) == "down"


async def test_a_late_sample_after_the_views_removal_gives_no_series(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = f"SL{uuid.uuid4().hex[:6]}"
    cam = await a_known_camera(health, p, failed=2)
    gate = Gate()
    monkeypatch.setattr(store, "set_shown", gate.around(store.set_shown, cam))
    going_down = asyncio.ensure_future(failing(health, cam, 10))
    await gate.wait_reached()
    await health.view.apply(CameraRemoved(camera_id=cam), at(11))  # the view's own consumer
    assert_series_follow_the_view(health, p, "the view's removal during a transition")
    gate.open()
    await going_down
    assert_series_follow_the_view(health, p, "the late transition after the removal")
    # the durable consumer's removal waits for the sample's row lock; nothing comes back
    await feed(health, CameraRemoved(camera_id=cam), at(11))
    assert_series_follow_the_view(health, p, "the durable removal")
    assert series(p) == {}


async def test_a_late_sample_and_a_durable_removal_leave_no_series(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = f"SD{uuid.uuid4().hex[:6]}"
    cam = await a_known_camera(health, p, failed=2)
    gate = Gate()
    monkeypatch.setattr(store, "set_shown", gate.around(store.set_shown, cam))
    going_down = asyncio.ensure_future(failing(health, cam, 10))
    await gate.wait_reached()
    removing = asyncio.ensure_future(feed(health, CameraRemoved(camera_id=cam), at(11)))
    gate.open()
    await asyncio.gather(going_down, removing)
    assert_series_follow_the_view(health, p, "a durable removal racing a transition")
    assert series(p) == {}


# --- the camera ingest described, when the inventory had not yet said -----------------------


def ask_held(h: HealthService, monkeypatch: pytest.MonkeyPatch) -> tuple[Gate, list[str]]:
    """Ingest's answer to health's question, held until the gate opens (the NATS round trip
    is tests/health/test_health_scale.py's)."""
    gate = Gate()
    asked: list[str] = []

    async def answer(camera_id: str) -> CameraRecord | None:
        asked.append(camera_id)
        gate.held = True
        gate.reached.bump()
        await gate.opened.wait()
        return record(camera_id, "采集 ingest", "采集区")

    monkeypatch.setattr(h, "_ask_ingest", answer)
    return gate, asked


async def test_a_camera_ingest_described_has_its_series_before_the_inventory_says_the_same(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera put into the view from ingest's answer (a condition fault needs its zone) with
    no state change to show it: its series comes with the answer, since the inventory's same
    record later is no change the view tells anyone about."""
    p = f"SI{uuid.uuid4().hex[:6]}"
    cam = f"{p}-1"
    gate, asked = ask_held(health, monkeypatch)
    gate.open()
    await failing(health, cam, 1, ok=True)  # up, before the inventory described it
    await feed(health, HealthSample(
        camera_id=cam, sampled_at=at(2), reachable=True, tamper=["covered"]
    ))  # fmt: skip
    assert asked == [cam]
    assert_series_follow_the_view(health, p, "ingest's answer")
    same = record(cam, "采集 ingest", "采集区")
    await health.view.apply(CameraUpserted(camera=same), at(5))  # the view's own consumer
    assert_series_follow_the_view(health, p, "the same record from the view's consumer")
    await feed(health, CameraUpserted(camera=same), at(5))
    assert_series_follow_the_view(health, p, "the same record from the durable consumer")
    assert shown_state(cam) == "up"


async def test_an_answer_from_ingest_after_the_removal_does_not_bring_the_camera_back(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A condition fault for a camera the inventory had not yet described asks ingest; the
    upsert and the removal land meanwhile; the answer comes last and must not resurrect it
    (in the view, its series, or health's copy). The removal waits for the sample's
    transaction (tests/health/test_health_removal.py: nor does the fault stay open)."""
    p = f"SA{uuid.uuid4().hex[:6]}"
    cam = f"{p}-1"
    gate, _asked = ask_held(health, monkeypatch)
    locks = LockCalls(monkeypatch, cam)
    covered = HealthSample(camera_id=cam, sampled_at=at(1), reachable=True, tamper=["covered"])
    sampled = asyncio.ensure_future(feed(health, covered))
    await gate.wait_reached()
    await feed(health, CameraUpserted(camera=record(cam)), at(2))
    removing = asyncio.ensure_future(
        feed(health, CameraRemoved(camera_id=cam, reason="拆除"), at(3))
    )
    await locks.arrived(removing, calls=2)  # the sample's, then the removal's
    assert_series_follow_the_view(health, p, "the removal while ingest is asked")
    gate.open()
    await asyncio.gather(sampled, removing)
    assert health.view.get(cam) is None
    assert_series_follow_the_view(health, p, "ingest's late answer")
    assert series(p) == {}
    assert await store.camera(health.pool, cam) is None


async def test_an_answer_from_ingest_after_a_move_keeps_the_inventorys_labels(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = f"SB{uuid.uuid4().hex[:6]}"
    cam = f"{p}-1"
    gate, _asked = ask_held(health, monkeypatch)
    covered = HealthSample(camera_id=cam, sampled_at=at(1), reachable=True, tamper=["covered"])
    sampled = asyncio.ensure_future(feed(health, covered))
    await gate.wait_reached()
    await feed(health, CameraUpserted(camera=record(cam, "图书馆", "教学区")), at(2))
    gate.open()
    await sampled
    assert_series_follow_the_view(health, p, "ingest's answer after the inventory's record")
    assert series(p) == {cam: {("图书馆", "教学区")}}
    copy = await store.camera(health.pool, cam)
    assert copy is not None and copy.building == "图书馆"


async def test_ensure_series_repairs_loudly(
    health: HealthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repair stays as a guard: a camera without its series, one under stale labels and one
    the view no longer holds are put right, counted, and logged as the error they are."""
    p = f"SE{uuid.uuid4().hex[:6]}"
    for i in range(4):
        await feed(health, CameraUpserted(camera=record(f"{p}-{i}")), at(i))
    assert_series_follow_the_view(health, p, "four cameras")
    await health.ensure_series()  # nothing to do: nothing counted, nothing said
    before = REGISTRY.get_sample_value("cctv_health_series_repaired_total") or 0.0
    said = Said()
    monkeypatch.setattr(health_app, "log", said)
    await health.ensure_series()
    assert said.lines == []
    # put out of step by hand (what a bug would do)
    health.unshow(f"{p}-0")  # missing
    health.view.cameras[f"{p}-1"] = record(f"{p}-1", "图书馆", "教学区")  # moved silently
    health.view.cameras.pop(f"{p}-2")  # gone silently
    await health.ensure_series()
    assert_series_follow_the_view(health, p, "the repair")
    after = REGISTRY.get_sample_value("cctv_health_series_repaired_total") or 0.0
    assert after - before == 3
    ((level, _what, entry),) = said.lines
    assert level == "error"
    assert entry["missing"] == [f"{p}-0"]
    assert entry["relabelled"] == [f"{p}-1"]
    assert entry["dropped"] == [f"{p}-2"]


class Said:
    """health's log, as lines (level, event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        def say(event: str, **fields: Any) -> None:
            self.lines.append((level, event, fields))

        return say
