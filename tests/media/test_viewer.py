"""The WebRTC viewer (ADR 0022) with a Python WebRTC client (aiortc): workflow approves a view
grant for real, media asks workflow as the viewer, plays the granted camera from the ONVIF
replay recorder with a watermark, refuses and records what lies outside the grant, and stops
when the grant is revoked or runs out. Live viewing is bounded by role and zone."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import numpy as np
import pytest

from cctv.contract import CameraRecord
from cctv.contract import rpc as crpc
from cctv.plumbing.identity import Identity
from demo.simulator.replay import ReplayServer, camera_tag, read_stamp
from demo.simulator.rtsp_server import RtspServer
from services.media.ice import IceSettingError, configure_ice, port_range
from services.media.live import may_watch_live
from services.workflow import rpc
from services.workflow.app import build as build_workflow
from services.workflow.settings import WorkflowSettings
from tests.media.conftest import (
    Media,
    announce_cameras,
    approve_access,
    own_request_numbers,
    start_media,
)
from tests.support.events import EventLog
from tests.support.identity import from_actor, headers_as
from tests.support.waiting import eventually
from tests.support.webrtc import PyViewer
from tests.workflow.test_workflow_service import (
    ADMIN,
    LEADER,
    STAFF,
    Client,
    access_form,
    record,
    seed_cameras,
)

# the applicant applies for themselves to view (Annex 4: 调阅人 李老师); the directory's name
# is in their signed identity
GRANTEE = {**STAFF, "name": "李老师"}
# NIC's administrator may see every request, but the grant does not name them as the viewer
STRANGER = {**ADMIN, "name": "赵敏"}
OUTSIDER = {"person_id": "t_other", "name": "李老师", "department": "college_ee", "roles": []}
WINDOW_S = 20


@dataclass
class Granted:
    client: Client
    media: Media
    rid: str
    camera: str
    other: str
    start: datetime
    end: datetime
    clock: list[datetime]
    recorder: ReplayServer


async def approved_view(client: Client, cams: list[str], start: datetime) -> str:
    form = access_form(cams, method="view")
    form["footage_from"] = start.isoformat()
    form["footage_until"] = (start + timedelta(seconds=WINDOW_S)).isoformat()
    request = await approve_access(client, form, STAFF)
    assert request["state"] == "approved"
    return str(request["request_id"])


@pytest.fixture
async def granted(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[Granted]:
    """workflow and media on the session's NATS and PostgreSQL, a recorder, and a view grant
    for one of two cameras, approved through workflow's real chain."""
    async with granted_site(nats_url, database_url, tmp_path) as g:
        yield g


@asynccontextmanager
async def granted_site(
    nats_url: str, database_url: str, tmp_path: Path, **media_settings: Any
) -> AsyncIterator[Granted]:
    """The `granted` fixture's site, media with `media_settings` besides."""
    tag = uuid.uuid4().hex[:8]
    cam, other = f"v{tag}", f"w{tag}"
    settings = WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0)
    prefix = f"test.wf.{tag}"
    wf = build_workflow(settings, schema=f"wf_{tag}", durable_suffix=f"-{tag}", rpc_prefix=prefix)
    nc = await nats.connect(nats_url)
    client = Client(nc, prefix)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    clock = [datetime.now(UTC)]
    async with ReplayServer(cameras=[cam, other]) as recorder, wf.running():
        await seed_cameras(
            wf, client, [record(cam, "public_safety", "logistics"),
                         record(other, "public_safety", "logistics")],
        )  # fmt: skip
        await own_request_numbers(wf, tag)
        rid = await approved_view(client, [cam], start)
        async with start_media(
            nats_url, database_url, recorder, tmp_path, clock[0], clock=lambda: clock[0],
            workflow_rpc_prefix=prefix, preserve_on_approval=False,
            webrtc_host_addresses="127.0.0.1", **media_settings,
        ) as media:  # fmt: skip
            await media.wait_grant(rid, cameras=[cam])
            yield Granted(client, media, rid, cam, other, start,
                          start + timedelta(seconds=WINDOW_S), clock, recorder)  # fmt: skip
    await nc.close()


async def open_view(media: Media, who: dict[str, Any], **ask: Any) -> tuple[PyViewer, dict]:
    viewer = PyViewer()
    sdp = await viewer.offer()
    reply = await media.rpc(crpc.MEDIA_VIEW, {"actor": who, "sdp": sdp, **ask})
    if reply.get("ok"):
        await viewer.accept(reply["sdp"])
    return viewer, reply


@asynccontextmanager
async def watching(
    g: Granted, who: dict[str, Any] = GRANTEE
) -> AsyncIterator[tuple[PyViewer, dict]]:
    """The granted camera's recorded footage as `who`: accepted, and closed afterwards."""
    viewer, reply = await open_view(
        g.media, who, request_id=g.rid, camera_id=g.camera, kind="recorded"
    )
    try:
        assert reply["ok"], reply
        yield viewer, reply
    finally:
        await viewer.close()


async def refusal(media: Media, who: dict[str, Any], **ask: Any) -> dict:
    """An offer media is to refuse: its reply, the client closed."""
    viewer, reply = await open_view(media, who, **ask)
    await viewer.close()
    return reply


def stamp_of(picture: np.ndarray | None) -> Any:
    assert picture is not None
    return read_stamp(picture)


async def test_grantee_plays_the_granted_camera_watermarked(
    granted: Granted, events: EventLog
) -> None:
    g = granted
    async with watching(g) as (viewer, reply):
        assert reply["watermark"][0] == f"李老师 · {g.rid}"
        await viewer.wait_frames(5)
        t5 = time.perf_counter()
        await viewer.wait_frames(15)
        # shown at the pace it was recorded (5 fps), however fast the recorder sends
        assert time.perf_counter() - t5 > 1.5
        stamp = stamp_of(viewer.last)
        assert stamp.camera_tag == camera_tag(g.camera)  # the granted camera's footage
        assert g.start <= stamp.at < g.end  # inside the granted window
        # the watermark band is burned into the picture the viewer decodes: the recorder's
        # background (40, 60, 80) is darkened under it
        band, scene = viewer.last[-6:], viewer.last[80:100]  # type: ignore[index]
        assert float(np.median(band)) < float(np.median(scene)) - 10
        (started,) = await g_events(events, reply["session_id"], "started")
        assert started["actor"] == "t_staff" and started["request_id"] == g.rid
        viewer.send({"op": "stop"})
        (stopped,) = await g_events(events, reply["session_id"], "stopped")
        assert stopped["code"] == "viewer" and stopped["duration_s"] > 0


async def g_events(events: EventLog, sid: str, action: str, count: int = 1) -> list[dict]:
    got = await events.wait_for(
        "access.viewing",
        lambda d: d["session_id"] == sid and d["action"] == action,
        count=count,
    )
    return [e["data"] for e in got]


async def test_the_named_viewer_who_did_not_fill_in_the_form_may_watch(
    granted: Granted,
) -> None:
    """Annex 4 names the viewer (调阅人); a colleague of the applying unit may have applied."""
    g = granted
    named = {"person_id": "t_viewer", "name": "李老师", "department": "college_se", "roles": []}
    async with watching(g, named) as (viewer, _reply):
        await viewer.wait_frames(2)


async def test_seek_outside_the_window_or_to_another_camera_is_refused_and_recorded(
    granted: Granted, events: EventLog
) -> None:
    g = granted
    async with watching(g) as (viewer, reply):
        sid = reply["session_id"]
        await viewer.wait_channel_open()
        await viewer.wait_frames(2)
        viewer.send({"op": "seek", "position": (g.start - timedelta(minutes=5)).isoformat()})
        refused = await viewer.wait_message("refused", code="outside_window")
        assert refused["article"] == "Art. 16(1)3"
        viewer.send({"op": "camera", "camera_id": g.other})
        await viewer.wait_message("refused", code="camera_not_granted")
        # a time without a zone is refused, as at the start — not read as UTC, which puts a
        # campus time typed by a person eight hours off (inside the window here, as UTC)
        naive = (g.start + timedelta(seconds=12)).astimezone(UTC).replace(tzinfo=None)
        viewer.send({"op": "seek", "position": naive.isoformat()})
        bad = await viewer.wait_message("refused", code="invalid_request")
        assert "time zone" in bad["error"] and bad["article"] == "Art. 16(1)3"
        codes = [e["code"] for e in await g_events(events, sid, "refused", count=3)]
        assert sorted(codes) == ["camera_not_granted", "invalid_request", "outside_window"]
        # inside the window: played from there, and recorded as a seek
        target = g.start + timedelta(seconds=12)
        viewer.send({"op": "seek", "position": target.isoformat()})
        (seek,) = await g_events(events, sid, "seek")
        assert seek["position"].startswith(target.strftime("%Y-%m-%dT%H:%M:%S"))
        frames = viewer.frames

        async def after_seek() -> Any:
            return stamp_of(viewer.last).at if viewer.frames > frames + 3 else None

        seen = await eventually(
            after_seek, lambda t: t is not None and t >= target, changes=viewer.changes,
            what="frames from the seek target",
        )  # fmt: skip
        assert seen < g.end


async def test_a_person_without_the_grant_gets_nothing(granted: Granted, events: EventLog) -> None:
    g = granted
    reply = await refusal(g.media, STRANGER, request_id=g.rid, camera_id=g.camera, kind="recorded")
    assert not reply["ok"] and reply["code"] == "not_grantee", reply
    assert "sdp" not in reply
    reply = await refusal(
        g.media, GRANTEE, request_id="DY-NOPE-1", camera_id=g.camera, kind="recorded"
    )
    assert not reply["ok"] and reply["code"] == "not_approved", reply
    # someone of the same name elsewhere, who may not even see the request
    reply = await refusal(g.media, OUTSIDER, request_id=g.rid, camera_id=g.camera, kind="recorded")
    assert not reply["ok"] and reply["code"] == "not_approved", reply
    reply = await refusal(g.media, GRANTEE, request_id=g.rid, camera_id=g.other, kind="recorded")
    assert reply["code"] == "camera_not_granted", reply
    got = await events.wait_for(
        "access.viewing",
        lambda d: d["action"] == "refused" and d.get("camera_id") in (g.camera, g.other)
        and d["actor"] in ("t_admin", "t_staff", "t_other"),
        count=4,
    )  # fmt: skip
    assert {e["data"]["code"] for e in got} == {"not_grantee", "not_approved", "camera_not_granted"}
    # no identity at all: refused before anything is looked up
    msg = await g.media.nc.request(
        g.media.prefix + crpc.MEDIA_VIEW,
        json.dumps({"sdp": "v=0", "camera_id": g.camera, "request_id": g.rid}).encode(),
        10,
    )
    assert json.loads(msg.data)["code"] == "identity_required"


async def test_an_unusable_offer_gets_a_clear_refusal(granted: Granted, events: EventLog) -> None:
    g = granted
    reply = await g.media.rpc(
        crpc.MEDIA_VIEW,
        {"actor": GRANTEE, "sdp": "v=0\r\nnot an offer", "request_id": g.rid,
         "camera_id": g.camera},
    )  # fmt: skip
    assert not reply["ok"] and reply["code"] == "bad_offer", reply
    assert "offer" in reply["text_en"]
    await events.wait_for(
        "access.viewing", lambda d: d["request_id"] == g.rid and d["code"] == "bad_offer"
    )
    # a missing camera is named by the shell, with its article
    reply = await g.media.rpc(crpc.MEDIA_VIEW, {"actor": GRANTEE, "sdp": "v=0"})
    assert reply["code"] == "invalid_request" and reply["field"] == "camera_id"
    assert reply["article"] == "Art. 16(1)3"


async def test_a_full_replica_refuses_more_viewers(granted: Granted) -> None:
    g = granted
    g.media.svc.state["viewer"].max_viewers = 1  # as if its UDP port range had one port
    async with watching(g):  # the one viewer the replica takes
        again = await refusal(
            g.media, GRANTEE, request_id=g.rid, camera_id=g.camera, kind="recorded"
        )
        assert again["code"] == "viewer_capacity", again


async def test_revoking_the_grant_stops_the_stream(granted: Granted, events: EventLog) -> None:
    g = granted
    async with watching(g) as (viewer, reply):
        await viewer.wait_channel_open()
        await viewer.wait_frames(2)
        revoked = await g.client(
            rpc.ACT,
            {"request_id": g.rid, "actor": LEADER, "action": "revoke", "args": {"reason": "案结"}},
        )
        assert revoked["ok"], revoked
        stopped = await viewer.wait_message("stopped", code="grant_revoked")
        assert "撤销" in stopped["error"]
        await viewer.wait_closed()
        (ev,) = await g_events(events, reply["session_id"], "stopped")
        assert ev["code"] == "grant_revoked"
        # and a new session is refused from then on
        reply2 = await refusal(
            g.media, GRANTEE, request_id=g.rid, camera_id=g.camera, kind="recorded"
        )
        assert reply2["code"] == "grant_revoked", reply2


async def test_a_revocation_another_replica_took_stops_the_stream(
    granted: Granted, events: EventLog
) -> None:
    """The fallback (ADR 0030): a revocation in the grants table whose NOTIFY this replica did
    not hear (written here without one) is found by its check of its open sessions."""
    g = granted
    async with watching(g) as (viewer, reply):
        await viewer.wait_channel_open()
        await viewer.wait_frames(2)
        await g.media.media.pool.execute(  # what the other replica's on_access writes
            f"UPDATE {g.media.svc.schema}.grants SET revoked_at = now(), "
            "closed_reason = 'revoked' WHERE request_id = $1",
            g.rid,
        )
        await viewer.wait_message("stopped", code="grant_revoked")
        (ev,) = await g_events(events, reply["session_id"], "stopped")
        assert ev["code"] == "grant_revoked"


async def test_the_stream_stops_when_the_grant_runs_out(granted: Granted, events: EventLog) -> None:
    g = granted
    async with watching(g) as (viewer, reply):
        await viewer.wait_channel_open()
        await viewer.wait_frames(2)
        valid_until = datetime.fromisoformat(reply["valid_until"])
        g.clock[0] = valid_until + timedelta(seconds=1)  # media's clock passes the validity
        await viewer.wait_message("stopped", code="grant_expired")
        await viewer.wait_closed()
        (ev,) = await g_events(events, reply["session_id"], "stopped")
        assert ev["code"] == "grant_expired"


async def test_footage_the_recorder_sends_outside_the_grant_stops_the_session(
    granted: Granted, events: EventLog
) -> None:
    g = granted
    g.recorder.skew = timedelta(hours=1)  # a misbehaving recorder: other footage than asked
    async with watching(g) as (viewer, reply):
        await viewer.wait_channel_open()
        await viewer.wait_message("stopped", code="recorder_outside_window")
        assert viewer.frames == 0  # not one frame of it was shown
        (ev,) = await g_events(events, reply["session_id"], "stopped")
        assert ev["code"] == "recorder_outside_window"


async def test_webrtc_binds_only_the_configured_udp_ports() -> None:
    """The port range Kubernetes exposes (MEDIA_RTC_PORT_MIN/MAX) is the only one media binds,
    and the address it advertises is the node's (MEDIA_RTC_ADVERTISE_IP), not the bound one."""
    import re

    from aiortc import RTCConfiguration, RTCPeerConnection

    configure_ice("127.0.0.1", port_range(41000, 41019), advertise="127.0.0.2")
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        a.createDataChannel("x")
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        ports = [
            int(p)
            for sdp in (a.localDescription.sdp, b.localDescription.sdp)
            for p in re.findall(r"a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.2 (\d+) typ host", sdp)
        ]
        assert len(ports) >= 2 and all(41000 <= p <= 41019 for p in ports), ports
        assert "127.0.0.1" not in a.localDescription.sdp.split("m=", 1)[1]
    finally:
        await a.close()
        await b.close()
        configure_ice("127.0.0.1")


# ---- live viewing (Art. 13-14) --------------------------------------------------------------


def live_cam(zone: str = "教学区", dept: str = "logistics") -> CameraRecord:
    return record("C1", "public_safety", "logistics").model_copy(
        update={"zone": zone, "department": dept, "managing_department": dept}
    )


def who(*roles: str, zone: str | None = None, dept: str | None = "logistics") -> Identity:
    return Identity(account="x", roles=roles, zone=zone, department=dept)


def test_live_is_bounded_by_role_and_zone() -> None:
    assert may_watch_live(who("guard", zone="教学区"), live_cam()) is None
    refusal = may_watch_live(who("guard", zone="生活区"), live_cam())
    assert refusal is not None and refusal.code == "outside_zone"
    assert may_watch_live(who("gatekeeper"), live_cam()).code == "outside_zone"  # type: ignore[union-attr]
    assert may_watch_live(who("duty_operator"), live_cam()) is None  # the duty room's area
    assert may_watch_live(who("duty_operator"), live_cam(dept="student")) is not None
    assert may_watch_live(who("duty_operator", zone="教学区"), live_cam()) is None
    none = may_watch_live(who("dept_head"), live_cam())
    assert none is not None and none.code == "live_not_permitted" and none.article == "Art. 15"


def test_webrtc_port_range_setting_names_what_is_wrong() -> None:
    assert port_range(None, None) is None
    assert port_range(40000, 40010) == (40000, 40010)
    for bad in ((40010, 40000), (40000, None), (80, 90)):
        with pytest.raises(IceSettingError, match="MEDIA_RTC_PORT_MIN"):
            port_range(*bad)
    with pytest.raises(IceSettingError, match="MEDIA_RTC_ADVERTISE_IP"):
        configure_ice(advertise="node-1")
    with pytest.raises(IceSettingError, match="WEBRTC_HOST_ADDRESSES"):
        configure_ice("not-an-ip")


async def test_live_viewing_for_the_zone_only(
    nats_url: str, database_url: str, tmp_path: Path, events: EventLog
) -> None:
    tag = uuid.uuid4().hex[:8]
    cam = f"L{tag}"
    async with RtspServer() as rtsp, ReplayServer(cameras=[]) as recorder:
        rtsp.add_camera(cam)
        rec = record(cam, "public_safety", "logistics").model_copy(
            update={"zone": f"zone-{tag}", "stream_url": rtsp.url_for(cam)}
        )
        await announce_cameras(nats_url, rec)
        async with start_media(
            nats_url, database_url, recorder, tmp_path, datetime.now(UTC),
            preserve_on_approval=False, webrtc_host_addresses="127.0.0.1",
        ) as media:  # fmt: skip
            assert await media.svc.state["viewer"].live_camera(cam) is not None
            guard = {"person_id": "t_guard", "name": "张伟", "department": "logistics",
                     "roles": ["guard"]}  # fmt: skip
            # the zone is in the signed identity, as the console signs it from the directory
            headers = headers_as(from_actor(guard).model_copy(update={"zone": f"zone-{tag}"}))
            viewer = PyViewer()
            sdp = await viewer.offer()
            msg = await media.nc.request(
                media.prefix + crpc.MEDIA_VIEW,
                json.dumps({"kind": "live", "camera_id": cam, "sdp": sdp}).encode(),
                30,
                headers=headers,
            )
            reply = json.loads(msg.data)
            try:
                assert reply["ok"], reply
                await viewer.accept(reply["sdp"])
                await viewer.wait_frames(5)
                assert reply["watermark"][0].startswith("张伟 · 实时 live")
            finally:
                await viewer.close()
            (started,) = await events.wait_for(
                "access.viewing",
                lambda d: d["session_id"] == reply["session_id"] and d["action"] == "started",
            )
            assert started["data"]["kind"] == "live"
            # a guard of another zone, and a teacher, get nothing
            other = from_actor(guard).model_copy(update={"zone": "生活区"})
            for person, code in ((other, "outside_zone"),
                                 (from_actor(STAFF), "live_not_permitted")):  # fmt: skip
                msg = await media.nc.request(
                    media.prefix + crpc.MEDIA_VIEW,
                    json.dumps({"kind": "live", "camera_id": cam, "sdp": sdp}).encode(),
                    30,
                    headers=headers_as(person),
                )
                assert json.loads(msg.data)["code"] == code
