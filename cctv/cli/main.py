"""`cctv`: the operators' command line. Each group lives in its own module with `register`."""

from __future__ import annotations

import argparse
import importlib
import sys

GROUPS = (
    "login",
    "people",
    "cameras",
    "sim",
    "audit",
    "requests",
    "streams",
    "inventory",
    "tamper",
    "faults",
    "dlq",
    "footage",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctv", description="campus-cctv 校园视频监控管理系统 — operators' command line"
    )
    sub = parser.add_subparsers(dest="group", required=True)
    for group in GROUPS:
        try:
            module = importlib.import_module(f"cctv.cli.{group}")
        except ImportError:
            continue
        module.register(sub)
    run = sub.add_parser("run", help="start the whole system (same as `make run`)")
    run.set_defaults(func=lambda _a: __import__("cctv.devstack.run", fromlist=["main"]).main())
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"cctv: {exc}", file=sys.stderr)
        return 2


class CliError(Exception):
    """A failure the operator can act on; printed without a traceback."""


if __name__ == "__main__":
    sys.exit(main())
