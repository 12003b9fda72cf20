"""Media's playback client against a recorder that offers several challenges and counts nc
(RFC 2617 qop=auth), over a real socket on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest

from cctv import rtsp
from services.media.recorders import ReplayError
from services.media.recorders.rtsp_playback import PlaybackSession

USER, PASSWORD = "nvr-admin", "Dahua#2026"
REALM, NONCE = "NVR 录像机", "c0ffee01"


class StrictRecorder:
    """A stand-in recorder: 401 with Digest MD5 (qop=auth) then Basic as two headers; an
    answer must be right and its nc must grow with every request on the nonce."""

    def __init__(self, challenges: list[str]) -> None:
        self.challenges = challenges
        self.ncs: list[str] = []

    def _good(self, value: str, method: str) -> bool:
        d = rtsp.parse_digest(value)
        nc = d.get("nc", "")
        if d.get("qop") != "auth" or (self.ncs and int(nc or "0", 16) <= int(self.ncs[-1], 16)):
            return False  # no qop, or a replayed count
        self.ncs.append(nc)
        return d.get("response") == rtsp.digest_response(
            USER, PASSWORD, REALM, NONCE, method, d.get("uri", ""),
            qop="auth", nc=nc, cnonce=d.get("cnonce"),
        )  # fmt: skip

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await rtsp.read_request(reader)) is not None:
            auth = req.headers.get("authorization", "")
            if auth and self._good(auth, req.method):
                writer.write(rtsp.format_response(req.cseq, 200, "OK", {"Session": "s1"}))
            else:
                head = rtsp.format_response(req.cseq, 401, "Unauthorized")[:-2]
                extra = "".join(f"WWW-Authenticate: {c}\r\n" for c in self.challenges)
                writer.write(head + extra.encode() + b"\r\n")
            await writer.drain()
        writer.close()


async def test_digest_chosen_among_challenges_and_nc_counts_each_request() -> None:
    """The recorder's last WWW-Authenticate is Basic: the digest one is answered, and every
    request on the nonce carries the next nc (a replayed count is refused)."""
    recorder = StrictRecorder(
        [f'Digest realm="{REALM}", nonce="{NONCE}", qop="auth"', f'Basic realm="{REALM}"']
    )
    server = await asyncio.start_server(recorder.serve, "127.0.0.1", 0)
    url = f"rtsp://127.0.0.1:{server.sockets[0].getsockname()[1]}/replay/1"
    try:
        async with PlaybackSession(url, username=USER, password=PASSWORD, timeout=5) as s:
            for method in ("DESCRIBE", "SETUP", "GET_PARAMETER"):
                await s.request(method, url)
        assert recorder.ncs == ["00000001", "00000002", "00000003"]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_recorder_offering_only_basic_is_named() -> None:
    recorder = StrictRecorder([f'Basic realm="{REALM}"'])
    server = await asyncio.start_server(recorder.serve, "127.0.0.1", 0)
    url = f"rtsp://127.0.0.1:{server.sockets[0].getsockname()[1]}/replay/1"
    try:
        async with PlaybackSession(url, username=USER, password=PASSWORD, timeout=5) as s:
            with pytest.raises(ReplayError, match=r"no digest challenge.*offered: Basic"):
                await s.request("DESCRIBE", url)
    finally:
        server.close()
        await server.wait_closed()
