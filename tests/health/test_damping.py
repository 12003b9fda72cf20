from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.health.damping import CameraHealth, DampingPolicy, apply_sample, same_standing
from services.health.windows import StopMoveWindow, covering_window

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
POLICY = DampingPolicy(down_after=3, up_after=2)


def run(samples: list[bool], start: CameraHealth | None = None) -> tuple[CameraHealth, list[str]]:
    h = start or CameraHealth("C")
    changes: list[str] = []
    for i, ok in enumerate(samples):
        h, t = apply_sample(h, ok, T0 + timedelta(seconds=i + 1), POLICY)
        if t:
            changes.append(t.state)
    return h, changes


def test_first_good_sample_brings_a_camera_up() -> None:
    assert run([True])[1] == ["up"]


def test_down_only_after_three_failures_in_a_row() -> None:
    assert run([True, False, False])[1] == ["up"]
    assert run([True, False, False, False])[1] == ["up", "down"]
    assert run([True, False, False, True, False, False])[1] == ["up"]


def test_up_again_only_after_two_good_samples() -> None:
    assert run([True, False, False, False, True])[1] == ["up", "down"]
    assert run([True, False, False, False, True, True])[1] == ["up", "down", "up"]


def test_old_or_repeated_samples_change_nothing() -> None:
    h, _ = run([True])
    same, t = apply_sample(h, False, h.last_sample_at, POLICY)  # type: ignore[arg-type]
    assert (same, t) == (h, None)
    older, t = apply_sample(h, False, T0, POLICY)
    assert (older, t) == (h, None)


def test_a_steady_camera_stops_changing() -> None:
    h, _ = run([True] * 5)
    nxt, t = apply_sample(h, True, T0 + timedelta(seconds=99), POLICY)
    assert t is None and same_standing(nxt, h)


@given(st.lists(st.booleans(), max_size=60))
def test_state_changes_alternate_and_need_agreeing_samples(samples: list[bool]) -> None:
    h, changes = run(samples)
    for a, b in itertools.pairwise(changes):
        assert a != b
    if changes and changes[-1] == "down":
        assert samples[-h.fail_streak :] == [False] * h.fail_streak if h.fail_streak else True
    # never down without three failures in a row somewhere
    if "down" in changes:
        assert "FFF" in "".join("T" if s else "F" for s in samples)


def test_stop_move_window_covers_only_its_cameras_and_time() -> None:
    w = StopMoveWindow("SM-1", frozenset({"A"}), T0, T0 + timedelta(hours=2))
    assert covering_window([w], "A", T0 + timedelta(minutes=5)) is w
    assert covering_window([w], "B", T0 + timedelta(minutes=5)) is None
    assert covering_window([w], "A", T0 + timedelta(hours=2)) is None
    assert covering_window([w], "A", T0 - timedelta(seconds=1)) is None
