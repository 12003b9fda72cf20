"""`cctv inventory import FILE | export`: the camera inventory as CSV or YAML (issue #5).

Import is all-or-nothing: a bad row refuses the file with its row, column and reason.
Device passwords never go in these files; they come from mounted secrets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import request
from .main import CliError

RPC_IMPORT = "cctv.rpc.ingest.inventory.import"
RPC_EXPORT = "cctv.rpc.ingest.inventory.export"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("inventory", help="camera inventory files 摄像机清单导入导出")
    s = p.add_subparsers(dest="action", required=True)
    imp = s.add_parser("import", help="import a .csv / .yaml file (validated as a whole)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true",
                     help="remove cameras that are not in the file")
    imp.add_argument("--dry-run", action="store_true", help="validate and show the changes only")
    imp.add_argument("--actor", default="cli")
    imp.set_defaults(func=do_import)
    exp = s.add_parser("export", help="print the inventory")
    exp.add_argument("--format", choices=["csv", "yaml"], default="csv")
    exp.set_defaults(func=do_export)


def do_import(args: argparse.Namespace) -> int:
    try:
        content = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror}") from exc
    reply = request(RPC_IMPORT, {"filename": args.file.name, "content": content,
                                 "replace": args.replace, "dry_run": args.dry_run,
                                 "actor": args.actor}, timeout=60)
    verb = "已导入 imported" if reply["applied"] else "校验通过 valid (dry run)"
    print(f"{verb}: {len(reply['upserted'])} added/changed, {reply['unchanged']} unchanged, "
          f"{len(reply['removed'])} removed")
    for cid in reply["upserted"][:50]:
        print(f"  + {cid}")
    for cid in reply["removed"][:50]:
        print(f"  - {cid}")
    return 0


def do_export(args: argparse.Namespace) -> int:
    reply = request(RPC_EXPORT, {"format": args.format})
    sys.stdout.write(reply["content"])
    return 0
