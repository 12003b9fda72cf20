"""Tamper checks (Art. 12) on synthetic frames: each check fires when it should, and only then."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from demo.simulator.media import Picture, render_frames
from services.ingest.tamper import (
    TamperKind,
    TamperThresholds,
    assess,
    box_blur,
    confirm_reference,
    to_gray,
)

CAM = "cam-tamper-1"


def scene(variant: int = 3, picture: Picture = Picture.NORMAL, index: int = 0) -> np.ndarray:
    return to_gray(render_frames(variant, picture, n=4)[index])


@pytest.fixture(scope="module")
def reference():
    return confirm_reference(CAM, scene(), "duty-operator-wang")


def kinds(frame, ref, thresholds=None) -> set[TamperKind]:
    return set(assess(CAM, frame, ref, thresholds).kinds)


# ---- negatives: ordinary changes are not tampering -------------------------------------
def test_same_view_later_with_a_person_walking_is_clean(reference):
    a = assess(CAM, scene(index=3), reference)
    assert a.findings == ()
    assert a.similarity is not None and a.similarity > 0.9
    assert a.sharpness_ratio is not None and 0.8 < a.sharpness_ratio < 1.25


@pytest.mark.parametrize(
    "change",
    [
        lambda f: f * 0.45,  # dusk
        lambda f: np.clip(f * 1.3 + 25, 0, 255),  # sun
        lambda f: np.clip(f + np.random.default_rng(1).normal(0, 4, f.shape), 0, 255),  # noise
        lambda f: np.roll(f, 5, axis=1),  # wind shakes the pole a little
    ],
    ids=["darker", "brighter", "sensor-noise", "small-shake"],
)
def test_lighting_noise_and_shake_are_not_tamper(reference, change):
    assert kinds(change(scene(index=1)), reference) == set()


def test_without_reference_only_covered_can_be_judged():
    a = assess(CAM, scene(), None)
    assert a.findings == () and a.similarity is None and not a.has_reference
    covered = assess(CAM, scene(picture=Picture.COVERED), None)
    assert covered.kinds == {TamperKind.COVERED}


# ---- covered -------------------------------------------------------------------------
def test_covered_lens_is_found_and_hides_moved_and_blurred(reference):
    a = assess(CAM, scene(picture=Picture.COVERED), reference)
    assert a.kinds == {TamperKind.COVERED}
    assert "镜头遮挡" in a.findings[0].text and "lens covered" in a.findings[0].text


def test_featureless_but_bright_frame_is_covered(reference):
    grey_card = np.full((240, 320), 128.0) + np.random.default_rng(2).normal(0, 1.0, (240, 320))
    a = assess(CAM, grey_card, reference)
    assert a.kinds == {TamperKind.COVERED}
    assert a.findings[0].measured < a.findings[0].threshold


def test_most_of_the_view_covered_is_covered_a_corner_is_not(reference):
    frame = scene(index=1)
    mostly = frame.copy()
    mostly[:, : int(frame.shape[1] * 0.7)] = 8.0
    corner = frame.copy()
    corner[: frame.shape[0] // 4, : frame.shape[1] // 4] = 8.0
    assert kinds(mostly, reference) == {TamperKind.COVERED}
    assert kinds(corner, reference) == set()


def test_dark_threshold_is_per_camera():
    """A camera over an unlit car park gets a lower dark threshold, and is then not covered."""
    car_park = TamperThresholds(dark_mean=5.0, featureless_std=2.0)
    with pytest.raises(ValueError, match="covered"):
        confirm_reference(CAM, scene() * 0.12, "op")  # too dark for the defaults
    night_ref = confirm_reference(CAM, scene() * 0.12, "op", thresholds=car_park)
    night_view = scene(index=1) * 0.12  # mean ≈ 13
    assert kinds(night_view, night_ref) == {TamperKind.COVERED}
    assert kinds(night_view, night_ref, car_park) == set()
    assert kinds(scene(picture=Picture.COVERED) * 0.3, night_ref, car_park) == {TamperKind.COVERED}


# ---- moved ---------------------------------------------------------------------------
def test_camera_turned_away_is_moved(reference):
    a = assess(CAM, scene(picture=Picture.MOVED), reference)
    assert a.kinds == {TamperKind.MOVED}
    assert a.similarity is not None and a.similarity < 0.6


def test_a_different_scene_is_moved(reference):
    assert kinds(scene(variant=8), reference) == {TamperKind.MOVED}


def test_moved_threshold_is_per_camera(reference):
    lenient = TamperThresholds(moved_min_similarity=-1.0)
    assert TamperKind.MOVED not in kinds(scene(picture=Picture.MOVED), reference, lenient)


# ---- blurred -------------------------------------------------------------------------
def test_smeared_lens_is_blurred_not_moved(reference):
    a = assess(CAM, scene(picture=Picture.BLUR), reference)
    assert a.kinds == {TamperKind.BLURRED}
    assert a.sharpness_ratio is not None and a.sharpness_ratio < 0.35


def test_slight_defocus_is_blurred_sharp_picture_is_not(reference):
    soft = box_blur(box_blur(scene(index=2), 2), 2)
    assert kinds(soft, reference) == {TamperKind.BLURRED}
    assert kinds(scene(index=2), reference) == set()


def test_blur_threshold_is_per_camera(reference):
    soft = box_blur(box_blur(scene(index=2), 2), 2)
    assert kinds(soft, reference, TamperThresholds(blur_ratio=0.01)) == set()


# ---- the reference: only an operator refreshes it --------------------------------------
def test_a_finding_does_not_replace_the_reference(reference):
    before = (reference.work.copy(), reference.structure.copy(), reference.stats)
    for picture in (Picture.COVERED, Picture.MOVED, Picture.BLUR):
        assert assess(CAM, scene(picture=picture), reference).findings
    assert np.array_equal(reference.work, before[0])
    assert np.array_equal(reference.structure, before[1])
    assert reference.stats == before[2]
    # the moved view stays "moved" however often it is seen: it never becomes the norm
    for _ in range(3):
        assert kinds(scene(picture=Picture.MOVED), reference) == {TamperKind.MOVED}
    with pytest.raises(AttributeError):
        reference.work = scene(picture=Picture.MOVED)  # type: ignore[misc]


def test_operator_confirmation_makes_the_new_view_the_reference(reference):
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    moved = scene(picture=Picture.MOVED)
    new_ref = confirm_reference(CAM, moved, "  nic-engineer-li ", at=at)
    assert new_ref.confirmed_by == "nic-engineer-li" and new_ref.confirmed_at == at
    assert kinds(scene(picture=Picture.MOVED, index=2), new_ref) == set()
    assert kinds(scene(), new_ref) == {TamperKind.MOVED}  # the old view is now the odd one
    assert reference.confirmed_by == "duty-operator-wang"  # the old state is untouched


def test_confirmation_needs_a_named_operator():
    with pytest.raises(ValueError, match="named operator"):
        confirm_reference(CAM, scene(), "  ")


def test_a_covered_frame_cannot_be_confirmed_as_reference():
    with pytest.raises(ValueError, match="covered"):
        confirm_reference(CAM, scene(picture=Picture.COVERED), "op")


def test_reference_of_another_camera_is_refused(reference):
    with pytest.raises(ValueError, match="cam-tamper-1"):
        assess("cam-other", scene(), reference)


@pytest.mark.parametrize(
    "bad", [{"blur_ratio": 1.5}, {"relative_contrast": 0.0}, {"moved_min_similarity": 2.0}]
)
def test_bad_thresholds_are_refused_with_their_name(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        replace(TamperThresholds(), **bad)


def test_rgb_and_odd_sizes_are_accepted(reference):
    rgb = render_frames(3, Picture.NORMAL, n=2)[1]
    assert kinds(rgb, reference) == set()
    odd = to_gray(rgb)[:237, :311]
    assert kinds(odd, reference) == set()
    with pytest.raises(ValueError, match="shape"):
        assess(CAM, np.zeros((2, 3, 4, 5)), reference)


def test_reference_survives_storage_and_cannot_be_edited_in_place(reference):
    from services.ingest.tamper import reference_pixels, restore_reference

    pixels = reference_pixels(reference)
    assert pixels.dtype == np.uint8 and pixels.shape == (120, 160)
    back = restore_reference(CAM, pixels, reference.confirmed_by, reference.confirmed_at)
    assert back.stats == reference.stats
    for picture in (Picture.NORMAL, Picture.MOVED, Picture.BLUR):
        frame = scene(picture=picture, index=1)
        assert assess(CAM, frame, back).kinds == assess(CAM, frame, reference).kinds
    with pytest.raises(ValueError, match="read-only"):
        reference.work[0, 0] = 0.0
    with pytest.raises(ValueError, match="shape"):
        restore_reference(CAM, pixels[:10], "op", reference.confirmed_at)
