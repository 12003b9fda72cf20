"""Shaping what services answer into what a duty operator reads at a glance."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

STATE_LABEL = {
    "up": ("在线", "up"),
    "down": ("离线", "down"),
    "maintenance": ("停用维护", "maintenance"),
    "unreachable": ("不可达", "unreachable"),
    "unknown": ("未知", "unknown"),
}


def cameras_by_building(
    cameras: list[dict[str, Any]],
    states: list[dict[str, Any]],
    faults: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Buildings with their cameras and counts, the ones with cameras down first. A camera
    with an open critical fault (a covered lens answers its probes) is never shown green."""
    state_of = {s["camera_id"]: s for s in states}
    critical = {
        f["camera_id"]
        for f in faults or []
        if f.get("status") == "open" and f.get("severity") == "critical"
    }
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cam in cameras:
        st = state_of.get(cam["camera_id"], {})
        groups[cam["building"]].append(
            {
                **cam,
                "state": st.get("state", "unknown"),
                "since": st.get("since"),
                "alarm": cam["camera_id"] in critical,
            }
        )
    out = []
    for building, cams in groups.items():
        counts: dict[str, int] = defaultdict(int)
        for c in cams:
            counts[c["state"]] += 1
        out.append(
            {
                "building": building,
                "cameras": sorted(cams, key=lambda c: c["camera_id"]),
                "counts": dict(counts),
                "down": counts["down"],
            }
        )
    return sorted(out, key=lambda g: (-g["down"], g["building"]))


def faults_open_first(faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open faults first, critical before the rest, newest first within each."""
    by_time = sorted(faults, key=lambda f: f.get("opened_at") or "", reverse=True)
    return sorted(
        by_time, key=lambda f: (f.get("status") != "open", f.get("severity") != "critical")
    )
