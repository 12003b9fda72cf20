"""Recording segments, retention and deletion findings (Art. 7, Art. 18)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from services.ingest.adapters.base import Segment, SegmentListing
from services.ingest.segments import (
    SCAN_WINDOW,
    PreservationHold,
    SegmentTracker,
    gaps,
    retention_short,
)

if TYPE_CHECKING:
    from tests.ingest.devices.conftest import Estate

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def hourly(days: float, now: datetime = NOW, skip: set[int] | None = None) -> list[Segment]:
    """Hourly segments for the last `days` days; `skip` = hours-ago indexes left out."""
    n = int(days * 24)
    out = []
    for i in range(n, 0, -1):
        if skip and i in skip:
            continue
        start = now - i * H
        out.append(Segment(start, start + H, 1000 + i))
    return out


def scan(tracker: SegmentTracker, segs: list[Segment], now: datetime = NOW, **kw):  # type: ignore[no-untyped-def]
    return tracker.observe("cam-1", SegmentListing(segs, **kw), now - SCAN_WINDOW, now, now)


def test_first_scan_publishes_every_segment_and_oldest() -> None:
    t = SegmentTracker()
    out = scan(t, hourly(31))
    assert len(out.segments) == 31 * 24 and not out.deleted
    assert out.retention is not None
    assert out.retention.oldest_retained == NOW - 31 * 24 * H
    assert out.segments[0].TYPE == "recording.segment"
    assert out.segments[0].camera_id == "cam-1" and out.segments[0].bytes == 1000 + 31 * 24


def test_second_scan_publishes_only_new_segments() -> None:
    t = SegmentTracker()
    scan(t, hourly(31))
    later = NOW + 2 * H
    out = scan(t, hourly(31, now=later), now=later)
    assert [s.start for s in out.segments] == [NOW, NOW + H]
    # the two oldest files rotated out, but they were past 30 days: not a finding
    assert not out.deleted


def test_segment_gone_inside_30_days_is_a_deletion_finding() -> None:
    t = SegmentTracker()
    scan(t, hourly(31))
    out = scan(t, hourly(31, skip={72}))  # the file from 3 days ago vanished
    assert len(out.deleted) == 1
    d = out.deleted[0]
    assert d.start == NOW - 72 * H and d.within_retention and not d.under_hold


def test_a_recorder_that_overwrites_early_is_short_retention_not_a_deletion() -> None:
    """A recorder keeping 20 days loses its oldest file every hour: the retention report
    says so (one `retention_short` fault), not a deletion finding per hour."""
    t = SegmentTracker()
    scan(t, hourly(20))
    later = NOW + 2 * H
    out = scan(t, hourly(20, now=later), now=later)
    assert out.deleted == []
    assert out.retention is not None and out.retention.oldest_retained == later - 20 * 24 * H
    # a hole among the footage still kept is a deletion, however short the retention
    out = scan(t, hourly(20, now=later, skip={48}), now=later)
    assert [d.start for d in out.deleted] == [later - 48 * H]


def test_segment_gone_after_30_days_is_ordinary_overwrite() -> None:
    t = SegmentTracker()
    scan(t, hourly(31))
    out = scan(t, hourly(31, skip={30 * 24 + 5}))
    assert out.deleted == []


def test_segment_gone_under_preservation_hold_even_after_30_days() -> None:
    t = SegmentTracker()
    scan(t, hourly(31))
    lost = NOW - (30 * 24 + 5) * H
    hold = PreservationHold("cam-1", lost - H, lost + 2 * H, until=NOW + timedelta(days=300))
    out = t.observe(
        "cam-1",
        SegmentListing(hourly(31, skip={30 * 24 + 5})),
        NOW - SCAN_WINDOW,
        NOW,
        NOW,
        holds=[hold],
    )
    assert len(out.deleted) == 1
    assert out.deleted[0].under_hold and not out.deleted[0].within_retention


def test_truncated_listing_compares_only_what_it_covered() -> None:
    t = SegmentTracker()
    scan(t, hourly(31))
    partial = hourly(31)[:100]  # the cap stopped the walk after 100 files
    out = scan(t, partial, truncated=True)
    assert out.deleted == [] and out.note is not None and "capped" in out.note


def test_failed_scan_is_not_a_deletion() -> None:
    t = SegmentTracker()
    scan(t, hourly(31))
    out = scan(t, [], error="timeout: no answer")
    assert out.deleted == [] and out.retention is None
    assert out.note is not None and "nothing compared" in out.note


def test_retention_short_rule() -> None:
    assert retention_short(NOW - timedelta(days=7), NOW, None)
    assert not retention_short(NOW - timedelta(days=31), NOW, None)
    # a camera installed 5 days ago cannot have more than 5 days
    assert not retention_short(NOW - timedelta(days=5), NOW, NOW - timedelta(days=5))
    assert retention_short(None, NOW, None)


def test_gaps_found() -> None:
    segs = hourly(1, skip={5, 6})
    found = gaps(segs, NOW - 24 * H, NOW)
    assert found == [(NOW - 6 * H, NOW - 4 * H)]


async def test_deleted_segment_on_simulated_nvr_becomes_finding(estate: Estate) -> None:
    now = datetime.now(UTC)
    t = SegmentTracker()
    target = estate.target(estate.dahua, 2)
    first = await estate.dh.list_segments(target, now - SCAN_WINDOW, now)
    out1 = t.observe(target.camera_id, first, now - SCAN_WINDOW, now, now)
    assert out1.deleted == [] and len(out1.segments) == len(first.segments)
    estate.dahua.apply_fault("deleted_segment", channel=2, value=3, now=now)
    second = await estate.dh.list_segments(target, now - SCAN_WINDOW, now)
    out2 = t.observe(target.camera_id, second, now - SCAN_WINDOW, now, now)
    assert len(out2.deleted) == 1 and out2.deleted[0].within_retention
    assert out2.deleted[0].start == next(iter(estate.dahua.chan[2].deleted))


async def test_early_overwrite_shows_in_oldest_retained(estate: Estate) -> None:
    now = datetime.now(UTC)
    estate.hik.apply_fault("early_overwrite", value=10)
    target = estate.target(estate.hik, 1)
    listing = await estate.isapi.list_segments(target, now - SCAN_WINDOW, now)
    out = SegmentTracker().observe(target.camera_id, listing, now - SCAN_WINDOW, now, now)
    assert out.retention is not None and out.retention.oldest_retained is not None
    assert retention_short(out.retention.oldest_retained, now, None)


def test_scan_reaches_back_to_held_footage() -> None:
    from services.ingest.segments import scan_start

    old = NOW - timedelta(days=60)
    hold = PreservationHold("cam-1", old, old + H, until=NOW + timedelta(days=300))
    expired = PreservationHold("cam-1", old - H, old, until=NOW - H)
    assert scan_start("cam-1", NOW, [hold, expired]) == old
    assert scan_start("cam-2", NOW, [hold]) == NOW - SCAN_WINDOW
