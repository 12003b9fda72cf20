"""The viewer's STUN/TURN servers: parsed strictly, and the TURN login a viewer is handed.

Why a module of its own, free of aiortc: the settings, the viewer and NIC's values check
(deploy/k8s/tools/nic_values.py) must refuse the same entries, so there is one parser.

Why so strict: a URI the browser takes but aiortc cannot parse (an IPv6 literal, `turns:` over
UDP) would break every viewing session, or only the browser's half of it, long after the
deployment; a `stun://…` or `http://…` typo would be silently skipped by the browser. Each is
refused at start, naming the entry (ADR 0028).

TURN logins (ADR 0028): either one long-term login (`MEDIA_TURN_USERNAME`/`_PASSWORD`), handed
as is to every person allowed to view, or — what a TURN server run by NIC should use — coturn's
shared secret (`MEDIA_TURN_SECRET`, coturn `use-auth-secret`/`static-auth-secret`, the "TURN
REST API" draft): each viewer gets a login of their own that expires, `<unix expiry>:<account>`
with the password base64(HMAC-SHA1(secret, username)), so the TURN server's log names them and
a copied login stops working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import Any

from cctv.plumbing.urls import without_login

SETTING = "MEDIA_ICE_SERVERS"
SCHEMES = ("stun", "turn", "turns")
LABEL = r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
HOST = re.compile(rf"^(?=.{{1,253}}$){LABEL}(\.{LABEL})*$")


class IceSettingError(ValueError):
    """A WebRTC setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class IceUri:
    """One STUN/TURN URI (RFC 7064 / 7065) as both aiortc and browsers read it."""

    text: str
    scheme: str
    host: str
    port: int
    transport: str | None  # TURN only: udp | tcp

    @property
    def is_turn(self) -> bool:
        return self.scheme != "stun"


def parse_uri(text: str) -> IceUri:
    """`stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]`, `turns:host[:port]
    [?transport=tcp]`; anything else raises IceSettingError naming the entry and why."""

    def bad(why: str) -> IceSettingError:
        return IceSettingError(f"{SETTING}: {without_login(text)!r} {why}")

    scheme, colon, rest = text.partition(":")
    if not colon or scheme not in SCHEMES:  # lower case: aiortc reads no other
        raise bad(
            "is not a stun:, turn: or turns: URI; e.g. stun:turn.example.edu:3478, "
            "turn:turn.example.edu:3478?transport=udp"
        )
    if rest.startswith("//"):
        raise bad(f"has '//' after the scheme: write {scheme}:host:port (RFC 7064/7065)")
    if "@" in rest:
        raise bad("holds a login: the TURN login goes in MEDIA_TURN_SECRET or MEDIA_TURN_USERNAME/"
                  "MEDIA_TURN_PASSWORD (Secret cctv-media), never in the URI")  # fmt: skip
    authority, q, query = rest.partition("?")
    transport: str | None = None
    if q:
        if scheme == "stun":
            raise bad("has a query: a stun: URI takes no ?transport (RFC 7064)")
        key, eq, value = query.partition("=")
        if key != "transport" or not eq or value not in ("udp", "tcp"):
            raise bad(f"has query {query!r}: only ?transport=udp or ?transport=tcp (RFC 7065)")
        transport = value
    if authority.startswith("["):
        raise bad("has an IPv6 literal, which aiortc cannot read: use a host name")
    host, c, port_text = authority.partition(":")
    if not host or not (HOST.match(host) or _is_ipv4(host)):
        raise bad(f"has no usable host ({host!r}): a DNS name or an IPv4 address")
    port = 5349 if scheme == "turns" else 3478
    if c:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise bad(f"has port {port_text!r}: 1-65535")
        port = int(port_text)
    if scheme == "turns" and transport == "udp":
        raise bad("is TURN over TLS on UDP (DTLS), which aiortc cannot use: turns: is TCP")
    if scheme == "turn" and transport is None:
        transport = "udp"
    if scheme == "turns":
        transport = "tcp"
    return IceUri(text, scheme, host, port, transport)


def _is_ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False


def parse_servers(text: str) -> list[IceUri]:
    """MEDIA_ICE_SERVERS: comma-separated URIs, "" = none."""
    return [parse_uri(u.strip()) for u in text.split(",") if u.strip()]


def turn_rest_login(secret: str, who: str, expires: int) -> tuple[str, str]:
    """coturn's shared-secret login: (`<expires>:<who>`, base64(HMAC-SHA1(secret, username)))."""
    username = f"{expires}:{who}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


@dataclass(frozen=True)
class IceServers:
    """The configured servers and TURN login; what media's peer and a viewer's page use."""

    uris: tuple[IceUri, ...] = ()
    username: str = ""
    password: str = field(default="", repr=False)  # never in a log line
    secret: str = field(default="", repr=False)
    ttl_s: int = 28_800

    @classmethod
    def from_settings(
        cls, servers: str, username: str = "", password: str = "", secret: str = "",
        ttl_s: int = 28_800,
    ) -> IceServers:  # fmt: skip
        """Checked as a whole: a TURN URI needs exactly one kind of login."""
        uris = tuple(parse_servers(servers))
        if bool(username) != bool(password):
            raise IceSettingError(
                "MEDIA_TURN_USERNAME and MEDIA_TURN_PASSWORD go together: "
                f"{'MEDIA_TURN_PASSWORD' if username else 'MEDIA_TURN_USERNAME'} is empty"
            )
        if secret and username:
            raise IceSettingError(
                "MEDIA_TURN_SECRET (per-viewer logins) and MEDIA_TURN_USERNAME/PASSWORD (one "
                "shared login) are both set: keep the one the TURN server is configured for"
            )
        turns = [u.text for u in uris if u.is_turn]
        if turns and not (secret or username):
            raise IceSettingError(
                f"{SETTING}: {', '.join(turns)} needs a TURN login: MEDIA_TURN_SECRET (coturn "
                "static-auth-secret) or MEDIA_TURN_USERNAME/MEDIA_TURN_PASSWORD"
            )
        if ttl_s < 60:
            raise IceSettingError(f"MEDIA_TURN_TTL_S: {ttl_s} s is too short (at least 60)")
        return cls(uris, username, password, secret, ttl_s)

    @property
    def has_turn(self) -> bool:
        return any(u.is_turn for u in self.uris)

    def login(self, who: str, now: float | None = None) -> tuple[str, str, int | None]:
        """The TURN (username, credential, unix expiry or None) for `who`."""
        if self.secret:
            expires = int(now if now is not None else time.time()) + self.ttl_s
            return (*turn_rest_login(self.secret, who, expires), expires)
        return self.username, self.password, None

    def for_browser(
        self, who: str, now: float | None = None
    ) -> tuple[list[dict[str, Any]], int | None]:
        """RTCConfiguration.iceServers for the page of `who` (allowed to view: the caller
        checked), and when its TURN login expires."""
        stun = [u.text for u in self.uris if not u.is_turn]
        turn = [u.text for u in self.uris if u.is_turn]
        out: list[dict[str, Any]] = [{"urls": stun}] if stun else []
        expires = None
        if turn:
            username, credential, expires = self.login(who, now)
            out.append({"urls": turn, "username": username, "credential": credential})
        return out, expires
