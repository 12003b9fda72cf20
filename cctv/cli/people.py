"""`cctv people ...`: the people directory from the command line (NIC, after `cctv login`).

Everything goes to the console, which owns the directory: an import is all-or-nothing with
row-level errors, exactly as in the console's 人员 People page, and every change is audited.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cctv.contract import people as contract

from .common import request
from .main import CliError


def cmd_list(args: argparse.Namespace) -> int:
    people = request(contract.PEOPLE_LIST, {})["people"]
    if args.json:
        print(json.dumps(people, ensure_ascii=False, indent=1))
        return 0
    for p in people:
        state = "停用 disabled" if p["disabled"] else ""
        print(
            f"{p['account']:<16} {p['name']:<6} {p['department']:<12} "
            f"{','.join(p['roles']):<22} {p['zone'] or '':<8} {p['phone']:<14} {state}"
        )
    print(f"{len(people)} people")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    try:
        content = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror}") from exc
    reply = request(
        contract.PEOPLE_IMPORT,
        {
            "filename": args.file.name,
            "content": content,
            "dry_run": args.dry_run,
            "reason": args.reason or "",
        },
        timeout=60,
    )
    if reply.get("error"):
        lines = [f"  第{e['row']}行 {e['column']}: {e['reason']}" for e in reply["errors"]]
        raise CliError("人员名册未导入 people not imported:\n" + "\n".join(lines))
    if reply.get("dry_run"):
        print(f"校验通过 valid (dry run): {len(reply['people'])} people")
        return 0
    print(
        f"已导入 imported: {len(reply['created'])} created, {len(reply['updated'])} updated, "
        f"{len(reply['unchanged'])} unchanged"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    print(request(contract.PEOPLE_EXPORT, {"format": args.format})["content"], end="")
    return 0


def cmd_disable(args: argparse.Namespace, disabled: bool = True) -> int:
    reply = request(
        contract.PEOPLE_DISABLE,
        {"account": args.account, "disabled": disabled, "reason": args.reason},
    )
    print(f"{args.account}: {reply['change'] or '无变化 unchanged'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("people", help="人员名册 the people directory (NIC)")
    s = p.add_subparsers(dest="action", required=True)
    q = s.add_parser("list", help="everyone in the directory")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)
    q = s.add_parser("import", help="import a .csv / .yaml file (all or nothing)")
    q.add_argument("file", type=Path)
    q.add_argument("--dry-run", action="store_true")
    q.add_argument("--reason")
    q.set_defaults(func=cmd_import)
    q = s.add_parser("export", help="print the directory as CSV or YAML")
    q.add_argument("--format", choices=["csv", "yaml"], default="csv")
    q.set_defaults(func=cmd_export)
    q = s.add_parser("disable", help="停用 disable an account (ends their sessions)")
    q.add_argument("account")
    q.add_argument("--reason", required=True)
    q.set_defaults(func=cmd_disable)
    q = s.add_parser("enable", help="启用 enable an account again")
    q.add_argument("account")
    q.add_argument("--reason", required=True)
    q.set_defaults(func=lambda a: cmd_disable(a, disabled=False))
