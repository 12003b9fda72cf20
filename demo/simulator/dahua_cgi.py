"""A Dahua NVR's recorded-file search (HTTP API `mediaFileFind.cgi`), for the simulated
recorder (`replay.ReplayServer` in its `dahua` dialect).

The finder is a small state machine on the device: `action=factory.create` → `result=<id>`;
`action=findFile&object=<id>&condition.Channel=N&condition.StartTime=YYYY-MM-DD HH:MM:SS
&condition.EndTime=...` (the recorder's local time; `condition.Types[0]=dav`) → `OK`;
`action=findNextFile&object=<id>&count=K` → `found=n` and `items[i].Channel` (0-based),
`items[i].StartTime`, `items[i].EndTime`, `items[i].FilePath`, `items[i].Type`, until
`found=0`; then `action=close` and `action=destroy`. Digest authentication always; a bad
request is answered 400 `Error` / `Bad Request!`, as the devices do."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from aiohttp import web

from demo.simulator.isapi import DigestHttp
from demo.simulator.replay import ReplayServer

PATH = "/cgi-bin/mediaFileFind.cgi"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
FORMAT = "%Y-%m-%d %H:%M:%S"


def _bad() -> web.Response:
    return web.Response(status=400, text="Error\r\nBad Request!\r\n")


def _ok(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/plain")


class DahuaFileFind(DigestHttp):
    def __init__(self, recorder: ReplayServer, *, segment_s: int = 3600) -> None:
        if recorder.brand != "dahua":
            raise ValueError("mediaFileFind serves a recorder in the dahua dialect")
        super().__init__(recorder, segment_s=segment_s)
        self.finders: dict[str, list[tuple[int, datetime, datetime]] | None] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.cgi)

    async def cgi(self, request: web.Request) -> web.Response:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        q = request.query
        action = q.get("action", "")
        if action == "factory.create":
            obj = str(secrets.randbelow(10**8))
            self.finders[obj] = None
            return _ok(f"result={obj}\r\n")
        obj = q.get("object", "")
        if obj not in self.finders:
            return _bad()
        if action == "findFile":
            return self._find(obj, q)
        if action == "findNextFile":
            found = self.finders[obj]
            count = q.get("count", "")
            if found is None or not count.isdigit() or not 1 <= int(count) <= 100:
                return _bad()
            page, self.finders[obj] = found[: int(count)], found[int(count) :]
            lines = [f"found={len(page)}"]
            tz = self.recorder.tz
            for i, (ch, s, e) in enumerate(page):
                lines += [
                    f"items[{i}].Channel={ch - 1}",
                    f"items[{i}].StartTime={s.astimezone(tz).strftime(FORMAT)}",
                    f"items[{i}].EndTime={e.astimezone(tz).strftime(FORMAT)}",
                    f"items[{i}].FilePath=/mnt/dvr/{s.astimezone(tz):%Y-%m-%d}/{ch:03d}/"
                    f"dav/{s.astimezone(tz):%H.%M.%S}-{e.astimezone(tz):%H.%M.%S}[R][0@0][0].dav",
                    f"items[{i}].Type=dav",
                ]
            return _ok("\r\n".join(lines) + "\r\n")
        if action in ("close", "destroy"):
            if action == "destroy":
                self.finders.pop(obj, None)
            return _ok("OK\r\n")
        return _bad()

    def _find(self, obj: str, q: object) -> web.Response:
        get = q.get  # type: ignore[attr-defined]
        ch, start_s, end_s = (
            get("condition.Channel", ""),
            get("condition.StartTime", ""),
            get("condition.EndTime", ""),
        )
        if not ch.isdigit() or not TIME.match(start_s) or not TIME.match(end_s):
            return _bad()
        tz = self.recorder.tz
        start = datetime.strptime(start_s, FORMAT).replace(tzinfo=tz)
        end = datetime.strptime(end_s, FORMAT).replace(tzinfo=tz)
        if start >= end:
            return _bad()
        self.searches += 1
        channel = int(ch)
        self.finders[obj] = [(channel, s, e) for s, e in self.files(channel, start, end)]
        return _ok("OK\r\n")
