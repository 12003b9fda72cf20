"""Port to the campus one-card repair system (海软易校园一卡通报修系统), Art. 4.

`external_ref` (our fault id) makes creation idempotent: after a crash between creating
the ticket and recording it, the retry finds the ticket instead of opening a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx


@dataclass(frozen=True)
class RepairTicket:
    repair_no: str
    status: str


class RepairSystem(Protocol):
    async def open_ticket(
        self, *, external_ref: str, title: str, location: str, description: str
    ) -> RepairTicket: ...

    async def close_ticket(self, repair_no: str, resolution: str) -> RepairTicket: ...


class RepairSystemError(RuntimeError):
    pass


class OneCardRepairClient:
    """HTTP adapter for the one-card repair system's ticket API."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def open_ticket(
        self, *, external_ref: str, title: str, location: str, description: str
    ) -> RepairTicket:
        resp = await self.client.post(
            "/api/v1/repairs",
            json={
                "external_ref": external_ref,
                "category": "视频监控",
                "title": title,
                "location": location,
                "description": description,
                "reporter": "campus-cctv 视频监控治理系统",
            },
        )
        return self._ticket(resp)

    async def close_ticket(self, repair_no: str, resolution: str) -> RepairTicket:
        resp = await self.client.post(
            f"/api/v1/repairs/{repair_no}/close", json={"resolution": resolution}
        )
        return self._ticket(resp)

    @staticmethod
    def _ticket(resp: httpx.Response) -> RepairTicket:
        if resp.status_code >= 300:
            raise RepairSystemError(
                f"repair system answered HTTP {resp.status_code}: {resp.text[:200]}"
            )
        body = resp.json()
        return RepairTicket(repair_no=str(body["repair_no"]), status=str(body["status"]))

    async def aclose(self) -> None:
        await self.client.aclose()
