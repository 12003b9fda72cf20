"""Art. 12 arming read from the device over real sockets: Hikvision ISAPI record tracks
(Enable + enableSchedule), ONVIF Recording Control (GetRecordingJobs Mode,
GetRecordingJobState State) and Dahua's record mode (RecordMode), against the simulator's
strict devices. The schedules: test_dev_dahua_schedule.py, test_dev_isapi_schedule.py."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from cctv.contract import CameraRecord
from cctv.contract.events import CameraUpserted
from services.health.app import HealthService
from services.ingest.adapters.base import AuthFailed, BadResponse, Credentials, utcnow
from services.ingest.adapters.dahua import (
    CHINA_TZ,
    parse_motion_armed,
    parse_record_mode,
    parse_record_week,
)
from services.ingest.adapters.onvif import (
    RecordingJob,
    job_for,
    parse_recording_job_state,
    parse_recording_jobs,
)
from services.ingest.adapters.xmlutil import parse_xml
from tests.health.harness import T0, feed, health, health_database, open_faults
from tests.ingest.devices.conftest import Estate

__all__ = ["health", "health_database"]  # the health service fixture, for the Dahua sample's fault


@pytest.mark.parametrize(
    ("device", "adapter"),
    [("hik", "isapi"), ("dahua", "dh")],  # ISAPI's track; Dahua's RecordMode
    ids=["isapi", "dahua"],
)
async def test_a_disarmed_channel_is_read(estate: Estate, device: str, adapter: str) -> None:
    dev, probe = getattr(estate, device), getattr(estate, adapter)
    dev.apply_fault("disarmed", channel=2)
    armed = await probe.probe(estate.target(dev, 1), deep=True)
    disarmed = await probe.probe(estate.target(dev, 2), deep=True)
    assert (armed.armed, disarmed.armed) == (True, False)
    assert disarmed.reachable and disarmed.error is None  # disarmed is no outage
    assert disarmed.to_sample().armed is False
    dev.apply_fault("disarmed", False, channel=2)
    again = await probe.probe(estate.target(dev, 2), deep=True)
    assert again.armed is True


async def test_isapi_arming_is_read_on_deep_probes_only(estate: Estate) -> None:
    shallow = await estate.isapi.probe(estate.target(estate.hik, 1), deep=False)
    assert shallow.armed is None


async def test_isapi_channel_without_a_track_is_not_measured(estate: Estate) -> None:
    """The strict simulator answers 404 for a track the device does not have: unknown."""
    assert await estate.isapi.armed(estate.target(estate.hik, 9)) is None


async def test_onvif_reads_the_recording_job_mode_and_state(estate: Estate) -> None:
    target = estate.target(estate.onvif, 1)
    on = await estate.ov.probe(target, deep=True)
    assert (on.armed, on.recording) == (True, True)
    estate.onvif.apply_fault("disarmed")
    off = await estate.ov.probe(target, deep=True)
    assert off.armed is False
    assert off.armed_reason and off.armed_reason.endswith("Mode Idle")
    assert off.reachable and off.error is None
    estate.onvif.apply_fault("disarmed", False)
    assert (await estate.ov.probe(target, deep=True)).armed is True


async def test_dahua_arming_is_read_on_deep_probes_only(estate: Estate) -> None:
    shallow = await estate.dh.probe(estate.target(estate.dahua, 1), deep=False)
    assert shallow.reachable and shallow.armed is None


async def test_dahua_channel_outside_the_table_is_not_measured(estate: Estate) -> None:
    """The simulated NVR has four channels: channel 9 has no RecordMode entry."""
    assert await estate.dh.armed(estate.target(estate.dahua, 9)) is None


async def test_dahua_disarmed_reaches_health_as_a_not_armed_fault(
    estate: Estate, health: HealthService
) -> None:
    """The sample ingest makes of a disarmed Dahua channel opens health's `not_armed` for a
    key place (armed always), and the channel armed again resolves it — as for ISAPI."""
    tag = uuid.uuid4().hex[:6]
    target = replace(estate.target(estate.dahua, 3), camera_id=f"DHV-{tag}")
    cam = CameraRecord(
        camera_id=target.camera_id, name="财务处金库", system_id=f"DHV-{tag}",
        department="finance", managing_department="finance", category="department",
        sensitivity=["key_point"], building="行政楼", position="1楼金库", zone="行政区",
        brand="dahua", protocol="dahua", address=f"{target.host}:{target.port}", channel=3,
    )  # fmt: skip
    await feed(health, CameraUpserted(camera=cam))

    async def sample_at(minutes: int) -> None:
        result = await estate.dh.probe(target, deep=True)
        at = T0 + timedelta(minutes=minutes)
        await feed(health, result.to_sample().model_copy(update={"sampled_at": at}))

    def not_armed(faults: list[dict]) -> list[dict]:  # type: ignore[type-arg]
        return [f for f in faults if f["kind"] == "not_armed"]

    await sample_at(0)
    assert not_armed(await open_faults(health, cam.camera_id)) == []
    estate.dahua.apply_fault("disarmed", channel=3)
    await sample_at(1)
    await sample_at(2)  # still off: one fault
    [fault] = not_armed(await open_faults(health, cam.camera_id))
    assert "Art. 12" in fault["detail"]
    assert "record mode stop" in fault["detail"]  # the device's reason, as ingest read it
    estate.dahua.apply_fault("disarmed", False, channel=3)
    await sample_at(3)
    assert not_armed(await open_faults(health, cam.camera_id)) == []


async def test_the_simulated_dahua_answers_its_configs_strictly(estate: Estate) -> None:
    """Only getConfig of MotionDetect, Record and RecordMode, behind digest auth; anything
    else is a 400 `Error`, and so is a config the device lacks."""
    target = estate.target(estate.dahua, 1)
    base = "/cgi-bin/configManager.cgi?action="
    for path in (
        base + "getConfig&name=Motion",
        base + "setConfig&name=MotionDetect",
        base + "getConfig",
        base + "getConfig&name=MotionDetect&channel=1",
        base + "getConfig&name=Record&channel=1",
        base + "getConfig&name=RecordPlan",
    ):
        reply = await estate.http.request(target, "GET", path, allow_error_status=True)
        assert reply.status == 400 and reply.body.startswith(b"Error"), (path, reply)
    with pytest.raises(AuthFailed):
        await estate.http.request(
            estate.target(estate.dahua, 1, Credentials("admin", "wrong")),
            "GET", base + "getConfig&name=Record",
        )  # fmt: skip
    now = utcnow().astimezone(CHINA_TZ)
    ok = await estate.http.request(target, "GET", base + "getConfig&name=MotionDetect")
    assert parse_motion_armed(ok.body, 4, now).armed is True
    ok = await estate.http.request(target, "GET", base + "getConfig&name=RecordMode")
    assert parse_record_mode(ok.body, 4) == 0
    ok = await estate.http.request(target, "GET", base + "getConfig&name=Record")
    week = parse_record_week(ok.body, 4)
    assert week is not None and len(week) == 7 * 6  # six sections a day, as the devices keep
    estate.dahua.configs_missing = frozenset({"Record"})
    gone = await estate.http.request(
        target, "GET", base + "getConfig&name=Record", allow_error_status=True
    )
    assert gone.status == 400 and gone.body.startswith(b"Error")


def _jobs(mode: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
        "<GetRecordingJobsResponse><JobItem><JobToken>j1</JobToken><JobConfiguration>"
        f"<RecordingToken>r1</RecordingToken><Mode>{mode}</Mode><Priority>1</Priority>"
        "<Source><SourceToken><Token>p1</Token></SourceToken></Source></JobConfiguration>"
        "</JobItem></GetRecordingJobsResponse></s:Body></s:Envelope>"
    ).encode()


def test_recording_jobs_parse_and_refuse_unknown_modes() -> None:
    [job] = parse_recording_jobs(parse_xml(_jobs("Active"), "t"))
    assert job == RecordingJob("j1", "Active", ("p1",))
    with pytest.raises(BadResponse, match="Mode 'Recording'"):
        parse_recording_jobs(parse_xml(_jobs("Recording"), "t"))


def test_job_for_the_camera() -> None:
    jobs = [RecordingJob("a", "Active", ("p1",)), RecordingJob("b", "Idle", ("p2",))]
    assert job_for(jobs, "p2", 2) == [jobs[1]]
    assert job_for(jobs, "p9", 2) == []  # which job is not known: not measured
    anon = [RecordingJob("c", "Idle", ())]
    assert job_for(anon, "p1", 1) == anon  # one source: its job


def test_job_state_without_state_is_refused() -> None:
    body = parse_xml(b"<GetRecordingJobStateResponse><State/></GetRecordingJobStateResponse>", "t")
    with pytest.raises(BadResponse, match="no State"):
        parse_recording_job_state(body)
