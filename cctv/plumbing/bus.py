"""How a process connects to NATS as its own user (issue 11).

With `nats_user` set (NATS_USER / NATS_PASSWORD, or /run/secrets/nats_user and
/run/secrets/nats_password), the connection authenticates as that user and takes its replies
and JetStream deliveries on the user's own inbox, the only one the server lets it read.
Without it, the URL's own credentials (if any) are used as they are: the test session and
the bootstrap connect that way as `admin`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cctv.contract.permissions import inbox_prefix

from .settings import ServiceSettings


def plain_url(url: str) -> str:
    """The URL without user:password, so that credentials are never logged or doubled."""
    parts = urlsplit(url)
    if parts.username is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def user_of(settings: ServiceSettings) -> str | None:
    if settings.nats_user:
        return settings.nats_user
    return urlsplit(settings.nats_url).username


def connect_kwargs(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments for `nats.connect(**…)`: servers, user, password, inbox prefix."""
    if not settings.nats_user:
        return {"servers": [settings.nats_url]}
    return {
        "servers": [plain_url(settings.nats_url)],
        "user": settings.nats_user,
        "password": settings.nats_password.get_secret_value(),
        "inbox_prefix": inbox_prefix(settings.nats_user),
    }


def js_inbox(settings: ServiceSettings) -> bytes | None:
    """The deliver-subject prefix for JetStream pull/push consumers (None: the default)."""
    if not settings.nats_user:
        return None
    return f"{inbox_prefix(settings.nats_user)}.".encode()
