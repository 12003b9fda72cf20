"""Request-reply past NATS's 1 MB payload limit: a request or reply larger than
`INLINE_LIMIT` travels through the JetStream object store (bucket `CCTV_PAYLOADS`, kept ten
minutes) and the message carries only a pointer. The service shell, `Service.request` and the
CLI pack and unpack transparently, so a 20,000-camera inventory import and the camera list
work unchanged for handlers and callers. See docs/adr/0015-nothing-lost.md."""

from __future__ import annotations

import json
import uuid
from typing import Any

INLINE_LIMIT = 512 * 1024
BUCKET = "CCTV_PAYLOADS"
_MARK = b'{"_payload_object":'


async def _store(js: Any) -> Any:
    from nats.js.api import ObjectStoreConfig
    from nats.js.errors import BucketNotFoundError, NotFoundError

    try:
        return await js.object_store(BUCKET)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_object_store(
            BUCKET, config=ObjectStoreConfig(bucket=BUCKET, ttl=600.0)
        )


async def pack(js: Any, body: bytes) -> bytes:
    """`body` itself if it fits in a message, else a pointer to it in the object store."""
    if len(body) <= INLINE_LIMIT:
        return body
    name = uuid.uuid4().hex
    await (await _store(js)).put(name, body)
    return json.dumps({"_payload_object": name, "size": len(body)}).encode()


async def unpack(js: Any, body: bytes) -> bytes:
    """The full body a message stands for (fetched, then removed, if it is a pointer)."""
    if not body.startswith(_MARK) or len(body) > 200:
        return body
    name = str(json.loads(body)["_payload_object"])
    store = await _store(js)
    result = await store.get(name)
    try:
        await store.delete(name)
    except Exception:  # the bucket's TTL removes it anyway
        pass
    return bytes(result.data or b"")
