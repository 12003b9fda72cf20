"""The one-card repair stand-in over a real socket, through the adapter health uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from cctv.devstack.embedded import free_port
from demo.repair_system import RepairStore, serve
from services.health.repair import OneCardRepairClient, RepairSystemError


async def test_ticket_creation_is_idempotent_and_closes(tmp_path: Path) -> None:
    port = free_port()
    runner = await serve(RepairStore(tmp_path / "r.sqlite"), "127.0.0.1", port)
    client = OneCardRepairClient(f"http://127.0.0.1:{port}")
    try:
        first = await client.open_ticket(
            external_ref="f-1", title="t", location="综合楼", description="d"
        )
        again = await client.open_ticket(
            external_ref="f-1", title="t", location="综合楼", description="d"
        )
        assert first == again and first.status == "待受理"
        other = await client.open_ticket(
            external_ref="f-2", title="t", location="x", description="d"
        )
        assert other.repair_no != first.repair_no
        closed = await client.close_ticket(first.repair_no, "fixed")
        assert closed.status == "已完成"
        with pytest.raises(RepairSystemError, match="404"):
            await client.close_ticket("BX-nope", "x")
        with pytest.raises(RepairSystemError, match="missing fields"):
            await client.open_ticket(external_ref="f-3", title="", location="", description="")
    finally:
        await client.aclose()
        await runner.cleanup()
