"""Stand-ins for the alert channels campus-cctv does not own, strict about their protocols.

- WeCom group robot: POST /cgi-bin/webhook/send?key=K, markdown `content` ≤ 4096 bytes.
- DingTalk group robot with 加签: POST /robot/send?access_token=T&timestamp=MS&sign=S, where S is
  base64(HMAC-SHA256(secret, f"{MS}\\n{secret}")) and MS within one hour; markdown needs
  `title` and `text`. Errors come back as HTTP 200 with a non-zero `errcode`, as the real ones do.
- SMS gateway: POST /sms/send with `Authorization: Bearer KEY`, JSON {phone, text}; an 11-digit
  mainland number; answers {"code": 0, "msg_id": ...}.
Every accepted message is kept in `received` (and listed at GET /received) for tests to read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class ChannelStandins:
    wecom_key: str = "wecom-key"
    dingtalk_token: str = "ding-token"
    dingtalk_secret: str = "SEC-demo-secret"
    sms_key: str = "sms-key"
    failing: set[str] = field(default_factory=set)  # channels told to fail ("wecom", ...)
    received: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    base_url: str = ""

    def of(self, channel: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["channel"] == channel]

    async def wecom(self, req: web.Request) -> web.Response:
        if req.query.get("key") != self.wecom_key:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        if "wecom" in self.failing:
            return web.Response(status=503)
        body = await _json(req)
        if body is None or body.get("msgtype") != "markdown":
            return web.json_response({"errcode": 40008, "errmsg": "invalid message type"})
        content = (body.get("markdown") or {}).get("content")
        if not isinstance(content, str) or not content or len(content.encode()) > 4096:
            return web.json_response({"errcode": 40058, "errmsg": "markdown.content invalid"})
        self.received.append({"channel": "wecom", "body": body, "at": time.time()})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def dingtalk(self, req: web.Request) -> web.Response:
        if req.query.get("access_token") != self.dingtalk_token:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        ts, sign = req.query.get("timestamp", ""), req.query.get("sign", "")
        if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 3_600_000:
            return web.json_response({"errcode": 310000, "errmsg": "sign not match, timestamp"})
        mac = hmac.new(
            self.dingtalk_secret.encode(), f"{ts}\n{self.dingtalk_secret}".encode(), hashlib.sha256
        )
        if not hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign):
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        if "dingtalk" in self.failing:
            return web.Response(status=503)
        body = await _json(req)
        md = (body or {}).get("markdown") or {}
        if (body or {}).get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
            return web.json_response({"errcode": 40035, "errmsg": "markdown title/text missing"})
        self.received.append({"channel": "dingtalk", "body": body, "at": time.time()})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def sms(self, req: web.Request) -> web.Response:
        if req.headers.get("Authorization") != f"Bearer {self.sms_key}":
            return web.json_response({"code": 401, "msg": "unauthorised"}, status=401)
        if "sms" in self.failing:
            return web.Response(status=503)
        body = await _json(req)
        phone, text = (body or {}).get("phone"), (body or {}).get("text")
        if not isinstance(phone, str) or not re.fullmatch(r"1\d{10}", phone) or not text:
            return web.json_response({"code": 1001, "msg": "bad phone or empty text"})
        self.received.append({"channel": "sms", "body": body, "at": time.time()})
        return web.json_response({"code": 0, "msg_id": uuid.uuid4().hex})

    async def listing(self, _req: web.Request) -> web.Response:
        return web.json_response(self.received)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> ChannelStandins:
        app = web.Application()
        app.add_routes(
            [
                web.post("/cgi-bin/webhook/send", self.wecom),
                web.post("/robot/send", self.dingtalk),
                web.post("/sms/send", self.sms),
                web.get("/received", self.listing),
            ]
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()  # type: ignore[union-attr]
        self.base_url = f"http://{bound[0]}:{bound[1]}"
        return self

    @property
    def wecom_url(self) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={self.wecom_key}"

    @property
    def dingtalk_url(self) -> str:
        return f"{self.base_url}/robot/send?access_token={self.dingtalk_token}"

    @property
    def sms_url(self) -> str:
        return f"{self.base_url}/sms/send"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()


async def _json(req: web.Request) -> dict[str, Any] | None:
    try:
        body = await req.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
