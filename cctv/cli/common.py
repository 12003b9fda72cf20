"""What CLI groups share: the stack's endpoints and the one way to NATS (`connect_nats`,
`nats_connection`, `request`): every command that talks to NATS goes through it.

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
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from cctv.plumbing.bus import connect_kwargs
from cctv.plumbing.settings import ServiceSettings
from cctv.plumbing.urls import without_login

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


async def connect_nats(
    errors: list[Exception] | None = None, on_error: Callable[[Exception], None] | None = None
) -> Any:
    """The one way every CLI command reaches NATS: NATS_URL with the user, the password (or
    NATS_PASSWORD_FILE) and NATS_TLS_CA_FILE; two attempts, then a CliError naming the URL and
    the reason — never a traceback, never a hang (nats-py reads max_reconnect_attempts=0 as
    "retry forever"). ``errors`` collects what the connection reports later (a permissions
    violation arrives that way), for the caller to name; ``on_error`` hears each as it comes."""
    import nats.aio.client

    options = nats_options()
    seen: list[Exception] = [] if errors is None else errors
    hopeless = asyncio.Event()

    async def remember(exc: Exception) -> None:
        """nats-py's own reporting prints a traceback per attempt: keep the reason instead.
        A certificate that does not verify will not verify on the next attempt either."""
        seen.append(exc)
        if on_error is not None:
            on_error(exc)
        if isinstance(exc, ssl.SSLCertVerificationError):
            hopeless.set()

    nc = nats.aio.client.Client()
    attempt = asyncio.ensure_future(
        nc.connect(
            **options,
            connect_timeout=3,
            max_reconnect_attempts=1,
            reconnect_time_wait=1,
            error_cb=remember,
        )
    )
    # bounded: nats-py waits forever closing a tls:// socket whose handshake failed (a server
    # certificate not signed by NATS_TLS_CA_FILE), so that error ends the wait too
    given_up = asyncio.ensure_future(hopeless.wait())
    await asyncio.wait({attempt, given_up}, timeout=CONNECT_BUDGET_S, return_when="FIRST_COMPLETED")
    given_up.cancel()
    failure = None if not attempt.done() or attempt.cancelled() else attempt.exception()
    if attempt.done() and failure is None:
        return nc
    attempt.cancel()
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(attempt, 1)
    with contextlib.suppress(BaseException):  # wss://: its HTTP session, else a warning
        await asyncio.wait_for(nc.close(), 2)
    why = _telling(seen) if seen else failure or f"no answer in {CONNECT_BUDGET_S:.0f} s"
    raise CliError(
        f"cannot reach NATS at {without_login(settings().nats_url)} ({why}); "
        "is `make run` running, or NATS_URL set?"
    ) from failure


def _telling(seen: list[Exception]) -> Exception:
    """The reason that says most: a refused login or certificate, not the reset socket that
    followed it."""
    for exc in reversed(seen):
        if isinstance(exc, ssl.SSLError) or "authorization" in str(exc).lower():
            return exc
    return seen[-1]


CONNECT_BUDGET_S = 15.0
"""Two attempts of 3 s, the wait between them, TLS handshakes: then the CLI gives up."""


@contextlib.asynccontextmanager
async def nats_connection(what: str) -> AsyncIterator[Any]:
    """`async with nats_connection("what the command does") as nc:` — connected by
    :func:`connect_nats`, closed afterwards; a NATS failure on the way (the connection lost,
    a timeout, a permission refused) is a CliError saying what failed and why."""
    from nats.errors import Error as NatsError

    errors: list[Exception] = []
    nc = await connect_nats(errors)
    try:
        yield nc
    except CliError:
        raise
    except (NatsError, OSError, TimeoutError) as exc:
        late = f" ({errors[-1]})" if errors else ""  # e.g. a permissions violation
        raise CliError(f"{what}: {exc!r}{late}") from exc
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


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
    from cctv.plumbing.bigpayload import pack, unpack
    from cctv.plumbing.identity import HEADER

    from .login import current_token

    token = current_token() if identity else None
    headers = {HEADER: token} if token else None
    nats_options()  # a setting that cannot be used is named before anything else

    async def go() -> bytes:
        async with nats_connection(f"no answer on {subject}") as nc:
            # bodies past NATS's payload limit travel through the object store
            js = nc.jetstream()
            body = await pack(js, json.dumps(payload, ensure_ascii=False).encode())
            msg = await nc.request(subject, body, timeout=timeout, headers=headers)
            data: bytes = await unpack(js, msg.data)
            return data

    reply: dict[str, Any] = json.loads(asyncio.run(go()))
    if check and not reply.get("ok"):
        error, art = str(reply.get("error")), reply.get("article")
        article = f" ({art})" if art and str(art) not in error else ""
        hint = ""
        if reply.get("kind") == "identity" or reply.get("code") == "identity_required":
            hint = " — run `cctv login` first" if token is None else " — run `cctv login` again"
        raise CliError(f"{error}{article}{hint}")
    return reply
