"""Hikvision ISAPI and Dahua playback against the simulated recorders, over real sockets
(HTTP digest, RTSP digest), and the choice of adapter from the inventory."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import httpx
import pytest

from cctv.contract import CameraRecord, rpc
from demo.simulator.dahua_cgi import DahuaFileFind
from demo.simulator.isapi import IsapiSearch
from demo.simulator.replay import ReplayServer, camera_tag, read_stamp
from services.media.recorders import (
    DahuaPlayback,
    Footage,
    HikvisionIsapi,
    OnvifReplay,
    RecordedFrame,
    RecorderDirectory,
    ReplayError,
    load_recorders,
)
from services.media.recorders.hikvision import Segment, parse_search_result, uncovered
from tests.media.conftest import SYSADMIN, announce_cameras, request_id, start_media
from tests.media.test_replay import decode_stamps
from tests.support.events import EventLog

USER, PASSWORD = "admin", "Hik12345!"


async def fetch_all(
    adapter: HikvisionIsapi | DahuaPlayback, footage: Footage, start: datetime, end: datetime
) -> list[RecordedFrame]:
    return [f async for f in adapter.fetch(footage, start, end)]


def cam_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def window(seconds: float = 2, ago: timedelta = timedelta(hours=3)) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0) - ago
    return start, start + timedelta(seconds=seconds)


@pytest.fixture
async def hik() -> AsyncIterator[tuple[ReplayServer, IsapiSearch, str]]:
    cam = cam_id("HIK")
    async with (
        ReplayServer(brand="hikvision", channels={3: cam}, username=USER, password=PASSWORD) as r,
        IsapiSearch(r) as isapi,
    ):
        yield r, isapi, cam


@pytest.fixture
async def dahua_cgi() -> AsyncIterator[tuple[ReplayServer, DahuaFileFind, str]]:
    cam = cam_id("DHF")
    async with (
        ReplayServer(brand="dahua", channels={4: cam}, username=USER, password=PASSWORD) as r,
        DahuaFileFind(r) as cgi,
    ):
        yield r, cgi, cam


@pytest.fixture
async def dahua() -> AsyncIterator[tuple[ReplayServer, str]]:
    cam = cam_id("DH")
    async with ReplayServer(
        brand="dahua", channels={2: cam}, username=USER, password=PASSWORD
    ) as r:
        yield r, cam


async def test_hikvision_search_then_track_playback_gives_exactly_the_range(
    hik: tuple[ReplayServer, IsapiSearch, str],
) -> None:
    recorder, isapi, cam = hik
    start, end = window(2)
    adapter = HikvisionIsapi(isapi.url, USER, PASSWORD)
    frames = [f async for f in adapter.fetch(Footage(cam, 3), start, end)]
    assert isapi.searches == 1
    assert recorder.stats.ranges == [(cam, start, end)]  # the track played was exactly this
    assert len(frames) == 10 and frames[0].clean_point
    assert [f.at for f in frames] == [start + timedelta(seconds=i / 5) for i in range(10)]
    stamps = decode_stamps(frames)
    assert [s.at for s in stamps] == [f.at for f in frames]  # the picture agrees with RTP time
    assert {s.camera_tag for s in stamps} == {camera_tag(cam)}


async def test_hikvision_search_pages_through_more(
    hik: tuple[ReplayServer, IsapiSearch, str],
) -> None:
    recorder, isapi, _cam = hik
    isapi.segment = timedelta(seconds=1)  # one file a second: 100 files, 3 pages of 40
    start, end = window(100)
    segments = await HikvisionIsapi(isapi.url, USER, PASSWORD).search(3, start, end)
    assert isapi.searches == 3
    assert len(segments) == 100 and uncovered(segments, start, end) is None
    assert segments[0].playback_uri.startswith(f"rtsp://127.0.0.1:{recorder.port}/Streaming/")


async def test_hikvision_refuses_other_credentials_and_missing_footage(
    hik: tuple[ReplayServer, IsapiSearch, str],
) -> None:
    _recorder, isapi, cam = hik
    start, end = window(2)
    with pytest.raises(ReplayError, match="refused our credentials"):
        await fetch_all(HikvisionIsapi(isapi.url, USER, "wrong"), Footage(cam, 3), start, end)
    good = HikvisionIsapi(isapi.url, USER, PASSWORD)
    old_start, old_end = window(2, ago=timedelta(days=31))  # Art. 7: 30 days kept
    with pytest.raises(ReplayError, match=r"holds no footage of HIK-.* \(channel 3\)"):
        await fetch_all(good, Footage(cam, 3), old_start, old_end)
    with pytest.raises(ReplayError, match="holds no footage"):  # a channel it does not record
        await fetch_all(good, Footage(cam, 9), start, end)
    with pytest.raises(ReplayError, match="no recorder channel"):
        await fetch_all(good, Footage(cam), start, end)


async def test_simulated_isapi_is_strict(hik: tuple[ReplayServer, IsapiSearch, str]) -> None:
    _recorder, isapi, _cam = hik
    url = isapi.url + "/ISAPI/ContentMgmt/search"
    good = (
        "<CMSearchDescription><searchID>X</searchID><trackList><trackID>301</trackID></trackList>"
        "<timeSpanList><timeSpan><startTime>{s}</startTime><endTime>2026-12-01T00:00:10Z"
        "</endTime></timeSpan></timeSpanList><maxResults>10</maxResults></CMSearchDescription>"
    )
    async with httpx.AsyncClient() as plain:
        r = await plain.post(url, content=good.format(s="2026-12-01T00:00:00Z"))
        assert r.status_code == 401 and 'qop="auth"' in r.headers["www-authenticate"]
    async with httpx.AsyncClient(auth=httpx.BasicAuth(USER, PASSWORD)) as basic:
        r = await basic.post(url, content=good.format(s="2026-12-01T00:00:00Z"))
        assert r.status_code == 401  # Basic is not accepted: digest only
    async with httpx.AsyncClient(auth=httpx.DigestAuth(USER, PASSWORD)) as http:
        r = await http.post(url, content=good.format(s="2026-12-01T00:00:00Z"))
        assert r.status_code == 200 and "<CMSearchResult" in r.text
        for bad in ("2026-12-01 00:00:00", "2026-12-01T00:00:00+08:00", "2026-12-01T00:00:00.5Z"):
            r = await http.post(url, content=good.format(s=bad))
            assert r.status_code == 400 and "badParameters" in r.text, bad
        r = await http.post(url, content=b"<CMSearchDescription><searchID>")
        assert r.status_code == 400 and "badXmlFormat" in r.text


async def test_simulated_track_playback_wants_exact_times_and_digest(
    hik: tuple[ReplayServer, IsapiSearch, str],
) -> None:
    from services.media.recorders.rtsp_playback import PlaybackSession

    recorder, _isapi, _cam = hik
    start, end = window(2)
    url = recorder.track_url(3, start, end)
    async with PlaybackSession(url) as s:
        with pytest.raises(ReplayError, match="answered 401"):
            await s.open({})
    fractional = url.replace("Z&", ".5Z&")
    async with PlaybackSession(fractional, username=USER, password=PASSWORD) as s:
        with pytest.raises(ReplayError, match="answered 400"):
            await s.open({})
    old = recorder.track_url(3, *window(2, ago=timedelta(days=40)))
    async with PlaybackSession(old, username=USER, password=PASSWORD) as s:
        with pytest.raises(ReplayError, match="answered 457"):
            await s.open({})


async def test_dahua_playback_by_channel_in_the_recorders_local_time(
    dahua: tuple[ReplayServer, str],
) -> None:
    recorder, cam = dahua
    start, end = window(2)
    adapter = DahuaPlayback(f"rtsp://127.0.0.1:{recorder.port}", USER, PASSWORD)
    assert "starttime=" + start.astimezone(recorder.tz).strftime("%Y_%m_%d_%H_%M_%S") in (
        adapter.url(2, start, end)
    )
    frames = [f async for f in adapter.fetch(Footage(cam, 2), start, end)]
    assert recorder.stats.ranges == [(cam, start, end)]  # local time understood as UTC+8
    stamps = decode_stamps(frames)
    assert (
        [s.at for s in stamps]
        == [f.at for f in frames]
        == [start + timedelta(seconds=i / 5) for i in range(10)]
    )
    assert {s.camera_tag for s in stamps} == {camera_tag(cam)}


async def test_dahua_with_the_wrong_time_zone_gets_other_footage(
    dahua: tuple[ReplayServer, str],
) -> None:
    """Why the recorder's time zone is a setting: the same URL means another hour elsewhere."""
    recorder, cam = dahua
    start, end = window(1)
    adapter = DahuaPlayback(f"rtsp://127.0.0.1:{recorder.port}", USER, PASSWORD, timezone="UTC")
    frames = [f async for f in adapter.fetch(Footage(cam, 2), start, end)]
    assert recorder.stats.ranges == [(cam, start - timedelta(hours=8), end - timedelta(hours=8))]
    assert decode_stamps(frames)[0].at == start - timedelta(hours=8)


async def test_dahua_refuses(dahua: tuple[ReplayServer, str]) -> None:
    recorder, cam = dahua
    start, end = window(1)
    base = f"rtsp://127.0.0.1:{recorder.port}"
    with pytest.raises(ReplayError, match="refused our credentials"):
        [f async for f in DahuaPlayback(base, USER, "nope").fetch(Footage(cam, 2), start, end)]
    with pytest.raises(ReplayError, match=r"DESCRIBE .* 404"):
        [f async for f in DahuaPlayback(base, USER, PASSWORD).fetch(Footage(cam, 7), start, end)]
    old = window(1, ago=timedelta(days=31))
    with pytest.raises(ReplayError, match=r"DESCRIBE .* 457"):
        [f async for f in DahuaPlayback(base, USER, PASSWORD).fetch(Footage(cam, 2), *old)]


async def test_vendor_playback_that_stops_early_fails(
    dahua: tuple[ReplayServer, str], hik: tuple[ReplayServer, IsapiSearch, str]
) -> None:
    """No end bit in vendor RTP: a stream that ends seconds early is footage missing."""
    recorder, cam = dahua
    recorder.short_by = timedelta(seconds=2)
    start, end = window(4)
    adapter = DahuaPlayback(f"rtsp://127.0.0.1:{recorder.port}", USER, PASSWORD)
    with pytest.raises(ReplayError, match=r"stopped before .*its last frame is of"):
        await fetch_all(adapter, Footage(cam, 2), start, end)
    hik_rec, isapi, hik_cam = hik
    hik_rec.short_by = timedelta(seconds=4)  # nothing at all
    with pytest.raises(ReplayError, match=r"stopped before .*no frame at all"):
        await fetch_all(HikvisionIsapi(isapi.url, USER, PASSWORD), Footage(hik_cam, 3), start, end)


async def test_dahua_finds_the_files_before_playing_them(
    dahua_cgi: tuple[ReplayServer, DahuaFileFind, str],
) -> None:
    recorder, cgi, cam = dahua_cgi
    adapter = DahuaPlayback(f"rtsp://127.0.0.1:{recorder.port}", USER, PASSWORD, http_url=cgi.url)
    cgi.segment = timedelta(seconds=1)  # a file a second: 150 files, two pages of 100
    start, end = window(150)
    segments = await adapter.search(4, start, end)
    assert len(segments) == 150 and uncovered(segments, start, end) is None
    assert not cgi.finders  # every finder closed and destroyed
    start, end = window(1)
    frames = await fetch_all(adapter, Footage(cam, 4), start, end)
    assert recorder.stats.ranges == [(cam, start, end)] and len(frames) == 5
    old = window(2, ago=timedelta(days=31))
    with pytest.raises(ReplayError, match=r"holds no footage of DHF-.*\(mediaFileFind\)"):
        await fetch_all(adapter, Footage(cam, 4), *old)
    assert len(recorder.stats.ranges) == 1  # refused before any playback was asked
    wrong = DahuaPlayback(f"rtsp://127.0.0.1:{recorder.port}", USER, "no", http_url=cgi.url)
    with pytest.raises(ReplayError, match=r"mediaFileFind .* refused our credentials"):
        await fetch_all(wrong, Footage(cam, 4), start, end)


async def test_simulated_dahua_cgi_is_strict(
    dahua_cgi: tuple[ReplayServer, DahuaFileFind, str],
) -> None:
    _recorder, cgi, _cam = dahua_cgi
    url = cgi.url + "/cgi-bin/mediaFileFind.cgi"
    async with httpx.AsyncClient() as plain:
        assert (await plain.get(url, params={"action": "factory.create"})).status_code == 401
    async with httpx.AsyncClient(auth=httpx.DigestAuth(USER, PASSWORD)) as http:
        r = await http.get(url, params={"action": "factory.create"})
        obj = r.text.strip().removeprefix("result=")
        find = {"action": "findFile", "object": obj, "condition.Channel": "4"}
        for bad in ("2026-12-01T08:00:00", "2026_12_01_08_00_00", "2026-12-01 08:00"):
            times = {"condition.StartTime": bad, "condition.EndTime": "2026-12-01 09:00:00"}
            r = await http.get(url, params={**find, **times})
            assert r.status_code == 400 and "Bad Request" in r.text, bad
        r = await http.get(url, params={"action": "findNextFile", "object": "999", "count": "5"})
        assert r.status_code == 400  # no such finder


def test_vendor_recorders_insist_on_a_login() -> None:
    with pytest.raises(ValueError, match="always asks for a login"):
        ReplayServer(brand="dahua", channels={1: "X"})


def test_search_result_parsing_and_coverage() -> None:
    xml = (
        b'<CMSearchResult xmlns="http://www.isapi.org/ver20/XMLSchema"><responseStatusStrg>OK'
        b"</responseStatusStrg><matchList><searchMatchItem><timeSpan><startTime>"
        b"2026-12-01T00:00:00Z</startTime><endTime>2026-12-01T01:00:00Z</endTime></timeSpan>"
        b"<mediaSegmentDescriptor><playbackURI>rtsp://h/Streaming/tracks/101?starttime=x"
        b"</playbackURI></mediaSegmentDescriptor></searchMatchItem></matchList></CMSearchResult>"
    )
    status, segs = parse_search_result(xml)
    assert status == "OK" and segs[0].end == datetime(2026, 12, 1, 1, tzinfo=UTC)
    with pytest.raises(ReplayError, match="not <CMSearchResult>"):
        parse_search_result(b"<ResponseStatus/>")
    with pytest.raises(ReplayError, match="other than XML"):
        parse_search_result(b"<html")
    t = datetime(2026, 12, 1, tzinfo=UTC)
    a = Segment(t, t + timedelta(minutes=10), "u")
    b = Segment(t + timedelta(minutes=11), t + timedelta(minutes=20), "u")
    assert uncovered([a, b], t, t + timedelta(minutes=15)) == t + timedelta(minutes=10)
    assert uncovered([b, a], t, t + timedelta(minutes=10)) is None


def _record(cid: str, brand: str, nvr: str | None, channel: int | None) -> CameraRecord:
    return CameraRecord(
        camera_id=cid, name="走廊", system_id="A1-01", department="security",
        managing_department="logistics", category="public_safety", building="综合楼",
        position="1F", zone="办公区", brand=brand, protocol="onvif",  # type: ignore[arg-type]
        address="127.0.0.1:80", nvr_id=nvr, channel=channel,
    )  # fmt: skip


def test_the_inventory_and_recorders_choose_the_adapter() -> None:
    recorders = load_recorders(
        json.dumps(
            [
                {"id": "NVR-H", "http_url": "http://10.0.0.1", "username": "u", "password": "p"},
                {"id": "NVR-M", "http_url": "http://10.0.0.4", "rtsp_url": "rtsp://10.0.0.4"},
                {"id": "NVR-D", "brand": "dahua", "rtsp_url": "rtsp://10.0.0.2:554"},
                {"id": "NVR-O", "brand": "onvif", "replay_url_template": "rtsp://h/{channel}"},
            ]
        )
    )
    cams = {
        "H1": _record("H1", "hikvision", "NVR-H", 4),
        "D1": _record("D1", "dahua", "NVR-M", 5),  # the NVR names no dialect: the camera's
        "D3": _record("D3", "dahua", "NVR-H", 6),  # ... which needs an address NVR-H lacks
        "D2": _record("D2", "hikvision", "NVR-D", 2),  # the recorder's dialect wins
        "O1": _record("O1", "onvif", "NVR-O", 7),
        "X1": _record("X1", "hikvision", "NVR-unknown", 1),
    }
    default = OnvifReplay("rtsp://127.0.0.1:8556/replay/{camera_id}")
    d = RecorderDirectory(recorders, default, cams.get, username="nic", password="pw")
    rec, footage = d.choose("H1")
    assert isinstance(rec, HikvisionIsapi) and footage == Footage("H1", 4) and rec.username == "u"
    assert isinstance(d.choose("D1")[0], DahuaPlayback)
    with pytest.raises(ReplayError, match="recorder NVR-H: a Dahua recorder needs rtsp_url"):
        d.choose("D3")
    rec, _ = d.choose("D2")
    assert isinstance(rec, DahuaPlayback) and rec.username == "nic"  # default login
    assert isinstance(d.choose("O1")[0], OnvifReplay) and d.choose("O1")[0] is not default
    assert d.choose("X1")[0] is default and d.choose("NOT-IN-INVENTORY")[0] is default


def test_a_recorders_file_is_followed_for_changes(tmp_path: Path) -> None:
    path = tmp_path / "recorders.json"
    rows = [{"id": "NVR-1", "brand": "dahua", "rtsp_url": "rtsp://10.0.0.2:554"}]
    path.write_text(json.dumps(rows))
    cams = {"C1": _record("C1", "hikvision", "NVR-1", 3)}
    default = OnvifReplay("rtsp://127.0.0.1:8556/replay/{camera_id}")
    d = RecorderDirectory.from_setting(str(path), default, cams.get)
    rec, _ = d.choose("C1")
    assert isinstance(rec, DahuaPlayback) and rec.rtsp_url == "rtsp://10.0.0.2:554"
    rows[0]["rtsp_url"] = "rtsp://10.0.0.2:10554"  # the recorder came back on another port
    path.write_text(json.dumps(rows))
    os.utime(path, ns=(1, 1))  # a different stamp whatever the clock's resolution
    rec, _ = d.choose("C1")
    assert isinstance(rec, DahuaPlayback) and rec.rtsp_url == "rtsp://10.0.0.2:10554"
    path.write_text("[{")
    os.utime(path, ns=(2, 2))
    with pytest.raises(ReplayError, match="not a JSON list"):
        d.choose("C1")
    inline = RecorderDirectory.from_setting(json.dumps(rows), default, cams.get)
    assert inline.reload_from is None


def test_recorder_password_from_a_mounted_secret(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    rows = [
        {"id": "A", "brand": "dahua", "rtsp_url": "rtsp://h", "password_file": str(tmp_path / "pw")}
    ]
    assert load_recorders(json.dumps(rows))["A"].password == "s3cret"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{}", "must be a JSON list"),
        ("[{]", "not a JSON list"),
        (
            '[{"id": "A", "brand": "dahua"}]',
            r"RECORDERS\[0\]: Value error, a dahua recorder needs rtsp_url",
        ),
        ('[{"id": "A", "brand": "axis"}]', r"RECORDERS\[0\] brand"),
        ('[{"id": "A"}, {"id": "A"}]', "listed twice"),
        ('[{"id": "A", "rtsp_url": "rtsp://u:p@h"}]', r"RECORDERS\[0\] rtsp_url"),
        ("/nonexistent/recorders.json", "cannot read"),
        ('[{"id": "A", "password_file": "/nonexistent/pw"}]', r"RECORDERS\[0\]: .*password_file"),
    ],
)
def test_bad_recorders_setting_is_named(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_recorders(value)


def _onvif_recorder(template: str) -> str:
    return json.dumps([{"id": "NVR-T", "brand": "onvif", "replay_url_template": template}])


@pytest.mark.parametrize(
    ("template", "wrong"),
    [
        ("rtsps://10.0.0.9/replay/{camera_id}", "not an rtsp:// URL"),
        ("http://10.0.0.9/replay/{camera_id}", "not an rtsp:// URL"),
        ("rtsp://admin@10.0.0.9/replay/{camera_id}", r"holds a login .*username and password"),
        ("rtsp://admin:s3cret@10.0.0.9/replay/{camera_id}", "holds a login"),
        ("rtsp://10.0.0.9/replay/{camera}", r"unknown placeholder \{camera\}: only \{camera_id\}"),
        ("rtsp://10.0.0.9/replay/{nvr_id}/{channel}", r"unknown placeholder \{nvr_id\}"),
        ("rtsp://10.0.0.9/replay/{}", r"unknown placeholder \{\}"),
        ("rtsp://10.0.0.9/replay/{camera_id.upper}", "unknown placeholder"),
        ("rtsp://10.0.0.9/replay/{camera_id!r}", r"write \{camera_id\}"),
        ("rtsp://10.0.0.9/replay/{camera_id", "is not a template"),
        ("rtsp://10.0.0.9/replay/{camera_id:d}", "cannot be filled in"),
        ("rtsp://10.0.0.9/replay/all", "holds neither"),
        ("rtsp:///replay/{camera_id}", "not an rtsp://host/path URL"),
    ],
)
def test_a_replay_template_media_cannot_play_is_refused_at_start(template: str, wrong: str) -> None:
    """Checked when RECORDERS is read, naming the recorder and what is wrong — before, each
    of these passed and failed only at the first export that filled it in."""
    with pytest.raises(ValueError, match=r"RECORDERS\[0\] replay_url_template: ") as refused:
        load_recorders(_onvif_recorder(template))
    assert "recorder NVR-T" in str(refused.value)
    assert re.search(wrong, str(refused.value)), str(refused.value)
    assert "s3cret" not in str(refused.value)  # a login in the URL is never echoed


@pytest.mark.parametrize(
    "template",
    [
        "rtsp://10.0.0.9/replay/{camera_id}",
        "rtsp://10.20.3.5:554/onvif/replay/{channel}",
        "rtsp://nvr.campus/Streaming/tracks/{channel}01?source={camera_id}",
        "rtsp://nvr.campus/ch{channel:02d}/{{main}}",
    ],
)
def test_a_replay_template_media_can_fill_passes(template: str) -> None:
    assert load_recorders(_onvif_recorder(template))["NVR-T"].replay_url_template == template


def test_the_default_replay_template_is_checked_too() -> None:
    from pydantic import ValidationError

    from services.media.settings import MediaSettings

    with pytest.raises(ValidationError, match=r"REPLAY_URL_TEMPLATE .* not an rtsp:// URL"):
        MediaSettings(replay_url_template="rtsps://nvr/replay/{camera_id}")
    assert MediaSettings(replay_url_template="rtsp://nvr/{camera_id}").replay_url_template


async def test_a_channel_template_needs_the_cameras_channel() -> None:
    """`{channel}` of a camera the inventory gives no channel: refused, never `/None`."""
    t = datetime.now(UTC)
    replay = OnvifReplay("rtsp://127.0.0.1:9/replay/{channel}", timeout=1.0)
    with pytest.raises(ReplayError, match="no recorder channel"):
        [f async for f in replay.fetch(Footage("NOCH-1"), t, t + timedelta(seconds=1))]


async def test_media_exports_from_the_recorder_the_inventory_names(
    nats_url: str, database_url: str, tmp_path: Path, now: datetime, events: EventLog
) -> None:
    """A Hikvision camera on a Hikvision NVR and a Dahua camera on a Dahua NVR (inventory:
    nvr_id, channel, brand): media searches ISAPI and plays the track for one, plays back by
    channel for the other, and what it writes shows exactly those cameras and that window."""
    tag = uuid.uuid4().hex[:6]
    hik_cam, dh_cam = f"HK-{tag}", f"DH-{tag}"
    nvr_h, nvr_d = f"NVR-H-{tag}", f"NVR-D-{tag}"
    await announce_cameras(
        nats_url, _record(hik_cam, "hikvision", nvr_h, 3), _record(dh_cam, "dahua", nvr_d, 2)
    )
    async with (
        ReplayServer(brand="hikvision", channels={3: hik_cam}, username=USER, password=PASSWORD,
                     clock=lambda: now) as hik_rec,
        IsapiSearch(hik_rec) as isapi,
        ReplayServer(brand="dahua", channels={2: dh_cam}, username=USER, password=PASSWORD,
                     clock=lambda: now) as dh_rec,
        ReplayServer(cameras=[]) as onvif,  # the default recorder: must not be asked
    ):  # fmt: skip
        recorders = [
            {"id": nvr_h, "brand": "hikvision", "http_url": isapi.url},
            {"id": nvr_d, "brand": "dahua", "rtsp_url": f"rtsp://127.0.0.1:{dh_rec.port}"},
        ]
        async with start_media(
            nats_url, database_url, onvif, tmp_path, now, recorders=json.dumps(recorders),
            replay_username=USER, replay_password=PASSWORD,
        ) as media:  # fmt: skip
            rid = request_id()
            g = await media.announce(rid, cameras=[hik_cam, dh_cam])
            reply = await media.rpc(
                rpc.MEDIA_EXPORT,
                {"actor": SYSADMIN, "request_id": rid, "purpose": "取证", "destination": "保卫处"},
            )
            assert reply["ok"], reply
            (exported,) = await events.wait_for(
                "access.exported", lambda d: d["request_id"] == rid, timeout=60
            )
            start = datetime.fromisoformat(g["footage_from"])
            end = datetime.fromisoformat(g["footage_until"])
            assert isapi.searches >= 1 and hik_rec.stats.ranges[-1] == (hik_cam, start, end)
            assert dh_rec.stats.ranges[-1] == (dh_cam, start, end)
            assert onvif.stats.sessions == 0
            for f in exported["data"]["files"]:
                data = await media.media.store.read(f["object_key"])
                path = tmp_path / "got.mp4"
                path.write_bytes(data)
                with av.open(str(path)) as c:
                    stamps = [read_stamp(x.to_ndarray(format="rgb24")) for x in c.decode(video=0)]
                assert {s.camera_tag for s in stamps} == {camera_tag(f["camera_id"])}
                assert [s.at for s in stamps] == [
                    start + timedelta(seconds=i / 5) for i in range(20)
                ]
