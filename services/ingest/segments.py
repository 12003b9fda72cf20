"""Recording segments and retention (Art. 7, Art. 18): what the recorders hold, and what vanished.

Each scan of a camera's recorder yields its segments. New ones become
`cctv.recording.segment` events; the oldest retained time becomes a `recording.retention`
report (health decides "keeps less than 30 days"); a segment seen before that is gone now
while it is still inside the 30-day retention period, or inside a preservation hold, becomes
a `recording.deleted` finding. Segments that age out past 30 days are ordinary overwriting
and say nothing. Nor does a recorder that overwrites its oldest footage before 30 days: that
is its retention, which the retention report shows (health: `retention_short`); a finding is
a hole in the footage still kept, or anything under a hold.

Tiered scans (ADR 0031): a camera's first scan, and then one scan per full-scan interval
(1 h by default, each camera at its own phase of it), lists the whole window; the other
rounds list only the recent past. A full listing of 32 days is ~768 segments of paged XML
per camera, and at 5,000 cameras every 10 min that starved the prober (issue 9). Only a full
scan reports retention (the oldest retained needs the whole window) and can find older
footage gone; an incremental one finds new segments and recent deletions. A camera whose
preservation holds changed is scanned in full at once (Art. 18).

Memory: per camera only the start and end seconds of known segments, in two int arrays
(about 12 KB per camera for 30 days of hourly files), so 5,000 cameras fit in ~60 MB.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cctv.contract import regulation
from cctv.contract.events import HoldRecord, RecordingSegment, RetentionReport, SegmentDeleted

from .adapters.base import Segment, SegmentListing
from .adapters.scheduler import phase

RETENTION = regulation.RETENTION  # Art. 7: no deletion or overwrite within 30 days
# A scan covers this much history, so "keeps less than 30 days" is visible; a camera with
# preservation holds is scanned back to its oldest held footage (see scan_start).
SCAN_WINDOW = RETENTION + timedelta(days=2)
# An incremental scan reaches back at least this far before the last scan: the segment still
# being written then (not yet published) and anything recent are listed again.
MIN_OVERLAP = timedelta(hours=2)


@dataclass(frozen=True)
class PreservationHold:
    """Art. 18: footage of this camera and time range must not be deleted until `until`."""

    camera_id: str
    start: datetime
    end: datetime
    until: datetime

    def covers(self, camera_id: str, start: datetime, end: datetime, now: datetime) -> bool:
        return (
            camera_id == self.camera_id
            and now < self.until
            and start < self.end
            and self.start < end
        )


def holds_of(h: HoldRecord | None) -> list[PreservationHold]:
    """The contract's typed hold (AccessHeld.hold) as the scanner's per-camera holds."""
    if h is None:
        return []
    # a date: through that day
    until_dt = datetime.combine(h.until, datetime.min.time(), UTC) + timedelta(days=1)
    return [PreservationHold(c, h.footage_from, h.footage_until, until_dt) for c in h.cameras]


@dataclass
class ScanOutcome:
    segments: list[RecordingSegment] = field(default_factory=list)
    deleted: list[SegmentDeleted] = field(default_factory=list)
    retention: RetentionReport | None = None
    note: str | None = None  # why nothing was compared (device error, etc.)


def to_event(camera_id: str, seg: Segment) -> RecordingSegment:
    return RecordingSegment(
        camera_id=camera_id, start=seg.start, end=seg.end, bytes=seg.bytes, sha256=seg.sha256
    )


def _ts(t: datetime) -> int:
    return int(t.timestamp())


def _dt(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def holds_key(
    camera_id: str, holds: Iterable[PreservationHold], now: datetime
) -> tuple[tuple[int, int, int], ...]:
    """The camera's active holds, comparable between scans: a new (or extended) hold changes
    it, and the next scan is full."""
    return tuple(
        sorted(
            (_ts(h.start), _ts(h.end), _ts(h.until))
            for h in holds
            if h.camera_id == camera_id and now < h.until
        )
    )


@dataclass(frozen=True)
class ScanPlan:
    """What the next scan of a camera lists: the whole window (`full`) or the recent past."""

    full: bool
    start: datetime
    why: str  # first | holds changed | due | recent


class _Known:
    __slots__ = ("ends", "first_scan", "holds", "last_full", "last_scan", "starts")

    def __init__(self) -> None:
        self.starts = array("q")
        self.ends = array("q")
        self.last_full: int | None = None  # the last complete full scan (its `now`)
        self.last_scan: int | None = None  # how far the last compared scan covered
        self.first_scan: int | None = None  # when the first compared scan was made
        self.holds: tuple[tuple[int, int, int], ...] = ()  # holds at the last full scan


class SegmentTracker:
    """Remembers each camera's segments between scans, reports changes, and plans whether
    the next scan lists the whole window or only the recent past.

    `full_interval_s`: a full scan per camera at least this often (0: every scan is full);
    `scan_interval_s`: the rounds' period, which sets the incremental overlap;
    `full_at_first`: a camera's first scan lists the whole window. Ingest says no: after a
    restart every camera is new, and 5,000 whole-window searches at once (three minutes of
    ingest's CPU, and each recorder searched 30-odd times over) would come before the
    probes; its first scan lists the recent past, its full scan comes at its phase."""

    def __init__(
        self,
        full_interval_s: float = 3600.0,
        scan_interval_s: float = 600.0,
        phase_of: Callable[[str], float] | None = None,
        *,
        full_at_first: bool = True,
    ) -> None:
        self._known: dict[str, _Known] = {}
        self.full_at_first = full_at_first
        self.full_interval_s = full_interval_s
        self.overlap = max(timedelta(seconds=2 * scan_interval_s), MIN_OVERLAP)
        # the camera's fixed offset in the interval (the sampler's stable hash): its full
        # scans fall at phase + k * interval, so a fleet seen at once does not come due at once
        self._phase_of = phase_of or (lambda cid: phase(cid, full_interval_s))

    def plan(
        self, camera_id: str, now: datetime, holds: Iterable[PreservationHold] = ()
    ) -> ScanPlan:
        """Full when the camera is new to the tracker (or no full scan of it completed yet),
        when its holds changed since its last full scan, or when its phase came round since;
        else from the last scan minus the overlap."""
        holds = list(holds)
        full_start = scan_start(camera_id, now, holds)
        held = holds_key(camera_id, holds, now)
        k = self._known.get(camera_id)
        if k is None or k.last_scan is None or k.first_scan is None:
            if self.full_at_first or self.full_interval_s <= 0 or held:
                return ScanPlan(True, full_start, "first")
            return ScanPlan(False, max(full_start, now - self.overlap), "first")
        if k.last_full is None and self.full_at_first:
            return ScanPlan(True, full_start, "first")  # the first full scan failed
        if k.holds != held:
            return ScanPlan(True, full_start, "holds changed")
        since = k.last_full if k.last_full is not None else k.first_scan
        if self._full_due(camera_id, since, _ts(now)):
            return ScanPlan(True, full_start, "due")
        return ScanPlan(False, max(full_start, _dt(k.last_scan) - self.overlap), "recent")

    def _full_due(self, camera_id: str, last_full: int, now: int) -> bool:
        """A boundary phase + k * interval lies in (last_full, now]."""
        interval = self.full_interval_s
        if interval <= 0:
            return True
        phase = self._phase_of(camera_id)
        return math.floor((now - phase) / interval) > math.floor((last_full - phase) / interval)

    def first_scanned(self, camera_id: str) -> datetime | None:
        """When the camera's first compared scan was made (this process's)."""
        k = self._known.get(camera_id)
        return None if k is None or k.first_scan is None else _dt(k.first_scan)

    def observe(
        self,
        camera_id: str,
        listing: SegmentListing,
        window_start: datetime,
        window_end: datetime,
        now: datetime,
        holds: Iterable[PreservationHold] = (),
        *,
        full: bool = True,
    ) -> ScanOutcome:
        """Compare a scan of [window_start, window_end) with what was known.

        `full`: the listing is the whole window (ScanPlan.full). Only then is its first
        segment the recorder's oldest (the retention report; known segments older than it
        were overwritten), and only a complete full listing counts as the camera's full scan
        — a failed or truncated one is tried again next round."""
        hold_list = [h for h in holds if h.camera_id == camera_id]
        if listing.error and not listing.segments:
            return ScanOutcome(note=f"scan failed, nothing compared: {listing.error}")
        segs = sorted(listing.segments, key=lambda s: s.start)
        # Only the span the listing really covered can show a disappearance: a truncated or
        # failed-midway listing covers up to its last segment.
        covered_end = window_end
        if (listing.truncated or listing.error) and segs:
            covered_end = segs[-1].start
        out = ScanOutcome()
        known = self._known.setdefault(camera_id, _Known())
        seen = {_ts(s.start) for s in segs}
        # older than everything still listed: the recorder's own overwriting at its old end
        # (only a full listing starts at the old end; an incremental one starts hours ago)
        oldest_listed = _ts(segs[0].start) if segs and full else None
        ws, ce = _ts(window_start), _ts(covered_end)
        keep_s, keep_e = array("q"), array("q")
        retention_edge = now - RETENTION
        prune_before = _ts(now - SCAN_WINDOW - timedelta(days=1))
        for s_ts, e_ts in zip(known.starts, known.ends, strict=True):
            if e_ts < prune_before and not any(
                h.covers(camera_id, _dt(s_ts), _dt(e_ts), now) for h in hold_list
            ):
                continue  # long past retention and not held: no longer anyone's business
            if ws <= s_ts < ce and s_ts not in seen:
                start, end = _dt(s_ts), _dt(e_ts)
                within = end > retention_edge
                held = any(h.covers(camera_id, start, end, now) for h in hold_list)
                if oldest_listed is not None and e_ts <= oldest_listed:
                    within = False
                if within or held:
                    out.deleted.append(
                        SegmentDeleted(
                            camera_id=camera_id,
                            start=start,
                            end=end,
                            within_retention=within,
                            under_hold=held,
                        )
                    )
                continue
            keep_s.append(s_ts)
            keep_e.append(e_ts)
        for seg in segs:
            s_ts = _ts(seg.start)
            i = bisect.bisect_left(keep_s, s_ts)
            if i < len(keep_s) and keep_s[i] == s_ts:
                keep_e[i] = max(keep_e[i], _ts(seg.end))  # the open segment grows
                continue
            keep_s.insert(i, s_ts)
            keep_e.insert(i, _ts(seg.end))
            out.segments.append(to_event(camera_id, seg))
        known.starts, known.ends = keep_s, keep_e
        known.last_scan = ce
        if known.first_scan is None:
            known.first_scan = _ts(now)
        if full:
            oldest = segs[0].start if segs else None
            out.retention = RetentionReport(
                camera_id=camera_id, oldest_retained=oldest, observed_at=now
            )
            if not (listing.truncated or listing.error):
                known.last_full = _ts(now)
                known.holds = holds_key(camera_id, hold_list, now)
        if listing.truncated:
            out.note = f"listing capped at {len(segs)} segments; compared up to {covered_end}"
        return out

    def forget(self, camera_id: str) -> None:
        self._known.pop(camera_id, None)


def retention_short(
    oldest: datetime | None, now: datetime, in_service_since: datetime | None
) -> bool:
    """Art. 7: the recorder keeps less than 30 days (unless the camera is newer than that)."""
    if oldest is None:
        return in_service_since is None or in_service_since < now - RETENTION
    floor = now - RETENTION
    if in_service_since is not None and in_service_since > floor:
        floor = in_service_since
    return oldest > floor + timedelta(hours=2)


def gaps(
    segments: list[Segment],
    start: datetime,
    end: datetime,
    tolerance: timedelta = timedelta(seconds=90),
) -> list[tuple[datetime, datetime]]:
    """Art. 7 (24 h recording): uncovered spans inside [start, end) longer than tolerance."""
    out = []
    cursor = start
    for s in sorted(segments, key=lambda s: s.start):
        if s.start - cursor > tolerance:
            out.append((cursor, s.start))
        cursor = max(cursor, s.end)
    if end - cursor > tolerance:
        out.append((cursor, end))
    return out


def scan_start(camera_id: str, now: datetime, holds: Iterable[PreservationHold]) -> datetime:
    """Where a scan of this camera starts: 32 days back, or the oldest footage it must keep."""
    start = now - SCAN_WINDOW
    for h in holds:
        if h.camera_id == camera_id and now < h.until and h.start < start:
            start = h.start
    return start
