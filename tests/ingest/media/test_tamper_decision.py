"""The tamper decision (Art. 12) frame by frame, without a broker or a database: what is
enrolled, what is announced, what is left alone (services/ingest/tamper_decision.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cctv.contract.events import TamperCleared, TamperFinding, TamperReferenceConfirmed
from demo.simulator.media import Picture, render_frames
from services.ingest.tamper import TamperKind, TamperThresholds, to_gray
from services.ingest.tamper_decision import (
    SYSTEM_ENROLMENT,
    Prior,
    active_kinds,
    decide_check,
    decide_confirm,
    pixels_sha256,
    thresholds_from_json,
)

CAM = "cam-decide-1"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def frame(picture: Picture = Picture.NORMAL, index: int = 0) -> np.ndarray:
    return to_gray(render_frames(4, picture, n=4)[index])


def types(decision: object) -> list[tuple[str, str | None, str]]:
    out = []
    for a in decision.announcements:  # type: ignore[attr-defined]
        finding = getattr(a.event, "finding", None)
        out.append((a.event.TYPE, finding, a.actor))
    return out


def test_a_first_clean_frame_is_enrolled_by_the_system_and_nothing_else_is_said():
    d = decide_check(CAM, frame(), T0, Prior())
    assert d.enrolled is not None and not d.stale
    assert d.enrolled.reference.confirmed_by == SYSTEM_ENROLMENT
    assert d.enrolled.reference.confirmed_at == T0  # the frame's own time
    assert d.active == () and d.started == () and d.cleared == ()
    assert types(d) == [(TamperReferenceConfirmed.TYPE, None, SYSTEM_ENROLMENT)]
    event = d.enrolled.event
    assert event.pixels_sha256 == pixels_sha256(d.enrolled.pixels)
    assert not event.replaced_previous and "first enrolment" in event.reason
    assert d.enrolled.pixels.dtype == np.uint8


def test_a_covered_first_frame_is_found_but_never_becomes_the_reference():
    d = decide_check(CAM, frame(Picture.COVERED), T0, Prior())
    assert d.enrolled is None
    assert d.started == (TamperKind.COVERED,) and d.active == (TamperKind.COVERED,)
    assert types(d) == [(TamperFinding.TYPE, "covered", "system")]


def test_only_a_change_of_finding_is_announced():
    ref = decide_check(CAM, frame(), T0, Prior()).enrolled
    assert ref is not None
    prior = Prior(reference=ref.reference)
    moved = decide_check(CAM, frame(Picture.MOVED), T0 + timedelta(minutes=5), prior)
    assert moved.started == (TamperKind.MOVED,) and moved.enrolled is None
    assert types(moved) == [(TamperFinding.TYPE, "moved", "system")]

    still = Prior(active=frozenset(moved.active), reference=ref.reference)
    again = decide_check(CAM, frame(Picture.MOVED, 1), T0 + timedelta(minutes=10), still)
    assert again.active == (TamperKind.MOVED,) and again.announcements == ()

    back = decide_check(CAM, frame(index=2), T0 + timedelta(minutes=15), still)
    assert back.cleared == (TamperKind.MOVED,) and back.active == ()
    [cleared] = back.announcements
    assert isinstance(cleared.event, TamperCleared)
    # the measure behind the kind that stopped firing, against its own threshold
    assert cleared.event.threshold == TamperThresholds().moved_min_similarity
    assert cleared.event.score >= cleared.event.threshold


def test_a_frame_taken_before_the_latest_confirmation_is_not_judged():
    ref = decide_check(CAM, frame(), T0, Prior()).enrolled
    assert ref is not None
    prior = Prior(active=frozenset({TamperKind.MOVED}), reference=ref.reference)
    d = decide_check(CAM, frame(Picture.COVERED), T0 - timedelta(seconds=1), prior)
    assert d.stale and d.assessment is None and d.announcements == ()


def test_per_camera_thresholds_decide():
    ref = decide_check(CAM, frame(), T0, Prior()).enrolled
    assert ref is not None
    blurred = frame(Picture.BLUR)
    strict = decide_check(CAM, blurred, T0, Prior(reference=ref.reference))
    assert TamperKind.BLURRED in strict.started
    soft = Prior(reference=ref.reference, thresholds=thresholds_from_json({"blur_ratio": 0.01}))
    assert TamperKind.BLURRED not in decide_check(CAM, blurred, T0, soft).started


def test_an_operators_confirmation_replaces_the_reference_and_clears_what_no_longer_holds():
    prior = Prior(active=frozenset({TamperKind.MOVED, TamperKind.BLURRED}))
    d = decide_confirm(
        CAM, frame(Picture.MOVED), T0, " nic-li ", "approved move", prior, had_reference=True
    )
    assert d.reference.reference.confirmed_by == "nic-li"
    assert d.reference.event.replaced_previous and d.reference.event.reason == "approved move"
    assert d.still == ()
    assert types(d) == [
        (TamperReferenceConfirmed.TYPE, None, "nic-li"),
        (TamperCleared.TYPE, "blurred", "nic-li"),
        (TamperCleared.TYPE, "moved", "nic-li"),
    ]


@pytest.mark.parametrize("who", ["", "  ", SYSTEM_ENROLMENT])
def test_confirmation_needs_a_named_operator(who):
    with pytest.raises(ValueError, match=r"Art\. 12"):
        decide_confirm(CAM, frame(), T0, who, "", Prior(), had_reference=False)


def test_a_covered_view_is_never_confirmed():
    with pytest.raises(ValueError, match="covered"):
        decide_confirm(CAM, frame(Picture.COVERED), T0, "duty", "", Prior(), had_reference=False)


def test_stored_values_are_read_strictly():
    assert active_kinds(None) == frozenset()
    assert active_kinds(["moved"]) == {TamperKind.MOVED}
    assert thresholds_from_json('{"blur_ratio": 0.2}').blur_ratio == 0.2
    with pytest.raises(ValueError, match="blurriness"):
        thresholds_from_json({"blurriness": 0.2})
    with pytest.raises(ValueError, match="blur_ratio"):
        thresholds_from_json({"blur_ratio": 3})
