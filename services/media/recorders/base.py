"""What every recorder adapter hands back, and the one interface media fetches through."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ReplayError(Exception):
    """The recorder refused or broke the playback; the message says what and where."""


@dataclass(frozen=True)
class RecordedFrame:
    """One access unit as the recorder sent it (Annex B), with its recorded wall-clock time."""

    at: datetime
    annexb: bytes
    clean_point: bool  # an IDR a decoder can start from


@dataclass(frozen=True)
class Segment:
    """A recorded file a recorder's search found: its span and, for Hikvision, where it plays."""

    start: datetime
    end: datetime
    playback_uri: str = ""


def uncovered(segments: list[Segment], start: datetime, end: datetime) -> datetime | None:
    """The first moment of [start, end) no segment holds, or None if all of it is held."""
    at = start
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.start > at:
            return at
        at = max(at, seg.end)
        if at >= end:
            return None
    return at if at < end else None


def check_covered(
    segments: list[Segment], camera_id: str, channel: int, start: datetime, end: datetime, how: str
) -> None:
    """A recorder's search must find the whole window: a gap fails the job, naming where."""
    gap = uncovered(segments, start, end)
    if gap is not None:
        raise ReplayError(
            f"the recorder holds no footage of {camera_id} (channel {channel}) from "
            f"{gap.isoformat()} within {start.isoformat()} – {end.isoformat()} ({how})"
        )


@dataclass(frozen=True)
class Footage:
    """Where one camera's recording lives: the recorder's address and the camera's channel."""

    camera_id: str
    channel: int | None = None

    def require_channel(self, dialect: str) -> int:
        """Vendor recorders name a camera's footage by its channel on the recorder."""
        if self.channel is None:
            raise ReplayError(
                f"camera {self.camera_id} has no recorder channel in the inventory: "
                f"{dialect} playback is by channel"
            )
        return self.channel


class Recorder(Protocol):
    """A recorder that plays back what it recorded for a camera and a time range.

    Every adapter returns frames stamped with the recorder's own time (never ours), so the
    export can check each one against the grant before anything is written (Art. 16(1)3)."""

    @property
    def brand(self) -> str:
        """The dialect it speaks: onvif, hikvision or dahua."""
        ...

    def fetch(
        self, footage: Footage, start: datetime, end: datetime
    ) -> AsyncIterator[RecordedFrame]:
        """Every recorded frame of [start, end), as fast as the recorder will send."""
        ...
