"""Sharing the fleet between ingest replicas: no camera twice, none forgotten.

Assignment is rendezvous (highest-random-weight) hashing over the live members: each camera
goes to the member with the highest hash(member, camera). Every replica computes the same
answer from the same member list with no coordination, and when a member leaves only its
own cameras move (to the survivors, spread evenly).

Membership lives in a NATS JetStream key-value bucket whose entries expire (bucket TTL):
each replica re-puts its key every `heartbeat_s`; a replica that dies stops doing so and
its key expires after `ttl_s`. With ttl_s well under the sampling period, the survivors see
the smaller member list and sample the dead replica's cameras within one period.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

import structlog

from cctv.plumbing.tasks import cancel_and_wait

BUCKET = "cctv_ingest_members"
log = structlog.get_logger("ingest.devices")


class HasCameraId(Protocol):
    @property
    def camera_id(self) -> str: ...


T = TypeVar("T", bound=HasCameraId)


def weight(member: str, camera_id: str) -> int:
    h = hashlib.blake2b(f"{member}\x00{camera_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big")


def owner(camera_id: str, members: Iterable[str]) -> str | None:
    best, best_w = None, -1
    for m in members:
        w = weight(m, camera_id)
        if w > best_w or (w == best_w and best is not None and m < best):
            best, best_w = m, w
    return best


def assign(camera_ids: Iterable[str], members: Iterable[str]) -> dict[str, list[str]]:
    """member -> its cameras; every camera appears exactly once (if any member is live)."""
    ms = sorted(set(members))
    out: dict[str, list[str]] = {m: [] for m in ms}
    if not ms:
        return out
    for cid in camera_ids:
        out[owner(cid, ms)].append(cid)  # type: ignore[index]
    return out


def mine(camera_ids: Iterable[str], me: str, members: Iterable[str]) -> list[str]:
    ms = sorted(set(members) | {me})
    return [c for c in camera_ids if owner(c, ms) == me]


class Membership:
    """This replica's heartbeat in the members bucket, and the current live member list."""

    def __init__(
        self,
        js: Any,
        member_id: str,
        ttl_s: float = 10.0,
        heartbeat_s: float | None = None,
        bucket: str = BUCKET,
    ) -> None:
        self.js = js
        self.member_id = member_id
        self.ttl_s = ttl_s
        self.heartbeat_s = heartbeat_s or max(0.5, ttl_s / 3)
        self.bucket = bucket
        self.kv: Any = None
        self._task: asyncio.Task[None] | None = None
        self.live: list[str] = [member_id]  # the member list as last read (every heartbeat)

    async def start(self) -> None:
        from nats.js.errors import BucketNotFoundError

        try:
            self.kv = await self.js.key_value(self.bucket)
        except BucketNotFoundError:
            from nats.js.api import KeyValueConfig

            self.kv = await self.js.create_key_value(
                KeyValueConfig(bucket=self.bucket, ttl=self.ttl_s, history=1)
            )
        await self.beat()
        await self.members()
        self._task = asyncio.create_task(self._loop(), name=f"membership-{self.member_id}")

    async def beat(self) -> None:
        await self.kv.put(self.member_id, str(time.time()).encode())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            with contextlib.suppress(Exception):  # NATS blip: the next beat retries
                await self.beat()
            with contextlib.suppress(Exception):  # keep the last list until NATS answers
                await self.members()

    async def members(self) -> list[str]:
        """Read the member list: the bucket's subjects from stream info, then each key.

        Not `kv.keys()`: that opens an ordered consumer on every call, which the server keeps
        for five minutes — one per heartbeat per replica piles up to the consumer limit. Stream
        info lists every key with a message (history 1, so a re-put never empties it); `get`
        then drops keys whose last message is a delete (a clean leave) or that expired."""
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        prefix = f"$KV.{self.bucket}."
        info = await self.js.stream_info(f"KV_{self.bucket}", subjects_filter=f"{prefix}>")
        live = {self.member_id}
        for subject in info.state.subjects or {}:
            key = subject.removeprefix(prefix)
            if key in live:
                continue
            try:
                await self.kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):  # expired, or deleted on leave
                continue
            live.add(key)
        self.live = sorted(live)
        return self.live

    def owns(self, camera_id: str) -> bool:
        """Is this camera ours by the member list as last read? No I/O: cheap per probe, so
        a sampler asks at each camera's slot and a dead member's cameras are taken over at
        their next slot after its key expires, not at the next round."""
        return owner(camera_id, self.live) == self.member_id

    async def stop(self, leave: bool = True) -> None:
        """Stop beating; `leave` deletes our key so others take over at once, not after TTL."""
        await cancel_and_wait(self._task)
        self._task = None
        if leave and self.kv is not None:
            with contextlib.suppress(Exception):
                await self.kv.delete(self.member_id)


class Shard:
    """This replica's share of the fleet, as the sampler, the recording scans and the tamper
    watch ask for it. Until membership starts (or with SHARDING=false) every camera is ours:
    a replica alone never samples nothing."""

    def __init__(self, member_id: str, *, enabled: bool = True, ttl_s: float = 10.0) -> None:
        self.member_id = member_id
        self.enabled = enabled
        self.ttl_s = ttl_s
        self.membership: Membership | None = None

    async def start(self, js: Any) -> None:
        if not self.enabled:
            return
        m = Membership(js, self.member_id, ttl_s=self.ttl_s)
        await m.start()
        self.membership = m

    async def leave(self) -> None:
        """Delete our key on the way out so the others take our cameras at once, not at TTL."""
        if self.membership is not None:
            await self.membership.stop(leave=True)

    def owns(self, camera_id: str) -> bool:
        """By the member list as last read (no I/O: asked at each camera's slot)."""
        return True if self.membership is None else self.membership.owns(camera_id)

    def live(self) -> tuple[str, ...] | None:
        """The live members as last read (the sampler takes over at a change)."""
        return None if self.membership is None else tuple(self.membership.live)

    async def owned(self, cameras: list[T]) -> list[T]:
        """Our cameras by a fresh read of the member list."""
        m = self.membership
        if m is None:
            return cameras
        try:
            members = await m.members()
        except Exception as exc:  # NATS blip: keep working on everything rather than nothing
            log.warning("membership unavailable; sampling all", error=str(exc))
            return cameras
        keep = set(mine([c.camera_id for c in cameras], self.member_id, members))
        return [c for c in cameras if c.camera_id in keep]
