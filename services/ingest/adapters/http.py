"""HTTP with digest auth, timeouts and size caps, shared by the ISAPI and Dahua adapters.

One aiohttp session (one connection pool) serves the whole fleet; each device gets its own
DigestAuthMiddleware so its nonce is reused preemptively (one round trip per request instead
of two, which is what makes 170 probes/s affordable), and its connection is kept between
samples (`keepalive_s` longer than the sample period: at 5,000 cameras a new TCP connection
per probe, opened and closed by both ends, was a tenth of ingest's CPU). Every failure
becomes a DeviceError whose text names the URL path and what was wrong, never the
credentials.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

import aiohttp
from aiohttp import DigestAuthMiddleware

from .base import (
    MAX_RESPONSE_BYTES,
    AuthFailed,
    BadResponse,
    Credentials,
    DeviceTarget,
    NoAnswer,
    Unreachable,
)

SharedKey = tuple[str, int, str, str, str]


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 5.0
    max_connections: int = 256  # connections in use at once; idle kept ones do not count
    keepalive_s: float = 15.0  # an idle connection to a device is kept this long
    max_response_bytes: int = MAX_RESPONSE_BYTES
    auth_cache_size: int = 20000
    # a whole device's facts (an NVR's disks, its channels with video loss) are read once for
    # all its cameras within this many seconds (0: every camera reads them itself)
    device_share_s: float = 0.0


@dataclass
class HttpReply:
    status: int
    content_type: str
    body: bytes
    elapsed_ms: float

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class DeviceHttp:
    """The fleet's HTTP client. Create inside a running loop; close() when done."""

    def __init__(self, settings: HttpSettings | None = None) -> None:
        self.settings = settings or HttpSettings()
        self._session: aiohttp.ClientSession | None = None
        self._auth: OrderedDict[tuple[str, int, str, str], DigestAuthMiddleware] = OrderedDict()
        # (host, port, user, password version, path) -> (read at, answer, cameras it served)
        self._shared: dict[SharedKey, tuple[float, HttpReply, set[str]]] = {}
        self._sharing: dict[SharedKey, asyncio.Future[HttpReply]] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            s = self.settings
            allow_open_files()  # one kept connection per device
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=s.max_connections,
                    limit_per_host=4,
                    ttl_dns_cache=300,
                    keepalive_timeout=s.keepalive_s,
                ),
                timeout=aiohttp.ClientTimeout(
                    total=s.connect_timeout_s + s.read_timeout_s,
                    sock_connect=s.connect_timeout_s,
                    sock_read=s.read_timeout_s,
                ),
                auto_decompress=True,
                raise_for_status=False,
            )
        return self._session

    def _middleware(self, target: DeviceTarget) -> tuple[DigestAuthMiddleware, ...]:
        creds = target.credentials
        if creds is None:
            return ()
        key = (target.host, target.port, *_login(creds))
        mw = self._auth.get(key)
        if mw is None:
            mw = DigestAuthMiddleware(creds.username, creds.password)
            self._auth[key] = mw
            if len(self._auth) > self.settings.auth_cache_size:
                self._auth.popitem(last=False)
        else:
            self._auth.move_to_end(key)
        return (mw,)

    def forget(self, target: DeviceTarget) -> None:
        """Drop the cached digest state, e.g. after an auth failure or a password change."""
        for key in [k for k in self._auth if k[0] == target.host and k[1] == target.port]:
            del self._auth[key]

    async def request(
        self,
        target: DeviceTarget,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        content_type: str | None = None,
        max_bytes: int | None = None,
        allow_error_status: bool = False,
    ) -> HttpReply:
        """One request; `allow_error_status` returns 4xx/5xx answers (a SOAP fault's body says
        what was wrong) instead of refusing them, all but 401."""
        url = target.origin + path
        shown = path.split("?", 1)[0]
        headers = {"Content-Type": content_type} if content_type else None
        limit = max_bytes or self.settings.max_response_bytes
        t0 = time.perf_counter()
        try:
            async with self.session.request(
                method, url, data=data, headers=headers, middlewares=self._middleware(target)
            ) as resp:
                # read(n) returns what has arrived, not n bytes: read until the cap or EOF
                chunks = bytearray()
                while len(chunks) <= limit:
                    chunk = await resp.content.read(limit + 1 - len(chunks))
                    if not chunk:
                        break
                    chunks += chunk
                body = bytes(chunks)
                elapsed = (time.perf_counter() - t0) * 1000
                if len(body) > limit:
                    raise BadResponse(f"{shown}: response larger than {limit} bytes, refused")
                ctype = resp.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
                if resp.status == 401:
                    self.forget(target)
                    raise AuthFailed(f"{shown}: device refused the credentials (HTTP 401)")
                if resp.status >= 400 and not allow_error_status:
                    raise BadResponse(f"{shown}: HTTP {resp.status}")
                return HttpReply(resp.status, ctype, body, elapsed)
        except TimeoutError as exc:
            raise NoAnswer(f"{shown}: no answer within {self.settings.read_timeout_s:g} s") from exc
        except aiohttp.ServerTimeoutError as exc:
            raise NoAnswer(f"{shown}: no answer within {self.settings.read_timeout_s:g} s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"{target.host}:{target.port}: {exc.os_error or exc}") from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise Unreachable(f"{target.host}:{target.port}: connection dropped ({exc})") from exc
        except aiohttp.ClientPayloadError as exc:
            raise BadResponse(f"{shown}: truncated or malformed body ({exc})") from exc
        except aiohttp.ClientResponseError as exc:
            raise BadResponse(f"{shown}: malformed HTTP response ({exc.message})") from exc
        except aiohttp.ClientError as exc:
            raise BadResponse(f"{shown}: {type(exc).__name__}: {exc}") from exc

    async def device_get(self, target: DeviceTarget, path: str) -> HttpReply:
        """GET a fact of the whole device (not of the camera's channel). One answer serves
        every other camera on the device for `device_share_s` (each camera's own next probe
        reads afresh); cameras asking meanwhile share the request in flight. At 5,000
        cameras on 64-channel recorders each NVR's disks were read 64 times a period, a
        third of ingest's requests (issue 9).

        Only cameras that log in alike share an answer: Dahua's probe takes its camera's
        reachability and credentials from it (ADR 0032), and an answer to another login
        proves nothing about this camera's."""
        ttl = self.settings.device_share_s
        if ttl <= 0:
            return await self.request(target, "GET", path)
        creds = target.credentials
        key: SharedKey = (target.host, target.port, *(_login(creds) if creds else ("", "")), path)
        hit = self._shared.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl and target.camera_id not in hit[2]:
            hit[2].add(target.camera_id)  # a camera never gets the same answer twice
            return hit[1]
        flying = self._sharing.get(key)
        if flying is None:
            flying = asyncio.ensure_future(self.request(target, "GET", path))
            self._sharing[key] = flying
            try:
                reply = await asyncio.shield(flying)
            finally:
                self._sharing.pop(key, None)
            if len(self._shared) > self.settings.auth_cache_size:
                self._shared.clear()
            self._shared[key] = (time.monotonic(), reply, {target.camera_id})
            return reply
        return await asyncio.shield(flying)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
        self._auth.clear()
        self._shared.clear()


def allow_open_files() -> int:
    """Raise this process's open-file limit to its hard limit (as Go's runtime does): a kept
    connection per device is a file, and 1,024 is a common default. Returns the limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):  # not allowed here: keep the limit we have
            pass
    return soft


def _login(creds: Credentials) -> tuple[str, str]:
    """Who logs in, and which version of their password: a cache key without the password."""
    return creds.username, _fingerprint(creds)


def _fingerprint(creds: Credentials) -> str:
    """Distinguish credential versions in the cache key without keeping the password in it."""
    import hashlib

    return hashlib.blake2s(creds.password.encode(), digest_size=8).hexdigest()


def expect_type(reply: HttpReply, path: str, *allowed: str) -> None:
    """Refuse a body whose content type is not one the vendor documents for this call."""
    if reply.content_type and reply.content_type not in allowed:
        raise BadResponse(
            f"{path}: wrong content type {reply.content_type!r}, expected {' or '.join(allowed)}"
        )
