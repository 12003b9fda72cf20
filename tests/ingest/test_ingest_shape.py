"""ingest keeps the shape of the other services (issue 8, "one home per rule"): one service
class with typed collaborators instead of string keys in `svc.state`, one settings class,
every SQL statement in store.py, and a tamper decision that does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support import shape

INGEST = Path(__file__).resolve().parents[2] / "services" / "ingest"
IO_MODULES = ("asyncio", "asyncpg", "nats", "httpx", "faststream", "cctv.plumbing", "socket")


def modules() -> list[tuple[str, ast.Module]]:
    return shape.modules(INGEST)


def test_no_string_keys_in_the_services_state() -> None:
    bad = [
        f"{rel}:{node.lineno}"
        for rel, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "state"
        and isinstance(node.value, ast.Name) and node.value.id == "svc"
    ]  # fmt: skip
    assert not bad, f"svc.state in ingest (use IngestService's attributes): {bad}"


def test_all_sql_is_in_the_store() -> None:
    bad = shape.sql_calls(shape.modules(INGEST, skip={"store.py"}))
    assert not bad, f"SQL outside services/ingest/store.py: {bad}"


def test_one_settings_class() -> None:
    found = [
        f"{rel}:{node.name}"
        for rel, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(ast.unparse(b).endswith(("Settings", "BaseSettings")) for b in node.bases)
    ]
    assert found == ["settings.py:IngestSettings"], found


def test_the_tamper_decision_does_no_io() -> None:
    for name in ("tamper_decision.py", "tamper.py"):
        tree = ast.parse((INGEST / name).read_text(encoding="utf-8"))
        imported = [
            (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import | ast.ImportFrom)
            for a in n.names
        ]
        bad = [m for m in imported if m.startswith(IO_MODULES)]
        assert not bad, f"{name} imports {bad}: the decision is pure"
