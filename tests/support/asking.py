"""One request-reply over NATS with a JSON body, on a connection of its own: how the tests ask
a responder as a client outside the service would."""

from __future__ import annotations

import json
from typing import Any

import nats


async def ask(
    nats_url: str, subject: str, body: Any, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The decoded reply; `headers` carry a signed identity (tests/support/identity.py)."""
    nc = await nats.connect(nats_url)
    try:
        msg = await nc.request(subject, json.dumps(body).encode(), timeout=10, headers=headers)
    finally:
        await nc.close()
    reply: dict[str, Any] = json.loads(msg.data)
    return reply
