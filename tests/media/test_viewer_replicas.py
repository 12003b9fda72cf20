"""A revoked grant stops viewing on every media replica at once (Art. 16; ADR 0030): the replica
that takes workflow's `access.revoked` event NOTIFYs with its write, the others LISTEN and stop
their sessions of the request. Replica B's periodic check is set to an hour here, so only the
push can stop its session in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cctv.contract import wrap
from cctv.contract.events import AccessRevoked
from services.media.viewer import Viewer
from tests.media.conftest import Media, start_media
from tests.media.test_viewer import GRANTEE, Granted, g_events, granted_site, open_view
from tests.support.events import EventLog
from tests.support.waiting import ChangeFeed, eventually

HOUR = 3600.0  # a check loop that would notice a revocation only after this long


@asynccontextmanager
async def two_replicas(
    nats_url: str, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Granted, Media]]:
    """The granted site, whose media is replica A, and replica B of the same media (schema,
    durables) with subjects of its own; neither re-checks its sessions within the test."""
    async with granted_site(nats_url, database_url, tmp_path, view_check_s=HOUR) as g:
        async with start_media(
            nats_url, database_url, g.recorder, tmp_path, g.clock[0], clock=lambda: g.clock[0],
            workflow_rpc_prefix=g.client.prefix, preserve_on_approval=False,
            webrtc_host_addresses="127.0.0.1", view_check_s=HOUR, replica_of=g.media,
        ) as b:  # fmt: skip
            yield g, b


@pytest.fixture
async def replicas(
    nats_url: str, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Granted, Media]]:
    async with two_replicas(nats_url, database_url, tmp_path) as pair:
        yield pair


def viewer_of(media: Media) -> Viewer:
    viewer: Viewer = media.svc.state["viewer"]
    return viewer


async def take_revocation(a: Media, request_id: str) -> None:
    """Replica A takes workflow's `access.revoked` event (its consumer's handler, as on
    delivery); returns once A has committed it."""
    event = AccessRevoked(
        request_id=request_id, process="access", transition="revoked", state="approved",
        at=a.now, summary={"request_id": request_id, "state": "approved"},
    )  # fmt: skip
    await a.media.on_access(wrap(event, source="workflow", key=request_id), event)


async def listening_anew(viewer: Viewer, feed: ChangeFeed, old: int | None) -> int:
    """The backend of the viewer's listener, once it is one other than `old`."""

    async def pid() -> int | None:
        return viewer.listener_pid

    found = await eventually(
        pid, lambda p: p is not None and p != old, changes=feed, timeout=30,
        what="the revocation listener listening (again)",
    )  # fmt: skip
    assert found is not None
    return found


@asynccontextmanager
async def watching_on(g: Granted, media: Media) -> AsyncIterator[tuple[Any, dict]]:
    """The granted camera's footage on this replica, as the grantee, frames arriving."""
    viewer, reply = await open_view(
        media, GRANTEE, request_id=g.rid, camera_id=g.camera, kind="recorded"
    )
    try:
        assert reply["ok"], reply
        await viewer.wait_channel_open()
        await viewer.wait_frames(2)
        yield viewer, reply
    finally:
        await viewer.close()


async def test_a_revocation_another_replica_took_stops_the_stream_at_once(
    replicas: tuple[Granted, Media], events: EventLog
) -> None:
    g, b = replicas
    async with watching_on(g, b) as (viewer, reply):
        began = time.perf_counter()
        await take_revocation(g.media, g.rid)  # on replica A
        stopped = await viewer.wait_message("stopped", code="grant_revoked", timeout=10)
        took = time.perf_counter() - began
        assert "撤销" in stopped["error"]
        await viewer.wait_closed()
        (ev,) = await g_events(events, reply["session_id"], "stopped")
        assert ev["code"] == "grant_revoked"
        assert not viewer_of(b).sessions
        print(f"replica B's session stopped {took * 1000:.0f} ms after A committed")


async def test_a_lost_listener_is_made_again_and_still_hears(
    replicas: tuple[Granted, Media], events: EventLog
) -> None:
    g, b = replicas
    vb, feed = viewer_of(b), ChangeFeed()
    vb.on_listening.append(lambda _pid: feed.bump())
    first = await listening_anew(vb, feed, None)
    async with watching_on(g, b) as (viewer, reply):
        # PostgreSQL ends the listening backend (a failover, an administrator, a restart)
        assert await b.media.pool.fetchval("SELECT pg_terminate_backend($1)", first)
        await listening_anew(vb, feed, first)
        await take_revocation(g.media, g.rid)
        await viewer.wait_message("stopped", code="grant_revoked", timeout=10)
        (ev,) = await g_events(events, reply["session_id"], "stopped")
        assert ev["code"] == "grant_revoked"


async def test_a_revocation_made_while_nobody_listened_is_found_on_listening_again(
    replicas: tuple[Granted, Media], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The NOTIFY is told only to those listening at the commit: a replica whose listener was
    down then checks its sessions against the grants table as soon as it listens again."""
    g, b = replicas
    vb, feed = viewer_of(b), ChangeFeed()
    vb.on_listening.append(lambda _pid: feed.bump())
    first = await listening_anew(vb, feed, None)
    asked, back = asyncio.Event(), asyncio.Event()
    connect = vb.listener_connection

    async def held_back() -> asyncpg.Connection:  # the database unreachable for B for a while
        asked.set()
        await back.wait()
        return await connect()

    monkeypatch.setattr(vb, "listener_connection", held_back)
    async with watching_on(g, b) as (viewer, _reply):
        assert await b.media.pool.fetchval("SELECT pg_terminate_backend($1)", first)
        await asyncio.wait_for(asked.wait(), 30)  # B's listener is gone and not yet back
        await take_revocation(g.media, g.rid)  # NOTIFY with nobody on B listening
        back.set()
        await listening_anew(vb, feed, first)
        await viewer.wait_message("stopped", code="grant_revoked", timeout=10)
