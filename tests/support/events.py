"""Wait for events on the bus instead of sleeping: every test synchronises on what happened."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import nats
from nats.js.api import DeliverPolicy

from tests.support.waiting import ChangeFeed, eventually

Predicate = Callable[[dict[str, Any]], bool]


class EventLog:
    """Collects every envelope on the given subjects (from the start of each stream)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._by_type: dict[str, list[dict[str, Any]]] = {}  # so waiting never rescans telemetry
        self.changes = ChangeFeed()  # one per envelope received
        self._nc: Any = None
        self._subs: list[Any] = []

    async def start(self, nats_url: str, subjects: tuple[str, ...] = ()) -> EventLog:
        from cctv.contract import STREAMS

        self._nc = await nats.connect(nats_url)
        # a busy server answers its JetStream API late: wait as long as a test would
        js = self._nc.jetstream(timeout=30.0)
        # each subject's stream named here: no stream lookup per subject on the API
        by_domain = {spec.subjects[0].split(".")[1]: spec.name for spec in STREAMS}
        for subject in subjects or tuple(s.subjects[0] for s in STREAMS):
            self._subs.append(
                await js.subscribe(
                    subject,
                    stream=by_domain[subject.split(".")[1]],
                    cb=self._on_msg,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.ALL,
                )
            )
        return self

    async def _on_msg(self, msg: Any) -> None:
        try:
            env = json.loads(msg.data)
        except (ValueError, RecursionError):  # RecursionError: a nesting bomb (issue 17)
            env = {"type": "(not json)", "raw": msg.data, "data": {}}
        if not isinstance(env, dict):
            env = {"type": "(not an object)", "data": {}}
        env["_subject"] = msg.subject
        self.events.append(env)
        self._by_type.setdefault(str(env.get("type")), []).append(env)
        self.changes.bump()

    def matching(self, type_: str, pred: Predicate | None = None) -> list[dict[str, Any]]:
        return [e for e in self._by_type.get(type_, []) if pred is None or _holds(pred, e)]

    async def wait_for(
        self, type_: str, pred: Predicate | None = None, *, count: int = 1, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Return the first `count` matching events, waiting up to `timeout` seconds."""

        async def found() -> list[dict[str, Any]]:
            return self.matching(type_, pred)

        try:
            got = await eventually(
                found, lambda m: len(m) >= count, changes=self.changes, timeout=timeout,
                what=f"{count}x {type_}",
            )  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(f"{exc}; types seen: {sorted(self._by_type)}") from None
        return got[:count]

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        if self._nc is not None:
            await self._nc.close()


def _holds(pred: Predicate, env: dict[str, Any]) -> bool:
    """A predicate reads a well-formed body; a malformed one on the bus (the dead-letter tests
    publish them on purpose) simply does not match."""
    try:
        return bool(pred(env.get("data") or {}))
    except (KeyError, TypeError, AttributeError):
        return False
