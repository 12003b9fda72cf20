"""The Art. 8 / Art. 10 / common-cause policy on its own, without a broker or a database."""

from __future__ import annotations

from datetime import timedelta

from cctv.contract import CameraRecord
from services.health.damping import DampingPolicy
from services.health.outages import (
    Thresholds,
    damping_for,
    judge_down,
    outage_over,
    suspect,
    window_over,
)
from services.health.windows import Window
from tests.health.harness import T0

HOUR = timedelta(hours=1)
WORKS = Window("SM-1", frozenset({"C1"}), T0 - HOUR, T0 + HOUR)
EXAM = Window("EX-1", frozenset({"C2"}), T0 - HOUR, T0 + HOUR)


def cam(cid: str, building: str = "综合楼", nvr: str | None = None) -> CameraRecord:
    return CameraRecord(
        camera_id=cid, name="走廊", system_id="A1-07", department="logistics",
        managing_department="logistics", category="public_safety", building=building,
        position="1楼", zone="教学区", brand="hikvision", protocol="isapi",
        address="127.0.0.1:80", nvr_id=nvr,
    )  # fmt: skip


def test_inside_approved_works_down_is_maintenance_without_a_fault() -> None:
    v = judge_down("C1", T0, "timeout", [WORKS], [EXAM])
    assert (v.shown, v.fault, v.ask_cause) == ("maintenance", None, False)
    assert "SM-1" in v.why and "Art. 8" in v.why


def test_under_exam_watch_down_is_critical_at_once() -> None:
    v = judge_down("C2", T0, "timeout", [WORKS], [EXAM])
    assert (v.shown, v.fault, v.ask_cause) == ("down", "critical", False)
    assert "Art. 10" in v.why and v.why.endswith("timeout")
    normal, closer = DampingPolicy(3, 2), DampingPolicy(1, 2)
    assert damping_for("C2", T0, [EXAM], normal, closer) is closer
    assert damping_for("C2", T0 + 2 * HOUR, [EXAM], normal, closer) is normal
    # behind an open common cause: up again at the first good sample
    assert damping_for("C3", T0, [], normal, closer, behind_cause=True) == DampingPolicy(3, 1)


def test_otherwise_its_own_fault_unless_a_cause_stands_behind_it() -> None:
    v = judge_down("C3", T0, "timeout", [WORKS], [EXAM])
    assert (v.shown, v.fault, v.ask_cause, v.why) == ("down", "major", True, "timeout")
    # the works window over: the same camera is judged like any other
    assert judge_down("C1", T0 + 2 * HOUR, "t", [WORKS], []).fault == "major"


def test_still_down_after_the_window_is_a_fault() -> None:
    assert window_over("C1", T0, [WORKS]) is None
    assert "Art. 8" in (window_over("C1", T0 + 2 * HOUR, [WORKS]) or "")


def test_a_recorder_most_of_whose_cameras_fail_is_the_cause() -> None:
    cams = {c: cam(c, nvr="NVR-1") for c in ("A", "B", "C", "D")}
    t = Thresholds()
    assert suspect("A", cams, {}, cams.keys(), {"A"}, (), t) is None
    found = suspect("A", cams, {}, cams.keys(), {"A", "B"}, (), t)
    assert found == ("recorder_offline", "NVR-1", ["A", "B", "C", "D"])
    # an open cause is joined without a census
    assert suspect("D", cams, {}, cams.keys(), set(), {("recorder_offline", "NVR-1")}, t) == (
        "recorder_offline", "NVR-1", [],
    )  # fmt: skip


def test_a_mass_failure_across_buildings_is_suspected_ours_first() -> None:
    cams = {f"N{i}": cam(f"N{i}", building=f"楼{i % 3}") for i in range(10)}
    failing = {f"N{i}" for i in range(3)}
    found = suspect("N0", cams, {}, cams.keys(), failing, (), Thresholds())
    assert found is not None and found[:2] == ("suspected_network", "network")


def test_every_camera_behind_one_ingest_replica_failing() -> None:
    cams = {f"R{i}": cam(f"R{i}") for i in range(20)}
    shard_of = {c: ("a" if i < 10 else "b") for i, c in enumerate(cams)}
    failing = {f"R{i}" for i in range(9)}
    found = suspect("R0", cams, shard_of, cams.keys(), failing, (), Thresholds(mass_share=0.9))
    assert found is not None and found[:2] == ("suspected_network", "ingest-a")


def test_a_cause_resolves_once_most_are_back() -> None:
    t = Thresholds()
    assert not outage_over("recorder_offline", 4, 2, t)
    assert outage_over("recorder_offline", 4, 1, t)
    assert outage_over("suspected_network", 10, 2, t)
    assert outage_over("suspected_network", 10, 0, t)
