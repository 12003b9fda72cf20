"""Turning events into messages and back; every failure is a ContractError with a reason."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import ValidationError

from .envelope import SCHEMA_VERSION, Envelope
from .events import REGISTRY, Event

E = TypeVar("E", bound=Event)


class ContractError(ValueError):
    """A message that does not meet the contract: malformed, unknown or on the wrong subject."""


def subject_for(event: Event, key: str | None = None) -> str:
    subject = f"cctv.{event.TYPE}"
    if key:
        if any(c in key for c in " .*>\t\r\n"):
            raise ContractError(f"key {key!r} may not contain spaces, dots or wildcards")
        subject += f".{key}"
    return subject


def wrap(
    event: Event,
    *,
    source: str,
    key: str | None = None,
    actor: str = "system",
    correlation_id: str | None = None,
) -> Envelope:
    env = Envelope(
        type=event.TYPE,
        source=source,
        key=key,
        actor=actor,
        correlation_id=correlation_id or "-",
        data=event.model_dump(mode="json"),
    )
    if correlation_id is None:
        env = env.model_copy(update={"correlation_id": env.id})
    return env


def decode(raw: bytes, subject: str | None = None) -> tuple[Envelope, Event]:
    """Parse and validate a message; raise ContractError naming what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"not JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ContractError(f"not JSON: {exc}") from exc
    except RecursionError as exc:  # nested deeper than the parser's stack: hostile, not a bug
        raise ContractError("not JSON we accept: nested too deep") from exc
    if not isinstance(payload, dict):
        raise ContractError("envelope must be a JSON object")
    try:
        env = Envelope.model_validate(payload)
    except RecursionError as exc:
        raise ContractError("bad envelope: nested too deep") from exc
    except ValidationError as exc:
        raise ContractError(f"bad envelope: {first_error(exc)}") from exc
    if env.schema_version > SCHEMA_VERSION:
        raise ContractError(f"schema_version {env.schema_version} is newer than {SCHEMA_VERSION}")
    model = REGISTRY.get(env.type)
    if model is None:
        raise ContractError(f"unknown event type {env.type!r}")
    if subject is not None and not (
        subject == f"cctv.{env.type}" or subject.startswith(f"cctv.{env.type}.")
    ):
        raise ContractError(f"event type {env.type!r} does not belong on subject {subject!r}")
    try:
        event = model.model_validate(env.data)
    except RecursionError as exc:
        raise ContractError(f"bad {env.type} body: nested too deep") from exc
    except ValidationError as exc:
        raise ContractError(f"bad {env.type} body: {first_error(exc)}") from exc
    return env, event


def first_error(exc: ValidationError) -> str:
    """The first field that does not fit, by its path, and how many do not."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
    return f"{loc}: {err.get('msg', 'invalid')} ({exc.error_count()} error(s))"
