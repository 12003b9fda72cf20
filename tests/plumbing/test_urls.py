"""`without_login`: every service shows a URL the same way, with `…@` where a login was —
the operator sees that one was written into the URL, never what it was."""

from __future__ import annotations

import pytest

from cctv.plumbing.urls import without_login


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:Hik12345@10.1.2.3:554/Streaming/Channels/101",
         "rtsp://…@10.1.2.3:554/Streaming/Channels/101"),
        ("http://admin:pw@nvr.campus.edu/ISAPI/ContentMgmt/search",
         "http://…@nvr.campus.edu/ISAPI/ContentMgmt/search"),
        # a "@" in the password: the login ends at the last one before the path
        ("rtsp://admin:p@ss@w0rd@10.1.2.3/cam", "rtsp://…@10.1.2.3/cam"),
        # a "#" or "?" in the password (by RFC 3986 the authority would end there)
        ("rtsp://admin:Hik#2024@10.1.2.3/cam", "rtsp://…@10.1.2.3/cam"),
        ("rtsp://admin:a?b@10.1.2.3", "rtsp://…@10.1.2.3"),
        # percent-encoded, as url_with_credentials writes it
        ("rtsp://ad%40min:p%3Aw%2Fd@10.1.2.3:554/x", "rtsp://…@10.1.2.3:554/x"),
        ("rtsp://admin@10.1.2.3/cam", "rtsp://…@10.1.2.3/cam"),  # a user alone is a login
        # IPv6 hosts keep their brackets, port and zone
        ("rtsp://admin:pw@[2001:db8::7]:8554/live", "rtsp://…@[2001:db8::7]:8554/live"),
        ("rtsp://u:p@[fe80::1%25eth0]/x", "rtsp://…@[fe80::1%25eth0]/x"),
        # a TURN URI has no "//" (RFC 7065); a login written into one is hidden all the same
        ("turn:nic:pw@turn.campus.edu:3478", "turn:…@turn.campus.edu:3478"),
        # the rest of the URL is left as written: query, fragment, case
        ("RTSP://a:b@Cam.Campus.EDU/x?channel=1&subtype=0#t",
         "RTSP://…@Cam.Campus.EDU/x?channel=1&subtype=0#t"),
    ],
)  # fmt: skip
def test_a_login_is_shown_as_an_ellipsis(url: str, shown: str) -> None:
    assert without_login(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://10.1.2.3:554/Streaming/Channels/101",
        "http://nvr.campus.edu/ISAPI/ContentMgmt/search",
        "rtsp://[2001:db8::7]:8554/live",
        "rtsp://10.1.2.3/cam/by-mail/ops@campus.edu",  # a "@" after the host is no login
        "rtsp://10.1.2.3/x?notify=ops@campus.edu",
        "stun:stun.campus.edu:3478",
        "ops@campus.edu",  # not a URL
        "",
    ],
)
def test_a_url_without_login_is_unchanged(url: str) -> None:
    assert without_login(url) == url
