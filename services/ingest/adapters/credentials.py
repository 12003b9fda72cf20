"""Device credentials: secrets, never logged, never in events or inventory files.

Two sources, tried in order:
1. Mounted secrets (Kubernetes Secret / Docker secret) under a directory, default
   /run/secrets: a file `cctv-device-<camera_id>`, else `cctv-device-nvr-<nvr_id>`, else
   `cctv-device-default`, each holding `username:password` on one line.
2. An encrypted vault: a JSON map {key: Fernet token} where each token encrypts
   `username:password` and the Fernet key itself comes from a secret file. Lets operators
   keep per-device passwords in the database or a ConfigMap without exposing them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from cctv.contract.events import CameraRecord

from .base import Credentials

DEFAULT_SECRETS_DIR = Path("/run/secrets")


class CredentialError(Exception):
    """A credential could not be read; the message names the secret, never its content."""


def _parse(secret: str, where: str) -> Credentials:
    user, sep, password = secret.strip("\r\n").partition(":")
    if not sep or not user:
        raise CredentialError(f"{where}: expected 'username:password' on one line")
    return Credentials(user, password)


def _keys(camera: CameraRecord) -> list[str]:
    keys = [f"cctv-device-{camera.camera_id}"]
    if camera.nvr_id:
        keys.append(f"cctv-device-nvr-{camera.nvr_id}")
    keys.append("cctv-device-default")
    return keys


class FernetVault:
    """Credentials stored encrypted; the key comes from a secret, the tokens may sit anywhere."""

    def __init__(self, key: bytes, tokens: dict[str, str] | None = None) -> None:
        self._fernet = Fernet(key)
        self.tokens: dict[str, str] = dict(tokens or {})

    @classmethod
    def from_files(cls, key_file: Path, tokens_file: Path | None = None) -> FernetVault:
        key = key_file.read_bytes().strip()
        tokens = json.loads(tokens_file.read_text()) if tokens_file and tokens_file.exists() else {}
        return cls(key, tokens)

    def store(self, key: str, creds: Credentials) -> str:
        token = self._fernet.encrypt(f"{creds.username}:{creds.password}".encode()).decode()
        self.tokens[key] = token
        return token

    def get(self, key: str) -> Credentials | None:
        token = self.tokens.get(key)
        if token is None:
            return None
        try:
            plain = self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise CredentialError(
                f"vault entry {key!r}: cannot decrypt with the mounted key"
            ) from exc
        return _parse(plain, f"vault entry {key!r}")


class CredentialResolver:
    """Mounted secrets are read again after a while: Kubernetes rotates them in place, and a
    secret mounted after start (a new camera's) must be found without a restart."""

    def __init__(
        self,
        secrets_dir: Path = DEFAULT_SECRETS_DIR,
        vault: FernetVault | None = None,
        *,
        found_ttl_s: float = 300.0,
        missing_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secrets_dir = secrets_dir
        self.vault = vault
        self.found_ttl_s, self.missing_ttl_s, self.clock = found_ttl_s, missing_ttl_s, clock
        self._cache: dict[str, tuple[float, Credentials | None]] = {}

    def for_camera(self, camera: CameraRecord) -> Credentials | None:
        now = self.clock()
        for key in _keys(camera):
            cached = self._cache.get(key)
            if cached is not None and now < cached[0]:
                found = cached[1]
            else:
                found = self._lookup(key)
                ttl = self.found_ttl_s if found is not None else self.missing_ttl_s
                self._cache[key] = (now + ttl, found)
            if found is not None:
                return found
        return None

    def _lookup(self, key: str) -> Credentials | None:
        path = self.secrets_dir / key
        if path.is_file():
            return _parse(path.read_text(encoding="utf-8"), f"secret {key}")
        if self.vault is not None:
            return self.vault.get(key)
        return None

    def reload(self) -> None:
        """Secrets rotate (mounted files change); forget what was read."""
        self._cache.clear()
