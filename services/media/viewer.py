"""The viewer: footage shown over WebRTC (aiortc), with every limit enforced here (ADR 0022).

Why on the server: a grant says which cameras, which footage window and until when (Art. 16,
17); a page can be edited, a stream URL can be copied. So the console only forwards the
browser's SDP offer with the viewer's signed identity; media asks workflow for the grant as
that viewer, plays only the granted camera inside the granted window from the recorder
(ONVIF replay, `replay.py`), burns the viewer's name, the request number and the current
campus time into every frame, and stops the stream when the grant runs out or is revoked.
Seeks and camera changes come over the session's data channel and are checked like the
first request; a refusal is answered *and* recorded. There is no URL: the media flows only
inside the peer connection the viewer's own page negotiated.

Live footage (Art. 13-14) goes through the same sessions, for duty operators and guards
within their zone (`live.py`).

Every start, seek, refusal and stop is an `access.viewing` event on the audited stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import asyncpg
import av
import structlog
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

from cctv.contract import CameraRecord, rpc
from cctv.contract import rpcmodels as m
from cctv.contract.campustime import TimeError, campus_time, parse_instant
from cctv.contract.codec import first_error
from cctv.contract.events import FootageViewing, GrantRecord
from cctv.plumbing.identity import HEADER, Identity, caller
from cctv.plumbing.outbox import stage
from cctv.plumbing.service import Service

from . import replay, store
from .footage import burn_watermark, load_font
from .ice import configure_ice, port_range, rtc_configuration
from .live import LiveReader, default_login, may_watch_live, with_login
from .recorders.base import Footage, Recorder
from .refusal import Refused
from .settings import MediaSettings

log = structlog.get_logger()
Clock = Callable[[], datetime]

SESSIONS = Gauge("cctv_media_view_sessions", "Open viewing sessions on this replica", ["kind"])
VIEW_REFUSED = Counter("cctv_media_view_refusals_total", "Viewing requests refused", ["code"])
VIEW_SECONDS = Histogram(
    "cctv_media_view_session_seconds",
    "How long viewing sessions lasted",
    buckets=(5, 30, 60, 300, 900, 1800, 3600, 7200),
)
REVOCATION_LISTENER = Gauge(
    "cctv_media_revocation_listener_up",
    "1 while this replica hears the revocations every replica records (LISTEN, ADR 0030)",
)
RTP_CLOCK = 90_000
LISTENER_PING_S = 30.0  # a listening connection silent this long is asked to answer
LISTENER_RETRY_S = (0.5, 15.0)  # first and longest wait before listening again


class WatermarkedTrack(MediaStreamTrack):
    """The one video track of a session: frames already watermarked, stamped with our clock
    (the footage's own time is in the picture and the data channel, not in the RTP)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[av.VideoFrame] = asyncio.Queue(maxsize=6)
        self._t0: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.queue.get()
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        frame.pts = int((now - self._t0) * RTP_CLOCK)
        frame.time_base = Fraction(1, RTP_CLOCK)
        return frame

    def offer(self, frame: av.VideoFrame, *, drop_oldest: bool) -> None:
        """Live: the newest frame wins over a slow viewer."""
        if self.queue.full() and drop_oldest:
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(frame)

    def clear(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()


@dataclass
class Session:
    session_id: str
    kind: str
    who: Identity
    camera_id: str
    pc: RTCPeerConnection
    track: WatermarkedTrack
    grant: GrantRecord | None = None
    position: datetime | None = None
    started_mono: float = field(default_factory=time.monotonic)
    connected: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # connected and channel open
    stopped: bool = False
    channel: Any = None
    producer: asyncio.Task[None] | None = None
    live: LiveReader | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one control at a time

    def send(self, message: dict[str, Any]) -> None:
        ch = self.channel
        if ch is not None and ch.readyState == "open":
            with contextlib.suppress(Exception):
                ch.send(json.dumps(message, ensure_ascii=False, default=str))


def _access_of(reply: Any, request_id: str) -> m.AccessView:
    """The access request workflow answered with, typed; anything else is refused."""
    access = None
    if isinstance(reply, dict) and reply.get("ok"):
        try:
            access = m.GetReply.model_validate(reply).access
        except ValidationError as exc:
            raise Refused(
                "not_approved",
                f"申请 {request_id} 的调阅授权无法读取",
                f"the grant of request {request_id} does not fit the contract: {first_error(exc)}",
                "Art. 17",
            ) from exc
    if access is None:
        raise Refused(
            "not_approved",
            f"没有您可查看的已批准调阅申请 {request_id}",
            f"no approved access request {request_id!r} of yours",
            "Art. 15",
        )
    return access


class Viewer:
    """Viewing sessions of one media replica."""

    def __init__(
        self,
        svc: Service,
        settings: MediaSettings,
        *,
        clock: Clock,
        inventory: Callable[[str], CameraRecord | None],
        recorders: Callable[[str], tuple[Recorder, Footage]],
        workflow_get: str = rpc.WORKFLOW_GET,
    ) -> None:
        self.svc = svc
        self.inventory = inventory
        self.recorders = recorders
        self.workflow_get = workflow_get
        self.settings = settings
        self.clock = clock
        self.schema = svc.schema
        self.font = load_font(settings.watermark_font, settings.viewer_font_size)
        self.sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # the backend that LISTENs for revocations, while it does; told to `on_listening`
        # each time it is (re)made (the log, tests)
        self.listener_pid: int | None = None
        self.on_listening: list[Callable[[int], None]] = []
        self.ice_servers = settings.ice_servers()  # checked when the settings were read
        ports = port_range(settings.media_rtc_port_min, settings.media_rtc_port_max)
        configure_ice(settings.webrtc_host_addresses, ports, settings.media_rtc_advertise_ip)
        # one UDP port per session (BUNDLE): the range bounds the sessions too
        self.max_viewers = min(
            settings.max_viewers, ports[1] - ports[0] + 1 if ports else settings.max_viewers
        )
        self.live_login = (
            (settings.live_username, settings.live_password)
            if settings.live_username
            else default_login(settings.device_secrets_dir)
        )

    @property
    def pool(self) -> Any:
        assert self.svc.pool is not None
        return self.svc.pool

    def _spawn(self, coro: Any) -> None:
        """A task the viewer keeps a reference to until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the inventory (media's view of ingest's events, cctv.plumbing.inventory) ----------

    async def live_camera(self, camera_id: str) -> CameraRecord | None:
        return self.inventory(camera_id)

    # ---- recording what happened ------------------------------------------------------------

    async def record(self, s: Session | None, action: str, **kw: Any) -> None:
        """One `access.viewing` event (audited), through the outbox."""
        who: Identity = kw.pop("who", None) or (s.who if s else Identity(account="unknown"))
        g = kw.pop("grant", None) or (s.grant if s else None)
        event = FootageViewing(
            session_id=kw.pop("session_id", None) or (s.session_id if s else uuid.uuid4().hex),
            kind=kw.pop("kind", None) or (s.kind if s else "recorded"),  # type: ignore[arg-type]
            action=action,  # type: ignore[arg-type]
            actor=who.account,
            actor_name=who.name,
            camera_id=kw.pop("camera_id", None) or (s.camera_id if s else None),
            request_id=kw.pop("request_id", None) or (g.request_id if g else None),
            grant_id=g.grant_id if g else None,
            footage_from=g.footage_from if g else None,
            footage_until=g.footage_until if g else None,
            at=self.clock(),
            **kw,
        )
        async with self.pool.acquire() as conn:
            await stage(conn, self.schema, event, source="media", key=event.session_id,
                        actor=who.account)  # fmt: skip

    async def refuse(self, s: Session | None, exc: Refused, **kw: Any) -> None:
        VIEW_REFUSED.labels(exc.code).inc()
        await self.record(
            s, "refused", code=exc.code, article=exc.article, detail=str(exc)[:1000], **kw
        )

    # ---- grants, as workflow answers the viewer ---------------------------------------------

    async def grant_for(self, who: Identity, request_id: str, token: str) -> GrantRecord:
        """Ask workflow for the request as the viewer (their own signed identity); refuse
        unless it is an approved access request whose grant names them, valid now and not
        revoked. Media's own copy of the grant (from workflow's events) may only refuse more:
        a revocation it has seen counts even if workflow's answer is older."""
        try:
            reply = await self.svc.request(
                self.workflow_get, {"request_id": request_id}, timeout=5.0, headers={HEADER: token}
            )
        except Exception as exc:
            raise Refused(
                "workflow_unavailable",
                "暂时无法核实调阅授权，请稍后再试",
                f"the grant cannot be checked now (workflow did not answer: {type(exc).__name__})",
                "Art. 16",
            ) from exc
        access = _access_of(reply, request_id)
        record = access.grant
        if access.state not in ("approved", "retrieved") or record is None:
            raise Refused(
                "not_approved",
                f"申请 {request_id} 尚未批准，不得查看",
                f"request {request_id} is not approved: no footage may be shown",
                "Art. 15",
            )
        grant = record.model_copy(update={"request_id": request_id})  # the one asked about
        revoked = grant.revoked_at or await store.revoked_at(self.pool, self.schema, request_id)
        if revoked:
            raise Refused("grant_revoked", "调阅授权已撤销", "the grant has been revoked",
                          "Art. 16")  # fmt: skip
        if self.clock() >= grant.valid_until:
            raise Refused(
                "grant_expired",
                f"调阅授权已于 {campus_time(grant.valid_until)} 过期，请重新申请",
                f"the grant expired at {grant.valid_until.isoformat()}; apply again",
                "Art. 16",
            )
        same_unit = who.account == access.requester_id or who.department == access.applying_unit
        if who.name != grant.grantee or not same_unit:
            raise Refused(
                "not_grantee",
                f"本次调阅的查看人是「{grant.grantee}」，他人不得查看",
                f"the grant names {grant.grantee!r} as the viewer: nobody else may watch it",
                "Art. 17",
            )
        return grant

    @staticmethod
    def check_scope(grant: GrantRecord, camera_id: str, position: datetime) -> None:
        """Exactly the granted cameras, inside the granted window (Art. 16(1)3)."""
        if camera_id not in grant.cameras:
            raise Refused(
                "camera_not_granted",
                f"摄像机 {camera_id} 不在批准范围内（{', '.join(grant.cameras)}）",
                f"camera {camera_id} is not in the grant ({', '.join(grant.cameras)})",
                "Art. 16(1)3",
            )
        if not (grant.footage_from <= position < grant.footage_until):
            raise Refused(
                "outside_window",
                f"查看时间须在批准范围 {campus_time(grant.footage_from, seconds=True)} – "
                f"{campus_time(grant.footage_until, seconds=True)} 之内",
                f"{position.isoformat()} is outside the granted footage window "
                f"{grant.footage_from.isoformat()} – {grant.footage_until.isoformat()}",
                "Art. 16(1)3",
            )

    # ---- opening a session ------------------------------------------------------------------

    async def admit(
        self, q: m.MediaIceRequest, call: m.RpcCall | None, sid: str
    ) -> tuple[Identity, GrantRecord | None, CameraRecord | None, datetime | None]:
        """Who asks, and whether they may see what they ask for (the grant, or the zone for
        live): the check of every offer, and of the ICE request before it. A refusal is
        recorded and raised."""
        who = caller()
        token = (call.headers.get(HEADER) if call else None) or ""
        ctx: dict[str, Any] = {"session_id": sid, "kind": q.kind, "camera_id": q.camera_id}
        if who is None or not token:
            exc = Refused(
                "identity_required",
                "缺少已认证身份：请从控制台登录后查看",
                "viewing needs the signed identity of a console session",
                "Art. 15",
            )
            await self.refuse(None, exc, request_id=q.request_id, **ctx)
            raise exc
        grant: GrantRecord | None = None
        live_cam: CameraRecord | None = None
        position: datetime | None = None
        try:
            if len(self.sessions) >= self.max_viewers:
                raise Refused(
                    "viewer_capacity",
                    "查看人数已满，请稍后再试",
                    "this media replica is at its viewer limit; try again shortly",
                    "Art. 15",
                )
            if q.kind == "recorded":
                if not q.request_id:
                    raise Refused(
                        "not_approved",
                        "查看录像须凭已批准的调阅申请",
                        "recorded footage is shown only under an approved access request",
                        "Art. 15",
                    )
                grant = await self.grant_for(who, q.request_id.strip(), token)
                if q.position is not None and q.position.tzinfo is None:
                    raise Refused("invalid_request", "position 须带时区",
                                  "position needs a time zone", "Art. 16(1)3")  # fmt: skip
                position = q.position or grant.footage_from
                self.check_scope(grant, q.camera_id, position)
            else:
                live_cam = await self.live_camera(q.camera_id)
                if live_cam is None:
                    raise Refused(
                        "unknown_camera",
                        f"清单中没有摄像机 {q.camera_id}",
                        f"no camera {q.camera_id!r} in the inventory",
                        "Art. 3",
                    )
                why = may_watch_live(who, live_cam)
                if why is not None:
                    raise Refused(why.code, why.zh, why.en, why.article)
        except Refused as exc:
            await self.refuse(None, exc, who=who, grant=grant, request_id=q.request_id,
                              position=q.position, **ctx)  # fmt: skip
            raise
        return who, grant, live_cam, position

    async def ice(self, q: m.MediaIceRequest, call: m.RpcCall | None = None) -> m.MediaIceReply:
        """The page's ICE servers, before it gathers and offers (no trickle: its candidates,
        relay ones included, must be in the offer). Only for someone the offer's check lets
        view: a TURN login never reaches a page anyone can load (ADR 0028)."""
        who, *_ = await self.admit(q, call, uuid.uuid4().hex)
        servers, expires = self.ice_servers.for_browser(who.account)
        return m.MediaIceReply(
            ice_servers=[m.IceServer.model_validate(s) for s in servers],
            expires_at=datetime.fromtimestamp(expires, UTC) if expires is not None else None,
        )

    async def view(self, q: m.MediaViewRequest, call: m.RpcCall | None = None) -> m.MediaViewReply:
        """The browser's offer, forwarded by the console: check, then answer with our SDP."""
        sid = uuid.uuid4().hex
        who, grant, live_cam, position = await self.admit(q, call, sid)
        pc = RTCPeerConnection(configuration=rtc_configuration(self.ice_servers))
        track = WatermarkedTrack()
        s = Session(sid, q.kind, who, q.camera_id, pc, track, grant=grant, position=position)
        try:
            answer = await self._negotiate(s, q.sdp)
        except Exception as exc:
            await pc.close()
            bad = (
                Refused(  # every UDP port of MEDIA_RTC_PORT_MIN..MAX is taken
                    "viewer_capacity",
                    "查看人数已满，请稍后再试",
                    f"no port for another viewer: {exc}",
                    "Art. 15",
                )
                if isinstance(exc, OSError)
                else Refused(
                    "bad_offer",
                    "浏览器的会话描述无法使用",
                    f"the browser's offer cannot be used: {type(exc).__name__}: {exc}"[:300],
                    "Art. 15",
                )
            )
            await self.refuse(s, bad, who=who)
            raise bad from exc
        self.sessions[sid] = s
        SESSIONS.labels(s.kind).inc()
        await self.record(s, "started", position=position)
        self._start_source(s, live_cam)
        self._spawn(self._connect_deadline(s))
        return m.MediaViewReply(
            session_id=sid,
            sdp=answer.sdp,
            kind=q.kind,
            camera_id=q.camera_id,
            footage_from=grant.footage_from if grant else None,
            footage_until=grant.footage_until if grant else None,
            position=position,
            valid_until=grant.valid_until if grant else None,
            watermark=self.lines(s),
        )

    async def _negotiate(self, s: Session, sdp: str) -> RTCSessionDescription:
        pc = s.pc

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            s.channel = channel

            @channel.on("message")
            def on_message(message: Any) -> None:
                self._spawn(self.control(s, message))

            def on_open() -> None:
                s.send(self._state(s))
                s.ready.set()

            # a channel the page opened arrives already open (aiortc fires no "open" then)
            if channel.readyState == "open":
                on_open()
            else:
                channel.on("open", on_open)

        with_channel = "m=application" in sdp  # the page's control channel was offered

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                s.connected = True
                if not with_channel:
                    s.ready.set()
            elif pc.connectionState in ("failed", "closed") and not s.stopped:
                await self.stop(s, "disconnected", "连接已断开", "the viewer's connection closed")

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        pc.addTrack(s.track)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # aiortc gathers every candidate here (no trickle)
        return pc.localDescription

    async def _connect_deadline(self, s: Session) -> None:
        await asyncio.sleep(self.settings.view_connect_timeout_s)  # a deadline, not a sync wait
        if not s.connected and not s.stopped:
            await self.stop(s, "not_connected", "未能建立连接", "the viewer never connected")

    def _state(self, s: Session) -> dict[str, Any]:
        return {
            "type": "state",
            "session_id": s.session_id,
            "camera_id": s.camera_id,
            "position": s.position.isoformat() if s.position else None,
            "footage_from": s.grant.footage_from.isoformat() if s.grant else None,
            "footage_until": s.grant.footage_until.isoformat() if s.grant else None,
        }

    # ---- the picture ------------------------------------------------------------------------

    def lines(self, s: Session) -> list[str]:
        """Who is looking, under which request, and when — burned into every frame."""
        now = campus_time(self.clock(), seconds=True)
        if s.grant is not None:
            return [f"{s.who.name or s.who.account} · {s.grant.request_id}", f"查看 viewed {now}"]
        return [f"{s.who.name or s.who.account} · 实时 live {s.camera_id}", f"查看 viewed {now}"]

    def mark(self, s: Session, frame: av.VideoFrame) -> av.VideoFrame:
        """Blocking: decode-side RGB, watermark, back to a frame (run in a worker thread)."""
        rgb = frame.to_ndarray(format="rgb24")
        marked = burn_watermark(rgb, self.lines(s), self.font)
        return av.VideoFrame.from_ndarray(marked, format="rgb24")

    def _start_source(self, s: Session, live_cam: CameraRecord | None) -> None:
        if s.kind == "recorded":
            s.producer = asyncio.create_task(self._play_recorded(s, s.position))
            return
        assert live_cam is not None
        url = live_cam.stream_url or self.settings.live_url_template.format(camera_id=s.camera_id)

        def deliver(frame: av.VideoFrame | None, why: str) -> None:
            if frame is not None:
                s.track.offer(frame, drop_oldest=True)
            elif not s.stopped:
                self._spawn(self.stop(s, "stream_ended", "实时画面中断", why))

        s.live = LiveReader(with_login(url, self.live_login), lambda f: self.mark(s, f), deliver)
        s.live.start()

    async def _play_recorded(self, s: Session, start: datetime | None) -> None:
        """Recorded frames from the camera's recorder (whichever dialect the inventory and
        RECORDERS say: ONVIF replay, Hikvision, Dahua), shown at the pace they were recorded,
        from `start` to the window's end."""
        g = s.grant
        assert g is not None and start is not None
        # nothing is fetched before the page can see it and hear why it would stop
        await s.ready.wait()
        decoder = av.CodecContext.create("h264", "r")

        def decode_and_mark(annexb: bytes) -> list[av.VideoFrame]:
            return [self.mark(s, f) for f in decoder.decode(av.Packet(annexb))]

        loop = asyncio.get_running_loop()
        began, first = loop.time(), None
        try:
            recorder, footage = self.recorders(s.camera_id)
            async for rec in recorder.fetch(footage, start, g.footage_until):
                if not (g.footage_from <= rec.at < g.footage_until):
                    await self.stop(
                        s, "recorder_outside_window", "录像机发送了批准范围以外的画面",
                        f"the recorder sent footage of {rec.at.isoformat()}, outside the "
                        "grant: the session is stopped (Art. 16(1)3)",
                    )  # fmt: skip
                    return
                first = first or rec.at
                due = began + (rec.at - first).total_seconds()
                if due > loop.time():  # the recorder sends faster than it recorded
                    await asyncio.sleep(due - loop.time())  # pace, not a sync wait
                for frame in await asyncio.to_thread(decode_and_mark, rec.annexb):
                    await s.track.queue.put(frame)
                s.position = rec.at
        except replay.ReplayError as exc:
            s.send({"type": "error", "error": f"录像读取失败 recorder: {exc}"})
            log.warning("viewer replay failed", session=s.session_id, error=str(exc))
            return
        s.send({"type": "ended", "position": s.position.isoformat() if s.position else None})

    # ---- control over the data channel ----------------------------------------------------

    async def control(self, s: Session, message: Any) -> None:
        """`{"op": "seek", "position": ISO}`, `{"op": "camera", "camera_id": ...}`,
        `{"op": "stop"}`: each checked against the grant; refusals are recorded."""
        async with s.lock:
            if not s.stopped:
                await self._control(s, message)

    async def _control(self, s: Session, message: Any) -> None:
        try:
            msg = json.loads(message) if isinstance(message, str) else {}
        except ValueError:
            msg = {}
        op = msg.get("op") if isinstance(msg, dict) else None
        if op == "stop":
            await self.stop(s, "viewer", "查看人结束查看", "the viewer stopped")
            return
        if op not in ("seek", "camera") or s.kind != "recorded" or s.grant is None:
            s.send({"type": "refused", "code": "bad_control",
                    "error": f"无法执行 unknown control {op!r}"})  # fmt: skip
            return
        camera = str(msg.get("camera_id") or s.camera_id)
        asked: datetime | None = None  # the position asked for, once read
        try:
            try:
                # refused without a zone, as at the start (Art. 16(1)3): taken as UTC, a campus
                # time typed by a person would land eight hours off
                asked = parse_instant(msg["position"], "position") if msg.get("position") else None
            except TimeError as exc:
                raise Refused("invalid_request", exc.zh, exc.en, "Art. 16(1)3") from exc
            position = asked or s.grant.footage_from
            self.check_scope(s.grant, camera, position)
            await self._still_valid(s)
        except Refused as exc:
            await self.refuse(s, exc, camera_id=camera, position=asked)
            s.send({"type": "refused", "code": exc.code, "error": exc.reply()["error"],
                    "article": exc.article})  # fmt: skip
            if exc.code in ("grant_revoked", "grant_expired"):
                await self.stop(s, exc.code, exc.zh, exc.en)
            return
        if s.producer is not None:
            s.producer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await s.producer
        s.track.clear()
        s.camera_id, s.position = camera, position
        await self.record(s, "seek", position=position, camera_id=camera)
        s.producer = asyncio.create_task(self._play_recorded(s, position))
        s.send(self._state(s))

    async def _still_valid(self, s: Session) -> None:
        g = s.grant
        if g is None:
            return
        revoked = await store.revoked_at(self.pool, self.schema, g.request_id)
        if revoked is not None:
            raise Refused("grant_revoked", "调阅授权已撤销", "the grant has been revoked",
                          "Art. 16")  # fmt: skip
        if self.clock() >= g.valid_until:
            raise Refused("grant_expired", "调阅授权已过期", "the grant has expired",
                          "Art. 16")  # fmt: skip

    # ---- ending ------------------------------------------------------------------------------

    async def stop(self, s: Session, code: str, zh: str, en: str) -> None:
        """End a session once: tell the page why, close the connection, record how long."""
        if s.stopped:
            return
        s.stopped = True
        s.send({"type": "stopped", "code": code, "error": f"{zh} — {en}"})
        if s.producer is not None and s.producer is not asyncio.current_task():
            s.producer.cancel()  # (the producer itself may be stopping the session)
        if s.live is not None:
            s.live.stop()
        s.track.stop()
        with contextlib.suppress(Exception):
            await s.pc.close()
        if self.sessions.pop(s.session_id, None) is not None:
            SESSIONS.labels(s.kind).dec()
        took = time.monotonic() - s.started_mono
        VIEW_SECONDS.observe(took)
        await self.record(s, "stopped", code=code, duration_s=round(took, 3),
                          position=s.position, detail=f"{zh} — {en}"[:1000])  # fmt: skip

    async def revoked(self, request_id: str) -> None:
        """workflow revoked a grant (this replica took the event, or another replica's NOTIFY
        said so): stop this replica's sessions of the request now."""
        for s in [
            s for s in self.sessions.values() if s.grant and s.grant.request_id == request_id
        ]:
            await self.stop(s, "grant_revoked", "调阅授权已撤销", "the grant has been revoked")

    async def check_once(self) -> None:
        """Every open session against its grant: expiry by the clock, revocation by the
        grants table (whichever replica took workflow's event wrote it)."""
        recorded = [s for s in self.sessions.values() if s.grant is not None]
        if not recorded:
            return
        now = self.clock()
        ids = list({s.grant.request_id for s in recorded if s.grant})
        gone = await store.revoked_among(self.pool, self.schema, ids)
        for s in recorded:
            assert s.grant is not None
            if s.grant.request_id in gone:
                await self.stop(s, "grant_revoked", "调阅授权已撤销", "the grant has been revoked")
            elif now >= s.grant.valid_until:
                await self.stop(
                    s, "grant_expired", f"调阅授权已于 {campus_time(s.grant.valid_until)} 到期",
                    f"the grant's validity ended at {s.grant.valid_until.isoformat()}",
                )  # fmt: skip

    # ---- revocations any replica records (ADR 0030) ----------------------------------------

    async def listen_loop(self) -> None:
        """Hear the revocation every replica records (LISTEN on a connection of its own) and
        stop this replica's sessions of it at once, not at the next `check_once`. A lost
        connection is made again; each time, the sessions are checked against the grants
        table once listening, so a revocation committed while nobody listened is not lost."""
        first, longest = LISTENER_RETRY_S
        wait = first
        while True:
            if await self._listen_until_lost():
                wait = first  # it listened: the database is there, try again soon
            await asyncio.sleep(wait)  # a retry schedule, not a sync wait
            wait = min(wait * 2, longest)

    async def _listen_until_lost(self) -> bool:
        """Listen until the connection is lost; False if it never got to listen."""
        try:
            conn = await self.listener_connection()
        except Exception as exc:  # the database away: the check loop still runs
            log.warning("revocation listener cannot connect", error=repr(exc))
            return False
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        listened = False
        try:
            await store.listen_revoked(conn, self.schema, self._heard_revoked)
            listened = True
            pid = self.listener_pid = conn.get_server_pid()
            REVOCATION_LISTENER.set(1)
            log.info("revocation listener listening", backend=pid)
            for told in self.on_listening:
                told(pid)
            await self.check_once()  # what was revoked while nobody listened
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), LISTENER_PING_S)
                except TimeoutError:  # quiet: is the other end still there (no FIN seen)?
                    await asyncio.wait_for(store.ping(conn), 5.0)
            log.warning("revocation listener lost its connection; listening again")
        except Exception as exc:
            log.warning("revocation listener failed; listening again", error=repr(exc))
        finally:
            REVOCATION_LISTENER.set(0)
            self.listener_pid = None
            if not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.close(), 2.0)
                except Exception:
                    conn.terminate()
                except asyncio.CancelledError:  # stopping the service
                    conn.terminate()
                    raise
        return listened

    async def listener_connection(self) -> asyncpg.Connection:
        """A connection outside the pool: it is held as long as it listens, and the requests
        sharing the pool should not be one short for it."""
        return await asyncpg.connect(self.settings.database_url, timeout=10)

    def _heard_revoked(self, request_id: str) -> None:
        self._spawn(self._stop_revoked(request_id))

    async def _stop_revoked(self, request_id: str) -> None:
        try:
            await self.revoked(request_id)
        except Exception as exc:  # (recording the stop failed: the session is stopped)
            log.warning("stopping a revoked grant's sessions failed", request_id=request_id,
                        error=repr(exc))  # fmt: skip

    async def check_loop(self) -> None:
        while True:
            try:
                await self.check_once()
            except Exception as exc:  # the database away: sessions are checked next round
                log.warning("viewer check failed", error=repr(exc))
            await asyncio.sleep(self.settings.view_check_s)  # a schedule, not a sync wait

    async def close_all(self) -> None:
        for s in list(self.sessions.values()):
            await self.stop(s, "shutdown", "服务停止", "the media service is stopping")
        for task in list(self._tasks):  # connection deadlines still waiting
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)


def attach(
    svc: Service,
    settings: MediaSettings,
    *,
    clock: Clock,
    inventory: Callable[[str], CameraRecord | None],
    recorders: Callable[[str], tuple[Recorder, Footage]],
    rpc_prefix: str = "",
    workflow_get: str = rpc.WORKFLOW_GET,
) -> Viewer:
    """Wire the viewer into the media service: its request subject, the loop that re-checks
    open sessions and the one that hears revocations; cameras (live) come from media's
    inventory view."""
    viewer = Viewer(
        svc,
        settings,
        clock=clock,
        inventory=inventory,
        recorders=recorders,
        workflow_get=workflow_get,
    )
    svc.state["viewer"] = viewer
    svc.respond(rpc_prefix + rpc.MEDIA_VIEW, viewer.view, request=m.MediaViewRequest)
    svc.respond(rpc_prefix + rpc.MEDIA_ICE, viewer.ice, request=m.MediaIceRequest)
    svc.loop("viewer-check", viewer.check_loop)
    svc.loop("viewer-revocations", viewer.listen_loop)
    return viewer
