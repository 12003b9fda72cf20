"""ONVIF Profile G replay (ONVIF Streaming Specification, "Replay control").

DESCRIBE/SETUP/PLAY carry `Require: onvif-replay`; PLAY asks `Range: clock=<start>-<end>` (UTC)
with `Rate-Control: no` (as fast as the recorder can send); every RTP packet carries the replay
header extension (0xABAC: NTP time of the frame, clean-point and end bits, the PLAY's CSeq),
so the frame times are the recorder's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from cctv.rtsp import format_clock

from .base import Footage, RecordedFrame, ReplayError
from .rtsp_playback import PlaybackSession

REPLAY_TAG = "onvif-replay"


class ReplayClient(PlaybackSession):
    """One ONVIF replay session for one recording URL (what GetReplayUri returns)."""

    async def __aenter__(self) -> ReplayClient:
        await super().__aenter__()
        return self

    async def play(
        self, start: datetime, end: datetime, *, realtime: bool = False
    ) -> AsyncIterator[RecordedFrame]:
        """Yield the recorded frames of [start, end) with their recorded times."""
        require = {"Require": REPLAY_TAG}
        await self.open(require)
        cseq, _ = await self.send_play(
            {
                **require,
                "Range": f"clock={format_clock(start)}-{format_clock(end)}",
                "Rate-Control": "yes" if realtime else "no",
            }
        )
        async for frame in self.frames(replay_cseq=cseq):
            yield frame


async def fetch(
    url: str,
    start: datetime,
    end: datetime,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> AsyncIterator[RecordedFrame]:
    """Every recorded frame of one recording in [start, end), as fast as the recorder sends."""
    async with ReplayClient(url, username=username, password=password, timeout=timeout) as c:
        async for frame in c.play(start, end):
            yield frame


@dataclass(frozen=True)
class OnvifReplay:
    """A Profile G recorder: each camera's recording at `url_template` (`{camera_id}`)."""

    url_template: str
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0
    brand: str = "onvif"

    async def fetch(
        self, footage: Footage, start: datetime, end: datetime
    ) -> AsyncIterator[RecordedFrame]:
        try:
            url = self.url_template.format(camera_id=footage.camera_id, channel=footage.channel)
        except (KeyError, IndexError, ValueError) as exc:
            raise ReplayError(f"replay URL template {self.url_template!r}: {exc!r}") from exc
        async for frame in fetch(
            url, start, end, username=self.username, password=self.password, timeout=self.timeout
        ):
            yield frame
