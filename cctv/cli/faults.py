"""`cctv faults ...`: faults as health holds them, and NIC closing one by hand (audited)."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from cctv.contract import rpc

from .common import request


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in a container: still say where it came from
        return "cli"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("faults", help="faults 故障")
    s = p.add_subparsers(dest="action", required=True)
    ls = s.add_parser("list", help="open faults and the latest resolved")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_faults)
    close = s.add_parser("close", help="close a fault by hand after investigating it (audited)")
    close.add_argument("fault_id")
    close.add_argument("--reason", required=True, help="why it is closed 关闭原因 (required)")
    close.add_argument("--actor", default=None, help="who closes it (audited)")
    close.set_defaults(func=close_fault)


def list_faults(a: argparse.Namespace) -> int:
    faults: list[dict[str, Any]] = request(rpc.HEALTH_FAULTS, {})["faults"]
    if a.json:
        print(json.dumps(faults, ensure_ascii=False, indent=2))
        return 0
    for f in faults:
        behind = f" ({len(f['affected'])} 路 cameras)" if f.get("affected") else ""
        print(
            f"{f['fault_id']}  {f['status']:<8} {f['kind']:<18} {f['camera_id']}{behind}  "
            f"{f['opened_at']}  {f.get('ticket_no') or f.get('ticket_error') or ''}"
        )
    return 0


def close_fault(a: argparse.Namespace) -> int:
    reply = request(
        rpc.HEALTH_FAULT_CLOSE,
        {"fault_id": a.fault_id, "reason": a.reason, "actor": a.actor or _actor()},
    )
    f = reply["fault"]
    print(f"已关闭 closed {f['fault_id']} ({f['kind']} {f['camera_id']}): {f['close_reason']}")
    return 0
