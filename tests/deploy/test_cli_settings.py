"""The CLI's settings for a workstation outside the cluster (cctv/cli/common.py): a setting
that cannot be used is named in a clear error, and an unreachable NATS is an error after two
tries, not a hang. The real connection through the outside door, TLS and users included, is
tests/deploy/test_image_runtime.py (`test_the_cli_from_outside_…`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cctv.devstack.embedded import free_port


def cctv(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CCTV_HOME": str(tmp_path),
        "NATS_URL": f"tls://localhost:{free_port()}",
        "NATS_USER": "cli",
    }
    exe = str(Path(sys.executable).parent / "cctv")
    return subprocess.run(
        [exe, "cameras", "list"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,  # before the fix: nats-py retried forever (max_reconnect_attempts=0)
    )


def test_an_unreachable_nats_is_an_error_not_a_hang(tmp_path: Path) -> None:
    out = cctv(tmp_path, NATS_PASSWORD="pw")
    assert out.returncode == 2
    assert "cannot reach NATS at tls://localhost:" in out.stderr
    assert "Connect call failed" in out.stderr or "refused" in out.stderr.lower(), out.stderr
    assert "Traceback" not in out.stderr


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    out = cctv(tmp_path, NATS_PASSWORD="pw", NATS_TLS_CA_FILE=str(tmp_path / "nope.crt"))
    assert out.returncode == 2
    assert f"NATS_TLS_CA_FILE {tmp_path / 'nope.crt'}: not a readable PEM CA" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_ca_file_that_is_not_a_certificate_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "ca.crt"
    bad.write_text("not a certificate\n")
    out = cctv(tmp_path, NATS_PASSWORD="pw", NATS_TLS_CA_FILE=str(bad))
    assert out.returncode == 2 and "NATS_TLS_CA_FILE" in out.stderr, out.stderr


def test_the_password_file_is_read_and_its_problems_named(tmp_path: Path) -> None:
    missing = tmp_path / "nats-password"
    out = cctv(tmp_path, NATS_PASSWORD_FILE=str(missing))
    assert out.returncode == 2
    assert f"NATS_PASSWORD_FILE {missing}: cannot read it" in out.stderr
    missing.write_text("\n")
    out = cctv(tmp_path, NATS_PASSWORD_FILE=str(missing))
    assert f"NATS_PASSWORD_FILE {missing}: the file is empty" in out.stderr
    # a readable file: on to connecting (nothing listens here)
    missing.write_text("s3cret\n")
    out = cctv(tmp_path, NATS_PASSWORD_FILE=str(missing))
    assert "cannot reach NATS" in out.stderr
    assert "s3cret" not in out.stderr
