"""Approved stop/move windows (Art. 8): inside one, a camera's outage is expected."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StopMoveWindow:
    request_id: str
    camera_ids: frozenset[str]
    starts_at: datetime
    ends_at: datetime

    def covers(self, camera_id: str, at: datetime) -> bool:
        return camera_id in self.camera_ids and self.starts_at <= at < self.ends_at


def covering_window(
    windows: list[StopMoveWindow], camera_id: str, at: datetime
) -> StopMoveWindow | None:
    return next((w for w in windows if w.covers(camera_id, at)), None)
