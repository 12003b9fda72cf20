"""Server side of HTTP digest auth (RFC 7616, MD5, qop=auth), as cameras implement it.

Nonces are stateless (timestamp + HMAC) so one process can serve thousands of devices
without a nonce table; a nonce older than NONCE_TTL_S is answered `stale=true`, which
well-behaved clients handle by re-authenticating without bothering the user.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time

NONCE_TTL_S = 300
_SECRET = os.urandom(16)
_PAIR = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]*))')


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


def parse_authorization(header: str) -> dict[str, str] | None:
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "digest":
        return None
    return {k.lower(): (q if q else u) for k, q, u in _PAIR.findall(rest)}


def check(header: str | None, method: str, realm: str, username: str, password: str) -> str:
    """'ok', 'stale' (valid but old nonce) or 'denied'."""
    if not header:
        return "denied"
    p = parse_authorization(header)
    if not p or p.get("username") != username or p.get("realm") != realm:
        return "denied"
    nonce = p.get("nonce", "")
    state = nonce_state(nonce)
    if state == "bad":
        return "denied"

    def md5(s: str) -> str:
        return hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()

    ha1 = md5(f"{username}:{realm}:{password}")
    ha2 = md5(f"{method}:{p.get('uri', '')}")
    if p.get("qop"):
        expect = md5(f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p['qop']}:{ha2}")
    else:
        expect = md5(f"{ha1}:{nonce}:{ha2}")
    if not hmac.compare_digest(expect, p.get("response", "")):
        return "denied"
    return "stale" if state == "stale" else "ok"
