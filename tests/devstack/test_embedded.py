"""`make run` keeps its data under one folder: a second run finds it again; and it uses
servers that already run when NATS_URL / DATABASE_URL name them (issue 2)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from cctv.devstack.embedded import free_port
from cctv.devstack.stack import Stack
from tests.conftest import stack_home


@pytest.fixture
def home() -> Iterator[Path]:
    path = stack_home("rerun")
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _write(nats_url: str, database_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish("cctv.camera.upserted.RERUN", b"kept", stream="CCTV_CAMERA")
    finally:
        await nc.close()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')")
    finally:
        await conn.close()


async def _read(nats_url: str, database_url: str) -> tuple[bytes, str]:
    nc = await nats.connect(nats_url)
    try:
        msg = await nc.jetstream().get_last_msg("CCTV_CAMERA", "cctv.camera.upserted.RERUN")
    finally:
        await nc.close()
    conn = await asyncpg.connect(database_url)
    try:
        note = await conn.fetchval("SELECT note FROM kept")
    finally:
        await conn.close()
    return msg.data or b"", str(note)


def test_a_second_run_finds_its_data_again(home: Path) -> None:
    first = Stack(home, ports={"nats": free_port()})
    try:
        first.start_infra()
        assert first.nats_url and first.database_url
        asyncio.run(_write(first.nats_url, first.database_url))
    finally:
        first.stop()

    second = Stack(home, ports={"nats": free_port()})
    try:
        second.start_infra()  # streams ensured again: idempotent, nothing dropped
        assert second.nats_url and second.database_url
        assert asyncio.run(_read(second.nats_url, second.database_url)) == (b"kept", "still here")
    finally:
        second.stop()


def test_running_servers_are_used_not_started(infra: object, nats_url: str, database_url: str,
                                              home: Path) -> None:  # fmt: skip
    stack = Stack(home, nats_url=nats_url, database_url=database_url)
    try:
        stack.start_infra()
        assert stack.nats is None and stack.pg is None
        assert not (home / "nats").exists() and not (home / "pg").exists()
    finally:
        stack.stop()


def test_free_ports_stay_out_of_the_range_outgoing_connections_use() -> None:
    """A port handed to a service must not be taken by some client's source port before the
    service binds it (CI saw "address already in use" when ports came from bind(0))."""
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(not (low <= p <= high) for p in ports), (low, high, ports)
