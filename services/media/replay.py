"""ONVIF replay, as media and the viewer have always called it: `fetch`, `ReplayClient`,
`RecordedFrame`, `ReplayError`, `format_clock`, `ntp_to_datetime`.

The adapters themselves — ONVIF Profile G, Hikvision ISAPI, Dahua — live in
`services/media/recorders/` behind one interface; this module keeps the old names working.
"""

from __future__ import annotations

from cctv.rtsp import NTP_EPOCH_OFFSET, format_clock, ntp_to_datetime

from .recorders.base import RecordedFrame, ReplayError
from .recorders.onvif import REPLAY_TAG, ReplayClient, fetch
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
