"""Tiered recording scans (ADR 0031): the whole window once per full-scan interval (and after
a new hold or a failed full scan), only the recent past in the rounds between."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cctv.contract.events import Event, RecordingSegment, RetentionReport, SegmentDeleted
from services.ingest.adapters.base import DeviceTarget, Segment, SegmentListing
from services.ingest.adapters.wiring import scan_camera
from services.ingest.segments import SCAN_WINDOW, PreservationHold, SegmentTracker
from services.ingest.settings import IngestSettings

if TYPE_CHECKING:
    from tests.ingest.devices.conftest import Estate

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # a multiple of the hour: a phase-0 boundary
H = timedelta(hours=1)
ROUND = timedelta(seconds=600)  # SEGMENT_SCAN_INTERVAL_S's default
T0 = NOW + timedelta(seconds=30)  # the first scan, just after a full-scan boundary
TARGET = DeviceTarget("cam-1", "isapi", "127.0.0.1", 80, 1, None)
SETTINGS = IngestSettings()


class FakeRecorder:
    """A recorder of hourly files since `since`, answering what overlaps [start, end), and
    recording the windows it was asked for."""

    def __init__(self, since: datetime = NOW - timedelta(days=31)) -> None:
        self.since = since
        self.deleted: set[datetime] = set()
        self.asked: list[tuple[datetime, datetime]] = []
        self.fail = False
        self.truncate = False

    async def list_segments(
        self, target: DeviceTarget, start: datetime, end: datetime, **_: Any
    ) -> SegmentListing:
        self.asked.append((start, end))
        if self.fail:
            return SegmentListing([], error="timeout: no answer")
        segs = []
        t = self.since
        while t < end:
            e = min(t + H, end)
            if e > start and t not in self.deleted:
                segs.append(Segment(t, e, 1000))
            t += H
        if self.truncate:
            return SegmentListing(segs[:100], truncated=True)
        return SegmentListing(segs)


def tracker() -> SegmentTracker:
    """Hourly full scans at phase 0: due at each whole hour."""
    return SegmentTracker(full_interval_s=3600.0, scan_interval_s=600.0, phase_of=lambda _: 0.0)


async def scan(
    rec: FakeRecorder, t: SegmentTracker, now: datetime, holds: list[PreservationHold] | None = None
) -> list[Event]:
    return await scan_camera(rec, TARGET, t, holds or [], SETTINGS, now)


def of(events: list[Event], kind: type[Event]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def test_first_scan_is_full_then_recent_then_full_after_the_interval() -> None:
    rec, t = FakeRecorder(), tracker()
    first = await scan(rec, t, T0)
    assert rec.asked[-1] == (T0 - SCAN_WINDOW, T0)
    (ret,) = of(first, RetentionReport)
    assert ret.oldest_retained == NOW - timedelta(days=31)

    # the next rounds list from the last scan minus the overlap (2 h), report no retention,
    # and still publish what closed meanwhile
    second = await scan(rec, t, T0 + ROUND)
    assert rec.asked[-1] == (T0 - 2 * H, T0 + ROUND)
    assert of(second, RetentionReport) == []
    assert [s.start for s in of(second, RecordingSegment)] == [NOW - H]  # open at T0
    for k in range(2, 6):
        out = await scan(rec, t, T0 + k * ROUND)
        assert rec.asked[-1][0] == T0 + (k - 1) * ROUND - 2 * H
        assert of(out, RetentionReport) == []

    # an hour on, the whole window again, with the retention report
    again = await scan(rec, t, T0 + 6 * ROUND)
    assert rec.asked[-1] == (T0 + 6 * ROUND - SCAN_WINDOW, T0 + 6 * ROUND)
    assert len(of(again, RetentionReport)) == 1
    assert of(again, RecordingSegment) == []  # the file begun at NOW closed 30 s ago
    after = await scan(rec, t, T0 + 7 * ROUND)
    assert rec.asked[-1][0] == T0 + 6 * ROUND - 2 * H
    assert [s.start for s in of(after, RecordingSegment)] == [NOW]


async def test_recent_deletion_found_by_an_incremental_scan_old_one_by_the_next_full() -> None:
    rec, t = FakeRecorder(), tracker()
    await scan(rec, t, T0)
    await scan(rec, t, T0 + ROUND)  # learns the segment that was open at T0
    rec.deleted |= {NOW - H, NOW - 72 * H}  # one recent file, one from 3 days ago
    out = await scan(rec, t, T0 + 2 * ROUND)
    assert [(d.start, d.within_retention) for d in of(out, SegmentDeleted)] == [(NOW - H, True)]
    for k in range(3, 6):  # the incremental rounds do not look 3 days back
        assert of(await scan(rec, t, T0 + k * ROUND), SegmentDeleted) == []
    full = await scan(rec, t, T0 + 6 * ROUND)
    assert len(of(full, RetentionReport)) == 1
    assert [d.start for d in of(full, SegmentDeleted)] == [NOW - 72 * H]


async def test_a_new_hold_makes_the_next_scan_full_and_finds_held_footage_gone() -> None:
    rec, t = FakeRecorder(since=NOW - timedelta(days=40)), tracker()
    await scan(rec, t, T0)
    lost = NOW - timedelta(days=33)
    hold = PreservationHold("cam-1", lost - 2 * H, lost + 2 * H, until=NOW + timedelta(days=300))
    out = await scan(rec, t, T0 + ROUND, [hold])
    assert rec.asked[-1][0] == lost - 2 * H  # the whole window, back to the held footage
    assert len(of(out, RetentionReport)) == 1
    assert lost in {s.start for s in of(out, RecordingSegment)}
    # the same holds: incremental again
    await scan(rec, t, T0 + 2 * ROUND, [hold])
    assert rec.asked[-1][0] == T0 + ROUND - 2 * H
    # the held file vanishes; a hold extended (changed) brings the full scan at once
    rec.deleted.add(lost)
    longer = PreservationHold("cam-1", hold.start, hold.end, until=hold.until + timedelta(days=30))
    out = await scan(rec, t, T0 + 3 * ROUND, [longer])
    (gone,) = of(out, SegmentDeleted)
    assert gone.start == lost and gone.under_hold and not gone.within_retention


async def test_a_failed_or_truncated_full_scan_is_tried_again_next_round() -> None:
    rec, t = FakeRecorder(), tracker()
    rec.fail = True
    assert await scan(rec, t, T0) == []
    rec.fail = False
    first = await scan(rec, t, T0 + ROUND)
    assert rec.asked[-1][0] == T0 + ROUND - SCAN_WINDOW  # full again
    assert len(of(first, RetentionReport)) == 1
    await scan(rec, t, T0 + 2 * ROUND)
    assert rec.asked[-1][0] == T0 + ROUND - 2 * H  # incremental now

    # the hourly full scan comes due and fails midway (capped): full again next round
    rec.truncate = True
    await scan(rec, t, T0 + 6 * ROUND)
    assert rec.asked[-1][0] == T0 + 6 * ROUND - SCAN_WINDOW
    rec.truncate = False
    await scan(rec, t, T0 + 7 * ROUND)
    assert rec.asked[-1][0] == T0 + 7 * ROUND - SCAN_WINDOW
    await scan(rec, t, T0 + 8 * ROUND)
    assert rec.asked[-1][0] == T0 + 7 * ROUND - 2 * H


def test_full_scans_are_staggered_over_the_interval() -> None:
    """A fleet seen for the first time in one round does not come due in one round again:
    each camera's full scan falls at its own phase, once per interval."""
    t = SegmentTracker(full_interval_s=3600.0, scan_interval_s=600.0)
    cams = [f"cam-{i:04d}" for i in range(600)]
    fulls: Counter[int] = Counter()
    per_camera: Counter[str] = Counter()
    for k in range(7):  # the first round, then six rounds: one interval
        now = T0 + k * ROUND
        for cid in cams:
            plan = t.plan(cid, now)
            t.observe(cid, SegmentListing([]), plan.start, now, now, full=plan.full)
            if plan.full and k > 0:
                fulls[k] += 1
                per_camera[cid] += 1
    assert set(per_camera.values()) == {1} and len(per_camera) == len(cams)
    assert max(fulls.values()) < 0.3 * len(cams), fulls


async def test_simulated_nvr_recent_deletion_incremental_old_deletion_full(estate: Estate) -> None:
    """The real Dahua adapter against the simulated NVR: a recent file removed is found by the
    incremental scan, a 3-day-old one only by the full scan that follows."""
    target = estate.target(estate.dahua, 3)
    real = datetime.now(UTC)
    hour = real.replace(minute=0, second=0, microsecond=0)
    now0 = hour + timedelta(minutes=30) if real >= hour + timedelta(minutes=30) else hour - H / 2
    # full-scan boundaries at now0 + 2 s (+ k hours)
    t = SegmentTracker(phase_of=lambda _: (now0.timestamp() + 2) % 3600)
    first = await scan_camera(estate.dh, target, t, [], SETTINGS, now0)
    assert len(of(first, RetentionReport)) == 1
    recent = max(s.start for s in of(first, RecordingSegment))
    assert recent >= now0 - 2 * H
    estate.dahua.chan[3].deleted.add(recent)
    estate.dahua.apply_fault("deleted_segment", channel=3, value=3, now=now0)
    old = min(estate.dahua.chan[3].deleted)
    second = await scan_camera(estate.dh, target, t, [], SETTINGS, now0 + timedelta(seconds=1))
    assert of(second, RetentionReport) == []
    assert [d.start for d in of(second, SegmentDeleted)] == [recent]
    third = await scan_camera(estate.dh, target, t, [], SETTINGS, now0 + timedelta(seconds=3))
    assert len(of(third, RetentionReport)) == 1
    assert [d.start for d in of(third, SegmentDeleted)] == [old]


def test_an_incremental_listing_does_not_start_at_the_recorders_old_end() -> None:
    """In a full listing, known files older than the first one listed were overwritten at
    the recorder's old end; an incremental listing starts hours ago, so a recent file gone
    before everything it lists is still a deletion, and it reports no retention."""
    t = tracker()
    hourly = [Segment(NOW - i * H, NOW - (i - 1) * H, 1000) for i in range(24, 0, -1)]
    t.observe("cam-1", SegmentListing(hourly), NOW - SCAN_WINDOW, NOW, NOW)
    later = NOW + H
    recent = [s for s in hourly if s.start >= NOW - H] + [Segment(NOW, later, 1000)]
    out = t.observe(
        "cam-1", SegmentListing(recent), later - 3 * H - H / 2, later, later, full=False
    )
    # the file from NOW - 2 h vanished (the one straddling the window's start too)
    assert [d.start for d in out.deleted] == [NOW - 2 * H]
    assert out.retention is None


async def test_after_a_restart_the_first_scan_is_recent_the_whole_one_at_its_phase() -> None:
    """Ingest's tracker (full_at_first=False): after a restart every camera is new, and 5,000
    whole-window searches at once came before the probes for minutes. The first scan lists
    the recent past; the whole window comes at the camera's phase, and the history it then
    learns is summarised by the retention, not published file by file."""
    rec = FakeRecorder()
    t = SegmentTracker(full_interval_s=3600.0, scan_interval_s=600.0, phase_of=lambda _: 0.0,
                       full_at_first=False)  # fmt: skip
    first = await scan(rec, t, T0)
    assert rec.asked[-1] == (T0 - 2 * H, T0)
    assert of(first, RetentionReport) == []
    assert {s.start for s in of(first, RecordingSegment)} == {NOW - 2 * H}  # the backfill
    for k in range(1, 6):  # the recent past until the camera's phase comes round
        out = await scan(rec, t, T0 + k * ROUND)
        assert rec.asked[-1][0] == T0 + (k - 1) * ROUND - 2 * H
        assert of(out, RetentionReport) == []
    whole = await scan(rec, t, T0 + 6 * ROUND)
    assert rec.asked[-1] == (T0 + 6 * ROUND - SCAN_WINDOW, T0 + 6 * ROUND)
    (ret,) = of(whole, RetentionReport)
    assert ret.oldest_retained == NOW - timedelta(days=31)
    assert all(s.end >= T0 - 2 * H for s in of(whole, RecordingSegment))  # no old history
    rec.deleted.add(NOW - 72 * H)  # now known: its deletion is found by the next whole scan
    for k in range(7, 12):
        assert of(await scan(rec, t, T0 + k * ROUND), SegmentDeleted) == []
    again = await scan(rec, t, T0 + 12 * ROUND)
    assert [d.start for d in of(again, SegmentDeleted)] == [NOW - 72 * H]

    # a camera under a hold is scanned whole at once, its held footage published (Art. 18)
    held_rec = FakeRecorder(since=NOW - timedelta(days=40))
    t2 = SegmentTracker(full_interval_s=3600.0, scan_interval_s=600.0, phase_of=lambda _: 0.0,
                        full_at_first=False)  # fmt: skip
    lost = NOW - timedelta(days=33)
    hold = PreservationHold("cam-1", lost - 2 * H, lost + 2 * H, until=NOW + timedelta(days=300))
    out = await scan(held_rec, t2, T0, [hold])
    assert held_rec.asked[-1][0] == lost - 2 * H
    assert lost in {s.start for s in of(out, RecordingSegment)}
