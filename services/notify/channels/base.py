"""What every channel receives, and the one way a channel says it failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Outbound:
    """One message to one person; channels that need an address skip people without one."""

    kind: str  # alert | allclear | notice | escalation | directive
    title: str
    body: str
    recipient: str  # account
    severity: str = "info"
    phone: str | None = None
    email: str | None = None


class ChannelError(Exception):
    """The channel did not take the message; the text says why, in words NIC can act on."""


class Channel(Protocol):
    name: str

    def reaches(self, msg: Outbound) -> bool:
        """Whether this channel has an address for the message's recipient."""
        ...

    async def send(self, msg: Outbound) -> None: ...

    async def close(self) -> None: ...
