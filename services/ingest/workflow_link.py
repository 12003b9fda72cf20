"""What the regulation's processes change in the inventory: a new camera point carried out by
NIC enters it (Art. 6), a moved camera gets its new position when the work is done (Art. 8)."""

from __future__ import annotations

from typing import Any

from cctv.contract.events import CameraRecord


def moved_cameras(current: list[CameraRecord], moved: list[dict[str, Any]]) -> list[CameraRecord]:
    """The records of cameras whose position the completed stop/move request changed."""
    by_id = {c.camera_id: c for c in current}
    out = []
    for m in moved:
        cam = by_id.get(str(m.get("camera_id")))
        position = str(m.get("position") or "").strip()
        if cam is not None and position and position != cam.position:
            out.append(cam.model_copy(update={"position": position}))
    return out
