"""Simulated Dahua HTTP API (CGI key=value bodies, local time UTC+8, paged media finder)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from aiohttp import web

from .common import authorize, event_stream, misbehave
from .model import Section, SimDevice

if TYPE_CHECKING:
    from .server import DeviceServer

CST = timezone(timedelta(hours=8))
MAX_FINDERS = 16


def _t(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/plain", charset="utf-8")


def _err(reason: str = "Bad Request!", status: int = 400) -> web.Response:
    r = _t(f"Error\r\n{reason}\r\n")
    r.set_status(status)
    return r


def _local(t: datetime) -> str:
    t = t.astimezone(CST)
    return f"{t.year}-{t.month}-{t.day} {t:%H:%M:%S}"


def _parse_local(v: str) -> datetime:
    return datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)


def system_info(dev: SimDevice) -> str:
    return (
        f"deviceType={dev.model}\r\nhardwareVersion=1.00\r\nprocessor=ST7108\r\n"
        f"serialNumber={dev.serial}\r\nupdateSerial={dev.model}\r\n"
    )


def storage(dev: SimDevice) -> str:
    err = "true" if dev.faults.disk_error else "false"
    state = "Error" if dev.faults.disk_error else "Success"
    return (
        "list.info[0].Detail[0].IsError=" + err + "\r\n"
        "list.info[0].Detail[0].Path=/dev/sda0\r\n"
        "list.info[0].Detail[0].TotalBytes=4000787030016.000000\r\n"
        "list.info[0].Detail[0].Type=ReadWrite\r\n"
        "list.info[0].Detail[0].UsedBytes=4000787030016.000000\r\n"
        "list.info[0].Name=/dev/sda\r\n"
        f"list.info[0].State={state}\r\n"
    )


SECTIONS_PER_DAY = 6
UNUSED = "00:00:00-24:00:00"  # what the devices keep in an unused section, behind its 0


def time_sections(prefix: str, schedule: tuple[Section, ...], flag: int) -> list[str]:
    """`<prefix>[day][n]=<flag> HH:MM:SS-HH:MM:SS` for days 0 (Sunday) to 6, six sections a
    day as the devices answer: the schedule's spans with `flag`, the rest `0` over the
    whole day — only the leading flag says a section is unused."""
    lines = []
    for day in range(7):
        spans = [f"{flag} {start}-{end}" for d, start, end in schedule if d == day]
        if len(spans) > SECTIONS_PER_DAY:
            raise ValueError(f"a Dahua day holds {SECTIONS_PER_DAY} sections, not {len(spans)}")
        spans += [f"0 {UNUSED}"] * (SECTIONS_PER_DAY - len(spans))
        lines += [f"{prefix}[{day}][{n}]={span}" for n, span in enumerate(spans)]
    return lines


def motion_detect(dev: SimDevice) -> str:
    """configManager getConfig MotionDetect: the whole device's table, one entry per channel
    (0-based); the alarm armed on the channel's schedule, off while `disarmed`."""
    lines = []
    for ch in sorted(dev.chan):
        st, t = dev.chan[ch], f"table.MotionDetect[{ch - 1}]"
        lines += [
            f"{t}.Enable={'true' if st.motion_alarm and not st.disarmed else 'false'}",
            f"{t}.EventHandler.Dejitter=5",
            f"{t}.EventHandler.RecordChannels[0]={ch - 1}",
            f"{t}.EventHandler.RecordEnable=true",
            f"{t}.EventHandler.RecordLatch=10",
        ]
        lines += time_sections(f"{t}.EventHandler.TimeSection", st.schedule, 1)
        lines += [f"{t}.Level=3", f"{t}.MotionDetectWindow[0].Sensitive=60"]
    return "".join(f"{line}\r\n" for line in lines)


def record(dev: SimDevice) -> str:
    """configManager getConfig Record: each channel's record schedule (0-based), its
    sections' mask the channel's `record_mask` (1 regular, 2 motion, 4 alarm recording)."""
    lines = []
    for ch in sorted(dev.chan):
        st, t = dev.chan[ch], f"table.Record[{ch - 1}]"
        lines += [f"{t}.Format=dav", f"{t}.HolidayEnable=false", f"{t}.PreRecord=4"]
        lines += [f"{t}.Redundancy=false", f"{t}.SnapShot=false", f"{t}.Stream=0"]
        lines += time_sections(f"{t}.TimeSection", st.schedule, st.record_mask)
    return "".join(f"{line}\r\n" for line in lines)


def record_mode(dev: SimDevice) -> str:
    """configManager getConfig RecordMode: Mode 0 (automatic, by the schedule) per channel,
    2 (stop) while `disarmed` (Art. 12); the sub stream's ModeExtra1 stays 2 (stop)."""
    lines = []
    for ch in sorted(dev.chan):
        t = f"table.RecordMode[{ch - 1}]"
        lines += [f"{t}.Mode={2 if dev.chan[ch].disarmed else 0}", f"{t}.ModeExtra1=2"]
    return "".join(f"{line}\r\n" for line in lines)


CONFIGS = {"MotionDetect": motion_detect, "Record": record, "RecordMode": record_mode}


def config(dev: SimDevice, q: dict[str, str]) -> web.Response:
    """configManager.cgi, strictly: getConfig of a config this device has (MotionDetect,
    Record, RecordMode); any other action or name is a 400 `Error`, as the devices answer.
    `configs_missing` names configs this device lacks (an IPC without storage: Record)."""
    if q.get("action") != "getConfig" or set(q) != {"action", "name"}:
        return _err()
    make = CONFIGS.get(q["name"])
    if make is None or q["name"] in dev.configs_missing:
        return _err()
    return _t(make(dev))


def _finders(sim: DeviceServer, dev: SimDevice) -> dict[str, dict]:  # type: ignore[type-arg]
    return sim.state.setdefault(("dahua-finders", dev.device_id), {})  # type: ignore[no-any-return,call-overload]


def media_find(sim: DeviceServer, dev: SimDevice, q: dict[str, str]) -> web.Response:
    action = q.get("action", "")
    finders = _finders(sim, dev)
    if action == "factory.create":
        if len(finders) >= MAX_FINDERS:
            return _err("Too many finders")
        obj = str(8000 + next(_counter))
        finders[obj] = {}
        return _t(f"result={obj}\r\n")
    obj = q.get("object", "")
    if obj not in finders:
        return _err("Invalid object")
    if action == "findFile":
        try:
            ch = int(q["condition.Channel"])
            start = _parse_local(q["condition.StartTime"])
            end = _parse_local(q["condition.EndTime"])
        except (KeyError, ValueError):
            return _err()
        finders[obj] = {"gen": dev.segments(ch, start, end), "ch": ch}
        return _t("OK\r\n")
    if action == "findNextFile":
        f = finders[obj]
        if "gen" not in f:
            return _err()
        count = max(1, min(int(q.get("count", "100") or 100), 100))
        page = list(itertools.islice(f["gen"], count))
        ch = f["ch"]
        lines = [f"found={len(page)}"]
        for i, (s, e, n) in enumerate(page):
            lines += [
                f"items[{i}].Channel={ch - 1}",
                f"items[{i}].Cluster=0",
                f"items[{i}].EndTime={_local(e)}",
                f"items[{i}].FilePath=/mnt/dvr/sda0/{ch}/{int(s.timestamp())}.dav",
                f"items[{i}].Length={n}",
                f"items[{i}].StartTime={_local(s)}",
                f"items[{i}].Type=dav",
                f"items[{i}].VideoStream=Main",
            ]
        return _t("\r\n".join(lines) + "\r\n")
    if action in {"close", "destroy"}:
        if action == "destroy":
            finders.pop(obj, None)
        return _t("OK\r\n")
    return _err()


_counter = itertools.count(1)


def load_file(dev: SimDevice, path: str) -> web.Response:
    try:
        ch_s, name = path.removeprefix("/cgi-bin/RPC_Loadfile/mnt/dvr/sda0/").split("/")
        ch, start = int(ch_s), datetime.fromtimestamp(int(name.removesuffix(".dav")), UTC)
    except ValueError:
        return _err("Invalid path", 404)
    if not any(s == start for s, _, _ in dev.segments(ch, start, start + timedelta(seconds=1))):
        return _err("File not found", 404)
    return web.Response(
        body=dev.segment_content(ch, start), content_type="application/octet-stream"
    )


async def attach(sim: DeviceServer, dev: SimDevice, request: web.Request) -> web.StreamResponse:
    codes = request.query.get("codes", "[All]").strip("[]").split(",")
    return await event_stream(
        sim,
        dev,
        request,
        content_type="multipart/x-mixed-replace; boundary=myboundary",
        part_type="text/plain",
        codes=("VideoLoss", "VideoBlind"),
        part=lambda ch, code, on: (
            f"Code={code};action={'Start' if on else 'Stop'};index={ch - 1}\r\n".encode()
        ),
        heartbeat=lambda: b"Heartbeat\r\n",
        wanted=None if "All" in codes else codes,
    )


async def handle(sim: DeviceServer, dev: SimDevice, request: web.Request) -> web.StreamResponse:
    denied = authorize(dev, request)
    if denied is not None:
        return denied
    path, q = request.path, dict(request.query)
    action = q.get("action", "")
    if path == "/cgi-bin/eventManager.cgi" and action == "attach":
        return await attach(sim, dev, request)
    bad = misbehave(dev, "text")
    if bad is not None:
        return bad
    if path == "/cgi-bin/magicBox.cgi" and action == "getSystemInfo":
        return _t(system_info(dev))
    if path == "/cgi-bin/global.cgi" and action == "getCurrentTime":
        return _t(f"result={_local(dev.device_now())}\r\n")
    if path == "/cgi-bin/storageDevice.cgi" and action == "getDeviceAllInfo":
        return _t(storage(dev))
    if path == "/cgi-bin/eventManager.cgi" and action == "getEventIndexes":
        attr = {"VideoLoss": "video_loss", "VideoBlind": "tamper"}.get(q.get("code", ""))
        if attr is None:
            return _err()
        active = [ch - 1 for ch, st in dev.chan.items() if getattr(st, attr)]
        return _t("".join(f"channels[{i}]={c}\r\n" for i, c in enumerate(active)))
    if path == "/cgi-bin/mediaFileFind.cgi":
        return media_find(sim, dev, q)
    if path == "/cgi-bin/configManager.cgi":
        return config(dev, q)
    if path.startswith("/cgi-bin/RPC_Loadfile/"):
        return load_file(dev, path)
    return _err("Not Found", 404)
