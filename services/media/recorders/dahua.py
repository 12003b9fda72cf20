"""Dahua recorders: RTSP playback by channel and time.

`rtsp://host:554/cam/playback?channel=N&subtype=0&starttime=YYYY_MM_DD_HH_MM_SS&endtime=...`,
digest authentication, the times in the recorder's own local time (its time zone is a setting
of the recorder, Asia/Shanghai on campus). `Speed` asks for faster than real-time delivery.
Dahua's RTP carries no replay extension: a frame's time is the start plus its RTP clock since
`RTP-Info: rtptime`. As with Hikvision, the range is widened to whole seconds and frames
before the asked start are dropped here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from .base import Footage, RecordedFrame, ReplayError
from .rtsp_playback import vendor_playback, whole_seconds

TIME_FORMAT = "%Y_%m_%d_%H_%M_%S"


@dataclass(frozen=True)
class DahuaPlayback:
    """One Dahua NVR/XVR at `rtsp_url` (rtsp://host[:port])."""

    rtsp_url: str
    username: str
    password: str
    timezone: str = "Asia/Shanghai"
    timeout: float = 10.0
    speed: float = 8.0
    brand: str = "dahua"

    def url(self, channel: int, start: datetime, end: datetime) -> str:
        tz = ZoneInfo(self.timezone)
        netloc = urlsplit(self.rtsp_url).netloc.rsplit("@", 1)[-1]
        if not netloc:
            raise ReplayError(
                f"Dahua recorder address is not rtsp://host[:port]: {self.rtsp_url!r}"
            )
        return (
            f"rtsp://{netloc}/cam/playback?channel={channel}&subtype=0"
            f"&starttime={start.astimezone(tz).strftime(TIME_FORMAT)}"
            f"&endtime={end.astimezone(tz).strftime(TIME_FORMAT)}"
        )

    async def fetch(
        self, footage: Footage, start: datetime, end: datetime
    ) -> AsyncIterator[RecordedFrame]:
        if footage.channel is None:
            raise ReplayError(
                f"camera {footage.camera_id} has no recorder channel in the inventory: "
                "Dahua playback is by channel"
            )
        s, e = whole_seconds(start, end)
        url = self.url(footage.channel, s, e)
        what = f"{footage.camera_id} (channel {footage.channel})"
        async for frame in vendor_playback(
            url, self.username, self.password, start, end, what,
            timeout=self.timeout, speed=self.speed,
        ):  # fmt: skip
            yield frame
