"""The token `cctv login` kept: its expiry read by the one ISO-time reader, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cctv.cli.login import current_token, token_file


@pytest.mark.parametrize(
    ("expires_at", "used"),
    [
        ("2999-01-01T00:00:00Z", True),
        ("2999-01-01T08:00:00+08:00", True),
        ("2999-01-01T00:00:00", True),  # written without a zone: the system's times are UTC
        ("2000-01-01T00:00:00", False),  # expired
        ("garbage", False),  # unreadable: log in again, not a traceback on every command
        (None, False),
    ],
)
def test_kept_token_is_used_only_while_it_has_not_expired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expires_at: str | None, used: bool
) -> None:
    monkeypatch.delenv("CCTV_TOKEN", raising=False)
    monkeypatch.setenv("CCTV_HOME", str(tmp_path))
    token_file().write_text(json.dumps({"token": "tok-1", "expires_at": expires_at}))
    assert current_token() == ("tok-1" if used else None)
