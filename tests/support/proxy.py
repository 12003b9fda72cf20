"""A TCP proxy in front of a real server that a test can cut and restore: an outage on a real
socket (connections reset, new ones refused) without stopping the session's shared server.
It can also swallow what the server sends (`swallow`): the server believes it delivered,
the client never sees it — what a connection dying with bytes in flight does."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlparse

from cctv.devstack.embedded import free_port


class CuttableProxy:
    """Listens on 127.0.0.1:`port` and forwards to a TCP address or a Unix socket path."""

    def __init__(self, *, unix_path: str | None = None, target: tuple[str, int] | None = None):
        self.unix_path = unix_path
        self.target = target
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.swallowing = False
        """While True, bytes from the server are dropped (the client's are still forwarded)."""

    async def start(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.unix_path:
                up_r, up_w = await asyncio.open_unix_connection(self.unix_path)
            else:
                assert self.target
                up_r, up_w = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_w))
        for src, dst, down in ((reader, up_w, False), (up_r, writer, True)):
            task = asyncio.create_task(self._pipe(src, dst, down))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, down: bool = False
    ) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                if down and self.swallowing:
                    continue
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(Exception):
            dst.close()

    async def cut(self) -> None:
        """Stop listening and reset every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()
        for task in list(self._pipes):
            task.cancel()

    def swallow(self) -> None:
        """From now until `cut`, drop what the server sends on the open connections."""
        self.swallowing = True

    async def restore(self) -> None:
        self.swallowing = False
        await self.start()

    async def close(self) -> None:
        await self.cut()


def pg_unix_socket(database_url: str) -> str:
    """The Unix socket of the session's PostgreSQL (its URL names the socket's folder)."""
    host = parse_qs(urlparse(database_url).query)["host"][0]
    return f"{host}/.s.PGSQL.5432"


def pg_through(proxy: CuttableProxy) -> str:
    """A PostgreSQL URL (superuser, trust) reaching the server through ``proxy``."""
    return f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
