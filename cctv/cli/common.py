"""What CLI groups share: the stack's endpoints and a request-reply helper.

From a workstation outside the cluster (deploy/k8s/README.md, "From outside the cluster") the
CLI reaches NATS through its outside door as the `cli` user:
NATS_URL=wss://<nats-external-host>:443, NATS_USER=cli, the password in NATS_PASSWORD_FILE (or
NATS_PASSWORD, or /run/secrets/nats_password) and the cluster's NATS CA in NATS_TLS_CA_FILE.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cctv.plumbing.bus import connect_kwargs, plain_url
from cctv.plumbing.settings import ServiceSettings

from .main import CliError


class CliSettings(ServiceSettings):
    sim_control_url: str = "http://127.0.0.1:8090"
    repair_url: str = "http://127.0.0.1:8091"
    console_url: str = "http://127.0.0.1:8080"
    nats_tls_ca_file: Path | None = None
    """The CA that signed the NATS server's certificate (the cluster's `nats-ca` Secret,
    ca.crt), for a tls:// or wss:// NATS_URL; unset: the system's CAs."""
    nats_password_file: Path | None = None
    """A file holding the NATS user's password (mode 0600), so that it is in no environment
    or shell history; read when NATS_PASSWORD is empty."""


def settings() -> CliSettings:
    return CliSettings()


def nats_options(s: CliSettings | None = None) -> dict[str, Any]:
    """`nats.connect(**…)` arguments: the user, its password (also from a file) and the TLS
    trust for the cluster's CA; a setting that cannot be used is a CliError naming it."""
    s = s or settings()
    if s.nats_user and not s.nats_password.get_secret_value() and s.nats_password_file:
        path = s.nats_password_file.expanduser()
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"NATS_PASSWORD_FILE {path}: cannot read it ({exc.strerror})") from exc
        if not password:
            raise CliError(f"NATS_PASSWORD_FILE {path}: the file is empty")
        s = s.model_copy(update={"nats_password": SecretStr(password)})
    kwargs = connect_kwargs(s)
    if s.nats_tls_ca_file is not None:
        path = s.nats_tls_ca_file.expanduser()
        try:
            kwargs["tls"] = ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise CliError(
                f"NATS_TLS_CA_FILE {path}: not a readable PEM CA certificate ({exc})"
            ) from exc
    return kwargs


def request(
    subject: str,
    payload: dict[str, Any],
    timeout: float = 10.0,
    *,
    check: bool = True,
    identity: bool = True,
) -> dict[str, Any]:
    """Ask a service; the signed-on person's token goes along (`cctv login`, CCTV_TOKEN);
    a refusal becomes a CliError unless ``check`` is False."""
    import nats.aio.client

    from cctv.plumbing.identity import HEADER

    from .login import current_token

    token = current_token() if identity else None
    headers = {HEADER: token} if token else None
    options = nats_options()

    async def go() -> dict[str, Any]:
        seen: list[Exception] = []

        async def remember(exc: Exception) -> None:
            """nats-py's own reporting prints a traceback per attempt: keep the reason instead."""
            seen.append(exc)

        nc = nats.aio.client.Client()
        try:
            # two attempts, then give up (nats-py reads max_reconnect_attempts=0 as "forever")
            await nc.connect(
                **options,
                connect_timeout=3,
                max_reconnect_attempts=1,
                reconnect_time_wait=1,
                error_cb=remember,
            )
        except Exception as exc:
            with contextlib.suppress(Exception):  # wss://: its HTTP session, else a warning
                await nc.close()
            why = seen[-1] if seen else exc
            raise CliError(
                f"cannot reach NATS at {plain_url(settings().nats_url)} ({why}); "
                "is `make run` running, or NATS_URL set?"
            ) from exc
        from cctv.plumbing.bigpayload import pack, unpack

        try:  # bodies past NATS's payload limit travel through the object store
            js = nc.jetstream()
            body = await pack(js, json.dumps(payload, ensure_ascii=False).encode())
            msg = await nc.request(subject, body, timeout=timeout, headers=headers)
            data = await unpack(js, msg.data)
        except Exception as exc:
            late = f" ({seen[-1]})" if seen else ""  # e.g. a permissions violation
            raise CliError(f"no answer on {subject}: {exc!r}{late}") from exc
        finally:
            await nc.close()
        reply: dict[str, Any] = json.loads(data)
        if check and not reply.get("ok"):
            error, art = str(reply.get("error")), reply.get("article")
            article = f" ({art})" if art and str(art) not in error else ""
            hint = ""
            if reply.get("kind") == "identity" or reply.get("code") == "identity_required":
                hint = " — run `cctv login` first" if token is None else " — run `cctv login` again"
            raise CliError(f"{error}{article}{hint}")
        return reply

    return asyncio.run(go())
