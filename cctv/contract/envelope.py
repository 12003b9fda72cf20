"""The envelope every event travels in.

Other campus systems subscribe to our subjects, so the envelope is a public, versioned
interface: additive changes only within a schema version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata common to every event; `data` holds the event's own model, as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=128)
    time: datetime = Field(default_factory=utcnow)
    source: str = Field(min_length=1, max_length=64)
    key: str | None = Field(default=None, max_length=128)
    actor: str = Field(default="system", min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=128)
    schema_version: int = Field(default=SCHEMA_VERSION, ge=1)
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()
