"""Dahua HTTP API (CGI, key=value text bodies) for Dahua cameras and NVRs.

Calls (Dahua HTTP API for IPC/NVR): magicBox.cgi?action=getSystemInfo,
global.cgi?action=getCurrentTime, storageDevice.cgi?action=getDeviceAllInfo,
eventManager.cgi?action=getEventIndexes&code=VideoLoss (current state) and
action=attach&codes=[VideoLoss,VideoBlind,SceneChange] (multipart push),
mediaFileFind.cgi factory.create / findFile / findNextFile / close / destroy (paged),
configManager.cgi?action=getConfig&name=MotionDetect (Art. 12 arming: the channel's
motion alarm armed, `table.MotionDetect[<channel-1>].Enable`; deep probes).
Dahua reports local wall-clock time without a zone; the adapter is told the devices' zone
(campus default UTC+8).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

from .base import (
    MAX_SEGMENTS_PER_LISTING,
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

TEXT_TYPES = ("text/plain",)
CHINA_TZ = timezone(timedelta(hours=8))
FIND_PAGE = 100
_KEY = re.compile(r"^[A-Za-z0-9_.\[\]]+$")


def parse_kv(body: bytes, what: str) -> dict[str, str]:
    """Dahua's `key=value` lines. An 'Error' body is the device refusing the call."""
    try:
        txt = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadResponse(f"{what}: body is not UTF-8 text") from exc
    stripped = txt.strip()
    if stripped.startswith("Error"):
        reason = " ".join(stripped.split()[1:]) or "unspecified"
        raise BadResponse(f"{what}: device answered Error ({reason})")
    out: dict[str, str] = {}
    for n, line in enumerate(txt.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.match(key.strip()):
            raise BadResponse(f"{what}: line {n} is not key=value: {line[:60]!r}")
        out[key.strip()] = value.strip()
    return out


def parse_local_time(value: str | None, tz: timezone, what: str) -> datetime:
    if not value:
        raise BadResponse(f"{what}: missing time")
    try:
        t = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    except ValueError as exc:
        raise BadResponse(f"{what}: unreadable time {value!r}") from exc
    return t.astimezone(UTC)


def fmt_local_time(t: datetime, tz: timezone) -> str:
    t = t.astimezone(tz)
    return f"{t.year}-{t.month}-{t.day} {t:%H:%M:%S}"


def parse_system_info(body: bytes) -> dict[str, str]:
    kv = parse_kv(body, "magicBox getSystemInfo")
    if "deviceType" not in kv and "serialNumber" not in kv:
        raise BadResponse("magicBox getSystemInfo: neither deviceType nor serialNumber present")
    return kv


def parse_current_time(body: bytes, tz: timezone) -> datetime:
    kv = parse_kv(body, "global getCurrentTime")
    return parse_local_time(kv.get("result"), tz, "global getCurrentTime")


def parse_storage(body: bytes) -> str:
    """getDeviceAllInfo -> ok | error | unformatted | absent; the worst disk decides."""
    kv = parse_kv(body, "storageDevice getDeviceAllInfo")
    disks: dict[str, list[tuple[str, str]]] = {}
    for k, v in kv.items():
        m = re.match(r"^list\.info\[(\d+)\]\.(.+)$", k)
        if m:
            disks.setdefault(m.group(1), []).append((m.group(2), v))
    if not disks:
        return "absent"
    worst = "ok"
    for fields in disks.values():
        state = dict(fields).get("State", "Success").lower()
        is_error = any(f.endswith("IsError") and v.lower() == "true" for f, v in fields)
        if is_error or state in {"error", "failure", "abnormal"}:
            return "error"
        if state in {"unformatted", "notformatted"}:
            worst = "unformatted"
    return worst


def parse_event_indexes(body: bytes) -> set[int]:
    """Channels (1-based) where the event is active; an empty body means none."""
    if not body.strip():
        return set()
    kv = parse_kv(body, "eventManager getEventIndexes")
    out = set()
    for k, v in kv.items():
        if k.startswith("channels[") and v.isdigit():
            out.add(int(v) + 1)
    return out


MOTION_DETECT = "/cgi-bin/configManager.cgi?action=getConfig&name=MotionDetect"


def parse_motion_armed(body: bytes, channel: int) -> bool | None:
    """Art. 12 arming of one channel: its motion alarm's `Enable` in the device's MotionDetect
    table (0-based index, one entry per channel). A channel the table does not hold is not
    measured (None); an answer with no table, or an Enable other than true/false, is the
    device's fault and refused, never read as armed or not."""
    what = "configManager getConfig MotionDetect"
    kv = parse_kv(body, what)
    if not any(k.startswith("table.MotionDetect[") for k in kv):
        raise BadResponse(f"{what}: no table.MotionDetect in the answer")
    key = f"table.MotionDetect[{channel - 1}].Enable"
    if key not in kv:
        return None
    flag = kv[key].lower()
    if flag not in {"true", "false"}:
        raise BadResponse(f"{what}: {key} must be true or false, not {kv[key]!r}")
    return flag == "true"


def parse_find_result(body: bytes, tz: timezone) -> list[Segment]:
    kv = parse_kv(body, "mediaFileFind findNextFile")
    found_s = kv.get("found", "")
    if not found_s.isdigit():
        raise BadResponse(f"mediaFileFind findNextFile: found={found_s!r} is not a count")
    segs: list[Segment] = []
    for i in range(int(found_s)):
        p = f"items[{i}]."
        if p + "StartTime" not in kv:
            raise BadResponse(f"mediaFileFind findNextFile: found={found_s} but items[{i}] missing")
        start = parse_local_time(kv.get(p + "StartTime"), tz, f"items[{i}].StartTime")
        end = parse_local_time(kv.get(p + "EndTime"), tz, f"items[{i}].EndTime")
        length = kv.get(p + "Length", "0")
        segs.append(
            Segment(
                start=start,
                end=end,
                bytes=int(length) if length.isdigit() else 0,
                uri=kv.get(p + "FilePath"),
            )
        )
    return segs


def parse_event_part(body: bytes, tz: timezone = CHINA_TZ) -> DeviceEvent:
    """One attach part: 'Code=VideoLoss;action=Start;index=0[;data={...}]'."""
    try:
        line = body.decode("utf-8").strip().splitlines()[0]
    except (UnicodeDecodeError, IndexError) as exc:
        raise BadResponse("eventManager attach: unreadable event part") from exc
    if line.startswith("Heartbeat"):
        return DeviceEvent(
            kind="heartbeat", channel=0, active=False, at=utcnow(), vendor_code="Heartbeat"
        )
    fields = dict(f.partition("=")[::2] for f in line.split(";") if "=" in f)
    code = fields.get("Code", "")
    if not code:
        raise BadResponse(f"eventManager attach: no Code in {line[:60]!r}")
    kind = {"VideoLoss": "video_loss", "VideoBlind": "tamper", "SceneChange": "scene_change"}.get(
        code, "other"
    )
    index = fields.get("index", "0")
    return DeviceEvent(
        kind=kind,  # type: ignore[arg-type]
        channel=int(index) + 1 if index.isdigit() else 1,
        active=fields.get("action", "").lower() in {"start", "pulse"},
        at=utcnow(),
        vendor_code=code,
    )


class DahuaAdapter:
    protocol = "dahua"

    def __init__(
        self,
        http: DeviceHttp,
        tz: timezone = CHINA_TZ,
        recent_window: timedelta = timedelta(minutes=10),
    ) -> None:
        self.http = http
        self.tz = tz
        self.recent_window = recent_window
        self._blind: dict[str, bool] = {}  # camera -> VideoBlind active at the last deep probe

    async def _get(self, target: DeviceTarget, path: str) -> tuple[bytes, float]:
        reply = await self.http.request(target, "GET", path)
        expect_type(reply, path.split("?")[0], *TEXT_TYPES)
        return reply.body, reply.elapsed_ms

    async def _device_get(self, target: DeviceTarget, path: str) -> bytes:
        reply = await self.http.device_get(target, path)
        expect_type(reply, path.split("?")[0], *TEXT_TYPES)
        return reply.body

    async def probe(self, target: DeviceTarget, *, deep: bool = False) -> ProbeResult:
        started = utcnow()
        result = ProbeResult(target.camera_id, started, reachable=False)
        path = "/cgi-bin/global.cgi?action=getCurrentTime"
        try:
            t_send = time.time()
            reply = await self.http.request(target, "GET", path)
            t_recv = time.time()
            result.reachable, result.auth_ok = True, True
            result.latency_ms = round(reply.elapsed_ms, 2)
            expect_type(reply, "/cgi-bin/global.cgi", *TEXT_TYPES)
            device_now = parse_current_time(reply.body, self.tz)
            # Whole-second clock: its true time is half a second later on average.
            result.clock_offset_s = round(device_now.timestamp() + 0.5 - (t_send + t_recv) / 2, 3)
            # the device's disks and its channels with video loss: shared by its cameras
            body = await self._device_get(
                target, "/cgi-bin/storageDevice.cgi?action=getDeviceAllInfo"
            )
            result.disk_state = parse_storage(body)
            body = await self._device_get(
                target, "/cgi-bin/eventManager.cgi?action=getEventIndexes&code=VideoLoss"
            )
            result.streaming = target.channel not in parse_event_indexes(body)
            if deep or target.camera_id not in self._blind:
                # VideoBlind, the device's own covered-lens alarm: read on deep probes only
                body, _ = await self._get(
                    target, "/cgi-bin/eventManager.cgi?action=getEventIndexes&code=VideoBlind"
                )
                self._blind[target.camera_id] = target.channel in parse_event_indexes(body)
            result.alarms = ([] if result.streaming else ["video_loss"]) + (
                ["tamper"] if self._blind.get(target.camera_id) else []
            )
            if deep:
                now = utcnow()
                listing = await self.list_segments(target, now - self.recent_window, now, limit=5)
                if listing.error:
                    raise BadResponse(listing.error)
                result.recording = any(s.end >= now - self.recent_window for s in listing.segments)
                try:
                    result.armed = await self.armed(target)
                except BadResponse:  # the arming answer unreadable: not measured, not down
                    result.armed = None
            return result
        except (DeviceError, TimeoutError) as exc:
            return failed_result(target, started, exc, partial=result)

    async def armed(self, target: DeviceTarget) -> bool | None:
        """The channel's motion alarm armed (Art. 12); None where the device's MotionDetect
        table has no entry for the channel. The table is the whole device's: one answer
        serves all an NVR's cameras (`device_share_s`). A device without the config answers
        400 `Error`: BadResponse, not measured."""
        return parse_motion_armed(await self._device_get(target, MOTION_DETECT), target.channel)

    async def device_info(self, target: DeviceTarget) -> dict[str, str]:
        body, _ = await self._get(target, "/cgi-bin/magicBox.cgi?action=getSystemInfo")
        return parse_system_info(body)

    async def list_segments(
        self,
        target: DeviceTarget,
        start: datetime,
        end: datetime,
        *,
        limit: int = MAX_SEGMENTS_PER_LISTING,
    ) -> SegmentListing:
        segs: list[Segment] = []
        base = "/cgi-bin/mediaFileFind.cgi?action="
        try:
            body, _ = await self._get(target, base + "factory.create")
            obj = parse_kv(body, "mediaFileFind factory.create").get("result", "")
            if not obj.isdigit():
                raise BadResponse(f"mediaFileFind factory.create: object {obj!r} is not a number")
        except DeviceError as exc:
            return SegmentListing([], error=str(exc))
        try:
            cond = (
                f"&condition.Channel={target.channel}"
                f"&condition.StartTime={quote(fmt_local_time(start, self.tz))}"
                f"&condition.EndTime={quote(fmt_local_time(end, self.tz))}"
            )
            body, _ = await self._get(target, f"{base}findFile&object={obj}{cond}")
            if body.strip() != b"OK":
                raise BadResponse(f"mediaFileFind findFile: expected OK, got {body[:40]!r}")
            while len(segs) < limit:
                page = min(FIND_PAGE, limit - len(segs))
                body, _ = await self._get(target, f"{base}findNextFile&object={obj}&count={page}")
                got = parse_find_result(body, self.tz)
                segs.extend(got)
                if len(got) < page:
                    return SegmentListing(segs)
            return SegmentListing(segs[:limit], truncated=True)
        except DeviceError as exc:
            return SegmentListing(segs, error=str(exc))
        finally:
            try:
                await self._get(target, f"{base}close&object={obj}")
                await self._get(target, f"{base}destroy&object={obj}")
            except DeviceError:
                pass  # the finder expires on the device by itself

    async def segment_sha256(
        self, target: DeviceTarget, segment: Segment, max_bytes: int = 64 << 20
    ) -> str | None:
        if not segment.uri:
            return None
        import hashlib

        reply = await self.http.request(
            target, "GET", "/cgi-bin/RPC_Loadfile" + quote(segment.uri), max_bytes=max_bytes
        )
        return hashlib.sha256(reply.body).hexdigest()

    async def alerts(self, target: DeviceTarget) -> AsyncIterator[DeviceEvent]:
        from .hikvision import aiohttp_timeout

        url = (
            target.origin
            + "/cgi-bin/eventManager.cgi?action=attach&codes=[VideoLoss,VideoBlind,SceneChange]"
            + "&heartbeat=5"
        )
        async with self.http.session.get(
            url, middlewares=self.http._middleware(target), timeout=aiohttp_timeout()
        ) as resp:
            if resp.status == 401:
                raise BadResponse("eventManager attach: device refused the credentials (HTTP 401)")
            boundary = boundary_of(resp.headers.get("Content-Type", ""))
            async for _h, part in iter_parts(resp.content.iter_any(), boundary):
                yield parse_event_part(part, self.tz)

    async def close(self) -> None:
        return None
