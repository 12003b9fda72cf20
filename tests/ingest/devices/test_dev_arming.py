"""Art. 12 arming read from the device over real sockets: Hikvision ISAPI record tracks
(Enable + enableSchedule) and ONVIF Recording Control (GetRecordingJobs Mode,
GetRecordingJobState State), against the simulator's strict devices."""

from __future__ import annotations

import pytest

from services.ingest.adapters.base import BadResponse
from services.ingest.adapters.hikvision import parse_track_armed
from services.ingest.adapters.onvif import (
    RecordingJob,
    job_for,
    parse_recording_job_state,
    parse_recording_jobs,
)
from services.ingest.adapters.xmlutil import parse_xml
from tests.ingest.devices.conftest import Estate


async def test_isapi_reads_a_disarmed_track(estate: Estate) -> None:
    estate.hik.apply_fault("disarmed", channel=2)
    armed = await estate.isapi.probe(estate.target(estate.hik, 1), deep=True)
    disarmed = await estate.isapi.probe(estate.target(estate.hik, 2), deep=True)
    assert (armed.armed, disarmed.armed) == (True, False)
    assert disarmed.reachable and disarmed.error is None  # disarmed is no outage
    assert disarmed.to_sample().armed is False
    estate.hik.apply_fault("disarmed", False, channel=2)
    again = await estate.isapi.probe(estate.target(estate.hik, 2), deep=True)
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
    assert off.reachable and off.error is None
    estate.onvif.apply_fault("disarmed", False)
    assert (await estate.ov.probe(target, deep=True)).armed is True


def _track(enable: str = "true", schedule: str = "true", tid: int = 101) -> bytes:
    return (
        f"<Track><id>{tid}</id><Enable>{enable}</Enable><TrackSchedule><ScheduleBlockList>"
        "<ScheduleBlock><ScheduleAction><id>1</id><Actions><Record>true</Record></Actions>"
        "</ScheduleAction></ScheduleBlock></ScheduleBlockList></TrackSchedule>"
        "<CustomExtensionList><CustomExtension>"
        f"<enableSchedule>{schedule}</enableSchedule></CustomExtension></CustomExtensionList>"
        "</Track>"
    ).encode()


def test_track_armed_needs_enable_and_schedule() -> None:
    assert parse_track_armed(_track(), 101) is True
    assert parse_track_armed(_track(schedule="false"), 101) is False
    assert parse_track_armed(_track(enable="false"), 101) is False


def test_track_answers_that_cannot_be_read_are_refused() -> None:
    with pytest.raises(BadResponse, match="true or false"):
        parse_track_armed(_track(enable="yes"), 101)
    with pytest.raises(BadResponse, match="answered for track '201'"):
        parse_track_armed(_track(tid=201), 101)


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
