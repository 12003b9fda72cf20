"""`cctv sim break|mend CAMERA`: inject and clear faults in the demo device simulator.

The simulator is an outside system: the CLI speaks only its HTTP control interface and never
imports it (the simulator names the faults it knows when it refuses one)."""

from __future__ import annotations

import argparse

import httpx

from .common import settings
from .main import CliError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sim", help="demo device simulator 模拟器")
    s = p.add_subparsers(dest="action", required=True)
    br = s.add_parser("break", help="inject a fault (default: offline)")
    br.add_argument("camera")
    br.add_argument(
        "--fault",
        default="offline",
        help="e.g. offline, video_loss, disk_error (the simulator lists the rest)",
    )
    br.set_defaults(func=lambda a: change(a.camera, "break", a.fault))
    md = s.add_parser("mend", help="clear a fault (default: all)")
    md.add_argument("camera")
    md.add_argument("--fault", default=None)
    md.set_defaults(func=lambda a: change(a.camera, "mend", a.fault))
    ls = s.add_parser("list", help="cameras with injected faults")
    ls.set_defaults(func=lambda _a: list_faults())


def _url(path: str) -> str:
    return settings().sim_control_url.rstrip("/") + path


def change(camera: str, action: str, fault: str | None) -> int:
    try:
        resp = httpx.post(
            _url(f"/control/cameras/{camera}/{action}"),
            json={"fault": fault} if fault else {},
            timeout=5,
        )
    except httpx.HTTPError as exc:
        raise CliError(f"simulator not reachable at {settings().sim_control_url}: {exc}") from exc
    body = resp.json()
    if resp.status_code != 200:
        raise CliError(body.get("error", resp.text))
    print(f"{camera}: faults now {', '.join(body['faults']) or 'none (healthy)'}")
    return 0


def list_faults() -> int:
    try:
        cams = httpx.get(_url("/control/cameras"), timeout=5).json()
    except httpx.HTTPError as exc:
        raise CliError(f"simulator not reachable: {exc}") from exc
    broken = [c for c in cams if c["faults"]]
    for c in broken:
        print(f"{c['camera_id']:<10} {', '.join(c['faults'])}")
    print(f"{len(broken)} of {len(cams)} simulated cameras have faults")
    return 0
