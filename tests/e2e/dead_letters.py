"""A malformed or unknown message on any subscribed subject lands in dead-letter with its
reason and is counted; the consumer keeps working (issue 2): test_path's module imports
this test so that the path then runs on the very services that took the bad input."""

from __future__ import annotations

import hashlib
import importlib
import json

import httpx
import nats

from cctv.contract import REGISTRY
from cctv.devstack.stack import Stack, available_services
from tests.support.events import EventLog
from tests.support.waiting import eventually


def consumers() -> list[tuple[str, str, str, str]]:
    """(service, subject, stream, durable) for every durable consumer of every service."""
    found = []
    for name in available_services():
        svc = importlib.import_module(f"services.{name}.app").build()
        found += [(name, *c) for c in svc.consumers]
    return found


def responders() -> list[tuple[str, str]]:
    """(service, subject) for every request-reply subject of every service."""
    found = []
    for name in available_services():
        svc = importlib.import_module(f"services.{name}.app").build()
        found += [(name, s) for s in svc.responders]
    return found


def concrete(subject: str) -> str:
    return subject.replace(">", "dlqtest").replace("*", "dlqtest")


def known_type_for(subject: str) -> str:
    prefix = subject.removesuffix(">")
    return next(
        t
        for t in REGISTRY
        if f"cctv.{t}.".startswith(prefix) or f"cctv.{t}".startswith(prefix.rstrip("."))
    )


def bad_messages(subject: str) -> list[tuple[str, bytes, str]]:
    """(subject, raw bytes, what the dead letter's reason must say) for one consumer."""

    def env(type_: str, data: dict) -> bytes:
        return json.dumps(
            {
                "id": "dlq-" + hashlib.sha256(f"{type_} {subject}".encode()).hexdigest()[:24],
                "type": type_,
                "source": "test",
                "correlation_id": "dlq",
                "data": data,
            }
        ).encode()

    typed = known_type_for(subject)
    return [
        (concrete(subject), b"\x00\xffnot json at all", "not JSON"),
        (concrete(subject), b"[1, 2, 3]", "envelope must be a JSON object"),
        # 200 KB nested 100,000 deep: RecursionError, not a contract error (issue 17)
        (concrete(subject), b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (concrete(subject), env("nosuch.event", {}), "unknown event type 'nosuch.event'"),
        (f"cctv.{typed}.dlqtest", env(typed, {"unexpected": True}), f"bad {typed} body"),
    ]


async def every_consumer_dead_letters_bad_input(system: Stack, bus: EventLog) -> None:
    targets = consumers()
    assert {t[0] for t in targets} >= {"health", "notify"}
    assert system.nats_url
    nc = await nats.connect(system.nats_url)
    js = nc.jetstream()
    try:
        for _service, subject, _stream, _durable in targets:
            for target, raw, _reason in bad_messages(subject):
                await js.publish(target, raw)
        expected = [
            (service, durable, target, reason)
            for service, subject, _stream, durable in targets
            for target, _raw, reason in bad_messages(subject)
        ]

        def missing() -> list[tuple[str, str, str, str]]:
            letters = bus.matching("dlq.dead_letter")
            return [
                (s, c, t, r)
                for s, c, t, r in expected
                if not any(
                    d["data"]["service"] == s
                    and d["data"]["consumer"] == c
                    and d["data"]["subject"] == t
                    and r in d["data"]["reason"]
                    for d in letters
                )
            ]

        async def still_missing() -> list[tuple[str, str, str, str]]:
            return missing()

        # every consumer's dead letters, however the services share the machine's two cores
        await eventually(
            still_missing, lambda m: not m, changes=bus.changes, timeout=60, what="dead letters"
        )
    finally:
        await nc.close()
    async with httpx.AsyncClient() as http:
        for service in {t[0] for t in targets}:
            ready = await http.get(f"{system.url(service)}/readyz", timeout=5)
            assert ready.status_code == 200, (service, ready.text)
            metrics = (await http.get(f"{system.url(service)}/metrics", timeout=5)).text
            counted = f'cctv_dead_letters_total{{reason="contract",service="{service}"}}'
            assert counted in metrics, (service, [m for m in metrics.splitlines() if "dead" in m])


async def every_responder_refuses_bad_requests(system: Stack) -> None:
    """Garbage on a request-reply subject gets an error reply naming what is wrong."""
    targets = responders()
    assert {t[0] for t in targets} >= {"ingest", "health", "notify", "workflow", "audit"}
    assert system.nats_url
    nc = await nats.connect(system.nats_url)
    try:
        for service, subject in targets:
            for raw, says in ((b"\x00\xffnot json", "bad request"), (b"[1, 2]", "JSON object")):
                reply = json.loads((await nc.request(concrete(subject), raw, timeout=10)).data)
                assert reply["ok"] is False, (service, subject, reply)
                assert says in reply["error"], (service, subject, reply)
    finally:
        await nc.close()
