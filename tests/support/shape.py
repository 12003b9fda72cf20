"""A service's shape read from its source (issue 8, "one home per rule"): its modules parsed,
and the database calls made outside its store."""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

SQL_CALLS = {"execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"}


def modules(root: Path, *, skip: Collection[str] = ()) -> list[tuple[str, ast.Module]]:
    """(path under `root`, parsed module) of every Python file but those named in `skip`."""
    return [
        (p.relative_to(root).as_posix(), ast.parse(p.read_text(encoding="utf-8")))
        for p in sorted(root.rglob("*.py"))
        if p.relative_to(root).as_posix() not in skip
    ]


def sql_calls(
    parsed: list[tuple[str, ast.Module]], *, not_sql_receivers: Collection[str] = ()
) -> list[str]:
    """`path:line: call` of every database call (`x.execute(...)`, ...) in `parsed`; a call
    on a name in `not_sql_receivers` (an interface's own `fetch`) is not one."""
    return [
        f"{rel}:{node.lineno}: {ast.unparse(node)[:60]}"
        for rel, tree in parsed
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr in SQL_CALLS
        and not (isinstance(node.func.value, ast.Name) and node.func.value.id in not_sql_receivers)
    ]  # fmt: skip
