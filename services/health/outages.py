"""What a camera going down means (Art. 8, Art. 10, one outage one fault). Pure: no broker,
no database; the handlers ask, then store and publish what it says.

- Inside an approved stop/move window (Art. 8) a camera that goes down is in maintenance:
  expected, no fault. Still down when the window ends, it is a fault.
- Under exam watch (Art. 10) it is down at its first failed sample, with a critical fault.
- Otherwise it is its own fault, unless a common cause is failing with it: its recorder
  (most of the recorder's cameras failing), the network (a share of all cameras across
  buildings and recorders) or its ingest replica (most of the cameras that replica probes).
  Then it is unreachable behind the cause, which has the one fault.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cctv.contract import CameraRecord
from cctv.contract.events import CameraState, Severity

from .damping import DampingPolicy
from .windows import Window, covering_window

CauseKind = Literal["recorder_offline", "suspected_network"]


@dataclass(frozen=True)
class Thresholds:
    recorder_min: int = 3
    recorder_share: float = 0.5
    mass_min: int = 10
    mass_share: float = 0.3
    shard_share: float = 0.8


@dataclass(frozen=True)
class Verdict:
    """How a camera that went down is shown, and whether it opens a fault of its own.
    `ask_cause`: a common cause may stand behind it (the caller looks, with `suspect`)."""

    shown: CameraState
    why: str
    fault: Severity | None = None
    ask_cause: bool = False


def damping_for(
    camera_id: str,
    at: datetime,
    watches: list[Window],
    normal: DampingPolicy,
    closer: DampingPolicy,
    behind_cause: bool = False,
) -> DampingPolicy:
    """Art. 10: under exam watch a camera is down at its first failed sample. A camera shown
    unreachable behind a common cause is up again at its first good sample: the cause holds
    the fault (and its ticket) and is damped as a whole, so a recorder that comes back is
    restored within one sample period (issue 9), not two."""
    policy = normal if covering_window(watches, camera_id, at) is None else closer
    return DampingPolicy(policy.down_after, 1) if behind_cause else policy


def judge_down(
    camera_id: str, at: datetime, why: str, stopmove: list[Window], watches: list[Window]
) -> Verdict:
    """A camera's damped state turned down at `at` for `why`."""
    window = covering_window(stopmove, camera_id, at)
    if window is not None:
        return Verdict(
            "maintenance", f"经批准的停用/移动 approved stop/move {window.request_id} (Art. 8)"
        )
    watch = covering_window(watches, camera_id, at)
    if watch is not None:
        return Verdict(
            "down",
            f"考试保障期间离线 down under exam watch {watch.request_id} (Art. 10): {why}",
            fault="critical",
        )
    return Verdict("down", why, fault="major", ask_cause=True)


def window_over(camera_id: str, now: datetime, stopmove: list[Window]) -> str | None:
    """Art. 8: a camera shown in maintenance with no window covering it now: the fault's
    detail; None while a window still covers it."""
    if covering_window(stopmove, camera_id, now) is not None:
        return None
    return "停用/移动窗口已结束仍离线 still down after its window (Art. 8)"


def suspect(
    camera_id: str,
    cameras: Mapping[str, CameraRecord],
    shard_of: Mapping[str, str],
    known: Collection[str],
    failing: Collection[str],
    open_causes: Collection[tuple[str, str]],
    t: Thresholds,
) -> tuple[CauseKind, str, list[str]] | None:
    """(kind, cause id, members) of a common cause now failing behind `camera_id`, if any.

    A cause already open is joined without a census (members empty). `known` are the
    cameras with a health so far, `failing` those whose latest sample failed."""
    shard = shard_of.get(camera_id)
    cam = cameras.get(camera_id)
    candidates: list[tuple[CauseKind, str]] = [
        ("suspected_network", f"ingest-{shard}"),
        ("suspected_network", "network"),
        ("recorder_offline", cam.nvr_id if cam and cam.nvr_id else ""),
    ]
    for key in candidates:
        if key in open_causes:
            return key[0], key[1], []
    if shard:
        members = [c for c, s in shard_of.items() if s == shard and c in known]
        down = sum(1 for c in members if c in failing)
        if len(members) >= t.mass_min and down >= t.shard_share * len(members):
            return "suspected_network", f"ingest-{shard}", members
    if len(known) >= t.mass_min and len(failing) >= t.mass_share * len(known):
        cams = [c for c in (cameras.get(f) for f in failing) if c is not None]
        buildings = {c.building for c in cams}
        recorders = {c.nvr_id or c.camera_id for c in cams}
        if len(buildings) >= 2 and len(recorders) >= 2:
            return "suspected_network", "network", list(known)
    if cam is not None and cam.nvr_id:
        members = [c.camera_id for c in cameras.values() if c.nvr_id == cam.nvr_id]
        down = sum(1 for c in members if c in failing)
        if len(members) >= t.recorder_min and down >= t.recorder_share * len(members):
            return "recorder_offline", cam.nvr_id, members
    return None


def outage_over(kind: str, affected: int, still_down: int, t: Thresholds) -> bool:
    """A common cause resolves once fewer than its share of the cameras behind it are down."""
    share = t.recorder_share if kind == "recorder_offline" else t.mass_share
    return still_down == 0 or still_down < share * affected
