"""What a state change reports: one Transition per event ``cctv.workflow.<process>.<name>``.

Domain methods return transitions instead of publishing, so the store can commit the new state
and its events in one transaction (outbox) and tests can assert on them without a broker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


class Transition(BaseModel):
    process: str
    name: str
    key: str  # the request / record id
    actor: str | None = None  # person_id
    time: datetime
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"cctv.workflow.{self.process}.{self.name}"


def aware(t: datetime, field: str = "time") -> datetime:
    """Refuse naive datetimes: a deadline in working hours needs to know its zone."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{field} must be timezone-aware")
    return t.astimezone(UTC)
