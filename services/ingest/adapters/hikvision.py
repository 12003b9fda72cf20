"""Hikvision ISAPI: the XML-over-HTTP API of Hikvision cameras and NVRs.

Calls (ISAPI core protocol): GET /ISAPI/System/deviceInfo, /ISAPI/System/status,
/ISAPI/System/time, /ISAPI/ContentMgmt/Storage, /ISAPI/System/Video/inputs/channels/<n>,
/ISAPI/ContentMgmt/record/tracks/<channel*100+1> (the channel's record track: armed when the
track is enabled, its record schedule is on -- CustomExtension enableSchedule -- and a
schedule action covering now, campus time, records continuously; deep probes),
POST /ISAPI/ContentMgmt/search (CMSearchDescription, paged by searchResultPostion -- the
vendor's spelling), GET /ISAPI/Event/notification/alertStream (multipart of
EventNotificationAlert). Parsers are pure functions so recorded responses test them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit
from xml.sax.saxutils import escape

from lxml import etree

from cctv.contract.campustime import to_campus

from .base import (
    MAX_SEGMENTS_PER_LISTING,
    Arming,
    BadResponse,
    DeviceError,
    DeviceEvent,
    DeviceTarget,
    ProbeResult,
    Segment,
    SegmentListing,
    failed_result,
    utcnow,
)
from .http import DeviceHttp, expect_type
from .multipart import boundary_of, iter_parts
from .xmlutil import child, children, descendants, parse_time, parse_xml, require_root, text

XML_TYPES = ("application/xml", "text/xml")
SEARCH_PAGE = 50

# ISAPI hdd <status> values. Anything not listed is an error state worth a fault.
_DISK_OK = {"ok", "idle", "sleeping"}
_DISK_MAP = {
    "unformatted": "unformatted",
    "uninitialized": "unformatted",
    "notexist": "absent",
    "formating": "unformatted",
}


def parse_device_info(body: bytes) -> dict[str, str]:
    root = parse_xml(body, "deviceInfo")
    require_root(root, "DeviceInfo", "deviceInfo")
    return {
        k: text(root, k) or ""
        for k in (
            "deviceName",
            "deviceID",
            "model",
            "serialNumber",
            "firmwareVersion",
            "deviceType",
        )
    }


def parse_device_time(body: bytes) -> datetime:
    root = parse_xml(body, "/ISAPI/System/time")
    require_root(root, "Time", "/ISAPI/System/time")
    return parse_time(text(root, "localTime"), "/ISAPI/System/time localTime")


def parse_device_status(body: bytes) -> dict[str, str]:
    root = parse_xml(body, "/ISAPI/System/status")
    require_root(root, "DeviceStatus", "/ISAPI/System/status")
    return {k: text(root, k) or "" for k in ("currentDeviceTime", "deviceUpTime")}


def parse_storage(body: bytes) -> str:
    """Aggregate the hdd list into one disk state: the worst disk decides."""
    root = parse_xml(body, "/ISAPI/ContentMgmt/Storage")
    require_root(root, "storage", "/ISAPI/ContentMgmt/Storage")
    states = [(text(h, "status") or "").lower() for h in descendants(root, "hdd")]
    states += [(text(n, "status") or "").lower() for n in descendants(root, "nas")]
    if not states:
        return "absent"
    worst = "ok"
    for s in states:
        if s in _DISK_OK:
            continue
        mapped = _DISK_MAP.get(s, "error")
        if mapped == "error" or worst == "ok":
            worst = mapped
    return worst


def parse_video_input(body: bytes) -> bool:
    """True when the input carries video; Hikvision reports 'NO VIDEO' in resDesc on loss."""
    root = parse_xml(body, "video input channel")
    require_root(root, "VideoInputChannel", "video input channel")
    res = (text(root, "resDesc") or "").upper()
    enabled = (text(root, "videoInputEnabled") or "true").lower() == "true"
    return enabled and "NO VIDEO" not in res


def track_id(channel: int, stream: int = 1) -> int:
    """ISAPI track: channel*100 + stream (101 = channel 1 main stream)."""
    return channel * 100 + stream


ISAPI_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAYS_SHOWN = ("周一 Mon", "周二 Tue", "周三 Wed", "周四 Thu", "周五 Fri", "周六 Sat", "周日 Sun")
CONTINUOUS = "CMR"  # ActionRecordingMode of timed (continuous) recording


def _week_s(el: etree._Element | None, what: str) -> int:
    """A ScheduleActionStartTime / EndTime (DayOfWeek name, TimeOfDay HH:MM:SS) as seconds
    into the device's Monday-first week."""
    day, tod = text(el, "DayOfWeek") or "", text(el, "TimeOfDay") or ""
    if day not in ISAPI_DAYS:
        raise BadResponse(f"{what}: DayOfWeek {day!r} is not a day name")
    parts = tod.split(":")
    if len(parts) != 3 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise BadResponse(f"{what}: TimeOfDay {tod!r} is not HH:MM:SS")
    h, m, sec = (int(p) for p in parts)
    if h > 24 or m > 59 or sec > 59 or (h == 24 and (m or sec)):
        raise BadResponse(f"{what}: TimeOfDay {tod!r} is an impossible time of day")
    return ISAPI_DAYS.index(day) * 86400 + h * 3600 + m * 60 + sec


def _shown(week_s: int) -> str:
    day, s = divmod(week_s, 86400)
    return f"{DAYS_SHOWN[day % 7]} {s // 3600:02d}:{s // 60 % 60:02d}"


def _shown_end(week_s: int) -> str:
    """An end on a day boundary is the day before's 24:00."""
    if week_s % 86400:
        return _shown(week_s)
    return f"{DAYS_SHOWN[(week_s // 86400 - 1) % 7]} 24:00"


@dataclass(frozen=True)
class RecordAction:
    """One ScheduleAction of a track's schedule: from `start` to `end`, seconds into the
    device's Monday-first week (an end before the start runs over the week's end), and
    whether it records and how (ActionRecordingMode: CMR continuous, MOTION, ALARM...)."""

    start: int
    end: int
    record: bool
    mode: str

    def covers(self, local: datetime) -> bool:
        t = local.weekday() * 86400 + local.hour * 3600 + local.minute * 60 + local.second
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        start, end = _shown(self.start), _shown_end(self.end)
        same_day = start.rsplit(" ", 1)[0] == end.rsplit(" ", 1)[0]
        return f"{start}-{end.rsplit(' ', 1)[1] if same_day else end} {self.mode}"


def parse_track_armed(body: bytes, track: int, local: datetime) -> Arming:
    """Art. 12 arming of one record track at `local` (the device's wall clock): <Enable>
    and, where the device has it, the CustomExtension's <enableSchedule> (the record
    schedule switched on), and a schedule action covering now that records continuously.
    An action covering now that records only on events (MOTION, ALARM...) is not judged:
    whether those fire is not read. A track answer for another track, a flag other than
    true/false or an action without its times is the device's fault."""
    what = f"/ISAPI/ContentMgmt/record/tracks/{track}"
    root = parse_xml(body, what)
    require_root(root, "Track", what)
    got_el, enable_el = child(root, "id"), child(root, "Enable")
    got = (got_el.text or "").strip() if got_el is not None else ""
    if got and got != str(track):
        raise BadResponse(f"{what}: answered for track {got!r}")
    flags = [("Enable", (enable_el.text or "").strip().lower() if enable_el is not None else "")]
    for e in descendants(root, "enableSchedule"):
        flags.append(("enableSchedule", (e.text or "").strip().lower()))
    for name, flag in flags:
        if flag not in {"true", "false"}:
            raise BadResponse(f"{what}: {name} must be true or false, not {flag!r}")
    default_mode = text(root, "DefaultRecordingMode") or "?"  # an action may leave it out
    actions = []
    for n, a in enumerate(descendants(root, "ScheduleAction"), 1):
        where = f"{what} ScheduleAction {n}"
        start = _week_s(child(a, "ScheduleActionStartTime"), where)
        end = _week_s(child(a, "ScheduleActionEndTime"), where)
        record = (text(a, "Record") or "").lower()
        if record not in {"true", "false"}:
            raise BadResponse(f"{where}: Record must be true or false, not {record!r}")
        mode = text(a, "ActionRecordingMode") or default_mode
        actions.append(RecordAction(start, end, record == "true", mode))
    off = [name for name, flag in flags if flag == "false"]
    if off:
        return Arming(False, f"录像计划未启用 record track {'/'.join(off)}=false")
    when = f"{DAYS_SHOWN[local.weekday()]} {local:%H:%M}"
    if not any(a.record and a.start != a.end for a in actions):
        return Arming(False, f"录像计划为空 record schedule empty all week (at {when})")
    now = [a for a in actions if a.record and a.covers(local)]
    continuous = [a for a in now if a.mode.upper() == CONTINUOUS]
    if continuous:
        return Arming(True, f"定时录像 continuous recording {continuous[0]}")
    if now:
        return Arming(None, f"仅事件录像 records only on events now ({now[0]}): not judged")
    day = local.weekday()
    today = [str(a) for a in actions if a.record and a.start != a.end and a.start // 86400 == day]
    return Arming(
        False,
        f"录像计划不含此刻 record schedule excludes {when}; today: {', '.join(today) or 'none'}",
    )


def _isapi_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_search(
    channel: int,
    start: datetime,
    end: datetime,
    position: int,
    max_results: int = SEARCH_PAGE,
    search_id: str | None = None,
) -> bytes:
    sid = search_id or str(uuid.uuid4()).upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CMSearchDescription version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
        f"<searchID>{escape(sid)}</searchID>"
        f"<trackIDList><trackID>{track_id(channel)}</trackID></trackIDList>"
        f"<timeSpanList><timeSpan><startTime>{_isapi_time(start)}</startTime>"
        f"<endTime>{_isapi_time(end)}</endTime></timeSpan></timeSpanList>"
        f"<maxResults>{max_results}</maxResults>"
        f"<searchResultPostion>{position}</searchResultPostion>"
        "<metadataList><metadataDescriptor>//recordType.meta.std-cgi.com</metadataDescriptor>"
        "</metadataList></CMSearchDescription>"
    ).encode()


def parse_search(body: bytes) -> tuple[list[Segment], str]:
    """CMSearchResult -> (segments, responseStatusStrg: OK | MORE | NO MATCHES)."""
    root = parse_xml(body, "/ISAPI/ContentMgmt/search")
    require_root(root, "CMSearchResult", "/ISAPI/ContentMgmt/search")
    status = (text(root, "responseStatusStrg") or "").upper()
    if status not in {"OK", "MORE", "NO MATCHES"}:
        raise BadResponse(f"/ISAPI/ContentMgmt/search: unknown responseStatusStrg {status!r}")
    segs: list[Segment] = []
    match_list = child(root, "matchList")
    for item in children(match_list, "searchMatchItem") if match_list is not None else []:
        span = child(item, "timeSpan")
        start = parse_time(text(span, "startTime"), "searchMatchItem startTime")
        end = parse_time(text(span, "endTime"), "searchMatchItem endTime")
        uri = text(item, "playbackURI")
        size = 0
        if uri:
            q = parse_qs(urlsplit(uri).query)
            size_s = (q.get("size") or ["0"])[0]
            size = int(size_s) if size_s.isdigit() else 0
        if end < start:
            raise BadResponse(f"/ISAPI/ContentMgmt/search: segment ends before it starts ({uri})")
        segs.append(Segment(start=start, end=end, bytes=size, uri=uri))
    return segs, status


_ALERT_KIND = {
    "videoloss": "video_loss",
    "shelteralarm": "tamper",
    "tamperdetection": "tamper",
    "scenechangedetection": "scene_change",
}


def parse_alert(body: bytes) -> DeviceEvent:
    root = parse_xml(body, "alertStream part")
    require_root(root, "EventNotificationAlert", "alertStream part")
    code = (text(root, "eventType") or "").strip()
    state = (text(root, "eventState") or "").lower()
    ch = text(root, "channelID") or text(root, "dynChannelID") or "1"
    at = parse_time(text(root, "dateTime"), "EventNotificationAlert dateTime")
    kind = _ALERT_KIND.get(code.lower(), "other")
    # Hikvision sends 'videoloss inactive' as its keep-alive heartbeat.
    if kind == "video_loss" and state == "inactive":
        kind = "heartbeat"
    return DeviceEvent(
        kind=kind,  # type: ignore[arg-type]
        channel=int(ch) if ch.isdigit() else 1,
        active=state == "active",
        at=at,
        vendor_code=code,
    )


class IsapiAdapter:
    protocol = "isapi"

    def __init__(self, http: DeviceHttp, recent_window: timedelta = timedelta(minutes=10)) -> None:
        self.http = http
        self.recent_window = recent_window

    async def _get(self, target: DeviceTarget, path: str) -> tuple[bytes, float]:
        reply = await self.http.request(target, "GET", path)
        expect_type(reply, path, *XML_TYPES)
        return reply.body, reply.elapsed_ms

    async def probe(
        self, target: DeviceTarget, *, deep: bool = False, facts: bool = True
    ) -> ProbeResult:
        """Every probe is one request, the channel's video input: an answer past digest auth
        says the device is there, takes our credentials and how fast, and whether the
        input carries video. `facts` (and `deep`) add the device's clock and its disks."""
        started = utcnow()
        result = ProbeResult(target.camera_id, started, reachable=False)
        try:
            path = f"/ISAPI/System/Video/inputs/channels/{target.channel}"
            reply = await self.http.request(target, "GET", path)
            # An answer past digest auth: the device is there and takes our credentials.
            result.reachable, result.auth_ok = True, True
            result.latency_ms = round(reply.elapsed_ms, 2)
            expect_type(reply, path, *XML_TYPES)
            result.streaming = parse_video_input(reply.body)
            if facts or deep:
                t_send = time.time()
                reply = await self.http.request(target, "GET", "/ISAPI/System/time")
                t_recv = time.time()
                expect_type(reply, "/ISAPI/System/time", *XML_TYPES)
                device_now = parse_device_time(reply.body)
                # The device clock reads whole seconds: its true time is half a second later
                # on average.
                frac = 0.0 if device_now.microsecond else 0.5
                result.clock_offset_s = round(
                    device_now.timestamp() + frac - (t_send + t_recv) / 2, 3
                )
                storage = "/ISAPI/ContentMgmt/Storage"  # the device's disks: shared by its cameras
                disks = await self.http.device_get(target, storage)
                expect_type(disks, storage, *XML_TYPES)
                result.disk_state = parse_storage(disks.body)
            if deep:
                now = utcnow()
                listing = await self.list_segments(target, now - self.recent_window, now, limit=5)
                if listing.error:
                    raise BadResponse(listing.error)
                result.recording = any(s.end >= now - self.recent_window for s in listing.segments)
                try:
                    arming = await self.arming(target)
                except BadResponse as exc:  # the arming answer unreadable: not measured, not down
                    arming = Arming(None, f"布防计划无法读取 arming unreadable: {exc}")
                result.armed, result.armed_reason = arming.armed, arming.reason
            return result
        except (DeviceError, TimeoutError) as exc:
            return failed_result(target, started, exc, partial=result)

    async def arming(self, target: DeviceTarget, at: datetime | None = None) -> Arming:
        """The channel's main record track armed at `at` (now), campus time — the clock the
        device keeps its schedule in (Art. 12); not measured where the device has no record
        tracks (a camera without storage answers notSupport)."""
        track = track_id(target.channel)
        path = f"/ISAPI/ContentMgmt/record/tracks/{track}"
        reply = await self.http.request(target, "GET", path, allow_error_status=True)
        if reply.status in (403, 404, 501):
            return Arming(None, f"无录像轨道 no record track {track} (HTTP {reply.status})")
        if reply.status >= 400:
            raise BadResponse(f"{path}: HTTP {reply.status}")
        expect_type(reply, path, *XML_TYPES)
        return parse_track_armed(reply.body, track, to_campus(at or utcnow()))

    async def armed(self, target: DeviceTarget) -> bool | None:
        """`arming`'s answer without its reason."""
        return (await self.arming(target)).armed

    async def device_info(self, target: DeviceTarget) -> dict[str, str]:
        body, _ = await self._get(target, "/ISAPI/System/deviceInfo")
        return parse_device_info(body)

    async def list_segments(
        self,
        target: DeviceTarget,
        start: datetime,
        end: datetime,
        *,
        limit: int = MAX_SEGMENTS_PER_LISTING,
    ) -> SegmentListing:
        segs: list[Segment] = []
        sid = str(uuid.uuid4()).upper()
        position = 0
        try:
            while len(segs) < limit:
                page = min(SEARCH_PAGE, limit - len(segs))
                reply = await self.http.request(
                    target,
                    "POST",
                    "/ISAPI/ContentMgmt/search",
                    data=build_search(target.channel, start, end, position, page, sid),
                    content_type="application/xml",
                )
                expect_type(reply, "/ISAPI/ContentMgmt/search", *XML_TYPES)
                got, status = parse_search(reply.body)
                segs.extend(got)
                position += len(got)
                if status != "MORE" or not got:
                    return SegmentListing(segs)
            return SegmentListing(segs[:limit], truncated=True)
        except DeviceError as exc:
            return SegmentListing(segs, error=str(exc))

    async def segment_sha256(
        self, target: DeviceTarget, segment: Segment, max_bytes: int = 64 << 20
    ) -> str | None:
        """SHA-256 of the recorded file, where the recorder lets us download it."""
        if not segment.uri:
            return None
        import hashlib

        path = "/ISAPI/ContentMgmt/download?playbackURI=" + quote(segment.uri, safe="")
        reply = await self.http.request(target, "GET", path, max_bytes=max_bytes)
        return hashlib.sha256(reply.body).hexdigest()

    async def alerts(self, target: DeviceTarget) -> AsyncIterator[DeviceEvent]:
        """Follow the alert stream until the device closes it; parts that fail to parse are
        reported as BadResponse by the caller's loop, not swallowed."""
        url = target.origin + "/ISAPI/Event/notification/alertStream"
        mws = self.http._middleware(target)
        timeout = aiohttp_timeout()
        async with self.http.session.get(url, middlewares=mws, timeout=timeout) as resp:
            if resp.status == 401:
                raise BadResponse("alertStream: device refused the credentials (HTTP 401)")
            boundary = boundary_of(resp.headers.get("Content-Type", ""))
            async for _headers, part in iter_parts(resp.content.iter_any(), boundary):
                yield parse_alert(part)

    async def close(self) -> None:
        await asyncio.sleep(0)


def aiohttp_timeout():  # type: ignore[no-untyped-def]
    import aiohttp

    # Event streams stay open: no total limit, but a silent device (no heartbeat) is dropped.
    return aiohttp.ClientTimeout(total=None, sock_connect=3, sock_read=60)
