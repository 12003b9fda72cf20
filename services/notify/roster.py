"""Who is on duty where and when: the roster decides which guards get an alert."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time


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
        if self.shift_start == self.shift_end:
            return True
        if self.shift_start < self.shift_end:
            return self.shift_start <= at < self.shift_end
        return at >= self.shift_start or at < self.shift_end  # overnight shift


FIELD_ROLES = ("guard", "gatekeeper")
