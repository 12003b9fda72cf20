"""ONVIF Profile G replay (ONVIF Streaming Specification, "Replay control").

DESCRIBE/SETUP/PLAY carry `Require: onvif-replay`; PLAY asks `Range: clock=<start>-<end>` (UTC)
with `Rate-Control: no` (as fast as the recorder can send); every RTP packet carries the replay
header extension (0xABAC: NTP time of the frame, clean-point and end bits, the PLAY's CSeq),
so the frame times are the recorder's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from string import Formatter
from urllib.parse import urlsplit

from cctv.plumbing.urls import without_login
from cctv.rtsp import format_clock

from .base import Footage, RecordedFrame, ReplayError
from .rtsp_playback import PlaybackSession

REPLAY_TAG = "onvif-replay"
# what OnvifReplay.fetch fills a replay URL template with
PLACEHOLDERS = ("camera_id", "channel")


def template_problem(template: str) -> str | None:
    """What is wrong with a replay URL template, or None. Checked when the setting is read, so
    a template media cannot fill or play is refused at start and not at the first export: the
    replay client speaks plain RTSP (rtsp://, no rtsps), only `{camera_id}` and `{channel}` are
    filled in, and the login goes in username/password, never in the URL (nor in the logs)."""
    try:
        fields = [(f, conv) for _, f, _, conv in Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"is not a template ({exc}; a literal brace is written {{{{ or }}}})"
    allowed = " and ".join(f"{{{p}}}" for p in PLACEHOLDERS)
    for name, conversion in fields:
        if name not in PLACEHOLDERS:
            return f"has the unknown placeholder {{{name}}}: only {allowed} are filled in"
        if conversion is not None:
            return f"converts {{{name}!{conversion}}}: write {{{name}}}"
    if not fields:
        either = " nor ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        return f"holds neither {either}: every camera would replay the same recording"
    try:
        url = template.format(camera_id="CAM-1", channel=1)
    except (KeyError, IndexError, ValueError, TypeError) as exc:
        return f"cannot be filled in ({exc!r})"
    parts = urlsplit(url)
    if parts.scheme != "rtsp":
        return (
            "is not an rtsp:// URL (the replay client speaks plain RTSP: no rtsps://, no http://)"
        )
    if "@" in parts.netloc:
        return "holds a login (user@host): give username and password or password_file instead"
    if not parts.hostname or any(c.isspace() for c in url):
        return "is not an rtsp://host/path URL"
    return None


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
        channel: int | None = footage.channel
        try:
            if any(f == "channel" for _, f, _, _ in Formatter().parse(self.url_template)):
                channel = footage.require_channel("this recorder's ONVIF")  # never "None"
            url = self.url_template.format(camera_id=footage.camera_id, channel=channel)
        except (KeyError, IndexError, ValueError) as exc:
            shown = without_login(self.url_template)
            raise ReplayError(f"replay URL template {shown!r}: {exc!r}") from exc
        async for frame in fetch(
            url, start, end, username=self.username, password=self.password, timeout=self.timeout
        ):
            yield frame
