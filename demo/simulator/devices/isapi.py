"""Simulated Hikvision ISAPI, answering in the vendor's published XML shapes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

from aiohttp import web
from lxml import etree

from .common import authorize, event_stream, misbehave
from .model import SimDevice

if TYPE_CHECKING:
    from .server import DeviceServer

NS = "http://www.hikvision.com/ver20/XMLSchema"
XML = "application/xml"
CST = timedelta(hours=8)


def _x(body: str) -> web.Response:
    return web.Response(text='<?xml version="1.0" encoding="UTF-8"?>\n' + body, content_type=XML)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, sub: str, http: int = 400) -> web.Response:
    r = _x(
        f'<ResponseStatus version="2.0" xmlns="{NS}"><requestURL></requestURL>'
        f"<statusCode>{code}</statusCode><statusString>{sub}</statusString>"
        f"<subStatusCode>{sub}</subStatusCode></ResponseStatus>"
    )
    r.set_status(http)
    return r


def device_info(dev: SimDevice) -> str:
    return (
        f'<DeviceInfo version="2.0" xmlns="{NS}"><deviceName>{escape(dev.device_id)}'
        f"</deviceName><deviceID>{dev.serial}</deviceID><model>{dev.model}</model>"
        f"<serialNumber>{dev.model}{dev.serial}</serialNumber>"
        "<macAddress>44:19:b6:00:00:01</macAddress><firmwareVersion>V4.30.085</firmwareVersion>"
        "<firmwareReleasedDate>build 200916</firmwareReleasedDate><deviceType>NVR</deviceType>"
        "</DeviceInfo>"
    )


def device_time(dev: SimDevice) -> str:
    local = dev.device_now().astimezone(UTC) + CST
    return (
        f'<Time version="2.0" xmlns="{NS}"><timeMode>NTP</timeMode>'
        f"<localTime>{local:%Y-%m-%dT%H:%M:%S}+08:00</localTime>"
        "<timeZone>CST-8:00:00</timeZone></Time>"
    )


def storage(dev: SimDevice) -> str:
    status = "error" if dev.faults.disk_error else "ok"
    return (
        f'<storage version="2.0" xmlns="{NS}"><hddList><hdd><id>1</id><hddName>hdd1</hddName>'
        f"<hddPath></hddPath><hddType>SATA</hddType><status>{status}</status>"
        "<capacity>3815447</capacity><freeSpace>0</freeSpace><property>RW</property></hdd>"
        "</hddList><nasList></nasList></storage>"
    )


def video_input(dev: SimDevice, ch: int) -> str | None:
    st = dev.channel(ch)
    if st is None:
        return None
    res = "NO VIDEO" if st.video_loss else "1920*1080P"
    return (
        f'<VideoInputChannel version="2.0" xmlns="{NS}"><id>{ch}</id><inputPort>{ch}'
        f"</inputPort><videoInputEnabled>true</videoInputEnabled><name>Camera {ch:02d}</name>"
        f"<videoFormat>PAL</videoFormat><resDesc>{res}</resDesc></VideoInputChannel>"
    )


def record_track(dev: SimDevice, track: int) -> str | None:
    """GET /ISAPI/ContentMgmt/record/tracks/<id>: the channel's main track (channel*100+1),
    continuous recording on the channel's schedule (24/7 unless set; one ScheduleAction
    per span, its DayOfWeek by name); `disarmed` turns the track's record schedule off
    (Art. 12). An empty schedule is a block without actions."""
    st = dev.channel(track // 100)
    if st is None or track % 100 != 1:
        return None
    on = "false" if st.disarmed else "true"
    days = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
    actions = "".join(
        f"<ScheduleAction><id>{i}</id><ScheduleActionStartTime><DayOfWeek>{days[d]}</DayOfWeek>"
        f"<TimeOfDay>{start}</TimeOfDay></ScheduleActionStartTime><ScheduleActionEndTime>"
        f"<DayOfWeek>{days[d]}</DayOfWeek><TimeOfDay>{end}</TimeOfDay></ScheduleActionEndTime>"
        "<ScheduleDSTEnable>false</ScheduleDSTEnable><Description>nothing</Description>"
        "<Actions><Record>true</Record><ActionRecordingMode>CMR</ActionRecordingMode>"
        "</Actions></ScheduleAction>"
        for i, (d, start, end) in enumerate(st.schedule, 1)
    )
    return (
        f"<Track><id>{track}</id><Channel>{track // 100}</Channel><Enable>true</Enable>"
        "<Description>trackType=standard,trackType=video,codecType=H.264-BP</Description>"
        "<TrackGUID>{00000000-0000-0000-0000-000000000000}</TrackGUID><Size>0</Size>"
        "<Duration>P0DT0H</Duration><DefaultRecordingMode>CMR</DefaultRecordingMode>"
        "<LoopEnable>true</LoopEnable><TrackSchedule><ScheduleBlockList><ScheduleBlock>"
        "<ScheduleBlockGUID>{00000000-0000-0000-0000-000000000000}</ScheduleBlockGUID>"
        f"<ScheduleBlockType>www.std-cgi.com/racm/schedule/ver10</ScheduleBlockType>{actions}"
        "</ScheduleBlock></ScheduleBlockList></TrackSchedule><CustomExtensionList>"
        "<CustomExtension><CustomExtensionName>www.hikvision.com/RaCM/trackExt/ver10"
        f"</CustomExtensionName><enableSchedule>{on}</enableSchedule>"
        "<PreRecordTimeSeconds>5</PreRecordTimeSeconds>"
        "<PostRecordTimeSeconds>5</PostRecordTimeSeconds></CustomExtension>"
        "</CustomExtensionList></Track>"
    )


def search(dev: SimDevice, body: bytes, host: str) -> web.Response:
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return _status(5, "badXmlFormat")

    def t(name: str) -> str:
        for el in root.iter():
            if isinstance(el.tag, str) and etree.QName(el).localname == name:
                return (el.text or "").strip()
        return ""

    try:
        track = int(t("trackID"))
        start = datetime.fromisoformat(t("startTime"))
        end = datetime.fromisoformat(t("endTime"))
        max_results = max(1, min(int(t("maxResults") or 40), 400))
        pos = int(t("searchResultPostion") or 0)
    except ValueError:
        return _status(6, "badParameters")
    ch = track // 100
    gen = dev.segments(ch, start, end)
    page = list(itertools.islice(gen, pos, pos + max_results + 1))
    more = len(page) > max_results
    page = page[:max_results]
    items = []
    for s, e, n in page:
        uri = (
            f"rtsp://{host}/Streaming/tracks/{track}/?starttime={s:%Y%m%dT%H%M%SZ}"
            f"&amp;endtime={e:%Y%m%dT%H%M%SZ}&amp;name={ch:02d}{int(s.timestamp())}"
            f"&amp;size={n}"
        )
        items.append(
            f"<searchMatchItem><sourceID>{{0000000000-0000-0000-0000-000000000000}}</sourceID>"
            f"<trackID>{track}</trackID><timeSpan><startTime>{_iso(s)}</startTime>"
            f"<endTime>{_iso(e)}</endTime></timeSpan><mediaSegmentDescriptor>"
            f"<contentType>video</contentType><codecType>H.264-BP</codecType>"
            f"<playbackURI>{uri}</playbackURI></mediaSegmentDescriptor>"
            "<metadataMatches><metadataDescriptor>recordType.meta.hikvision.com/timing"
            "</metadataDescriptor></metadataMatches></searchMatchItem>"
        )
    status = "MORE" if more else ("OK" if items else "NO MATCHES")
    return _x(
        f'<CMSearchResult version="2.0" xmlns="{NS}"><searchID>{escape(t("searchID"))}'
        f"</searchID><responseStatus>true</responseStatus><responseStatusStrg>{status}"
        f"</responseStatusStrg><numOfMatches>{len(items)}</numOfMatches>"
        f"<matchList>{''.join(items)}</matchList></CMSearchResult>"
    )


def download(dev: SimDevice, uri: str) -> web.Response:
    q = parse_qs(urlsplit(uri).query)
    try:
        track = int(urlsplit(uri).path.rstrip("/").rsplit("/", 1)[1])
        start = datetime.strptime(q["starttime"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except (KeyError, ValueError, IndexError):
        return _status(6, "badParameters")
    ch = track // 100
    if not any(s == start for s, _, _ in dev.segments(ch, start, start + timedelta(seconds=1))):
        return _status(4, "noRecord", 404)
    return web.Response(
        body=dev.segment_content(ch, start), content_type="application/octet-stream"
    )


def alert(dev: SimDevice, ch: int, etype: str, active: bool, host: str) -> bytes:
    now = dev.device_now().astimezone(UTC) + CST
    state = "active" if active else "inactive"
    return (
        f'<EventNotificationAlert version="2.0" xmlns="{NS}"><ipAddress>{host}</ipAddress>'
        f"<portNo>{dev.port}</portNo><protocol>HTTP</protocol>"
        "<macAddress>44:19:b6:00:00:01</macAddress>"
        f"<channelID>{ch}</channelID><dateTime>{now:%Y-%m-%dT%H:%M:%S}+08:00</dateTime>"
        f"<activePostCount>1</activePostCount><eventType>{etype}</eventType>"
        f"<eventState>{state}</eventState><eventDescription>{etype} alarm</eventDescription>"
        "</EventNotificationAlert>"
    ).encode()


async def alert_stream(
    sim: DeviceServer, dev: SimDevice, request: web.Request
) -> web.StreamResponse:
    host = dev.host
    return await event_stream(
        sim,
        dev,
        request,
        content_type="multipart/mixed; boundary=boundary",
        part_type='application/xml; charset="UTF-8"',
        codes=("videoloss", "shelteralarm"),
        part=lambda ch, etype, on: alert(dev, ch, etype, on, host),
        heartbeat=lambda: alert(dev, 1, "videoloss", False, host),  # the vendor's heartbeat
    )


async def handle(sim: DeviceServer, dev: SimDevice, request: web.Request) -> web.StreamResponse:
    denied = authorize(dev, request)
    if denied is not None:
        return denied
    path = request.path
    if path == "/ISAPI/Event/notification/alertStream":
        return await alert_stream(sim, dev, request)
    bad = misbehave(dev, "xml")
    if bad is not None:
        return bad
    host = request.host
    if request.method == "GET":
        if path == "/ISAPI/System/deviceInfo":
            return _x(device_info(dev))
        if path == "/ISAPI/System/time":
            return _x(device_time(dev))
        if path == "/ISAPI/System/status":
            now = dev.device_now()
            return _x(
                f'<DeviceStatus version="2.0" xmlns="{NS}"><currentDeviceTime>{_iso(now)}'
                "</currentDeviceTime><deviceUpTime>864000</deviceUpTime></DeviceStatus>"
            )
        if path == "/ISAPI/ContentMgmt/Storage":
            return _x(storage(dev))
        if path.startswith("/ISAPI/System/Video/inputs/channels/"):
            tail = path.rsplit("/", 1)[1]
            body = video_input(dev, int(tail)) if tail.isdigit() else None
            return _x(body) if body else _status(4, "invalidID", 404)
        if path == "/ISAPI/ContentMgmt/record/tracks":
            tracks = [record_track(dev, ch * 100 + 1) for ch in sorted(dev.chan)]
            return _x(
                f'<TrackList version="2.0" xmlns="{NS}">{"".join(t for t in tracks if t)}'
                "</TrackList>"
            )
        if path.startswith("/ISAPI/ContentMgmt/record/tracks/"):
            # strict: only the main track of a channel the device has (lenient devices
            # answer any id with a default track)
            tail = path.rsplit("/", 1)[1]
            body = record_track(dev, int(tail)) if tail.isdigit() else None
            if body is None:
                return _status(4, "invalidID", 404)
            return _x(body.replace("<Track>", f'<Track version="2.0" xmlns="{NS}">', 1))
        if path == "/ISAPI/ContentMgmt/download":
            return download(dev, request.query.get("playbackURI", ""))
    if request.method == "POST" and path == "/ISAPI/ContentMgmt/search":
        return search(dev, await request.read(), host)
    return _status(4, "notSupport", 404)
