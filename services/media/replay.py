"""ONVIF replay, as media and the viewer have always called it: `fetch`, `ReplayClient`,
`RecordedFrame`, `ReplayError`, `format_clock`, `ntp_to_datetime`.

The adapters themselves — ONVIF Profile G, Hikvision ISAPI, Dahua — live in
`services/media/recorders/` behind one interface; this module keeps the old names working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from cctv.rtsp import NTP_EPOCH_OFFSET, format_clock, ntp_to_datetime

from .recorders.base import RecordedFrame, ReplayError
from .recorders.onvif import REPLAY_TAG, ReplayClient
from .recorders.rtsp_playback import USER_AGENT

__all__ = [
    "NTP_EPOCH_OFFSET",
    "REPLAY_TAG",
    "USER_AGENT",
    "RecordedFrame",
    "ReplayClient",
    "ReplayError",
    "fetch",
    "format_clock",
    "ntp_to_datetime",
]


async def fetch(
    url: str,
    start: datetime,
    end: datetime,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> AsyncIterator[RecordedFrame]:
    """Every recorded frame of one camera in [start, end), as fast as the recorder sends."""
    async with ReplayClient(url, username=username, password=password, timeout=timeout) as c:
        async for frame in c.play(start, end):
            yield frame
