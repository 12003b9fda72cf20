"""`cctv inventory import FILE | export`: the camera inventory as CSV or YAML (issue #5).

The same commands as `cctv cameras import|export`, under the name operators look for first.
Import is all-or-nothing: a bad row refuses the file with its row, column and reason.
Device passwords never go in these files; they come from mounted secrets.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .cameras import do_export, do_import


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("inventory", help="camera inventory files 摄像机清单导入导出")
    s = p.add_subparsers(dest="action", required=True)
    imp = s.add_parser("import", help="import a .csv / .yaml file (validated as a whole)")
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--replace", action="store_true", help="remove cameras that are not in the file"
    )
    imp.add_argument("--dry-run", action="store_true", help="validate and show the changes only")
    imp.add_argument("--actor", default=None)
    imp.set_defaults(func=do_import)
    exp = s.add_parser("export", help="print the inventory")
    exp.add_argument("--format", choices=["csv", "yaml"], default="csv")
    exp.set_defaults(func=do_export)
