"""Approved windows over a set of cameras.

Stop/move (Art. 8): inside one, a camera's outage is expected. Exam watch (Art. 10): inside
one, the exam room's cameras are watched closer — down at the first failed sample, and the
fault is critical.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cctv.contract.events import ExamWatch, StopMoveWindowApproved


@dataclass(frozen=True)
class Window:
    request_id: str
    camera_ids: frozenset[str]
    starts_at: datetime
    ends_at: datetime

    @classmethod
    def of(cls, event: StopMoveWindowApproved | ExamWatch) -> Window:
        return cls(event.request_id, frozenset(event.camera_ids), event.starts_at, event.ends_at)

    def covers(self, camera_id: str, at: datetime) -> bool:
        return camera_id in self.camera_ids and self.starts_at <= at < self.ends_at


StopMoveWindow = Window
ExamWatchWindow = Window


def covering_window(windows: list[Window], camera_id: str, at: datetime) -> Window | None:
    return next((w for w in windows if w.covers(camera_id, at)), None)
