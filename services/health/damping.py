"""Flap damping: a camera changes state only after several samples agree.

One lost packet must not wake a guard at 3 a.m., and one lucky answer from a dying camera
must not close its repair ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from cctv.contract.events import CameraState


@dataclass(frozen=True)
class DampingPolicy:
    down_after: int = 3
    up_after: int = 2


@dataclass(frozen=True)
class CameraHealth:
    camera_id: str
    state: CameraState = "unknown"
    fail_streak: int = 0
    ok_streak: int = 0
    last_sample_at: datetime | None = None
    since: datetime | None = None


def same_standing(a: CameraHealth, b: CameraHealth) -> bool:
    """Equal in everything worth persisting (the sample time alone is not)."""
    return (a.state, a.fail_streak, a.ok_streak, a.since) == (
        b.state,
        b.fail_streak,
        b.ok_streak,
        b.since,
    )


@dataclass(frozen=True)
class Transition:
    previous: CameraState
    state: CameraState
    at: datetime


def apply_sample(
    health: CameraHealth, ok: bool, at: datetime, policy: DampingPolicy
) -> tuple[CameraHealth, Transition | None]:
    """Fold one sample into the camera's health. Old or repeated samples change nothing."""
    if health.last_sample_at is not None and at <= health.last_sample_at:
        return health, None
    # streaks are capped: a steady camera's health stops changing, so it costs no write
    fail = 0 if ok else min(health.fail_streak + 1, policy.down_after)
    good = min(health.ok_streak + 1, policy.up_after) if ok else 0
    new = replace(health, fail_streak=fail, ok_streak=good, last_sample_at=at)
    target: CameraState | None = None
    if ok and health.state != "up" and (good >= policy.up_after or health.state == "unknown"):
        target = "up"
    elif not ok and health.state != "down" and fail >= policy.down_after:
        target = "down"
    if target is None:
        return new, None
    return replace(new, state=target, since=at), Transition(health.state, target, at)
