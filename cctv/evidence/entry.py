"""The audit entry: the exact bytes that are hashed into the log, and what is indexed from them.

Why a byte format of our own rather than "the row": the leaf bytes must be reproducible by an
outside auditor from an export alone, so they are fixed here and documented in
docs/audit-bundle.md:

    <canonical JSON header> 0x0A <payload bytes>

The header is a JSON object with sorted keys, no whitespace, UTF-8 (RFC 8785 canonical form
for the strings and integers it holds). It carries the entry's position ``seq`` and ``prev``,
the leaf hash of the entry before it, so each entry commits to the whole history before it.
The payload is the witnessed message exactly as it was received (the event envelope JSON, or
the raw bytes of a rejected message).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cctv.contract.campustime import TimeError, parse_instant

try:  # several times faster than json; verify parses every entry of the log
    from orjson import JSONDecodeError as _JSONError
    from orjson import loads as json_loads
except ImportError:  # pragma: no cover - orjson is optional
    from json import JSONDecodeError as _JSONError  # type: ignore[assignment]
    from json import loads as json_loads  # type: ignore[assignment]

FORMAT_VERSION = 1
ZERO_HASH = bytes(32)
KINDS = ("event", "rejected")
AT_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")
"""The ``at`` header field: when the entry was recorded, UTC, always six fractional digits."""
MAX_REJECTED_PAYLOAD = 64 * 1024
"""Rejected messages keep at most this many raw bytes; the hash always covers all of them."""


class EntryError(ValueError):
    """Entry bytes do not follow the format; the message names the part that is wrong."""


def canonical_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Entry:
    """One line of the audit log, as witnessed."""

    seq: int
    prev: bytes
    kind: str
    subject: str
    event_id: str
    recorded_at: str
    payload: bytes
    reason: str | None = None
    raw_sha256: str | None = None
    raw_len: int | None = None

    def header(self) -> dict[str, Any]:
        h: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "seq": self.seq,
            "prev": self.prev.hex(),
            "kind": self.kind,
            "subject": self.subject,
            "id": self.event_id,
            "at": self.recorded_at,
        }
        if self.reason is not None:
            h["reason"] = self.reason
        if self.raw_sha256 is not None:
            h["raw_sha256"] = self.raw_sha256
            h["raw_len"] = self.raw_len
        return h

    def encode(self) -> bytes:
        return canonical_json(self.header()) + b"\n" + self.payload

    @classmethod
    def decode(cls, data: bytes, *, strict: bool = True) -> Entry:
        """Parse entry bytes. ``strict`` also insists on the canonical header encoding; the
        row verifier skips that (any other encoding changes the leaf hash anyway)."""
        head, sep, payload = data.partition(b"\n")
        if not sep:
            raise EntryError("entry has no header line")
        try:
            h = json_loads(head)
        except (UnicodeDecodeError, ValueError, _JSONError) as exc:
            raise EntryError(f"entry header is not JSON: {exc}") from exc
        if not isinstance(h, dict) or h.get("v") != FORMAT_VERSION:
            raise EntryError(
                f"entry header version is {h.get('v') if isinstance(h, dict) else h!r}"
            )
        try:
            seq, prev_hex, kind = h["seq"], h["prev"], h["kind"]
            subject, event_id, at = h["subject"], h["id"], h["at"]
        except KeyError as exc:
            raise EntryError(f"entry header lacks {exc.args[0]!r}") from exc
        if not isinstance(seq, int) or seq < 0:
            raise EntryError(f"entry seq {seq!r} is not a non-negative integer")
        try:
            prev = bytes.fromhex(prev_hex)
        except (TypeError, ValueError) as exc:
            raise EntryError("entry prev is not hex") from exc
        if len(prev) != 32:
            raise EntryError("entry prev is not a 32-byte hash")
        if kind not in KINDS:
            raise EntryError(f"entry kind {kind!r} is not one of {KINDS}")
        for name, value in (("subject", subject), ("id", event_id), ("at", at)):
            if not isinstance(value, str):
                raise EntryError(f"entry {name} {value!r} is not a string")
        if strict and not AT_RE.match(at):
            raise EntryError(
                f"entry at {at!r} is not UTC with microseconds, e.g. 2026-11-25T08:00:00.000000Z"
            )
        if strict and prev_hex != prev_hex.lower():
            raise EntryError("entry prev must be lowercase hex")
        if strict:
            _check_rejected_fields(kind, h)
        e = cls(
            seq=seq,
            prev=prev,
            kind=kind,
            subject=subject,
            event_id=event_id,
            recorded_at=at,
            payload=payload,
            reason=h.get("reason"),
            raw_sha256=h.get("raw_sha256"),
            raw_len=h.get("raw_len"),
        )
        if strict and e.encode() != data:
            raise EntryError("entry header is not in canonical form")
        return e


_REJECTED_FIELDS = ("reason", "raw_sha256", "raw_len")


def _check_rejected_fields(kind: str, h: dict[str, Any]) -> None:
    """``reason``, ``raw_sha256`` and ``raw_len``: all three on a rejected entry, none on an
    event (docs/audit-bundle.md), with their types."""
    present = [k for k in _REJECTED_FIELDS if k in h]
    if kind == "event" and present:
        raise EntryError(f"an event entry carries {', '.join(present)}: only rejected ones do")
    if kind == "rejected":
        if len(present) != 3:
            raise EntryError("a rejected entry carries reason, raw_sha256 and raw_len")
        sha, n = h["raw_sha256"], h["raw_len"]
        if not isinstance(h["reason"], str):
            raise EntryError("entry reason is not a string")
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{64}", sha):
            raise EntryError("entry raw_sha256 is not 64 lowercase hex digits")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise EntryError("entry raw_len is not a non-negative integer")


def rejected_id(raw: bytes) -> str:
    """Rejected messages have no trustworthy id: the raw bytes' hash dedupes redeliveries."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Witnessed:
    """A message to append, before it has a position in the log."""

    kind: str
    subject: str
    event_id: str
    payload: bytes
    reason: str | None = None
    raw_sha256: str | None = None
    raw_len: int | None = None
    fields: IndexFields | None = None
    """Query columns, when the caller already parsed the envelope (saves a second parse)."""

    @classmethod
    def event(
        cls, subject: str, event_id: str, payload: bytes, fields: IndexFields | None = None
    ) -> Witnessed:
        return cls("event", subject, event_id, payload, fields=fields)

    @classmethod
    def rejected(cls, subject: str, raw: bytes, reason: str) -> Witnessed:
        digest = hashlib.sha256(raw).hexdigest()
        return cls(
            "rejected",
            subject,
            "sha256:" + digest,
            raw[:MAX_REJECTED_PAYLOAD],
            reason=reason[:1000],
            raw_sha256=digest,
            raw_len=len(raw),
        )

    def at(self, seq: int, prev: bytes, recorded_at: str) -> Entry:
        return Entry(
            seq=seq,
            prev=prev,
            kind=self.kind,
            subject=self.subject,
            event_id=self.event_id,
            recorded_at=recorded_at,
            payload=self.payload,
            reason=self.reason,
            raw_sha256=self.raw_sha256,
            raw_len=self.raw_len,
        )


# --- what queries find entries by ------------------------------------------------------------


@dataclass(frozen=True)
class IndexFields:
    """Query columns derived from an entry; verify recomputes and compares them."""

    event_type: str | None = None
    event_time: datetime | None = None
    actor: str | None = None
    camera_ids: tuple[str, ...] = field(default=())
    request_no: str | None = None


_CAMERA_KEYS = ("camera_id", "camera_ids", "cameras")
_REQUEST_KEYS = ("request_no", "request_number", "request_id", "access_request_no")
_CAMERA_SUBJECT_DOMAINS = ("camera", "recording")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value, naive="utc")
    except TimeError:
        return None


def _actor(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict):
        for k in ("id", "user_id", "username", "name"):
            v = value.get(k)
            if isinstance(v, str) and v:
                return v
    return None


def _cameras(data: Any, out: dict[str, None], depth: int = 0) -> None:
    """Camera ids anywhere in the event body (grants and requests nest them in lists)."""
    if depth > 4:
        return
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "camera_id" and isinstance(v, str):
                out[v] = None
            elif k in _CAMERA_KEYS and isinstance(v, list):
                for item in v:
                    if isinstance(item, str):
                        out[item] = None
                    else:
                        _cameras(item, out, depth + 1)
            elif isinstance(v, dict | list):
                _cameras(v, out, depth + 1)
    elif isinstance(data, list):
        for item in data:
            _cameras(item, out, depth + 1)


def _request_no(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    for k in _REQUEST_KEYS:
        v = data.get(k)
        if isinstance(v, str | int) and not isinstance(v, bool) and str(v):
            return str(v)
    for v in data.values():
        if isinstance(v, dict):
            found = _request_no(v)
            if found:
                return found
    return None


def envelope_fields(subject: str, env: dict[str, Any]) -> IndexFields:
    """Type, time, actor, cameras and request number of an event envelope (parsed JSON)."""
    data = env.get("data")
    cams: dict[str, None] = {}
    _cameras(data, cams)
    domain = subject.split(".")[1] if subject.count(".") >= 1 else ""
    key = env.get("key")
    if domain in _CAMERA_SUBJECT_DOMAINS and isinstance(key, str) and key and not cams:
        cams[key] = None
    et = env.get("type")
    t = env.get("time")
    return IndexFields(
        event_type=et if isinstance(et, str) else None,
        event_time=t if isinstance(t, datetime) else _parse_time(t),
        actor=_actor(env.get("actor")),
        camera_ids=tuple(cams),
        request_no=_request_no(data),
    )


def index_fields(entry: Entry) -> IndexFields:
    """The query columns an entry's bytes imply (what verify compares stored columns with)."""
    if entry.kind != "event":
        return IndexFields()
    return payload_fields(entry.subject, entry.payload)


def payload_fields(subject: str, payload: bytes) -> IndexFields:
    """Query columns of an event payload; the witness path and verify both come here."""
    try:
        env = json_loads(payload)
    except (UnicodeDecodeError, ValueError, _JSONError):
        return IndexFields()
    if not isinstance(env, dict):
        return IndexFields()
    return envelope_fields(subject, env)
