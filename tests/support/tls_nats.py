"""A nats-server as NIC runs it for the CLI: TLS on the client port, a WebSocket+TLS listener
(the outside door), a password user, JetStream; certificates from the k8s tool that makes
them for the cluster (deploy/k8s/tools/make_secrets.py), so the CLI meets the same chain.

Used as a fixture helper: ``with tls_nats(folder) as server: …``."""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cctv.devstack.embedded import free_port, nats_server_binary, wait_for_port

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "cli-door-password"


def nats_certificates() -> tuple[str, str, str]:
    """(server certificate, its key, the CA) as make_secrets.py makes them; SAN localhost."""
    path = REPO / "deploy" / "k8s" / "tools" / "make_secrets.py"
    spec = importlib.util.spec_from_file_location("k8s_tools_make_secrets", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    made: tuple[str, str, str] = mod.nats_certificates("campus-cctv")
    return made


@dataclass
class TlsNats:
    port: int
    ws_port: int
    ca: Path
    user: str = "cli"
    password: str = PASSWORD

    @property
    def tls_url(self) -> str:
        return f"tls://localhost:{self.port}"

    @property
    def wss_url(self) -> str:
        return f"wss://localhost:{self.ws_port}"


@contextmanager
def tls_nats(folder: Path) -> Iterator[TlsNats]:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key, ca = nats_certificates()
    for name, text in (("tls.crt", cert), ("tls.key", key), ("ca.crt", ca)):
        (folder / name).write_text(text)
    port, ws_port = free_port(), free_port()
    tls = f'tls {{ cert_file: "{folder}/tls.crt", key_file: "{folder}/tls.key" }}'
    (folder / "nats.conf").write_text(
        f"listen: 127.0.0.1:{port}\n"
        f'jetstream {{ store_dir: "{folder}/js" }}\n'
        f"{tls}\n"
        f"websocket {{ listen: 127.0.0.1:{ws_port}\n {tls} }}\n"
        f'authorization {{ users: [ {{ user: cli, password: "{PASSWORD}" }} ] }}\n'
    )
    with open(folder / "nats.log", "wb") as log:
        proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(folder / "nats.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port("127.0.0.1", port, 20)
        wait_for_port("127.0.0.1", ws_port, 20)
        yield TlsNats(port, ws_port, folder / "ca.crt")
    finally:
        proc.terminate()
        proc.wait(10)
