"""Dahua recorders: find the recorded files, then RTSP playback by channel and time.

With the recorder's HTTP address (`http_url`), its files are found first with the HTTP API's
`mediaFileFind.cgi` (`factory.create`, `findFile` by `condition.Channel` and local
`condition.StartTime`/`EndTime`, `findNextFile` until `found=0`, `close`, `destroy`; digest
authentication): files that do not cover the whole window fail the job naming the gap,
instead of a shorter copy. Then playback:

`rtsp://host:554/cam/playback?channel=N&subtype=0&starttime=YYYY_MM_DD_HH_MM_SS&endtime=...`,
digest authentication, the times in the recorder's own local time (its time zone is a setting
of the recorder, Asia/Shanghai on campus). `Speed` asks for faster than real-time delivery.
Dahua's RTP carries no replay extension: a frame's time is the start plus its RTP clock since
`RTP-Info: rtptime`. As with Hikvision, the range is widened to whole seconds and frames
before the asked start are dropped here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

from .base import Footage, RecordedFrame, ReplayError, Segment, check_covered
from .rtsp_playback import vendor_playback, whole_seconds

TIME_FORMAT = "%Y_%m_%d_%H_%M_%S"
CGI = "/cgi-bin/mediaFileFind.cgi"
CGI_TIME = "%Y-%m-%d %H:%M:%S"
PAGE = 100
MAX_PAGES = 50
MAX_REPLY = 1 << 20


def parse_kv(text: str) -> dict[str, str]:
    """Dahua's `key=value` lines (CGI replies)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip()
    return out


@dataclass(frozen=True)
class DahuaPlayback:
    """One Dahua NVR/XVR at `rtsp_url` (rtsp://host[:port])."""

    rtsp_url: str
    username: str
    password: str
    timezone: str = "Asia/Shanghai"
    timeout: float = 10.0
    speed: float = 8.0
    http_url: str = ""  # the HTTP API (mediaFileFind); "" = play back without searching
    brand: str = "dahua"

    async def search(self, channel: int, start: datetime, end: datetime) -> list[Segment]:
        """The recorded files of a channel overlapping [start, end) (mediaFileFind.cgi)."""
        tz = ZoneInfo(self.timezone)
        url = self.http_url.rstrip("/") + CGI
        auth = httpx.DigestAuth(self.username, self.password)

        async def call(http: httpx.AsyncClient, **params: str | int) -> str:
            try:
                r = await http.get(url, params=params)
            except httpx.HTTPError as exc:
                raise ReplayError(f"mediaFileFind at {url} failed: {exc!r}") from exc
            if r.status_code == 401:
                raise ReplayError(f"mediaFileFind at {url}: recorder refused our credentials")
            if r.status_code != 200 or len(r.content) > MAX_REPLY:
                raise ReplayError(
                    f"mediaFileFind {params.get('action')} at {url}: recorder answered "
                    f"{r.status_code} {r.text[:80]!r}"
                )
            return r.text

        async with httpx.AsyncClient(auth=auth, timeout=self.timeout) as http:
            obj = parse_kv(await call(http, action="factory.create")).get("result", "")
            if not obj:
                raise ReplayError(f"mediaFileFind at {url}: factory.create gave no object")
            try:
                condition: dict[str, str | int] = {
                    "condition.Channel": channel,
                    "condition.StartTime": start.astimezone(tz).strftime(CGI_TIME),
                    "condition.EndTime": end.astimezone(tz).strftime(CGI_TIME),
                    "condition.Types[0]": "dav",
                }
                found = await call(http, action="findFile", object=obj, **condition)
                if not found.strip().startswith("OK"):
                    return []  # the device found nothing to list
                segments: list[Segment] = []
                for _page in range(MAX_PAGES):
                    kv = parse_kv(await call(http, action="findNextFile", object=obj, count=PAGE))
                    found_n = kv.get("found", "0") or "0"
                    if not found_n.isdigit():
                        raise ReplayError(f"mediaFileFind at {url}: found={found_n!r}")
                    n = int(found_n)
                    if n == 0:
                        return segments
                    for i in range(n):
                        segments.append(
                            Segment(
                                self._time(kv.get(f"items[{i}].StartTime", ""), tz),
                                self._time(kv.get(f"items[{i}].EndTime", ""), tz),
                            )
                        )
                raise ReplayError(f"mediaFileFind at {url}: more than {MAX_PAGES} pages of files")
            finally:  # free the device's finder even when the search failed
                for action in ("close", "destroy"):
                    with contextlib.suppress(ReplayError):
                        await call(http, action=action, object=obj)

    @staticmethod
    def _time(value: str, tz: ZoneInfo) -> datetime:
        try:
            return datetime.strptime(value, CGI_TIME).replace(tzinfo=tz)
        except ValueError as exc:
            raise ReplayError(f"mediaFileFind: a file time is not {CGI_TIME}: {value!r}") from exc

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
        channel = footage.require_channel("Dahua")
        s, e = whole_seconds(start, end)
        if self.http_url:
            segments = await self.search(channel, s, e)
            check_covered(segments, footage.camera_id, channel, s, e, "mediaFileFind")
        url = self.url(channel, s, e)
        what = f"{footage.camera_id} (channel {footage.channel})"
        async for frame in vendor_playback(
            url, self.username, self.password, start, end, what,
            timeout=self.timeout, speed=self.speed,
        ):  # fmt: skip
            yield frame
