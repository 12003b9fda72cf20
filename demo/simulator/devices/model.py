"""Simulated cameras and NVRs: identity, credentials, faults and a recording index.

Everything a device answers is a pure function of its state and the clock, so tests can
predict it: segments are aligned to `segment_s` boundaries from the oldest retained time
to now, and their bytes and content derive from (device, channel, start).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

Vendor = Literal["hikvision", "dahua", "onvif"]

FAULTS = (
    "offline",
    "slow",
    "wrong_password",
    "disk_error",
    "video_loss",
    "clock_drift",
    "recording_gap",
    "early_overwrite",
    "deleted_segment",
    "tamper",
    "disarmed",  # Art. 12: the channel's record schedule / recording job / motion alarm off
    # bad input from a misbehaving device
    "garbage",
    "wrong_content_type",
    "hang",
    "flood",
)


OPEN_END = datetime(9999, 1, 1, tzinfo=UTC)  # a gap that lasts until the fault is mended


@dataclass
class Faults:
    """Injectable faults. Each field off by default; see FAULTS for the names."""

    offline: bool = False
    slow_s: float = 0.0
    wrong_password: bool = False
    disk_error: bool = False
    clock_drift_s: float = 0.0
    early_overwrite_days: float | None = None  # keeps only this many days
    garbage: bool = False  # malformed XML / text bodies
    wrong_content_type: bool = False  # text/html login page instead of the API
    hang: bool = False  # accepts the connection, never answers
    flood: bool = False  # one-second segments: millions of them


Section = tuple[int, str, str]  # (day 0 = Sunday ... 6, "HH:MM:SS" start, end) wall clock
ALL_WEEK: tuple[Section, ...] = tuple((d, "00:00:00", "24:00:00") for d in range(7))


@dataclass
class ChannelState:
    video_loss: bool = False
    tamper: bool = False
    disarmed: bool = False
    # The channel's weekly record schedule in the device's wall clock, 24/7 by default:
    # Dahua's Record sections (six a day; a span over midnight is two), ISAPI's track
    # ScheduleActions. Dahua's motion alarm is armed on the same sections.
    schedule: tuple[Section, ...] = ALL_WEEK
    record_mask: int = 1  # Dahua: what its sections record (1 regular, 2 motion, 4 alarm)
    motion_alarm: bool = True  # Dahua: the motion alarm's Enable (off too while disarmed)
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)  # recording gaps
    deleted: set[datetime] = field(default_factory=set)  # segment starts removed


@dataclass
class SimDevice:
    device_id: str
    vendor: Vendor
    host: str
    port: int
    username: str = "admin"
    password: str = "sim-pass"
    channels: int = 1
    model: str = ""
    serial: str = ""
    retention_days: float = 35.0
    segment_s: int = 3600
    recording_since: datetime | None = None
    faults: Faults = field(default_factory=Faults)
    chan: dict[int, ChannelState] = field(default_factory=dict)
    # where each channel's stream is (ONVIF GetStreamUri); {channel} is filled in.
    # Default: the device's own RTSP port and a path no vendor guess would find
    stream_uri: str = ""
    events: bool = True  # ONVIF: advertises an event service
    wsse_always: bool = False  # ONVIF: WS-Security even on GetSystemDateAndTime (strict)
    wsse_skew_s: float = 60.0  # ONVIF: a UsernameToken's Created this far off its clock is refused
    configs_missing: frozenset[str] = frozenset()  # Dahua: getConfig names answered `Error`

    def __post_init__(self) -> None:
        if not self.model:
            self.model = {
                "hikvision": "DS-7716NI-K4",
                "dahua": "DH-NVR4216-4KS2",
                "onvif": "ONVIF-IPC",
            }[self.vendor]
        if not self.serial:
            self.serial = hashlib.sha1(self.device_id.encode()).hexdigest()[:16].upper()
        for c in range(1, self.channels + 1):
            self.chan.setdefault(c, ChannelState())
        if not self.stream_uri:
            self.stream_uri = f"rtsp://{self.host}:8554/onvif/media/ch{{channel}}/main"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def channel(self, n: int) -> ChannelState | None:
        return self.chan.get(n)

    def device_now(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)) + timedelta(seconds=self.faults.clock_drift_s)

    def current_password(self) -> str:
        # A "wrong password" fault: someone changed it on the device; ours no longer matches.
        return self.password + "-changed" if self.faults.wrong_password else self.password

    # --- recording index ---------------------------------------------------------------

    def seg_len(self) -> int:
        return 1 if self.faults.flood else self.segment_s

    def oldest_retained(self, now: datetime) -> datetime:
        keep = self.faults.early_overwrite_days or self.retention_days
        oldest = now - timedelta(days=keep)
        if self.recording_since and self.recording_since > oldest:
            oldest = self.recording_since
        step = self.seg_len()
        return datetime.fromtimestamp((int(oldest.timestamp()) // step + 1) * step, UTC)

    def segments(
        self, channel: int, start: datetime, end: datetime, now: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime, int]]:
        """(start, end, bytes) of retained segments overlapping [start, end), oldest first."""
        now = now or datetime.now(UTC)
        st = self.channel(channel)
        if st is None:
            return
        step = self.seg_len()
        first = max(self.oldest_retained(now), start)
        t = int(first.timestamp()) // step * step
        stop = min(end, now)
        for s_ts in itertools.count(t, step):
            s = datetime.fromtimestamp(s_ts, UTC)
            if s >= stop:
                return
            e = min(s + timedelta(seconds=step), now)
            if s < self.oldest_retained(now) or s in st.deleted:
                continue
            if any(gs < e and s < ge for gs, ge in st.gaps):
                continue
            yield s, e, self.segment_bytes(channel, s)

    def segment_bytes(self, channel: int, start: datetime) -> int:
        h = hashlib.blake2s(f"{self.device_id}/{channel}/{start.isoformat()}".encode()).digest()
        return 4096 + int.from_bytes(h[:2], "big") % 4096

    def segment_content(self, channel: int, start: datetime) -> bytes:
        """The recorded file's bytes (small, deterministic): what SHA-256 is taken over."""
        n = self.segment_bytes(channel, start)
        seed = f"{self.device_id}/{channel}/{start.isoformat()}".encode()
        out = bytearray()
        counter = 0
        while len(out) < n:
            out += hashlib.blake2b(seed + counter.to_bytes(4, "big")).digest()
            counter += 1
        return bytes(out[:n])

    def delete_segment(self, channel: int, start: datetime) -> None:
        self.chan[channel].deleted.add(start)

    def add_gap(self, channel: int, start: datetime, end: datetime) -> None:
        self.chan[channel].gaps.append((start, end))

    def apply_fault(
        self,
        name: str,
        on: bool = True,
        *,
        channel: int | None = None,
        value: float | None = None,
        now: datetime | None = None,
    ) -> None:
        """Turn a named fault on or off (the names `cctv sim break/mend` uses)."""
        f = self.faults
        chans = [channel] if channel else list(self.chan)
        now = now or datetime.now(UTC)
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        if name == "slow":
            f.slow_s = (value or 2.0) if on else 0.0
        elif name == "clock_drift":
            f.clock_drift_s = (value or 300.0) if on else 0.0
        elif name == "early_overwrite":
            f.early_overwrite_days = (value or 7.0) if on else None
        elif name in {"video_loss", "tamper", "disarmed"}:
            for c in chans:
                setattr(self.chan[c], name, on)
        elif name == "recording_gap":
            # The recorder stops recording (from `value` hours ago, default one): an open gap
            # until mended; mending closes it at that moment -- the hole stays in the index.
            for c in chans:
                if on:
                    hours = value if value is not None else 1.0
                    self.chan[c].gaps.append((now - timedelta(hours=hours), OPEN_END))
                else:
                    self.chan[c].gaps = [
                        (gs, now if ge == OPEN_END else ge) for gs, ge in self.chan[c].gaps
                    ]
        elif name == "deleted_segment":
            for c in chans:
                if on:
                    days = value or 3.0
                    step = self.seg_len()
                    ts = int((now - timedelta(days=days)).timestamp()) // step * step
                    self.chan[c].deleted.add(datetime.fromtimestamp(ts, UTC))
                else:
                    self.chan[c].deleted.clear()
        else:
            setattr(f, name, on)
