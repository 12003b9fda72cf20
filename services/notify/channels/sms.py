"""SMS through the campus (or carrier) HTTP gateway: POST JSON, bearer key, `code` 0 = queued.

Gateways differ in field names; this adapter speaks the common shape
`{"phone": "...", "text": "..."}` → `{"code": 0, "msg_id": "..."}`, and anything else that is
not a 2xx with code 0 is a failure, retried with backoff.
"""

from __future__ import annotations

import httpx

from .base import ChannelError, Outbound

SMS_MAX_CHARS = 300  # long messages are split into several bills by carriers; keep one


class SmsGateway:
    name = "sms"

    def __init__(self, url: str, api_key: str = "", timeout_s: float = 5.0) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.AsyncClient(timeout=timeout_s, headers=headers)

    def reaches(self, msg: Outbound) -> bool:
        return bool(msg.phone)

    async def send(self, msg: Outbound) -> None:
        if not msg.phone:
            raise ChannelError(f"{msg.recipient} 无手机号 has no phone number")
        text = f"{msg.title} {msg.body}".strip()[:SMS_MAX_CHARS]
        try:
            resp = await self.http.post(self.url, json={"phone": msg.phone, "text": text})
        except httpx.HTTPError as exc:
            raise ChannelError(f"短信网关不可达 SMS gateway unreachable: {exc!r}") from exc
        if not 200 <= resp.status_code < 300:
            raise ChannelError(f"短信网关返回 HTTP {resp.status_code}")
        try:
            code = resp.json().get("code", -1)
        except (ValueError, AttributeError) as exc:
            raise ChannelError(f"短信网关应答无法解析: {resp.text[:120]!r}") from exc
        if code != 0:
            raise ChannelError(f"短信网关拒收 SMS refused: {resp.text[:200]}")

    async def close(self) -> None:
        await self.http.aclose()
