"""Every `cctv` command that talks to NATS goes through one helper (cctv/cli/common.py): an
unreachable NATS is a clear error naming the URL and the reason within seconds — never a
traceback or a hang (nats-py reads max_reconnect_attempts=0, which `cctv dlq` and the audit
witness's alarm used, as "retry forever") — and NATS_TLS_CA_FILE / NATS_PASSWORD_FILE work
for each, through TLS and through the WebSocket outside door."""

from __future__ import annotations

import asyncio
import io
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest

from cctv.cli.audit import _announce
from cctv.cli.main import main
from cctv.contract.events import WitnessAlarm
from cctv.devstack.embedded import free_port
from cctv.evidence.checkpoint import Signer
from tests.support.tls_nats import TlsNats, tls_nats

VKEY = Signer.generate("test.campus/cli-door").verifier.vkey()

# one command of each family that talks to NATS (cctv/cli/main.py GROUPS)
FAMILIES: dict[str, list[str]] = {
    "login": ["login", "--account", "nic_admin", "--password-stdin"],
    "people": ["people", "list"],
    "cameras": ["cameras", "list"],
    "inventory": ["inventory", "export"],
    "requests": ["requests", "inbox"],
    "faults": ["faults", "list"],
    "tamper": ["tamper", "show", "cli-door-cam"],
    "footage": ["footage", "show", "DY-2026-99999"],
    "audit verify": ["audit", "verify", "--key", VKEY],
    "audit witness": ["audit", "witness", "--key", VKEY, "--state", "{tmp}/witness"],
    "dlq list": ["dlq", "list"],
    "dlq replay": ["dlq", "replay", "--all"],
    "streams": ["streams", "ensure"],
}


@pytest.fixture
def workstation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A NIC workstation's environment: nothing of a running stack, no token."""
    for name in ("NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_PASSWORD_FILE",
                 "NATS_TLS_CA_FILE", "CCTV_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CCTV_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("a-password\n"))
    return tmp_path


def run(argv: list[str], tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main([a.replace("{tmp}", str(tmp)) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_an_unreachable_nats_fails_fast_naming_the_reason(
    family: str,
    workstation: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{port}")
    started = time.monotonic()
    code, _out, err = run(FAMILIES[family], workstation, capsys)
    took = time.monotonic() - started
    assert code == 2, err
    assert f"cannot reach NATS at nats://127.0.0.1:{port}" in err, err
    assert "refused" in err.lower() or "connect call failed" in err.lower(), err
    assert "Traceback" not in err
    assert took < 15, f"{family}: {took:.1f} s to give up"


@pytest.mark.timeout(60)
def test_the_witness_alarm_says_why_it_was_not_published(
    workstation: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The alarm goes out on its own connection: an unreachable NATS is a named reason, and
    the witness still exits with its alert status (before: a hang, retrying forever)."""
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{free_port()}")
    why = _announce(alarm("cli-door-unreachable"))
    assert why is not None and "cannot reach NATS at nats://127.0.0.1:" in why, why


def alarm(witness: str) -> WitnessAlarm:
    return WitnessAlarm(
        kind="fork", origin="test.campus/cli-door", kept_size=7, kept_root="aa" * 32,
        seen_size=9_000_000 + free_port(), seen_root="bb" * 32, detail="test", witness=witness,
    )  # fmt: skip


# --- through TLS: the cluster's CA, the password in a file ---------------------------------


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNats]:
    with tls_nats(tmp_path_factory.mktemp("tls-nats")) as server:
        yield server


def through(
    door: TlsNats, url: str, home: Path, monkeypatch: pytest.MonkeyPatch, *, ca: bool = True
) -> None:
    secret = home / "nats-password"
    secret.write_text(door.password + "\n")
    secret.chmod(0o600)
    monkeypatch.setenv("NATS_URL", url)
    monkeypatch.setenv("NATS_USER", door.user)
    monkeypatch.setenv("NATS_PASSWORD_FILE", str(secret))
    if ca:
        monkeypatch.setenv("NATS_TLS_CA_FILE", str(door.ca))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scheme", ["tls", "wss"])
def test_every_kind_of_connection_works_through_tls(
    scheme: str,
    door: TlsNats,
    workstation: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """streams (the k8s Job), dlq, the witness's alarm and request-reply each connect with
    the CA and the password file, over tls:// and over the WebSocket door (wss://)."""
    through(door, door.tls_url if scheme == "tls" else door.wss_url, workstation, monkeypatch)
    code, out, err = run(["streams", "ensure"], workstation, capsys)
    assert code == 0, err
    assert "CCTV_DLQ" in out and "CCTV_AUDIT" in out
    code, out, err = run(["dlq", "list"], workstation, capsys)
    assert code == 0, err
    assert "dead letter(s)" in out
    sent = alarm(f"cli-door-{scheme}")
    assert _announce(sent) is None
    assert asyncio.run(published(door, sent)) == sent.seen_size
    # request-reply: connected and asked; nobody serves ingest here, and it says so
    code, _out, err = run(["cameras", "list"], workstation, capsys)
    assert code == 2
    assert "no answer on cctv.rpc.ingest.cameras" in err and "NoResponders" in err, err
    assert "Traceback" not in err


async def published(door: TlsNats, sent: WitnessAlarm) -> int:
    """The alarm as kept in its stream, read back over TLS."""
    nc = await nats.connect(
        door.tls_url,
        user=door.user,
        password=door.password,
        tls=ssl.create_default_context(cafile=str(door.ca)),
        allow_reconnect=False,
    )
    try:
        msg = await nc.jetstream().get_last_msg(
            "CCTV_AUDIT", f"cctv.audit.witness_alarm.{sent.seen_size}"
        )
        size: int = json.loads(msg.data or b"")["data"]["seen_size"]
        return size
    finally:
        await nc.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("argv", [["dlq", "list"], ["streams", "ensure"]])
def test_without_the_clusters_ca_the_server_is_refused(
    argv: list[str],
    door: TlsNats,
    workstation: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    through(door, door.tls_url, workstation, monkeypatch, ca=False)
    code, _out, err = run(argv, workstation, capsys)
    assert code == 2
    assert "certificate verify failed" in err.lower(), err
    assert "Traceback" not in err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scheme", ["tls", "wss"])
def test_a_wrong_password_is_named_as_such(
    scheme: str,
    door: TlsNats,
    workstation: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The server refuses the login, then drops the socket: the reason given is the refusal."""
    through(door, door.tls_url if scheme == "tls" else door.wss_url, workstation, monkeypatch)
    (workstation / "nats-password").write_text("not-the-password\n")
    code, _out, err = run(["dlq", "list"], workstation, capsys)
    assert code == 2
    assert "authorization violation" in err.lower(), err
    assert "not-the-password" not in err and "Traceback" not in err
