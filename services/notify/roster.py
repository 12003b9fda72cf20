"""Who is on duty where and when: the roster decides which guards get an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time


def parse_window(text: str) -> tuple[time, time]:
    """A daily window "HH:MM-HH:MM" (a shift, quiet hours); the end may be past midnight."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"not a daily window HH:MM-HH:MM: {text!r}")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def in_window(start: time, end: time, at: time) -> bool:
    """Is `at` inside [start, end)? Equal ends: round the clock; start after end: overnight."""
    if start == end:
        return True
    if start < end:
        return start <= at < end
    return at >= start or at < end


@dataclass(frozen=True)
class RosterEntry:
    account: str
    name: str
    role: str  # guard | gatekeeper | duty_operator | nic_oncall | security_head
    zone: str | None  # None: every zone (duty operators, NIC, the security office)
    shift_start: time = time(0, 0)
    shift_end: time = time(0, 0)  # equal to start: round the clock
    phone: str | None = None
    email: str | None = None

    def on_duty(self, at: time) -> bool:
        return in_window(self.shift_start, self.shift_end, at)


FIELD_ROLES = ("guard", "gatekeeper")
