"""The one command shape of the generated files: write it, or `--check` that it is current."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def main(
    out: Path, render: Callable[[], str], doc: str | None, argv: list[str] | None, tool: str
) -> int:
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    p.add_argument("--check", action="store_true", help=f"fail when {out.name} is stale")
    args = p.parse_args(argv)
    text = render()
    if args.check:
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is stale: run python deploy/k8s/tools/{tool}", file=sys.stderr)
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    return 0
