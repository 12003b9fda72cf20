"""Each adapter against the simulator over real sockets, healthy and with each fault."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from services.ingest.adapters.base import Credentials, DeviceTarget

if TYPE_CHECKING:
    from tests.ingest.devices.conftest import Estate


def _adapter(est: Estate, vendor: str):  # type: ignore[no-untyped-def]
    return {"hikvision": est.isapi, "dahua": est.dh, "onvif": est.ov}[vendor]


def _dev(est: Estate, vendor: str):  # type: ignore[no-untyped-def]
    return {"hikvision": est.hik, "dahua": est.dahua, "onvif": est.onvif}[vendor]


@pytest.mark.parametrize("vendor", ["hikvision", "dahua"])
async def test_healthy_nvr_probe_measures_everything(estate: Estate, vendor: str) -> None:
    dev = _dev(estate, vendor)
    r = await _adapter(estate, vendor).probe(estate.target(dev, 2), deep=True)
    assert r.error is None, r.error
    assert (r.reachable, r.auth_ok, r.streaming, r.recording, r.disk_state) == (
        True,
        True,
        True,
        True,
        "ok",
    )
    assert r.clock_offset_s is not None and abs(r.clock_offset_s) < 1.0
    assert r.latency_ms is not None and r.latency_ms > 0


async def test_onvif_probe_measures_clock_auth_and_video(estate: Estate) -> None:
    r = await estate.ov.probe(estate.target(estate.onvif))
    assert r.error is None, r.error
    assert (r.reachable, r.auth_ok, r.streaming) == (True, True, True)
    assert r.disk_state is None and r.recording is None  # not measurable over Profile S
    assert r.clock_offset_s is not None and abs(r.clock_offset_s) < 1.0


@pytest.mark.parametrize("vendor", ["hikvision", "dahua", "onvif"])
async def test_faults_show_in_the_sample(estate: Estate, vendor: str) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    t = estate.target(dev)

    dev.apply_fault("clock_drift", value=600)
    r = await ad.probe(t)
    assert r.clock_offset_s is not None and 599 < r.clock_offset_s < 601
    dev.apply_fault("clock_drift", False)

    dev.apply_fault("video_loss", channel=1)
    r = await ad.probe(t)
    assert r.streaming is False and r.reachable
    dev.apply_fault("video_loss", False)

    if vendor != "onvif":
        dev.apply_fault("disk_error")
        assert (await ad.probe(t)).disk_state == "error"
        dev.apply_fault("disk_error", False)

    dev.apply_fault("wrong_password")
    r = await ad.probe(t)
    assert (r.reachable, r.auth_ok) == (True, False)
    assert r.error is not None and r.error.startswith("auth:")
    dev.apply_fault("wrong_password", False)

    dev.apply_fault("offline")
    r = await ad.probe(t)
    assert r.reachable is False and r.error is not None and r.error.startswith("unreachable")
    dev.apply_fault("offline", False)

    r = await ad.probe(t)
    assert r.error is None and r.auth_ok is True


@pytest.mark.parametrize("vendor", ["hikvision", "dahua", "onvif"])
@pytest.mark.parametrize("fault", ["garbage", "wrong_content_type"])
async def test_bad_bodies_are_a_clear_status(estate: Estate, vendor: str, fault: str) -> None:
    dev = _dev(estate, vendor)
    dev.apply_fault(fault)
    r = await _adapter(estate, vendor).probe(estate.target(dev))
    # answering what cannot be read is as good as offline: down after DOWN_AFTER (issue 16)
    assert r.reachable is False
    assert r.error is not None and r.error.startswith("bad_response:"), r.error
    if fault == "wrong_content_type" and vendor != "onvif":
        assert "wrong content type 'text/html'" in r.error


async def test_recording_gap_turns_recording_off(estate: Estate) -> None:
    now = datetime.now(UTC)
    estate.hik.add_gap(1, now - timedelta(hours=3), now + timedelta(hours=1))
    r = await estate.isapi.probe(estate.target(estate.hik, 1), deep=True)
    assert r.recording is False and r.error is None
    r2 = await estate.isapi.probe(estate.target(estate.hik, 2), deep=True)
    assert r2.recording is True


async def test_silent_device_times_out_without_holding_others(estate: Estate) -> None:
    estate.hik.apply_fault("hang")
    t0 = time.monotonic()
    hung, fine = await asyncio.gather(
        estate.isapi.probe(estate.target(estate.hik)), estate.dh.probe(estate.target(estate.dahua))
    )
    assert fine.error is None
    assert hung.reachable is False and hung.error is not None
    assert hung.error.startswith("timeout:")
    assert time.monotonic() - t0 < 4.0


async def test_no_credentials_is_an_auth_failure(estate: Estate) -> None:
    r = await estate.isapi.probe(estate.target(estate.hik, creds=None))
    assert r.auth_ok is False


async def test_refused_port_is_unreachable(estate: Estate) -> None:
    from demo.simulator.devices import free_port

    t = DeviceTarget("ghost", "isapi", "127.0.0.1", free_port(), 1, Credentials("a", "b"))
    r = await estate.isapi.probe(t)
    assert r.reachable is False and r.error is not None and "unreachable" in r.error


@pytest.mark.parametrize("vendor", ["hikvision", "dahua"])
async def test_segments_listed_and_hashed(estate: Estate, vendor: str) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    now = datetime.now(UTC)
    listing = await ad.list_segments(estate.target(dev, 3), now - timedelta(days=32), now)
    assert listing.error is None and not listing.truncated
    expected = list(dev.segments(3, now - timedelta(days=32), now))
    assert len(listing.segments) == len(expected) >= 24 * 30
    assert [s.start for s in listing.segments] == [s for s, _e, _n in expected]
    assert [s.bytes for s in listing.segments] == [n for _s, _e, n in expected]
    first = listing.segments[0]
    digest = await ad.segment_sha256(estate.target(dev, 3), first)
    assert digest == hashlib.sha256(dev.segment_content(3, first.start)).hexdigest()


@pytest.mark.parametrize("vendor", ["hikvision", "dahua"])
async def test_million_segment_nvr_is_capped(estate: Estate, vendor: str) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    dev.apply_fault("flood")  # one-second segments: ~3 million over 35 days
    now = datetime.now(UTC)
    t0 = time.monotonic()
    listing = await ad.list_segments(estate.target(dev), now - timedelta(days=32), now, limit=2000)
    assert listing.truncated and len(listing.segments) == 2000
    assert time.monotonic() - t0 < 15


@pytest.mark.parametrize("vendor", ["hikvision", "dahua"])
async def test_deleted_and_overwritten_segments_are_absent(estate: Estate, vendor: str) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    now = datetime.now(UTC)
    dev.apply_fault("deleted_segment", value=3, now=now)
    dev.apply_fault("early_overwrite", value=7)
    listing = await ad.list_segments(estate.target(dev), now - timedelta(days=32), now)
    starts = {s.start for s in listing.segments}
    assert next(iter(dev.chan[1].deleted)) not in starts
    assert min(starts) > now - timedelta(days=7, hours=1)


@pytest.mark.parametrize("vendor", ["hikvision", "dahua"])
async def test_alert_stream_reports_video_loss_and_tamper(estate: Estate, vendor: str) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    seen: list[tuple[str, int, bool]] = []

    async def follow() -> None:
        async for ev in ad.alerts(estate.target(dev)):
            if ev.kind == "heartbeat":
                if not seen:
                    dev.apply_fault("video_loss", channel=2)
                    dev.apply_fault("tamper", channel=4)
                seen.append(("heartbeat", 0, False))
                continue
            seen.append((ev.kind, ev.channel, ev.active))
            if ("tamper", 4, True) in seen and ("video_loss", 2, True) in seen:
                return

    await asyncio.wait_for(follow(), timeout=5)
    assert ("video_loss", 2, True) in seen and ("tamper", 4, True) in seen


async def test_onvif_events_report_tamper(estate: Estate) -> None:
    t = estate.target(estate.onvif)
    first = await estate.ov.probe(t)
    assert first.error is None
    estate.onvif.apply_fault("tamper")
    r = await estate.ov.probe(t)
    assert [(e.kind, e.active) for e in r.events] == [("tamper", True)]


async def test_password_never_in_results_or_repr(estate: Estate) -> None:
    estate.hik.apply_fault("wrong_password")
    t = estate.target(estate.hik, creds=Credentials("admin", "s3cret-Pa55"))
    r = await estate.isapi.probe(t)
    sample = r.to_sample(shard="a")
    assert "s3cret-Pa55" not in sample.model_dump_json()
    assert "s3cret-Pa55" not in repr(t) and "s3cret-Pa55" not in repr(t.credentials)
