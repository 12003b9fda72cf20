"""One request-reply over NATS with a JSON body, on a connection of its own: how the tests ask
a responder as a client outside the service would — bodies past the inline limit through the
object store (cctv.plumbing.bigpayload), as the CLI sends and reads them."""

from __future__ import annotations

import json
from typing import Any

import nats

from cctv.plumbing.bigpayload import pack, unpack


async def ask(
    nats_url: str,
    subject: str,
    body: Any,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> dict[str, Any]:
    """The decoded reply; `headers` carry a signed identity (tests/support/identity.py)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        raw = await pack(js, json.dumps(body).encode())
        msg = await nc.request(subject, raw, timeout=timeout, headers=headers)
        reply: dict[str, Any] = json.loads(await unpack(js, msg.data))
    finally:
        await nc.close()
    return reply
