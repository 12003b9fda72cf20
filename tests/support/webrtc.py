"""A WebRTC viewer in Python (aiortc), for the media viewer's domain tests and its bench:
it offers to receive one video track and opens the `control` data channel, as the console's
page does, and keeps what arrived so tests can wait on it instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from tests.support.waiting import ChangeFeed, eventually


class PyViewer:
    def __init__(self, ice_servers: list[dict[str, Any]] | None = None) -> None:
        """`ice_servers`: as media hands them to a page (RTCConfiguration.iceServers)."""
        servers = [RTCIceServer(**s) for s in ice_servers or []]
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self.pc.addTransceiver("video", direction="recvonly")
        self.channel = self.pc.createDataChannel("control")
        self.messages: list[dict[str, Any]] = []
        self.frames = 0
        self.last: np.ndarray | None = None
        self.first_frame_s: float | None = None
        self.ended = False  # the track ended (the server closed the connection)
        self.changes = ChangeFeed()
        self._t0 = time.perf_counter()
        self._reader: asyncio.Task[None] | None = None
        self.keep_pictures = True

        @self.channel.on("message")
        def on_message(message: Any) -> None:
            self.messages.append(json.loads(message))
            self.changes.bump()

        @self.channel.on("open")
        def on_open() -> None:
            self.changes.bump()

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._reader = asyncio.get_running_loop().create_task(self._read(track))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            self.changes.bump()

    async def _read(self, track: Any) -> None:
        try:
            while True:
                frame = await track.recv()
                if self.first_frame_s is None:
                    self.first_frame_s = time.perf_counter() - self._t0
                if self.keep_pictures:
                    self.last = frame.to_ndarray(format="rgb24")
                self.frames += 1
                self.changes.bump()
        except MediaStreamError:
            self.ended = True
            self.changes.bump()

    async def offer(self) -> str:
        """Our SDP offer, with every ICE candidate (aiortc gathers before answering)."""
        self._t0 = time.perf_counter()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def wait_frames(self, n: int, timeout: float = 30.0) -> int:
        async def count() -> int:
            return self.frames

        return await eventually(
            count, lambda c: c >= n, changes=self.changes, timeout=timeout, what=f"{n} frames"
        )

    async def wait_message(self, kind: str, timeout: float = 30.0, **match: Any) -> dict:
        def fits(m: dict[str, Any]) -> bool:
            return m.get("type") == kind and all(m.get(k) == v for k, v in match.items())

        async def found() -> list[dict[str, Any]]:
            return [m for m in self.messages if fits(m)]

        got = await eventually(
            found, changes=self.changes, timeout=timeout, what=f"{kind} message {match}"
        )
        return got[0]

    async def wait_closed(self, timeout: float = 30.0) -> str:
        async def state() -> str:
            return str(self.pc.connectionState)

        return await eventually(
            state, lambda s: s in ("closed", "failed") or self.ended, changes=self.changes,
            timeout=timeout, what="connection closed by the server",
        )  # fmt: skip

    def send(self, message: dict[str, Any]) -> None:
        self.channel.send(json.dumps(message))

    async def wait_channel_open(self, timeout: float = 30.0) -> None:
        async def state() -> str:
            return str(self.channel.readyState)

        await eventually(
            state, lambda s: s == "open", changes=self.changes, timeout=timeout,
            what="data channel open",
        )  # fmt: skip

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self.pc.close()
