"""Dahua HTTP API (CGI, key=value text bodies) for Dahua cameras and NVRs.

Calls (Dahua HTTP API for IPC/NVR): magicBox.cgi?action=getSystemInfo,
global.cgi?action=getCurrentTime, storageDevice.cgi?action=getDeviceAllInfo,
eventManager.cgi?action=getEventIndexes&code=VideoLoss (current state) and
action=attach&codes=[VideoLoss,VideoBlind,SceneChange] (multipart push),
mediaFileFind.cgi factory.create / findFile / findNextFile / close / destroy (paged),
configManager.cgi?action=getConfig&name=RecordMode / Record / MotionDetect (Art. 12
arming, deep probes: the channel records on its schedule now — `RecordMode[<ch-1>].Mode`,
`Record[<ch-1>].TimeSection[day][n]`, and the motion alarm's Enable and
`EventHandler.TimeSection` where motion recording is what covers now).
Dahua reports local wall-clock time without a zone, and keeps its schedules in it; the
adapter is told the devices' zone (campus default UTC+8).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

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


CONFIG = "/cgi-bin/configManager.cgi?action=getConfig&name="
DAYS = ("周日 Sun", "周一 Mon", "周二 Tue", "周三 Wed", "周四 Thu", "周五 Fri", "周六 Sat")
_SECTION = re.compile(r"^(\d{1,5}) (\d\d):(\d\d):(\d\d)-(\d\d):(\d\d):(\d\d)$")
REGULAR, MOTION = 1, 2  # Record TimeSection mask bits: regular (timed) and motion recording
AUTO, MANUAL, STOP = 0, 1, 2  # RecordMode Mode: by the schedule, always, never


def dahua_day(local: datetime) -> int:
    """Dahua's day index of a wall-clock time: 0 = Sunday ... 6 = Saturday."""
    return (local.weekday() + 1) % 7


def _hms(s: int) -> str:
    return f"{s // 3600:02d}:{s // 60 % 60:02d}"


@dataclass(frozen=True)
class TimeSection:
    """One `TimeSection[day][n]` line, "<flag> HH:MM:SS-HH:MM:SS": the leading number is a
    switch (MotionDetect: 1 on, 0 off) or a bit mask of record types (Record: 1 regular, 2
    motion, 4 alarm, 8 card; 0 off); the span is seconds of the device's wall-clock day.
    A section never crosses midnight: the device splits such a span over two days."""

    day: int
    flag: int
    start: int
    end: int

    def covers(self, local: datetime) -> bool:
        """On and spanning `local` (the device's wall clock). Dahua writes a day's end as
        24:00:00 or 23:59:59: both run to midnight."""
        s = local.hour * 3600 + local.minute * 60 + local.second
        end = 86400 if self.end == 86399 else self.end
        return bool(self.flag) and dahua_day(local) == self.day and self.start <= s < end

    def __str__(self) -> str:
        end = 86400 if self.end == 86399 else self.end
        return f"{DAYS[self.day]} {_hms(self.start)}-{_hms(end)}"


def parse_time_section(value: str, day: int, what: str) -> TimeSection:
    m = _SECTION.match(value.strip())
    if m is None:
        raise BadResponse(f"{what}: {value!r} is not '<flag> HH:MM:SS-HH:MM:SS'")
    flag, h1, m1, s1, h2, m2, s2 = (int(g) for g in m.groups())
    for h, mi, se in ((h1, m1, s1), (h2, m2, s2)):
        if h > 24 or mi > 59 or se > 59 or (h == 24 and (mi or se)):
            raise BadResponse(f"{what}: {value!r} holds an impossible time of day")
    start, end = h1 * 3600 + m1 * 60 + s1, h2 * 3600 + m2 * 60 + s2
    if end < start:
        raise BadResponse(f"{what}: {value!r} ends before it starts")
    return TimeSection(day, flag, start, end)


def parse_week(kv: dict[str, str], prefix: str, what: str) -> list[TimeSection]:
    """Every section of days 0-6 under `prefix` (e.g. `table.Record[0].TimeSection`); each
    day must be there. A day 7 (the holiday schedule some firmware has) is not read: which
    days the device counts as holidays is not in this answer."""
    pat = re.compile(re.escape(prefix) + r"\[(\d+)\]\[(\d+)\]$")
    out, days = [], set()
    for k, v in kv.items():
        m = pat.match(k)
        if m is None or int(m.group(1)) > 6:
            continue
        day = int(m.group(1))
        days.add(day)
        out.append(parse_time_section(v, day, f"{what} {k.removeprefix('table.')}"))
    missing = sorted(set(range(7)) - days)
    if missing:
        named = ", ".join(DAYS[d] for d in missing)
        raise BadResponse(f"{what}: {prefix.removeprefix('table.')} has no sections for {named}")
    return out


def _entry(kv: dict[str, str], table: str, channel: int, what: str) -> bool:
    if not any(k.startswith(f"table.{table}[") for k in kv):
        raise BadResponse(f"{what}: no table.{table} in the answer")
    return any(k.startswith(f"table.{table}[{channel - 1}].") for k in kv)


def parse_motion_armed(body: bytes, channel: int, local: datetime) -> Arming:
    """The channel's motion alarm armed to record now: `Enable` true,
    `EventHandler.RecordEnable` true (a motion starts a recording), and one of today's
    `EventHandler.TimeSection` lines switched on (1) spanning `local`, the device's wall
    clock. A channel the table does not hold is not measured; a flag other than
    true/false, a switch other than 0/1, or a day without its sections is refused."""
    what = "configManager getConfig MotionDetect"
    kv = parse_kv(body, what)
    if not _entry(kv, "MotionDetect", channel, what):
        return Arming(None, f"MotionDetect 无通道 {channel} has no entry for channel {channel}")
    t = f"table.MotionDetect[{channel - 1}]"
    flags = {}
    for k in ("Enable", "EventHandler.RecordEnable"):
        flags[k] = kv.get(f"{t}.{k}", "").lower()
        if flags[k] not in {"true", "false"}:
            raise BadResponse(f"{what}: {t}.{k} must be true or false, not {kv.get(t + '.' + k)!r}")
    week = parse_week(kv, f"{t}.EventHandler.TimeSection", what)
    for s in week:
        if s.flag not in (0, 1):
            raise BadResponse(f"{what}: a MotionDetect section switch is 0 or 1, not {s.flag}")
    if flags["Enable"] == "false":
        return Arming(False, "动检未启用 motion detection off (MotionDetect Enable=false)")
    if flags["EventHandler.RecordEnable"] == "false":
        return Arming(False, "动检不联动录像 motion starts no recording (RecordEnable=false)")
    on = [s for s in week if s.covers(local)]
    if on:
        return Arming(True, f"动检布防时段 motion detection armed {on[0]}")
    return Arming(False, _outside("动检布防时段不含此刻 motion detection schedule", week, local))


def _outside(what: str, week: list[TimeSection], local: datetime) -> str:
    today = [str(s) for s in week if s.flag and s.day == dahua_day(local) and s.end > s.start]
    week_on = any(s.flag and s.end > s.start for s in week)
    when = f"{DAYS[dahua_day(local)]} {local:%H:%M}"
    if not week_on:
        return f"{what} empty all week (at {when})"
    return f"{what} excludes {when}; today: {', '.join(today) or 'none'}"


def parse_record_mode(body: bytes, channel: int) -> int | None:
    """`RecordMode[<ch-1>].Mode`: 0 automatic (by the record schedule), 1 manual (always),
    2 stop. None where the table has no entry for the channel; any other value is refused."""
    what = "configManager getConfig RecordMode"
    kv = parse_kv(body, what)
    if not _entry(kv, "RecordMode", channel, what):
        return None
    key = f"table.RecordMode[{channel - 1}].Mode"
    if kv.get(key) not in {"0", "1", "2"}:
        raise BadResponse(f"{what}: {key} must be 0, 1 or 2, not {kv.get(key)!r}")
    return int(kv[key])


def parse_record_week(body: bytes, channel: int) -> list[TimeSection] | None:
    """The channel's record schedule (`Record[<ch-1>].TimeSection[day][n]`, mask first); None
    where the table has no entry for the channel."""
    what = "configManager getConfig Record"
    kv = parse_kv(body, what)
    if not _entry(kv, "Record", channel, what):
        return None
    return parse_week(kv, f"table.Record[{channel - 1}].TimeSection", what)


def record_arming(
    mode: int | None, week: list[TimeSection] | None, local: datetime, motion: Arming | None
) -> Arming:
    """Art. 12 from the record mode and schedule at `local` (the device's wall clock):
    manual records always; stop never; automatic records where a section covering now has a
    mask — regular recording arms it, motion recording only with the motion alarm armed now
    (`motion`, read when such a section is what covers now). A section that records only on
    alarm inputs or card events is not judged (None): whether those fire is not in reach."""
    if mode is None:
        return Arming(None, "RecordMode 无此通道 has no entry for the channel")
    if mode == MANUAL:
        return Arming(True, "录像模式手动(常录) record mode manual: recording always")
    if mode == STOP:
        return Arming(False, "录像模式关闭 record mode stop (RecordMode Mode=2)")
    if week is None:
        return Arming(None, "Record 无此通道 has no entry for the channel")
    now = [s for s in week if s.covers(local)]
    regular = [s for s in now if s.flag & REGULAR]
    if regular:
        return Arming(True, f"定时录像时段 regular recording {regular[0]} (mask {regular[0].flag})")
    on_motion = [s for s in now if s.flag & MOTION]
    if on_motion:
        if motion is None or motion.armed is None:
            why = motion.reason if motion else "not read"
            return Arming(None, f"动检录像 records on motion {on_motion[0]}; motion alarm: {why}")
        if motion.armed:
            return Arming(True, f"动检录像 records on motion {on_motion[0]}; {motion.reason}")
        return Arming(
            False, f"动检录像但未布防 records only on motion {on_motion[0]}; {motion.reason}"
        )
    if now:
        return Arming(
            None,
            f"仅报警/卡号录像 records only on alarm or card events {now[0]} "
            f"(mask {now[0].flag}): not judged",
        )
    return Arming(False, _outside("录像计划不含此刻 record schedule", week, local))


def needs_motion(mode: int | None, week: list[TimeSection] | None, local: datetime) -> bool:
    """Whether the answer turns on the motion alarm: automatic mode, and what covers now
    records on motion but not regularly."""
    if mode != AUTO or week is None:
        return False
    now = [s for s in week if s.covers(local)]
    return not any(s.flag & REGULAR for s in now) and any(s.flag & MOTION for s in now)


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

    async def probe(
        self, target: DeviceTarget, *, deep: bool = False, facts: bool = True
    ) -> ProbeResult:
        """Every probe reads the device's channels with video loss: an answer past digest
        auth says the device is there, takes our credentials and how fast, and whether the
        camera's channel has video. It is the whole device's answer, so the cameras of an
        NVR share it (`device_get`: at most half a period old, read with the same login,
        never twice for one camera). `facts` (and `deep`) add the clock and the disks."""
        started = utcnow()
        result = ProbeResult(target.camera_id, started, reachable=False)
        try:
            reply = await self.http.device_get(
                target, "/cgi-bin/eventManager.cgi?action=getEventIndexes&code=VideoLoss"
            )
            result.reachable, result.auth_ok = True, True
            result.latency_ms = round(reply.elapsed_ms, 2)
            expect_type(reply, "/cgi-bin/eventManager.cgi", *TEXT_TYPES)
            result.streaming = target.channel not in parse_event_indexes(reply.body)
            if facts or deep:
                path = "/cgi-bin/global.cgi?action=getCurrentTime"
                t_send = time.time()
                reply = await self.http.request(target, "GET", path)
                t_recv = time.time()
                expect_type(reply, "/cgi-bin/global.cgi", *TEXT_TYPES)
                device_now = parse_current_time(reply.body, self.tz)
                # Whole-second clock: its true time is half a second later on average.
                result.clock_offset_s = round(
                    device_now.timestamp() + 0.5 - (t_send + t_recv) / 2, 3
                )
                # the device's disks: shared by its cameras
                body = await self._device_get(
                    target, "/cgi-bin/storageDevice.cgi?action=getDeviceAllInfo"
                )
                result.disk_state = parse_storage(body)
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
                    arming = await self.arming(target)
                except BadResponse as exc:  # the arming answer unreadable: not measured, not down
                    arming = Arming(None, f"布防计划无法读取 arming unreadable: {exc}")
                result.armed, result.armed_reason = arming.armed, arming.reason
            return result
        except (DeviceError, TimeoutError) as exc:
            return failed_result(target, started, exc, partial=result)

    async def arming(self, target: DeviceTarget, at: datetime | None = None) -> Arming:
        """The channel's record mode and schedule at `at` (now), in the devices' zone (campus
        time by default: the device keeps its schedule in its own wall clock), and the
        motion alarm where motion recording is what covers now. The tables are the whole
        device's: one answer serves all an NVR's cameras (`device_share_s`). A device
        without the config answers 400 `Error`: BadResponse, not measured."""
        local = (at or utcnow()).astimezone(self.tz)
        ch = target.channel
        mode = parse_record_mode(await self._config(target, "RecordMode"), ch)
        week = None
        if mode == AUTO:
            week = parse_record_week(await self._config(target, "Record"), ch)
        motion = None
        if needs_motion(mode, week, local):
            motion = parse_motion_armed(await self._config(target, "MotionDetect"), ch, local)
        return record_arming(mode, week, local, motion)

    async def _config(self, target: DeviceTarget, name: str) -> bytes:
        try:
            return await self._device_get(target, CONFIG + name)
        except BadResponse as exc:  # the HTTP error names the CGI, not the config
            raise BadResponse(f"configManager getConfig {name}: {exc}") from exc

    async def armed(self, target: DeviceTarget) -> bool | None:
        """`arming`'s answer without its reason."""
        return (await self.arming(target)).armed

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
