"""Server side of HTTP digest auth (RFC 7616, MD5, qop=auth), as cameras implement it.

Nonces are stateless (timestamp + HMAC) so one process can serve thousands of devices
without a nonce table; a nonce older than NONCE_TTL_S is answered `stale=true`, which
well-behaved clients handle by re-authenticating without bothering the user. The header's
parsing and the RFC 2617 arithmetic are cctv.rtsp's, the one place for them; this module
adds only the stateless nonces.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time

from cctv import rtsp

NONCE_TTL_S = 300
_SECRET = os.urandom(16)


def make_nonce(now: float | None = None) -> str:
    ts = f"{int(now or time.time()):x}"
    mac = hmac.new(_SECRET, ts.encode(), hashlib.sha256).hexdigest()[:24]
    return f"{ts}{mac}"


def nonce_state(nonce: str, now: float | None = None) -> str:
    """'ok', 'stale' or 'bad'."""
    ts, mac = nonce[:-24], nonce[-24:]
    good = hmac.new(_SECRET, ts.encode(), hashlib.sha256).hexdigest()[:24]
    if not ts or not hmac.compare_digest(mac, good):
        return "bad"
    try:
        age = (now or time.time()) - int(ts, 16)
    except ValueError:
        return "bad"
    return "ok" if 0 <= age <= NONCE_TTL_S else "stale"


def challenge(realm: str, stale: bool = False) -> str:
    s = ', stale="true"' if stale else ""
    return f'Digest realm="{realm}", qop="auth", nonce="{make_nonce()}", algorithm="MD5"{s}'


def check(header: str | None, method: str, realm: str, username: str, password: str) -> str:
    """'ok', 'stale' (valid but old nonce) or 'denied'."""
    if not header:
        return "denied"
    p = rtsp.parse_digest(header)
    if not p or p.get("username") != username or p.get("realm") != realm:
        return "denied"
    nonce = p.get("nonce", "")
    state = nonce_state(nonce)
    if state == "bad":
        return "denied"
    expect = rtsp.digest_response(
        username, password, realm, nonce, method, p.get("uri", ""),
        qop=p.get("qop"), nc=p.get("nc", ""), cnonce=p.get("cnonce", ""),
    )  # fmt: skip
    if not hmac.compare_digest(expect, p.get("response", "")):
        return "denied"
    return "stale" if state == "stale" else "ok"
