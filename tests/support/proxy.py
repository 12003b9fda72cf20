"""A TCP proxy in front of a real server that a test can cut and restore: an outage on a real
socket (connections reset, new ones refused) without stopping the session's shared server."""

from __future__ import annotations

import asyncio
import contextlib

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
        for src, dst in ((reader, up_w), (up_r, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
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

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
