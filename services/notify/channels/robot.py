"""WeCom (企业微信) and DingTalk (钉钉) group robots: one markdown message per delivery.

DingTalk's "加签" security setting signs each call: timestamp (ms) and
base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")) as query parameters; the robot refuses a
timestamp more than an hour off. Both robots answer HTTP 200 with a JSON `errcode` (0 = taken).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx

from .base import ChannelError, Outbound
from .text import markdown_escape


def _markdown(msg: Outbound) -> str:
    return (
        f"**{markdown_escape(msg.title)}**\n> {markdown_escape(msg.body)}\n"
        f"> 接收人 recipient: {markdown_escape(msg.recipient)}"
    )


async def _post(http: httpx.AsyncClient, name: str, url: str, payload: dict[str, Any]) -> None:
    try:
        resp = await http.post(url, json=payload)
    except httpx.HTTPError as exc:
        raise ChannelError(f"{name} 机器人不可达 robot unreachable: {exc!r}") from exc
    if resp.status_code != 200:
        raise ChannelError(f"{name} 机器人返回 HTTP {resp.status_code}")
    try:
        body = resp.json()
    except ValueError as exc:
        raise ChannelError(f"{name} 机器人应答不是 JSON: {resp.text[:120]!r}") from exc
    if not isinstance(body, dict) or body.get("errcode", -1) != 0:
        raise ChannelError(f"{name} 机器人拒收 robot refused: {str(body)[:200]}")


class WeComRobot:
    name = "webhook"  # the first robot channel; its name stays for existing deliveries

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=timeout_s)

    def reaches(self, msg: Outbound) -> bool:
        return True

    async def send(self, msg: Outbound) -> None:
        await _post(
            self.http, "企业微信 WeCom", self.url,
            {"msgtype": "markdown", "markdown": {"content": _markdown(msg)}},
        )  # fmt: skip

    async def close(self) -> None:
        await self.http.aclose()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


class DingTalkRobot:
    name = "dingtalk"

    def __init__(self, url: str, secret: str = "", timeout_s: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.http = httpx.AsyncClient(timeout=timeout_s)

    def reaches(self, msg: Outbound) -> bool:
        return True

    def signed_url(self, now_ms: int | None = None) -> httpx.URL:
        url = httpx.URL(self.url)
        if not self.secret:
            return url
        ts = now_ms if now_ms is not None else int(time.time() * 1000)
        return url.copy_merge_params({"timestamp": str(ts), "sign": dingtalk_sign(self.secret, ts)})

    async def send(self, msg: Outbound) -> None:
        payload = {
            "msgtype": "markdown",
            "markdown": {"title": msg.title[:64], "text": _markdown(msg)},
        }
        await _post(self.http, "钉钉 DingTalk", str(self.signed_url()), payload)

    async def close(self) -> None:
        await self.http.aclose()
