"""An RTSP server for the camera simulator: pure asyncio, many cameras on one port.

Why our own: the demo and the tests need RTSP that PyAV/ffprobe accept, on localhost, for
thousands of cameras, with faults we can inject per camera — without GStreamer at run time.
It speaks RFC 2326 (OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER) with RTP over
the RTSP TCP connection (interleaved, RFC 2326 §10.12) and H.264 payloads (RFC 6184). A
request for UDP transport gets 461, which makes ffmpeg retry over TCP as a real client would.

Cameras are addressed by path: rtsp://127.0.0.1:PORT/cam/<camera_id>.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import os
import secrets
import struct
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from cctv import rtsp
from cctv.rtsp import Request as _Request
from cctv.rtsp import RtspError as _BadRequest
from demo.simulator.media import EncodedClip, Picture, clip_for, scene_variant

SERVER_NAME = "campus-cctv-sim-rtsp/1.0"
RTP_PAYLOAD_TYPE = 96
RTP_MAX_PAYLOAD = 1400


class MediaFault(enum.StrEnum):
    """Faults a simulated camera's RTSP side can show (injected with `cctv sim`)."""

    COVERED = "covered"  # lens covered: dark, featureless frames (Art. 12)
    MOVED = "moved"  # camera turned away: a different scene (Art. 8, Art. 12)
    BLUR = "blur"  # out of focus or smeared lens (Art. 12)
    VIDEO_LOSS = "video_loss"  # session is set up but no frame ever arrives
    REFUSE = "refuse"  # the device answers 503 to DESCRIBE/SETUP/PLAY
    WRONG_PASSWORD = "wrong_password"  # the device's password no longer matches ours
    GARBAGE = "garbage"  # random bytes instead of RTSP
    SILENT = "silent"  # accepts the connection, never answers
    OFFLINE = "offline"  # drops the connection at once
    SLOW = "slow"  # every answer delayed by `slow_delay_s`


_PICTURE_FOR_FAULT = (
    (MediaFault.COVERED, Picture.COVERED),
    (MediaFault.MOVED, Picture.MOVED),
    (MediaFault.BLUR, Picture.BLUR),
)


@dataclass
class SimCamera:
    """One simulated camera's RTSP face."""

    camera_id: str
    variant: int
    username: str | None = None
    password: str | None = None
    faults: set[MediaFault] = field(default_factory=set)
    slow_delay_s: float = 2.0

    @property
    def picture(self) -> Picture:
        for fault, picture in _PICTURE_FOR_FAULT:
            if fault in self.faults:
                return picture
        return Picture.NORMAL


@dataclass
class ServerStats:
    connections: int = 0
    sessions_played: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    errors: int = 0


def camera_id_from_url(url: str) -> str | None:
    """`rtsp://h:p/cam/<id>[/trackID=0]` → `<id>`; None when the path is not a camera."""
    path = urlsplit(url).path if "://" in url else url
    parts = [unquote(p) for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "cam":
        return parts[1]
    return None


def rtp_packets(
    access_unit: Iterable[bytes], seq: int, timestamp: int, ssrc: int
) -> tuple[list[bytes], int]:
    """Packetise one access unit (RFC 6184: single NAL unit or FU-A); returns (packets, seq)."""
    payloads = rtsp.h264_payloads(access_unit, RTP_MAX_PAYLOAD)
    packets: list[bytes] = []
    for k, payload in enumerate(payloads):
        marker = 0x80 if k == len(payloads) - 1 else 0
        header = struct.pack(
            "!BBHII", 0x80, marker | RTP_PAYLOAD_TYPE, seq & 0xFFFF, timestamp & 0xFFFFFFFF, ssrc
        )
        packets.append(header + payload)
        seq = (seq + 1) & 0xFFFF
    return packets, seq


class RtspServer:
    """Serves every registered camera on one TCP port, by path."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        serve_unknown: bool = False,
        realm: str = "campus-cctv-sim",
    ) -> None:
        self.host = host
        self._port = port
        self.serve_unknown = serve_unknown  # any /cam/<id> path works (handy by hand)
        self.realm = realm
        self.cameras: dict[str, SimCamera] = {}
        self.stats = ServerStats()
        self._server: asyncio.Server | None = None
        self._nonce = secrets.token_hex(16)
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_error: str | None = None

    # ---- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("RTSP server not started")
        return int(self._server.sockets[0].getsockname()[1])

    def url_for(
        self, camera_id: str, *, username: str | None = None, password: str | None = None
    ) -> str:
        auth = f"{username}:{password}@" if username is not None else ""
        return f"rtsp://{auth}{self.host}:{self.port}/cam/{camera_id}"

    async def start(self, *, prewarm: bool = True) -> RtspServer:
        """Listen, and encode the registered cameras' normal clips off the event loop."""
        if prewarm:
            await self.prewarm()
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self._port, limit=rtsp.MAX_HEADER_BYTES
        )
        return self

    async def prewarm(self, pictures: Iterable[Picture] = (Picture.NORMAL,)) -> None:
        """Encode the registered cameras' clips now, off the event loop, so that no DESCRIBE
        waits for an encoder (a dozen scene variants cover any number of cameras)."""
        keys = sorted({(c.variant, p) for c in self.cameras.values() for p in pictures})
        await asyncio.to_thread(lambda: [clip_for(v, p) for v, p in keys])

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a task that `stop()` cancels."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> RtspServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- inventory and faults --------------------------------------------------------
    def add_camera(
        self,
        camera_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        variant: int | None = None,
    ) -> SimCamera:
        cam = SimCamera(
            camera_id,
            scene_variant(camera_id) if variant is None else variant,
            username,
            password,
        )
        self.cameras[camera_id] = cam
        return cam

    def remove_camera(self, camera_id: str) -> None:
        self.cameras.pop(camera_id, None)

    def set_faults(self, camera_id: str, faults: Iterable[MediaFault | str]) -> None:
        """Replace a camera's injected faults (an empty iterable clears them)."""
        self._camera(camera_id).faults = {MediaFault(f) for f in faults}

    def add_fault(self, camera_id: str, fault: MediaFault | str) -> None:
        self._camera(camera_id).faults.add(MediaFault(fault))

    def clear_fault(self, camera_id: str, fault: MediaFault | str | None = None) -> None:
        cam = self._camera(camera_id)
        if fault is None:
            cam.faults.clear()
        else:
            cam.faults.discard(MediaFault(fault))

    def _camera(self, camera_id: str) -> SimCamera:
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise KeyError(f"unknown simulated camera {camera_id!r}") from None

    def _lookup(self, url: str) -> SimCamera | None:
        cid = camera_id_from_url(url)
        if cid is None:
            return None
        cam = self.cameras.get(cid)
        if cam is None and self.serve_unknown:
            cam = self.add_camera(cid)
        return cam

    # ---- connection handling ---------------------------------------------------------
    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.stats.connections += 1
        conn = _Connection(self, reader, writer)
        try:
            await conn.run()
        except (ConnectionError, asyncio.IncompleteReadError, _BadRequest):
            pass
        except Exception as exc:  # a simulator bug drops one connection, not the server
            self.stats.errors += 1
            self.last_error = repr(exc)
        finally:
            conn.stop_streaming()
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)


async def _clip(camera: SimCamera) -> EncodedClip:
    """The camera's current clip; encodes off the event loop the first time it is needed."""
    return await asyncio.to_thread(clip_for, camera.variant, camera.picture)


class _Connection:
    """One client's RTSP connection (a session lives and dies with it: RTP is interleaved)."""

    def __init__(self, server: RtspServer, reader: asyncio.StreamReader, w: asyncio.StreamWriter):
        self.server = server
        self.reader = reader
        self.writer = w
        self.session_id: str | None = None
        self.channel = 0
        self.camera: SimCamera | None = None
        self.stream_task: asyncio.Task[None] | None = None
        self.ssrc = secrets.randbits(32)
        self.seq = secrets.randbits(16)
        self.rtp_time = secrets.randbits(32)

    def stop_streaming(self) -> None:
        if self.stream_task is not None:
            self.stream_task.cancel()
            self.stream_task = None

    async def read_request(self) -> _Request | None:
        return await rtsp.read_request(self.reader)

    async def respond(
        self,
        req: _Request,
        status: int,
        reason: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self.writer.write(
            rtsp.format_response(req.cseq, status, reason, headers, body, server=SERVER_NAME)
        )
        await self.writer.drain()

    async def run(self) -> None:
        while True:
            req = await self.read_request()
            if req is None:
                return
            cam = self.server._lookup(req.url)
            if cam is not None and not await self.apply_connection_faults(cam):
                return
            await self.handle(req, cam)

    async def apply_connection_faults(self, cam: SimCamera) -> bool:
        """Faults that break the connection itself; False means the connection is over."""
        if MediaFault.OFFLINE in cam.faults:
            self.writer.transport.abort()
            return False
        if MediaFault.SILENT in cam.faults:
            while await self.reader.read(4096):
                pass  # read and never answer
            return False
        if MediaFault.GARBAGE in cam.faults:
            self.writer.write(os.urandom(2048).replace(b"RTSP", b"rtsp"))
            await self.writer.drain()
            while await self.reader.read(4096):
                pass
            return False
        if MediaFault.SLOW in cam.faults:
            await asyncio.sleep(cam.slow_delay_s)
        return True

    def authorised(self, req: _Request, cam: SimCamera) -> bool:
        if cam.username is None:
            return MediaFault.WRONG_PASSWORD not in cam.faults
        if MediaFault.WRONG_PASSWORD in cam.faults:
            return False
        guard = rtsp.DigestGuard(cam.username, cam.password or "", self.server.realm,
                                 self.server._nonce)  # fmt: skip
        return guard.check(req.method, req.headers.get("authorization", ""))

    async def handle(self, req: _Request, cam: SimCamera | None) -> None:
        m = req.method
        if m == "OPTIONS":
            public = "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"
            await self.respond(req, 200, "OK", {"Public": public})
            return
        if m not in {"DESCRIBE", "SETUP", "PLAY", "TEARDOWN", "GET_PARAMETER", "PAUSE"}:
            await self.respond(req, 501, "Not Implemented")
            return
        if cam is None:
            await self.respond(req, 404, "Not Found")
            return
        if not self.authorised(req, cam):
            challenge = f'Digest realm="{self.server.realm}", nonce="{self.server._nonce}"'
            await self.respond(req, 401, "Unauthorized", {"WWW-Authenticate": challenge})
            return
        if MediaFault.REFUSE in cam.faults and m in {"DESCRIBE", "SETUP", "PLAY"}:
            await self.respond(req, 503, "Service Unavailable")
            return
        if m == "DESCRIBE":
            await self.describe(req, cam)
        elif m == "SETUP":
            await self.setup(req, cam)
        elif m == "PLAY":
            await self.play(req, cam)
        elif m == "TEARDOWN":
            self.stop_streaming()
            await self.respond(req, 200, "OK", {"Session": self.session_id or ""})
            self.session_id = None
        else:  # GET_PARAMETER keep-alive, PAUSE (we just keep quiet)
            if m == "PAUSE":
                self.stop_streaming()
            await self.respond(req, 200, "OK", self._session_header())

    def _session_header(self) -> dict[str, str]:
        return {"Session": f"{self.session_id};timeout=60"} if self.session_id else {}

    async def describe(self, req: _Request, cam: SimCamera) -> None:
        # every clip is encoded with the same settings, so the normal clip's SPS/PPS describe
        # them all and a fault's clip can still be encoding while we answer
        clip = await asyncio.to_thread(clip_for, cam.variant, Picture.NORMAL)
        base = req.url.rstrip("/") + "/"
        sdp = "\r\n".join(
            [
                "v=0",
                f"o=- {self.ssrc} 1 IN IP4 {self.server.host}",
                f"s=campus-cctv simulated camera {cam.camera_id}",
                "c=IN IP4 0.0.0.0",
                "t=0 0",
                "a=control:*",
                "a=range:npt=0-",
                f"m=video 0 RTP/AVP {RTP_PAYLOAD_TYPE}",
                f"a=rtpmap:{RTP_PAYLOAD_TYPE} H264/90000",
                f"a=fmtp:{RTP_PAYLOAD_TYPE} packetization-mode=1;"
                f"profile-level-id={clip.profile_level_id};"
                f"sprop-parameter-sets={clip.sprop_parameter_sets}",
                f"a=framesize:{RTP_PAYLOAD_TYPE} {clip.width}-{clip.height}",
                f"a=framerate:{clip.fps}",
                "a=control:trackID=0",
                "",
            ]
        ).encode("ascii")
        await self.respond(
            req, 200, "OK", {"Content-Type": "application/sdp", "Content-Base": base}, sdp
        )

    async def setup(self, req: _Request, cam: SimCamera) -> None:
        transport = req.headers.get("transport", "")
        tcp = next((t for t in transport.split(",") if "/TCP" in t.upper()), None)
        if tcp is None:
            await self.respond(req, 461, "Unsupported Transport")
            return
        interleaved = "0-1"
        for part in tcp.split(";"):
            if part.strip().startswith("interleaved="):
                interleaved = part.strip().split("=", 1)[1]
        try:
            self.channel = int(interleaved.split("-")[0])
        except ValueError:
            await self.respond(req, 400, "Bad Request")
            return
        self.camera = cam
        self.session_id = self.session_id or secrets.token_hex(8).upper()
        reply = f"RTP/AVP/TCP;unicast;interleaved={interleaved};ssrc={self.ssrc:08X};mode=play"
        await self.respond(req, 200, "OK", {"Transport": reply, **self._session_header()})

    async def play(self, req: _Request, cam: SimCamera) -> None:
        if self.session_id is None or self.camera is None:
            await self.respond(req, 455, "Method Not Valid in This State")
            return
        sent = req.headers.get("session", "").split(";")[0].strip()
        if sent != self.session_id:
            await self.respond(req, 454, "Session Not Found")
            return
        base = req.url.rstrip("/")
        track = base if base.endswith("trackID=0") else base + "/trackID=0"
        info = f"url={track};seq={self.seq};rtptime={self.rtp_time}"
        headers = {"Range": "npt=0.000-", "RTP-Info": info, **self._session_header()}
        await self.respond(req, 200, "OK", headers)
        self.server.stats.sessions_played += 1
        if self.stream_task is None and MediaFault.VIDEO_LOSS not in cam.faults:
            self.stream_task = asyncio.create_task(self.stream(cam))

    async def stream(self, cam: SimCamera) -> None:
        """Send the camera's clip in a loop at its frame rate, starting at the IDR frame."""
        stats = self.server.stats
        next_at = time.monotonic()
        sent = 0
        try:
            while True:
                if MediaFault.VIDEO_LOSS in cam.faults:
                    return
                clip = await _clip(cam)  # re-read per loop: faults switch at the IDR
                for au in clip.access_units:
                    packets, self.seq = rtp_packets(au, self.seq, self.rtp_time, self.ssrc)
                    out = b"".join(rtsp.interleave(self.channel, p) for p in packets)
                    self.writer.write(out)
                    await self.writer.drain()
                    stats.frames_sent += 1
                    stats.bytes_sent += len(out)
                    self.rtp_time = (self.rtp_time + clip.frame_ticks) & 0xFFFFFFFF
                    sent += 1
                    if sent == 1:
                        # the IDR and the next frame go out together, as from a camera's GOP
                        # cache: libavformat hands over a frame once the next one begins,
                        # so a prober decodes its picture without waiting a frame interval
                        continue
                    next_at += 1.0 / clip.fps
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    else:
                        next_at = time.monotonic()  # a slow reader: do not burst to catch up
        except (ConnectionError, asyncio.CancelledError):
            return


# ---- the fleet hook -------------------------------------------------------------------------
# `cctv sim break CAM --fault covered` changes the Fleet's state; the Fleet tells its listeners,
# and this one turns fleet faults into what the camera's RTSP side shows.
FLEET_FAULTS: dict[str, MediaFault] = {
    "covered": MediaFault.COVERED,
    "moved": MediaFault.MOVED,
    "blur": MediaFault.BLUR,
    "video_loss": MediaFault.VIDEO_LOSS,
    "offline": MediaFault.OFFLINE,
    "slow": MediaFault.SLOW,
    "wrong_password": MediaFault.WRONG_PASSWORD,
    "garbage": MediaFault.GARBAGE,
    "hang": MediaFault.SILENT,
}


class _FleetLike(Protocol):
    @property
    def cameras(self) -> Mapping[str, Any]: ...  # camera_id -> object with `faults: set[str]`

    @property
    def listeners(self) -> list[Callable[[str, set[str]], None]]: ...


def media_faults(fleet_faults: Iterable[str]) -> set[MediaFault]:
    """The RTSP faults implied by a camera's fleet faults (others do not touch RTSP)."""
    return {FLEET_FAULTS[f] for f in fleet_faults if f in FLEET_FAULTS}


def attach_to_fleet(
    fleet: _FleetLike,
    server: RtspServer,
    *,
    username: str | None = None,
    password: str | None = None,
) -> None:
    """Serve every fleet camera at /cam/<camera_id> and follow its injected faults."""
    for camera_id, cam in fleet.cameras.items():
        server.add_camera(camera_id, username=username, password=password)
        server.set_faults(camera_id, media_faults(getattr(cam, "faults", ())))

    def on_change(camera_id: str, faults: set[str]) -> None:
        if camera_id not in server.cameras:
            server.add_camera(camera_id, username=username, password=password)
        server.set_faults(camera_id, media_faults(faults))

    fleet.listeners.append(on_change)


async def serve_fleet(
    fleet: _FleetLike,
    host: str,
    port: int,
    *,
    username: str | None = None,
    password: str | None = None,
) -> RtspServer:
    """Start an RTSP server for the whole fleet (the simulator's hook calls this); with a
    username every camera asks for that login (digest), as a real device does."""
    server = RtspServer(host, port)
    attach_to_fleet(fleet, server, username=username, password=password)
    await server.start()
    # the fault pictures too, in the background, so the first `cctv sim break` is prompt
    server.background(server.prewarm(tuple(Picture)))
    return server


async def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="campus-cctv simulated RTSP cameras")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554)
    parser.add_argument("--camera", action="append", default=[], help="camera id (repeatable)")
    parser.add_argument("--fault", action="append", default=[], help="camera_id=fault")
    args = parser.parse_args(argv)
    server = RtspServer(args.host, args.port, serve_unknown=not args.camera)
    for cid in args.camera:
        server.add_camera(cid)
    for spec in args.fault:
        cid, _, fault = spec.partition("=")
        server.cameras.get(cid) or server.add_camera(cid)
        server.add_fault(cid, fault)
    await server.start()
    print(f"RTSP simulator on {server.url_for('<camera_id>')}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
