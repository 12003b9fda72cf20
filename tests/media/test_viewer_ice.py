"""The viewer's ICE servers (ADR 0028): MEDIA_ICE_SERVERS and the TURN login are checked at
start, naming the bad entry; media's own peer uses them; a viewer's page gets them — TURN
login included — only after the offer's own check, before it gathers and offers. A STUN/TURN
stand-in on 127.0.0.1 (tests/support/stun.py) shows that each side really used them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cctv.contract import rpc as crpc
from services.media.ice import rtc_configuration
from services.media.ice_servers import IceServers, turn_rest_login
from services.media.settings import MediaSettings
from tests.media.test_viewer import GRANTEE, STRANGER, granted_site
from tests.support.events import EventLog
from tests.support.stun import StunServer
from tests.support.waiting import eventually
from tests.support.webrtc import PyViewer

SECRET = "coturn-static-auth-secret"
PW = "Tp4ss-SeCrEt"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"media_ice_servers": "stun:stun.campus.edu,https://turn.campus.edu"},
         "MEDIA_ICE_SERVERS: 'https://turn.campus.edu' is not a stun:, turn: or turns: URI"),
        ({"media_ice_servers": "stun://stun.campus.edu:3478"}, "'//' after the scheme"),
        ({"media_ice_servers": "STUN:stun.campus.edu"}, "'STUN:stun.campus.edu' is not a stun:"),
        ({"media_ice_servers": "stuns:stun.campus.edu"}, "'stuns:stun.campus.edu' is not"),
        ({"media_ice_servers": "turn:[2001:db8::1]:3478", "media_turn_secret": "s"},
         "IPv6 literal"),
        ({"media_ice_servers": "turn:turn.campus.edu:70000", "media_turn_secret": "s"},
         "'turn:turn.campus.edu:70000' has port '70000'"),
        ({"media_ice_servers": "turn:turn.campus.edu?transport=sctp", "media_turn_secret": "s"},
         "only ?transport=udp or ?transport=tcp"),
        ({"media_ice_servers": "turns:turn.campus.edu?transport=udp", "media_turn_secret": "s"},
         "turns: is TCP"),
        ({"media_ice_servers": "stun:stun.campus.edu?transport=udp"}, "takes no ?transport"),
        ({"media_ice_servers": f"turn:nic:{PW}@turn.campus.edu", "media_turn_secret": "s"},
         "'turn:…@turn.campus.edu' holds a login"),
        ({"media_ice_servers": "stun:under_score.campus.edu"}, "no usable host"),
        ({"media_ice_servers": "stun:stun.campus.edu,turn:turn.campus.edu"},
         "MEDIA_ICE_SERVERS: turn:turn.campus.edu needs a TURN login"),
        ({"media_turn_username": "nic"}, "MEDIA_TURN_PASSWORD is empty"),
        ({"media_turn_password": PW}, "MEDIA_TURN_USERNAME is empty"),
        ({"media_turn_secret": "s", "media_turn_username": "nic", "media_turn_password": PW},
         "are both set"),
    ],
)  # fmt: skip
def test_ice_settings_are_refused_naming_the_entry(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(named)) as e:
        MediaSettings(**settings)
    # the refusal never echoes the settings back: they hold the TURN password
    assert PW not in str(e.value) and SECRET not in str(e.value)


def test_good_ice_settings_are_taken() -> None:
    s = MediaSettings(
        media_ice_servers=" stun:stun.campus.edu , turn:10.10.0.5:3478?transport=tcp,"
        "turns:turn.campus.edu:443",
        media_turn_secret=SECRET,
    ).ice_servers()
    assert [(u.scheme, u.host, u.port, u.transport) for u in s.uris] == [
        ("stun", "stun.campus.edu", 3478, None),
        ("turn", "10.10.0.5", 3478, "tcp"),
        ("turns", "turn.campus.edu", 443, "tcp"),
    ]
    assert SECRET not in repr(s)  # a settings dump in a log keeps the secret out


def test_the_turn_login_is_read_from_mounted_secret_files(tmp_path: Path) -> None:
    """The Secret cctv-media is mounted at /run/secrets: one file per key, as every setting."""
    (tmp_path / "media_turn_secret").write_text(SECRET + "\n", encoding="utf-8")
    s = MediaSettings(_secrets_dir=tmp_path, media_ice_servers="turn:turn.campus.edu")  # type: ignore[call-arg]
    assert s.ice_servers().secret == SECRET
    both = tmp_path / "static"
    both.mkdir()
    (both / "media_turn_username").write_text("cctv-viewer\n", encoding="utf-8")
    (both / "media_turn_password").write_text("Tp4ss\n", encoding="utf-8")
    s = MediaSettings(_secrets_dir=both, media_ice_servers="turn:turn.campus.edu")  # type: ignore[call-arg]
    assert s.ice_servers().login("t_staff") == ("cctv-viewer", "Tp4ss", None)


def test_a_viewers_turn_login_is_cotruns_shared_secret_login() -> None:
    """coturn `use-auth-secret`: username `<unix expiry>:<name>`, password
    base64(HMAC-SHA1(secret, username)); the page gets STUN and TURN in one entry each."""
    servers = IceServers.from_settings(
        "stun:stun.campus.edu,turn:turn.campus.edu,turns:turn.campus.edu", secret=SECRET,
        ttl_s=3600,
    )  # fmt: skip
    got, expires = servers.for_browser("t_staff", now=1_800_000_000)
    mac = hmac.new(SECRET.encode(), b"1800003600:t_staff", hashlib.sha1).digest()
    assert expires == 1_800_003_600
    assert got == [
        {"urls": ["stun:stun.campus.edu"]},
        {"urls": ["turn:turn.campus.edu", "turns:turn.campus.edu"],
         "username": "1800003600:t_staff", "credential": base64.b64encode(mac).decode()},
    ]  # fmt: skip
    assert turn_rest_login(SECRET, "t_staff", 1_800_003_600)[0] == "1800003600:t_staff"


def test_medias_own_peer_gets_the_configured_servers_and_no_others() -> None:
    """Never aiortc's default public STUN server; TURN with media's own login."""
    assert rtc_configuration(IceServers()).iceServers == []
    conf = rtc_configuration(
        IceServers.from_settings(
            "stun:stun.campus.edu,turn:turn.campus.edu", username="nic", password="pw"
        )
    )
    assert [(s.urls, s.username, s.credential) for s in conf.iceServers] == [
        (["stun:stun.campus.edu"], None, None),
        (["turn:turn.campus.edu"], "nic", "pw"),
    ]


async def test_the_servers_go_to_an_allowed_viewer_only_and_both_peers_use_them(
    nats_url: str, database_url: str, tmp_path: Path, events: EventLog
) -> None:
    async with (
        StunServer(turn_secret=SECRET) as ice,
        granted_site(
            nats_url, database_url, tmp_path,
            media_ice_servers=f"{ice.uri},{ice.turn_uri}", media_turn_secret=SECRET,
        ) as g,
    ):  # fmt: skip
        ask = {"request_id": g.rid, "camera_id": g.camera, "kind": "recorded"}
        # someone the grant does not name: refused as their offer would be, nothing handed
        no = await g.media.rpc(crpc.MEDIA_ICE, {"actor": STRANGER, **ask})
        assert not no["ok"] and no["code"] == "not_grantee", no
        assert "ice_servers" not in no and SECRET not in json.dumps(no)
        (refused,) = await events.wait_for(
            "access.viewing",
            lambda d: d["action"] == "refused" and d.get("camera_id") == g.camera
            and d["actor"] == "t_admin",
        )  # fmt: skip
        assert refused["data"]["code"] == "not_grantee"
        no = await g.media.rpc(crpc.MEDIA_ICE, {"actor": GRANTEE, **ask, "camera_id": g.other})
        assert no["code"] == "camera_not_granted" and "ice_servers" not in no
        msg = await g.media.nc.request(
            g.media.prefix + crpc.MEDIA_ICE, json.dumps(ask).encode(), 10
        )
        assert json.loads(msg.data)["code"] == "identity_required"

        # the grantee: the STUN server, and TURN with a login of their own that expires
        yes = await g.media.rpc(crpc.MEDIA_ICE, {"actor": GRANTEE, **ask})
        assert yes["ok"], yes
        stun_entry, turn_entry = yes["ice_servers"]
        assert stun_entry == {"urls": [ice.uri]}  # as RTCIceServer takes it: no nulls
        assert turn_entry["urls"] == [ice.turn_uri]
        expiry, _, name = turn_entry["username"].partition(":")
        assert name == "t_staff" and 0 < int(expiry) - time.time() <= 28_800
        assert SECRET not in json.dumps(yes)

        # a viewer's peer configured with them, as the page's is: both sides use the servers
        viewer = PyViewer(ice_servers=yes["ice_servers"])
        try:
            reply = await g.media.rpc(
                crpc.MEDIA_VIEW, {"actor": GRANTEE, "sdp": await viewer.offer(), **ask}
            )
            assert reply["ok"], reply
            await viewer.accept(reply["sdp"])
            await viewer.wait_frames(3)
        finally:
            await viewer.close()

        async def used() -> Any:
            return {login.username.partition(":")[2]: login.valid for login in ice.logins}

        logins = await eventually(
            used, lambda u: {"t_staff", "media"} <= set(u), changes=ice.changes,
            what="the viewer's and media's TURN logins at the TURN server",
        )  # fmt: skip
        assert logins == {"t_staff": True, "media": True}, ice.logins
        # both peers asked the STUN server for their address (one socket each)
        assert len(set(ice.asked)) >= 2, ice.asked
