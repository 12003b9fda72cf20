"""`cctv inventory import FILE | export`: the camera inventory as CSV or YAML (issue #5).

The same commands as `cctv cameras import|export`, under the name operators look for first.
Import is all-or-nothing: a bad row refuses the file with its row, column and reason.
Device passwords never go in these files; they come from mounted secrets.
"""

from __future__ import annotations

import argparse

from .cameras import add_file_commands


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("inventory", help="camera inventory files 摄像机清单导入导出")
    add_file_commands(p.add_subparsers(dest="action", required=True))
