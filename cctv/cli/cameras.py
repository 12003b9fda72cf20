"""`cctv cameras ...`: the inventory as ingest knows it."""

from __future__ import annotations

import argparse
import json

from cctv.contract import rpc

from .common import request


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cameras", help="camera inventory 摄像机清单")
    s = p.add_subparsers(dest="action", required=True)
    ls = s.add_parser("list", help="list cameras")
    ls.add_argument("--building", help="only this building, e.g. 综合楼")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_cameras)


def list_cameras(args: argparse.Namespace) -> int:
    payload = {"building": args.building} if args.building else {}
    cams = request(rpc.INGEST_CAMERAS, payload)["cameras"]
    states = {s["camera_id"]: s["state"] for s in request(rpc.HEALTH_STATES, {})["states"]}
    if args.json:
        print(
            json.dumps(
                [{**c, "state": states.get(c["camera_id"], "unknown")} for c in cams],
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    for c in cams:
        print(
            f"{c['camera_id']:<10} {states.get(c['camera_id'], 'unknown'):<11} "
            f"{c['building']:<10} {c['position']:<16} {c['category']:<14} "
            f"{','.join(c['sensitivity']) or '-'}"
        )
    print(f"{len(cams)} cameras")
    return 0
