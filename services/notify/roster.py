"""Who is on duty where and when: the roster decides which guards get an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time


@dataclass(frozen=True)
class RosterEntry:
    account: str
    name: str
    role: str  # guard | gatekeeper | duty_operator | supervisor
    zone: str | None  # None: every zone (duty operators, supervisors)
    shift_start: time = time(0, 0)
    shift_end: time = time(0, 0)  # equal to start: round the clock

    def on_duty(self, at: time) -> bool:
        if self.shift_start == self.shift_end:
            return True
        if self.shift_start < self.shift_end:
            return self.shift_start <= at < self.shift_end
        return at >= self.shift_start or at < self.shift_end  # overnight shift


FIELD_ROLES = ("guard", "gatekeeper")


def recipients(roster: list[RosterEntry], zone: str, at: time) -> list[RosterEntry]:
    """The guards and gatekeepers on duty for the zone; failing them, the duty operators.

    Nobody on duty for a zone must never mean nobody is told.
    """
    field = [r for r in roster if r.role in FIELD_ROLES and r.zone == zone and r.on_duty(at)]
    if field:
        return field
    return [r for r in roster if r.role == "duty_operator" and r.on_duty(at)]
