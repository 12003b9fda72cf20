"""Known-answer parsing of device responses written from the vendors' published formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from services.ingest.adapters import dahua, hikvision
from services.ingest.adapters.base import BadResponse
from services.ingest.adapters.multipart import PartParser, boundary_of
from services.ingest.adapters.onvif import parse_notification, topic_kind

FIX = Path(__file__).parent / "fixtures"
CST = timezone(timedelta(hours=8))


def fx(name: str) -> bytes:
    return (FIX / name).read_bytes()


def test_isapi_device_info() -> None:
    info = hikvision.parse_device_info(fx("isapi_deviceInfo.xml"))
    assert info["model"] == "DS-7716NI-K4"
    assert info["deviceType"] == "NVR"
    assert info["firmwareVersion"] == "V4.30.085"


def test_isapi_time_keeps_zone() -> None:
    t = hikvision.parse_device_time(fx("isapi_time.xml"))
    assert t == datetime(2024, 3, 5, 6, 32, 40, tzinfo=UTC)


def test_isapi_storage_worst_disk_decides() -> None:
    assert hikvision.parse_storage(fx("isapi_storage_error.xml")) == "error"
    ok = fx("isapi_storage_error.xml").replace(b"smartFailed", b"ok")
    assert hikvision.parse_storage(ok) == "ok"
    unformatted = fx("isapi_storage_error.xml").replace(b"smartFailed", b"unformatted")
    assert hikvision.parse_storage(unformatted) == "unformatted"
    empty = b'<storage xmlns="http://www.hikvision.com/ver20/XMLSchema"><hddList/></storage>'
    assert hikvision.parse_storage(empty) == "absent"


def test_isapi_video_input_no_video_is_video_loss() -> None:
    assert hikvision.parse_video_input(fx("isapi_video_input_noloss.xml")) is False
    ok = fx("isapi_video_input_noloss.xml").replace(b"NO VIDEO", b"1920*1080P")
    assert hikvision.parse_video_input(ok) is True


def test_isapi_search_result() -> None:
    segs, status = hikvision.parse_search(fx("isapi_search_more.xml"))
    assert status == "MORE"
    assert [(s.start, s.end, s.bytes) for s in segs] == [
        (datetime(2024, 3, 1, 0, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC), 1073741824),
        (
            datetime(2024, 3, 1, 1, tzinfo=UTC),
            datetime(2024, 3, 1, 1, 42, 17, tzinfo=UTC),
            760217600,
        ),
    ]
    assert segs[0].uri is not None and "&" in segs[0].uri


def test_isapi_search_request_uses_vendor_fields() -> None:
    body = hikvision.build_search(
        3, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC), 50, 25, "SID"
    )
    root = etree.fromstring(body)
    ns = {"i": "http://www.isapi.org/ver20/XMLSchema"}
    assert root.findtext("i:trackIDList/i:trackID", namespaces=ns) == "301"
    assert root.findtext("i:searchResultPostion", namespaces=ns) == "50"
    assert root.findtext("i:maxResults", namespaces=ns) == "25"
    assert root.findtext(".//i:startTime", namespaces=ns) == "2024-03-01T00:00:00Z"


def test_isapi_alert_tamper_and_heartbeat() -> None:
    ev = hikvision.parse_alert(fx("isapi_alert_shelter.xml"))
    assert (ev.kind, ev.channel, ev.active) == ("tamper", 2, True)
    assert ev.at == datetime(2024, 3, 5, 6, 35, 2, tzinfo=UTC)
    raw = fx("isapi_alertstream.bin")
    parts = PartParser(boundary_of("multipart/mixed; boundary=boundary")).feed(raw)
    kinds = [hikvision.parse_alert(body).kind for _h, body in parts]
    assert kinds == ["heartbeat", "tamper"]


@pytest.mark.parametrize("chunk", [1, 7, 64, 100000])
def test_multipart_any_chunking(chunk: int) -> None:
    raw = fx("dahua_attach_stream.bin")
    p = PartParser("myboundary")
    parts = []
    for i in range(0, len(raw), chunk):
        parts += p.feed(raw[i : i + chunk])
    events = [dahua.parse_event_part(b) for _h, b in parts]
    assert [(e.kind, e.channel, e.active) for e in events] == [
        ("video_loss", 3, True),
        ("heartbeat", 0, False),
        ("tamper", 1, False),
    ]


def test_dahua_system_info_and_time() -> None:
    assert dahua.parse_system_info(fx("dahua_systeminfo.txt"))["deviceType"] == "DH-NVR4216-4KS2"
    t = dahua.parse_current_time(fx("dahua_currenttime.txt"), CST)
    assert t == datetime(2024, 3, 5, 6, 32, 40, tzinfo=UTC)


def test_dahua_storage_error() -> None:
    assert dahua.parse_storage(fx("dahua_storage_error.txt")) == "error"
    first_disk_only = b"".join(
        line + b"\r\n"
        for line in fx("dahua_storage_error.txt").splitlines()
        if line.startswith(b"list.info[0]")
    )
    assert dahua.parse_storage(first_disk_only) == "ok"


def test_dahua_find_next_file() -> None:
    segs = dahua.parse_find_result(fx("dahua_findnextfile.txt"), CST)
    assert [(s.start, s.end, s.bytes) for s in segs] == [
        (datetime(2024, 3, 1, 0, tzinfo=UTC), datetime(2024, 3, 1, 1, tzinfo=UTC), 1073741824),
        (
            datetime(2024, 3, 1, 1, tzinfo=UTC),
            datetime(2024, 3, 1, 1, 30, 12, tzinfo=UTC),
            536870912,
        ),
    ]


def test_dahua_event_indexes() -> None:
    assert dahua.parse_event_indexes(b"channels[0]=0\r\nchannels[1]=3\r\n") == {1, 4}
    assert dahua.parse_event_indexes(b"") == set()


def test_onvif_notification() -> None:
    msg = etree.fromstring(fx("onvif_pull_message.xml"))
    ev = parse_notification("tns1:VideoSource/SignalLoss", msg)
    assert (ev.kind, ev.channel, ev.active) == ("video_loss", 2, True)
    assert topic_kind("tns1:RuleEngine/TamperDetector/Tamper") == "tamper"
    assert topic_kind("tns1:Device/Trigger/DigitalInput") == "other"


@pytest.mark.parametrize(
    ("parse", "body", "expected"),
    [
        (hikvision.parse_device_time, b"<Time><localTime>2024-", "malformed XML"),
        (hikvision.parse_device_time, b"", "empty body"),
        (hikvision.parse_device_time, b"<html><body>Login</body></html>", "expected <Time>"),
        (
            hikvision.parse_device_time,
            b"<Time><localTime>yesterday</localTime></Time>",
            "unreadable time",
        ),
        (
            hikvision.parse_search,
            b"<CMSearchResult><responseStatusStrg>WHAT</responseStatusStrg></CMSearchResult>",
            "unknown responseStatusStrg",
        ),
        (
            hikvision.parse_device_time,
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Time><localTime>&e;</localTime>'
            b"</Time>",
            "missing time",
        ),  # the entity is never resolved
        (dahua.parse_system_info, b"\x00\x01garbage{{{", "not key=value"),
        (dahua.parse_system_info, b"Error\r\nBad Request!\r\n", "device answered Error"),
        (lambda b: dahua.parse_find_result(b, CST), b"found=2\r\n", "items[0] missing"),
        (lambda b: dahua.parse_find_result(b, CST), b"found=lots\r\n", "is not a count"),
        (
            lambda b: dahua.parse_current_time(b, CST),
            b"result=2024-13-45 99:00:00\r\n",
            "unreadable time",
        ),
    ],
)
def test_malformed_bodies_say_what_is_wrong(parse, body: bytes, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadResponse, match=expected.replace("[", r"\[").replace("]", r"\]")):
        parse(body)


def test_event_stream_part_size_is_bounded() -> None:
    p = PartParser("myboundary", max_part=1024)
    with pytest.raises(BadResponse, match="size limit"):
        p.feed(b"--myboundary\r\nContent-Type: text/plain\r\n\r\n" + b"x" * 5000)


def test_onvif_utctime_without_zone_is_utc() -> None:
    """UtcTime is UTC by its name: a camera that leaves out the Z still gives an aware time."""
    msg = etree.fromstring(fx("onvif_pull_message.xml").replace(b"06:35:02Z", b"06:35:02"))
    ev = parse_notification("tns1:VideoSource/SignalLoss", msg)
    assert ev.at == datetime(2024, 3, 5, 6, 35, 2, tzinfo=UTC)
