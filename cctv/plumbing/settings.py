"""Settings from the environment, mounted secrets (/run/secrets) and the local stack's file.

`make run` writes `$CCTV_HOME/endpoints.env`, so a service started alone with
`python -m services.<name>` finds the embedded NATS and PostgreSQL without any setup.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def cctv_home() -> Path:
    return Path(os.environ.get("CCTV_HOME", Path.cwd() / ".cctv")).resolve()


def _secrets_dir() -> str | None:
    return "/run/secrets" if Path("/run/secrets").is_dir() else None


class ServiceSettings(BaseSettings):
    """What every service needs; each service subclasses it with its own prefix-free fields."""

    model_config = SettingsConfigDict(
        env_file_encoding="utf-8",
        extra="ignore",
        secrets_dir=_secrets_dir(),
    )

    def __init__(self, **values: Any) -> None:
        # the local stack's file is found when settings are made, not when this module is
        # imported: a process that sets CCTV_HOME later (the test session does, so a
        # developer's `make run` login never reaches its servers) reads its own home's
        values.setdefault("_env_file", str(cctv_home() / "endpoints.env"))
        super().__init__(**values)

    nats_url: str = "nats://127.0.0.1:14222"
    # this process's NATS user (cctv.contract.permissions); from env or /run/secrets
    nats_user: str = ""
    nats_password: SecretStr = SecretStr("")
    # who a request acts for (cctv.plumbing.identity): every service checks tokens with the
    # public key(s, comma-separated while rotating); only the console holds the signing key
    identity_public_key: str = ""
    identity_signing_key: SecretStr = SecretStr("")
    database_url: str = Field(
        default_factory=lambda: f"postgresql://postgres:@/postgres?host={cctv_home() / 'pg'}"
    )
    # The schema owner that runs migrations (cctv_migrator); empty: DATABASE_URL itself. When
    # set, DATABASE_URL is the service's own role, which may not alter its tables (issue 13).
    migration_database_url: str = ""
    migrate: Literal["start", "only", "check"] = "start"
    """When migrations run. `start`: at every start (`make run`, tests). `only`: run them and
    exit — a pod's init container, the one place holding the migrator's password. `check`:
    never; the service pod, whose /readyz names any migration still pending (ADR 0014)."""
    http_host: str = "127.0.0.1"
    http_port: int = 0
    log_level: str = "INFO"
    data_dir: Path = Field(default_factory=lambda: cctv_home() / "data")
    instance: str = Field(default_factory=lambda: os.environ.get("HOSTNAME", "local"))
    # JetStream consumer tuning shared by every service
    max_deliver: int = 5
    """Handler failures (bad data) retried up to this many deliveries, then dead-lettered."""
    ack_wait_s: float = 30.0
    poison_deliveries: int = 20
    """A message delivered this often without any outcome (it killed the process each time)
    is dead-lettered before the handler sees it again. The server itself never gives up
    (max_deliver -1 on the consumer), so nothing expires silently."""
    metrics_token: str = ""
    """Bearer token that unlocks /metrics on a service whose port faces people (the console);
    without it only loopback clients may scrape there."""
    infra_backoff_max_s: float = 5.0
    """Longest pause between retries while PostgreSQL or NATS is unreachable."""
