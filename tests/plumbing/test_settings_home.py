"""Which `make run` home a process's settings read: the one CCTV_HOME names when the settings
are made. The test session sets its own (tests/conftest.py) after the settings module is
imported; when the home was fixed at import, a developer's `.cctv/endpoints.env` (that stack's
NATS login) reached every service the tests built, and 164 tests failed with NATS's
'Authorization Violation' after a `make run` in the same checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from cctv.plumbing.settings import ServiceSettings, cctv_home


def test_settings_read_the_home_named_when_they_are_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NATS_USER", raising=False)
    monkeypatch.setenv("CCTV_HOME", str(tmp_path))
    (tmp_path / "endpoints.env").write_text("NATS_USER=svc_of_this_home\n", encoding="utf-8")
    assert ServiceSettings().nats_user == "svc_of_this_home"
    assert ServiceSettings(nats_user="given").nats_user == "given"  # what is given still wins


def test_the_session_never_reads_the_checkouts_make_run_home() -> None:
    assert cctv_home() != (Path.cwd() / ".cctv").resolve()
    assert not (cctv_home() / "endpoints.env").exists()
