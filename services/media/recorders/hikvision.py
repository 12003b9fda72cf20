"""Hikvision recorders (NVR/DVR) over ISAPI: find the recording, then play it back over RTSP.

1. `POST /ISAPI/ContentMgmt/search` (HTTP digest authentication) with a `CMSearchDescription`:
   a `searchID`, the track (`<channel>01`: the channel's main stream), the time span in UTC
   (`YYYY-MM-DDTHH:MM:SSZ`), `maxResults` and `searchResultPostion` (ISAPI's own spelling).
   The `CMSearchResult` lists `searchMatchItem`s with their `timeSpan` and
   `mediaSegmentDescriptor/playbackURI`; `responseStatusStrg` is `OK`, `MORE` (ask again from
   the next position) or `NO MATCHES`.
2. The segments must cover the whole asked range — a gap is footage the recorder does not
   hold, and the export fails saying where, rather than handing over less than was approved.
3. RTSP playback of the track (`rtsp://host/Streaming/tracks/<channel>01?starttime=
   YYYYMMDDTHHMMSSZ&endtime=...`, the address taken from `playbackURI`) with digest
   authentication; `Speed` asks for faster than real-time delivery. Hikvision's RTP has no
   replay extension: a frame's time is the start plus its RTP clock since `RTP-Info`.
Times are whole seconds in these URLs: the range asked is widened to whole seconds and frames
before the asked start are dropped here (any frame outside the widened range is still
refused by the export's window check).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit
from xml.etree.ElementTree import Element

import httpx
from defusedxml import ElementTree

from .base import Footage, RecordedFrame, ReplayError, Segment, check_covered, uncovered

__all__ = ["HikvisionIsapi", "Segment", "parse_search_result", "uncovered"]
from cctv.contract.campustime import TimeError, parse_instant
from cctv.plumbing.urls import without_login

from .rtsp_playback import vendor_playback, whole_seconds

ISAPI_NS = "http://www.isapi.org/ver20/XMLSchema"
SEARCH_PATH = "/ISAPI/ContentMgmt/search"
PAGE = 40
MAX_PAGES = 50  # 2,000 segments: far more than a grant's window holds
MAX_REPLY = 1 << 20


def isapi_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def search_body(search_id: str, track: int, start: datetime, end: datetime, position: int) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<CMSearchDescription version="2.0" xmlns="{ISAPI_NS}">'
        f"<searchID>{search_id}</searchID>"
        f"<trackList><trackID>{track}</trackID></trackList>"
        "<timeSpanList><timeSpan>"
        f"<startTime>{isapi_time(start)}</startTime><endTime>{isapi_time(end)}</endTime>"
        "</timeSpan></timeSpanList>"
        f"<maxResults>{PAGE}</maxResults>"
        f"<searchResultPostion>{position}</searchResultPostion>"
        "<metadataList><metadataDescriptor>//recordType.meta.std-cgi.com</metadataDescriptor>"
        "</metadataList></CMSearchDescription>"
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: Element, name: str) -> Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: Element | None, *path: str) -> str:
    for name in path:
        if el is None:
            return ""
        el = _child(el, name)
    return (el.text or "").strip() if el is not None else ""


def _parse_time(value: str, what: str) -> datetime:
    try:
        return parse_instant(value, what)
    except TimeError as exc:
        raise ReplayError(f"ISAPI search: {exc}") from exc


def parse_search_result(xml: bytes) -> tuple[str, list[Segment]]:
    """(`responseStatusStrg`, segments) of a `CMSearchResult`; ReplayError if it is not one."""
    try:
        root = ElementTree.fromstring(xml)
    except Exception as exc:  # defusedxml raises its own and ParseError
        raise ReplayError(f"ISAPI search answered something other than XML: {exc}") from exc
    if _local(root.tag) != "CMSearchResult":
        raise ReplayError(f"ISAPI search answered <{_local(root.tag)}>, not <CMSearchResult>")
    status = _text(root, "responseStatusStrg").upper()
    segments: list[Segment] = []
    for item in root.iter():
        if _local(item.tag) != "searchMatchItem":
            continue
        uri = _text(item, "mediaSegmentDescriptor", "playbackURI")
        if not uri:
            raise ReplayError("ISAPI search: a match without mediaSegmentDescriptor/playbackURI")
        segments.append(
            Segment(
                _parse_time(_text(item, "timeSpan", "startTime"), "startTime"),
                _parse_time(_text(item, "timeSpan", "endTime"), "endTime"),
                uri,
            )
        )
    return status, segments


@dataclass(frozen=True)
class HikvisionIsapi:
    """One Hikvision NVR: ISAPI at `http_url` (e.g. http://10.1.2.3), RTSP from `playbackURI`
    (or at `rtsp_url` when given, for an NVR behind an address translation)."""

    http_url: str
    username: str
    password: str
    rtsp_url: str = ""
    timeout: float = 10.0
    speed: float = 8.0  # RFC 2326 Speed: NVRs deliver playback up to 8x or 16x
    brand: str = "hikvision"

    async def search(self, channel: int, start: datetime, end: datetime) -> list[Segment]:
        track = channel * 100 + 1
        search_id = str(uuid.uuid4()).upper()
        segments: list[Segment] = []
        auth = httpx.DigestAuth(self.username, self.password)
        url = self.http_url.rstrip("/") + SEARCH_PATH
        async with httpx.AsyncClient(auth=auth, timeout=self.timeout) as http:
            for page in range(MAX_PAGES):
                body = search_body(search_id, track, start, end, page * PAGE)
                try:
                    r = await http.post(
                        url, content=body.encode(), headers={"Content-Type": "application/xml"}
                    )
                except httpx.HTTPError as exc:
                    raise ReplayError(f"ISAPI search at {url} failed: {exc!r}") from exc
                if r.status_code == 401:
                    raise ReplayError(f"ISAPI search at {url}: recorder refused our credentials")
                if r.status_code != 200:
                    raise ReplayError(f"ISAPI search at {url}: recorder answered {r.status_code}")
                if len(r.content) > MAX_REPLY:
                    raise ReplayError(f"ISAPI search at {url}: reply over {MAX_REPLY} bytes")
                status, found = parse_search_result(r.content)
                segments += found
                if status != "MORE":
                    return segments
        raise ReplayError(f"ISAPI search at {url}: more than {MAX_PAGES} pages of segments")

    def _rtsp(self, playback_uri: str, channel: int, start: datetime, end: datetime) -> str:
        parts = urlsplit(playback_uri)
        if parts.scheme != "rtsp" or not parts.hostname:
            shown = without_login(playback_uri)
            raise ReplayError(f"ISAPI search gave a playbackURI that is not rtsp://: {shown!r}")
        netloc = urlsplit(self.rtsp_url).netloc if self.rtsp_url else parts.netloc
        netloc = netloc.rsplit("@", 1)[-1]  # never credentials in a URL
        query = (
            f"starttime={start.astimezone(UTC):%Y%m%dT%H%M%SZ}"
            f"&endtime={end.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        )
        return urlunsplit(("rtsp", netloc, f"/Streaming/tracks/{channel * 100 + 1}", query, ""))

    async def fetch(
        self, footage: Footage, start: datetime, end: datetime
    ) -> AsyncIterator[RecordedFrame]:
        channel = footage.require_channel("Hikvision")
        s, e = whole_seconds(start, end)
        segments = await self.search(channel, s, e)
        check_covered(segments, footage.camera_id, channel, s, e, "ISAPI search")
        url = self._rtsp(segments[0].playback_uri, channel, s, e)
        what = f"{footage.camera_id} (channel {footage.channel})"
        async for frame in vendor_playback(
            url, self.username, self.password, start, end, what,
            timeout=self.timeout, speed=self.speed,
        ):  # fmt: skip
            yield frame
