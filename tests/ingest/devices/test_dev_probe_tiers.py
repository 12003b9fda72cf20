"""Tiered probes (ADR 0032, issue 9): every period one request per camera says it answers,
takes our credentials, how fast, and whether its video is there; the device's clock and
disks are read every DEVICE_FACTS_EVERY samples and on deep probes. Requests are counted at
the simulated devices, over real sockets."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cctv.contract import CameraRecord
from cctv.contract.events import CameraUpserted, HealthSample
from services.health.app import HealthService
from services.ingest.adapters.base import ProbeResult
from services.ingest.adapters.credentials import CredentialResolver
from services.ingest.adapters.wiring import DeviceProbes
from services.ingest.settings import IngestSettings
from tests.health.harness import T0, feed, health, health_database, open_faults
from tests.ingest.devices.conftest import CREDS

if TYPE_CHECKING:
    from demo.simulator.devices import SimDevice
    from tests.ingest.devices.conftest import Estate

__all__ = ["health", "health_database"]  # the health service fixture, for the faults

VENDORS = ["hikvision", "dahua", "onvif"]


def _dev(est: Estate, vendor: str) -> SimDevice:
    return {"hikvision": est.hik, "dahua": est.dahua, "onvif": est.onvif}[vendor]


def _adapter(est: Estate, vendor: str):  # type: ignore[no-untyped-def]
    return {"hikvision": est.isapi, "dahua": est.dh, "onvif": est.ov}[vendor]


async def _counted(est: Estate, dev: SimDevice, probe) -> tuple[ProbeResult, int, list[str]]:  # type: ignore[no-untyped-def]
    """A probe and what it cost the device: requests, and the calls it made."""
    before, calls = est.server.requests[dev.device_id], len(est.server.calls)
    result = await probe
    made = [c for d, c in list(est.server.calls)[calls:] if d == dev.device_id]
    return result, est.server.requests[dev.device_id] - before, made


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_shallow_probe_is_one_request(estate: Estate, vendor: str) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    t = estate.target(dev, 1)
    first = await ad.probe(t, deep=True)  # a camera's first probe: everything, as ingest does
    assert first.error is None and first.clock_offset_s is not None, first.error
    r, requests, calls = await _counted(estate, dev, ad.probe(t, facts=False))
    assert requests == 1, calls
    assert r.error is None, r.error
    assert (r.reachable, r.auth_ok, r.streaming) == (True, True, True)
    assert r.latency_ms is not None and r.latency_ms > 0
    assert (r.clock_offset_s, r.disk_state) == (None, None)  # not measured this time
    assert r.to_sample().clock_offset_s is None and r.to_sample().disk_state is None
    expected = {
        "hikvision": "GET /ISAPI/System/Video/inputs/channels/1",
        "dahua": "GET /cgi-bin/eventManager.cgi?action=getEventIndexes&code=VideoLoss",
        "onvif": "PullMessages",
    }[vendor]
    assert calls[0].endswith(expected), calls


@pytest.mark.parametrize("vendor", VENDORS)
async def test_a_facts_probe_reads_the_clock_and_the_disks(estate: Estate, vendor: str) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    t = estate.target(dev, 2 if vendor != "onvif" else 1)
    await ad.probe(t, deep=True)
    dev.apply_fault("disk_error")
    shallow = await ad.probe(t, facts=False)
    assert shallow.error is None and (shallow.clock_offset_s, shallow.disk_state) == (None, None)
    dev.apply_fault("clock_drift", value=600)
    r, requests, calls = await _counted(estate, dev, ad.probe(t, facts=True))
    assert r.error is None and (r.reachable, r.auth_ok, r.streaming) == (True, True, True)
    assert r.clock_offset_s is not None and 599 < r.clock_offset_s < 601
    # ONVIF Profile S says nothing about disks: not measured, never "fine"
    assert r.disk_state == (None if vendor == "onvif" else "error")
    assert requests == 3, calls  # the probe's one request, the clock, the disks (ONVIF: model)
    dev.apply_fault("clock_drift", False)
    dev.apply_fault("disk_error", False)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("fault", ["offline", "wrong_password", "video_loss"])
async def test_a_broken_camera_shows_on_a_shallow_probe(
    estate: Estate, vendor: str, fault: str
) -> None:
    dev, ad = _dev(estate, vendor), _adapter(estate, vendor)
    t = estate.target(dev, 1)
    assert (await ad.probe(t, deep=True)).error is None
    dev.apply_fault(fault)
    r = await ad.probe(t, facts=False)
    assert (r.clock_offset_s is None) or vendor == "onvif"  # ONVIF may read the clock again
    assert r.disk_state is None
    if fault == "offline":
        assert r.reachable is False and (r.error or "").startswith("unreachable"), r.error
    elif fault == "wrong_password":  # strict: a refusal is never taken for a clock problem
        assert (r.reachable, r.auth_ok) == (True, False)
        assert (r.error or "").startswith("auth:"), r.error
    else:
        assert r.error is None and r.reachable and r.auth_ok
        assert r.streaming is False
    dev.apply_fault(fault, False)
    mended = await ad.probe(t, facts=False)
    assert mended.error is None and mended.reachable and mended.auth_ok and mended.streaming


async def test_onvif_reads_the_clock_again_when_a_device_refuses_a_stale_token(
    estate: Estate,
) -> None:
    """The WS-Security offset is remembered between probes; a device whose clock moved
    since refuses the token (its Created is off the device's clock by more than it allows):
    the adapter reads the clock once more and signs again, and the camera is fine."""
    dev, t = estate.onvif, estate.target(estate.onvif)
    assert (await estate.ov.probe(t, deep=True)).error is None
    dev.apply_fault("clock_drift", value=300)  # beyond the device's 60 s tolerance
    r, requests, calls = await _counted(estate, dev, estate.ov.probe(t, facts=False))
    assert r.error is None, r.error
    assert (r.reachable, r.auth_ok, r.streaming) == (True, True, True)
    assert r.clock_offset_s is not None and 299 < r.clock_offset_s < 301  # read on the way
    assert [c.rsplit(" ", 1)[1] for c in calls] == [
        "PullMessages",  # refused: NotAuthorized
        "GetSystemDateAndTime",
        "PullMessages",
    ]
    assert requests == 3
    # the new offset is remembered: the next period is one request again
    again, requests, calls = await _counted(estate, dev, estate.ov.probe(t, facts=False))
    assert again.error is None and again.auth_ok and requests == 1, calls
    assert again.clock_offset_s is None


async def test_onvif_without_events_proves_the_login_with_device_information(
    estate: Estate,
) -> None:
    estate.onvif.events = False
    t = estate.target(estate.onvif)
    assert (await estate.ov.probe(t, deep=True)).error is None
    r, requests, calls = await _counted(estate, estate.onvif, estate.ov.probe(t, facts=False))
    assert requests == 1 and calls[0].endswith("GetDeviceInformation"), calls
    assert (r.reachable, r.auth_ok, r.error) == (True, True, None)
    assert r.streaming is None  # no events, no deep stream check: not measured


def _camera(dev: SimDevice, cid: str, protocol: str, channel: int = 1) -> CameraRecord:
    return CameraRecord(
        camera_id=cid, name="行政楼机房", system_id=f"A1-{cid}", department="logistics",
        managing_department="logistics", category="public_safety", building="行政楼",
        position="1楼机房", zone="行政区", brand={"isapi": "hikvision", "dahua": "dahua",
        "onvif": "jingyeda"}[protocol], protocol=protocol,  # type: ignore[arg-type]
        address=dev.address, channel=channel,
    )  # fmt: skip


def test_the_tiers_rotate_per_camera() -> None:
    """Deep every DEEP_PROBE_EVERY, the facts every DEVICE_FACTS_EVERY (3 by default), on
    deep probes and on a camera's first; each camera's rotation shifted by its id, so every
    period — the first too — holds a steady share of each tier."""
    settings = IngestSettings()
    assert (settings.deep_probe_every, settings.device_facts_every) == (10, 3)
    probes = DeviceProbes(settings, CredentialResolver(Path("/none")))
    cams = [f"CAM-{i:04d}" for i in range(600)]
    rounds = [[probes.tier(c) for c in cams] for _ in range(31)]
    assert all(rounds[0][i][1] for i in range(len(cams)))  # the facts at first
    for i in range(len(cams)):
        deep = [n for n in range(31) if rounds[n][i][0]]
        facts = [n for n in range(31) if rounds[n][i][1]]
        assert set(deep) <= set(facts)
        assert all(b - a == 10 for a, b in itertools.pairwise(deep)), deep
        assert deep[0] <= 9  # the recording and arming within the first 10 samples
        assert all(b - a <= 3 for a, b in itertools.pairwise(facts)), facts
    # no period of everyone's deep checks at once, the first neither (a cold start)
    assert 0.04 < sum(d for d, _ in rounds[0]) / len(cams) < 0.17
    for n in range(1, 31):  # no period of everyone's facts or deep checks at once
        deep_share = sum(d for d, _ in rounds[n]) / len(cams)
        facts_share = sum(f for _, f in rounds[n]) / len(cams)
        assert 0.04 < deep_share < 0.17 and 0.25 < facts_share < 0.45, (n, deep_share)
    settings = IngestSettings(device_facts_every=1)  # every probe reads the facts
    probes = DeviceProbes(settings, CredentialResolver(Path("/none")))
    assert all(probes.tier("X")[1] for _ in range(12))


def test_device_facts_every_is_its_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVICE_FACTS_EVERY", "5")
    assert IngestSettings().device_facts_every == 5


async def test_device_probes_sample_in_tiers(estate: Estate) -> None:
    """Through DeviceProbes, as ingest samples: the first sample carries the facts; after
    it, the samples between facts probes only what every period needs, one request each."""
    settings = IngestSettings(device_connect_timeout_s=1.0, device_read_timeout_s=1.0)
    probes = DeviceProbes(settings, CredentialResolver(Path("/none")), CREDS)
    rotation = DeviceProbes(settings, CredentialResolver(Path("/none")))  # the same tiers
    cams = [
        (estate.hik, _camera(estate.hik, "T-HIK", "isapi", 2)),
        (estate.dahua, _camera(estate.dahua, "T-DH", "dahua", 3)),
        (estate.onvif, _camera(estate.onvif, "T-OV", "onvif")),
    ]
    try:
        for dev, cam in cams:
            tiers = [rotation.tier(cam.camera_id) for _ in range(7)]
            assert tiers[0][1] and sum(f for _, f in tiers[1:]) >= 2
            for n, (deep, facts) in enumerate(tiers):
                before = estate.server.requests[dev.device_id]
                s = await probes.probe(cam)
                cost = estate.server.requests[dev.device_id] - before
                assert s.error is None and s.reachable and s.auth_ok, (n, s)
                assert (s.clock_offset_s is not None) == facts, (cam.protocol, n, s)
                assert (s.recording is not None) == deep, (cam.protocol, n, s)  # ONVIF: its job
                if cam.protocol != "onvif":
                    assert s.disk_state == ("ok" if facts else None), (n, s)
                if not facts:
                    assert cost == 1, (cam.protocol, n, cost)
    finally:
        await probes.close()


async def test_disk_and_clock_faults_hold_between_facts_probes(
    estate: Estate, health: HealthService
) -> None:
    """Health keeps a storage or clock fault open across the samples that did not read the
    disks or the clock (None: not measured), and resolves it at the next facts probe that
    reads them fine: no flapping, no false all-clear."""
    settings = IngestSettings(device_connect_timeout_s=1.0, device_read_timeout_s=1.0)
    probes = DeviceProbes(settings, CredentialResolver(Path("/none")), CREDS)

    def rotation(camera_id: str) -> list[tuple[bool, bool]]:
        r = DeviceProbes(settings, CredentialResolver(Path("/none")))
        return [r.tier(camera_id) for _ in range(4)]

    # a camera whose rotation reads the facts first, then two samples without, then again
    wanted = [(True, True), (False, False), (False, False), (False, True)]
    cid = next(
        c for c in (f"TF-{uuid.uuid4().hex[:6]}" for _ in range(1000)) if rotation(c) == wanted
    )
    cam = _camera(estate.hik, cid, "isapi", 4)
    await feed(health, CameraUpserted(camera=cam))
    n = 0

    async def sample() -> HealthSample:
        nonlocal n
        s = await probes.probe(cam)
        await feed(health, s.model_copy(update={"sampled_at": T0 + timedelta(seconds=30 * n)}))
        n += 1
        return s

    def kinds(faults: list[dict]) -> set[str]:  # type: ignore[type-arg]
        return {f["kind"] for f in faults}

    try:
        estate.hik.apply_fault("disk_error")
        estate.hik.apply_fault("clock_drift", value=300)
        first = await sample()  # deep: the facts too
        assert (first.disk_state, first.reachable) == ("error", True)
        assert {"storage_error", "clock_drift"} <= kinds(await open_faults(health, cam.camera_id))
        estate.hik.apply_fault("disk_error", False)
        estate.hik.apply_fault("clock_drift", False)
        for _ in range(2):  # not read: the faults stand (None: "not measured", never "fine")
            s = await sample()
            assert (s.disk_state, s.clock_offset_s) == (None, None) and s.reachable, s
            assert {"storage_error", "clock_drift"} <= kinds(
                await open_faults(health, cam.camera_id)
            )
        s = await sample()  # the third: the facts, read fine
        assert s.disk_state == "ok" and s.clock_offset_s is not None, s
        assert not {"storage_error", "clock_drift"} & kinds(
            await open_faults(health, cam.camera_id)
        )
    finally:
        await probes.close()
