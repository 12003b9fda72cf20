"""What a tamper check decides (Art. 12): a frame and what was stored in, findings and the
events to announce out. Pure: no database, no network, no clock but the one passed in.

Why apart from the watch (tamper_watch.py): the rules — only a change of finding is
announced, a first reference is enrolled from a clean frame only, a frame taken before the
latest confirmation is not judged, only an operator's confirmation replaces the reference —
are the regulation's, and tests drive them frame by frame without a broker or PostgreSQL.
The image measures themselves are in tamper.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import numpy as np

from cctv.contract.events import Event, TamperCleared, TamperFinding, TamperReferenceConfirmed

from .tamper import (
    ReferenceFrame,
    TamperAssessment,
    TamperKind,
    TamperThresholds,
    assess,
    confirm_reference,
    reference_pixels,
)

SYSTEM_ENROLMENT = "system"  # who enrolled a camera's first reference: not an operator
FIRST_ENROLMENT = "首次登记 first enrolment"


@dataclass(frozen=True)
class Announcement:
    """An event to stage in the outbox, with who it is attributed to."""

    event: Event
    actor: str = "system"


@dataclass(frozen=True)
class NewReference:
    """A reference to store: the picture as kept (uint8 grey) and its announcement."""

    reference: ReferenceFrame
    pixels: np.ndarray
    event: TamperReferenceConfirmed


@dataclass(frozen=True)
class Prior:
    """What was stored for the camera before this frame."""

    active: frozenset[TamperKind] = frozenset()
    thresholds: TamperThresholds = field(default_factory=TamperThresholds)
    reference: ReferenceFrame | None = None


@dataclass(frozen=True)
class CheckDecision:
    """The outcome of one scheduled frame: what to store and what to announce."""

    assessment: TamperAssessment | None
    active: tuple[TamperKind, ...] = ()
    started: tuple[TamperKind, ...] = ()
    cleared: tuple[TamperKind, ...] = ()
    enrolled: NewReference | None = None
    stale: bool = False  # taken before the reference was last confirmed: not judged
    announcements: tuple[Announcement, ...] = ()


@dataclass(frozen=True)
class ConfirmDecision:
    """An operator's confirmation: the new reference, the findings that still hold."""

    reference: NewReference
    still: tuple[TamperKind, ...]
    announcements: tuple[Announcement, ...]


def thresholds_from_json(raw: Any) -> TamperThresholds:
    """Per-camera overrides stored as JSON; unknown names are refused by name."""
    if raw is None:
        return TamperThresholds()
    data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    known = {f.name for f in fields(TamperThresholds)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown tamper threshold(s): {', '.join(unknown)}")
    return TamperThresholds(**data)


def active_kinds(raw: Any) -> frozenset[TamperKind]:
    """The stored list of active findings as kinds."""
    return frozenset(TamperKind(k) for k in (raw or []))


def pixels_sha256(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def new_reference(reference: ReferenceFrame, reason: str, replaced: bool) -> NewReference:
    """The stored form of a reference and the event that says it changed."""
    pixels = reference_pixels(reference)
    return NewReference(
        reference=reference,
        pixels=pixels,
        event=TamperReferenceConfirmed(
            camera_id=reference.camera_id,
            confirmed_by=reference.confirmed_by,
            confirmed_at=reference.confirmed_at,
            pixels_sha256=pixels_sha256(pixels),
            mean=round(reference.stats.mean, 2),
            contrast=round(reference.stats.std, 2),
            replaced_previous=replaced,
            reason=reason,
        ),
    )


def cleared_score(
    a: TamperAssessment, kind: TamperKind, t: TamperThresholds
) -> tuple[float, float]:
    """The measure behind a kind on a frame where it no longer fires."""
    if kind is TamperKind.MOVED and a.similarity is not None:
        return a.similarity, t.moved_min_similarity
    if kind is TamperKind.BLURRED and a.sharpness_ratio is not None:
        return a.sharpness_ratio, t.blur_ratio
    return a.stats.mean, t.dark_mean


def _cleared(
    camera_id: str,
    a: TamperAssessment,
    kind: TamperKind,
    t: TamperThresholds,
    observed_at: datetime,
) -> TamperCleared:
    score, threshold = cleared_score(a, kind, t)
    return TamperCleared(
        camera_id=camera_id,
        finding=kind.value,
        score=score,
        threshold=threshold,
        observed_at=observed_at,
    )


def decide_check(
    camera_id: str, pixels: np.ndarray, observed_at: datetime, prior: Prior
) -> CheckDecision:
    """Judge one scheduled frame against the stored reference and findings.

    A camera without a reference enrols this frame as its first one, unless the frame
    looks covered (then it is judged without a reference and enrolled later)."""
    reference = prior.reference
    if reference is not None and reference.confirmed_at > observed_at:
        # an operator confirmed a newer picture while this frame was in flight
        return CheckDecision(None, stale=True)
    enrolled: NewReference | None = None
    if reference is None:
        try:
            reference = confirm_reference(
                camera_id,
                pixels,
                SYSTEM_ENROLMENT,
                at=observed_at,
                thresholds=prior.thresholds,
            )
        except ValueError:
            reference = None  # looks covered: no reference until a clean frame
        else:
            enrolled = new_reference(reference, FIRST_ENROLMENT, False)
    assessment = assess(camera_id, pixels, reference, prior.thresholds)
    now_active = set(assessment.kinds)
    started = tuple(sorted(now_active - prior.active))
    cleared = tuple(sorted(prior.active - now_active))
    out: list[Announcement] = []
    if enrolled is not None:
        out.append(Announcement(enrolled.event, actor=SYSTEM_ENROLMENT))
    by_kind = {f.kind: f for f in assessment.findings}
    for kind in started:
        f = by_kind[kind]
        out.append(
            Announcement(
                TamperFinding(
                    camera_id=camera_id,
                    finding=kind.value,
                    score=f.measured,
                    threshold=f.threshold,
                    observed_at=observed_at,
                )
            )
        )
    for kind in cleared:
        out.append(
            Announcement(_cleared(camera_id, assessment, kind, prior.thresholds, observed_at))
        )
    return CheckDecision(
        assessment=assessment,
        active=tuple(sorted(now_active)),
        started=started,
        cleared=cleared,
        enrolled=enrolled,
        announcements=tuple(out),
    )


def require_operator(operator: str) -> str:
    """Only a named person confirms a reference; the enrolment name is not one."""
    if not operator or not operator.strip() or operator.strip() == SYSTEM_ENROLMENT:
        raise ValueError("确认参考画面需要操作员 / a named operator must confirm (Art. 12)")
    return operator.strip()


def decide_confirm(
    camera_id: str,
    pixels: np.ndarray,
    captured_at: datetime,
    operator: str,
    reason: str,
    prior: Prior,
    *,
    had_reference: bool,
    at: datetime | None = None,
) -> ConfirmDecision:
    """An operator makes this frame the reference; findings that no longer hold against it
    are cleared. Raises ValueError (Art. 12) without an operator or for a covered view."""
    require_operator(operator)
    reference = confirm_reference(camera_id, pixels, operator, at=at, thresholds=prior.thresholds)
    stored = new_reference(reference, reason, had_reference)
    assessment = assess(camera_id, pixels, reference, prior.thresholds)
    still = prior.active & assessment.kinds
    out = [Announcement(stored.event, actor=reference.confirmed_by)]
    for kind in sorted(prior.active - still):
        out.append(
            Announcement(
                _cleared(camera_id, assessment, kind, prior.thresholds, captured_at),
                actor=reference.confirmed_by,
            )
        )
    return ConfirmDecision(stored, tuple(sorted(still)), tuple(out))
