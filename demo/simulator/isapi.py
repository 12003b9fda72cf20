"""A Hikvision NVR's ISAPI content search, for the simulated recorder (`replay.ReplayServer`
in its `hikvision` dialect): `POST /ISAPI/ContentMgmt/search`.

Stricter than lenient devices, so the media adapter is built to the protocol and not to our
simulator's kindness: digest authentication always (RFC 2617 with `qop=auth`, as the devices
ask), a `CMSearchDescription` body with exactly the fields a search needs, times only as
`YYYY-MM-DDTHH:MM:SSZ`, and a bad request answered 400 with an ISAPI `ResponseStatus`.
Recordings are cut into files of `segment_s` (an hour) as an NVR writes them; a track is
`<channel>01` (main stream); results page by `maxResults` / `searchResultPostion`, with
`responseStatusStrg` `MORE`, `OK` or `NO MATCHES`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Self
from xml.sax.saxutils import escape

from aiohttp import web
from defusedxml import ElementTree

from cctv import rtsp
from demo.simulator.replay import ReplayServer

ISAPI_NS = "http://www.isapi.org/ver20/XMLSchema"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MAX_BODY = 64 * 1024


def _status(code: int, sub: str, path: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<ResponseStatus version="2.0" xmlns="{ISAPI_NS}">'
        f"<requestURL>{escape(path)}</requestURL><statusCode>{4 if code == 400 else 6}"
        f"</statusCode><statusString>Invalid Operation</statusString>"
        f"<subStatusCode>{sub}</subStatusCode></ResponseStatus>"
    )
    return web.Response(status=code, text=body, content_type="application/xml")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(el: object, *path: str) -> str | None:
    node = el
    for name in path:
        node = next((c for c in node if _local(c.tag) == name), None)  # type: ignore[attr-defined]
        if node is None:
            return None
    return (node.text or "").strip()  # type: ignore[attr-defined]


class DigestHttp:
    """The HTTP side of a simulated NVR beside its RTSP playback `recorder`: one aiohttp app,
    digest authentication (RFC 2617, `qop=auth`) on every request, nothing else accepted."""

    def __init__(self, recorder: ReplayServer, *, segment_s: int = 3600) -> None:
        assert recorder.username is not None and recorder.password is not None
        self.recorder = recorder
        self.segment = timedelta(seconds=segment_s)  # an NVR writes a file an hour
        self.guard = rtsp.DigestGuard(recorder.username, recorder.password, recorder.realm)
        self.searches = 0
        self.refused = 0
        self._runner: web.AppRunner | None = None
        self.host = recorder.host

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @property
    def url(self) -> str:
        assert self._runner is not None
        port = self._runner.addresses[0][1]
        return f"http://{self.host}:{port}"

    async def start(self, port: int = 0) -> Self:
        app = web.Application(client_max_size=MAX_BODY)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def refusal(self, request: web.Request) -> web.Response | None:
        """None when the request carries a valid digest answer, else the 401 challenge."""
        value = request.headers.get("Authorization", "")
        d = rtsp.parse_digest(value)
        if (
            d.get("qop") == "auth"
            and d.get("uri") == request.path_qs
            and self.guard.check(request.method, value)
        ):
            return None
        self.refused += 1
        challenge = f'{self.guard.challenge()}, qop="auth", algorithm=MD5'
        return web.Response(
            status=401, text="Unauthorized", headers={"WWW-Authenticate": challenge}
        )

    def files(
        self, channel: int, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime]]:
        """The recorded files of a channel overlapping [start, end), clipped to what it holds."""
        if channel not in self.recorder.channels:
            return []
        first, last = self.recorder.recorded_span()
        lo, hi = max(start, first), min(end, last)
        if lo >= hi:
            return []
        seg = self.segment.total_seconds()
        t = datetime.fromtimestamp(lo.timestamp() // seg * seg, UTC)
        out: list[tuple[datetime, datetime]] = []
        while t < hi:
            out.append((max(t, first), min(t + self.segment, last)))
            t += self.segment
        return out


class IsapiSearch(DigestHttp):
    """A Hikvision NVR's ISAPI content search."""

    def __init__(self, recorder: ReplayServer, *, segment_s: int = 3600) -> None:
        if recorder.brand != "hikvision":
            raise ValueError("ISAPI search serves a recorder in the hikvision dialect")
        super().__init__(recorder, segment_s=segment_s)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/ISAPI/ContentMgmt/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        path = request.path
        try:
            body = await request.read()
            root = ElementTree.fromstring(body)
        except Exception:
            return _status(400, "badXmlFormat", path)
        if _local(root.tag) != "CMSearchDescription":
            return _status(400, "badXmlContent", path)
        search_id = _find(root, "searchID")
        track = _find(root, "trackList", "trackID")
        start_s = _find(root, "timeSpanList", "timeSpan", "startTime")
        end_s = _find(root, "timeSpanList", "timeSpan", "endTime")
        max_s = _find(root, "maxResults")
        pos_s = _find(root, "searchResultPostion") or "0"
        if not search_id or not track or not track.isdigit() or not max_s or not max_s.isdigit():
            return _status(400, "badXmlContent", path)
        if not start_s or not end_s or not TIME.match(start_s) or not TIME.match(end_s):
            return _status(400, "badParameters", path)
        if not pos_s.isdigit():
            return _status(400, "badParameters", path)
        self.searches += 1
        start = datetime.strptime(start_s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        end = datetime.strptime(end_s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        channel = int(track) // 100
        items = self.files(channel, start, end) if int(track) % 100 == 1 else []
        pos, most = int(pos_s), max(1, min(int(max_s), 50))
        page = items[pos : pos + most]
        status = "NO MATCHES" if not items else ("MORE" if pos + most < len(items) else "OK")
        matches = "".join(
            "<searchMatchItem>"
            f"<sourceID>{{00000000-0000-0000-0000-{channel:012d}}}</sourceID>"
            f"<trackID>{track}</trackID>"
            f"<timeSpan><startTime>{s:%Y-%m-%dT%H:%M:%SZ}</startTime>"
            f"<endTime>{e:%Y-%m-%dT%H:%M:%SZ}</endTime></timeSpan>"
            "<mediaSegmentDescriptor><contentType>video</contentType>"
            "<codecType>H.264-BP</codecType>"
            f"<playbackURI>{escape(self.recorder.track_url(channel, s, e))}</playbackURI>"
            "</mediaSegmentDescriptor></searchMatchItem>"
            for s, e in page
        )
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<CMSearchResult version="2.0" xmlns="{ISAPI_NS}">'
            f"<searchID>{escape(search_id)}</searchID><responseStatus>true</responseStatus>"
            f"<responseStatusStrg>{status}</responseStatusStrg>"
            f"<numOfMatches>{len(page)}</numOfMatches>"
            f"<matchList>{matches}</matchList></CMSearchResult>"
        )
        return web.Response(text=xml, content_type="application/xml")
