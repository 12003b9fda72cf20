"""What CLI groups share: the stack's endpoints and a request-reply helper."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cctv.plumbing.settings import ServiceSettings

from .main import CliError


class CliSettings(ServiceSettings):
    sim_control_url: str = "http://127.0.0.1:8090"
    repair_url: str = "http://127.0.0.1:8091"
    console_url: str = "http://127.0.0.1:8080"


def settings() -> CliSettings:
    return CliSettings()


def request(
    subject: str, payload: dict[str, Any], timeout: float = 10.0, *, check: bool = True
) -> dict[str, Any]:
    """Ask a service; a refusal becomes a CliError unless ``check`` is False."""
    import nats

    async def go() -> dict[str, Any]:
        try:
            nc = await nats.connect(
                settings().nats_url, connect_timeout=3, max_reconnect_attempts=0
            )
        except Exception as exc:
            raise CliError(
                f"cannot reach NATS at {settings().nats_url} ({exc}); "
                "is `make run` running, or NATS_URL set?"
            ) from exc
        from cctv.plumbing.bigpayload import pack, unpack

        try:  # bodies past NATS's payload limit travel through the object store
            js = nc.jetstream()
            body = await pack(js, json.dumps(payload, ensure_ascii=False).encode())
            msg = await nc.request(subject, body, timeout=timeout)
            data = await unpack(js, msg.data)
        except Exception as exc:
            raise CliError(f"no answer on {subject}: {exc!r}") from exc
        finally:
            await nc.close()
        reply: dict[str, Any] = json.loads(data)
        if check and not reply.get("ok"):
            error, art = str(reply.get("error")), reply.get("article")
            article = f" ({art})" if art and str(art) not in error else ""
            raise CliError(f"{error}{article}")
        return reply

    return asyncio.run(go())
