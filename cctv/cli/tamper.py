"""`cctv tamper show|confirm|thresholds CAMERA`: the tamper checks' reference pictures (Art. 12).

A camera's reference picture changes only when an operator confirms what it shows now — for
example after a move approved on an Annex 3 stop/move application (Art. 8).
"""

from __future__ import annotations

import argparse
from typing import Any

from cctv.contract import rpc
from cctv.contract.campustime import campus_time

from .common import request
from .main import CliError

RPC_TAMPER_CONFIRM = rpc.INGEST_TAMPER_CONFIRM
RPC_TAMPER_STATE = rpc.INGEST_TAMPER_STATE

FINDINGS_ZH = {"covered": "遮挡 covered", "moved": "移动 moved", "blurred": "模糊 blurred"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tamper", help="遮挡/移动/模糊检测的参考画面 tamper reference pictures")
    s = p.add_subparsers(dest="action", required=True)
    show = s.add_parser("show", help="reference and active findings of a camera")
    show.add_argument("camera")
    show.set_defaults(func=lambda a: print(describe(state(a.camera))) or 0)
    conf = s.add_parser("confirm", help="confirm what the camera shows now as its reference")
    conf.add_argument("camera")
    conf.add_argument("--reason", default="", help="e.g. the approved stop/move request")
    conf.set_defaults(func=lambda a: print(confirm(a.camera, a.reason)) or 0)
    th = s.add_parser("thresholds", help="set this camera's thresholds, e.g. blur_ratio=0.2")
    th.add_argument("camera")
    th.add_argument("values", nargs="*", metavar="NAME=VALUE", help="none: back to defaults")
    th.set_defaults(func=lambda a: print(describe(set_thresholds(a.camera, a.values))) or 0)


def state(camera: str) -> dict[str, Any]:
    return request(RPC_TAMPER_STATE, {"camera_id": camera})


def confirm(camera: str, reason: str = "") -> str:
    """Confirmed by whoever signed on (`cctv login`): the service records them (Art. 12)."""
    reply = request(RPC_TAMPER_CONFIRM, {"camera_id": camera, "reason": reason})
    ref = reply["reference"]
    return (
        f"{camera}: 参考画面已确认 reference confirmed by {ref['confirmed_by']} at "
        f"{campus_time(ref['confirmed_at'])} (sha256 {ref['pixels_sha256'][:16]}…)"
    )


def parse_values(values: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise CliError(f"expected NAME=VALUE, got {item!r}")
        try:
            out[name.strip()] = float(raw)
        except ValueError:
            raise CliError(f"{name}: {raw!r} is not a number") from None
    return out


def set_thresholds(camera: str, values: list[str]) -> dict[str, Any]:
    return request(RPC_TAMPER_STATE, {"camera_id": camera, "thresholds": parse_values(values)})


def describe(s: dict[str, Any]) -> str:
    ref = s.get("reference")
    lines = [f"{s['camera_id']}"]
    if ref:
        lines.append(
            f"  参考画面 reference: {ref['confirmed_by']} @ {campus_time(ref['confirmed_at'])}"
        )
    else:
        lines.append("  参考画面 reference: 无 none yet")
    active = [FINDINGS_ZH.get(k, k) for k in s.get("active", [])]
    lines.append(f"  当前告警 active: {', '.join(active) or '无 none'}")
    if s.get("last_error"):
        lines.append(f"  最近取帧失败 last frame failed: {s['last_error']}")
    if s.get("thresholds"):
        lines.append(
            "  阈值 thresholds: " + ", ".join(f"{k}={v}" for k, v in s["thresholds"].items())
        )
    return "\n".join(lines)
