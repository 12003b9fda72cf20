"""media keeps the shape of the other services (issue 8, "one home per rule"): every SQL
statement is in services/media/store.py, so app.py and viewer.py only translate and call."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.support import shape

MEDIA = Path(__file__).resolve().parents[2] / "services" / "media"
# `Recorder.fetch(footage, start, end)` is the recorder adapters' interface, not SQL
NOT_SQL_RECEIVERS = {"recorder"}
SQL_TEXT = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b.*\b(FROM|SET|VALUES|WHERE)\b")


def modules() -> list[tuple[str, ast.Module]]:
    return shape.modules(MEDIA, skip={"store.py"})


def texts(tree: ast.Module) -> list[tuple[int, str]]:
    """Every string literal, an f-string read whole (`{}` where a value goes)."""
    inside = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    out: list[tuple[int, str]] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in n.values]
            out.append((n.lineno, "".join(str(p) for p in parts)))
        elif isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in inside:
            out.append((n.lineno, n.value))
    return out


def test_no_database_calls_outside_the_store() -> None:
    bad = shape.sql_calls(modules(), not_sql_receivers=NOT_SQL_RECEIVERS)
    assert not bad, f"SQL outside services/media/store.py: {bad}"


def test_no_sql_text_outside_the_store() -> None:
    """A statement built in a handler and handed to a helper is caught too."""
    bad = [
        f"{rel}:{line}: {text[:60]!r}"
        for rel, tree in modules()
        for line, text in texts(tree)
        if SQL_TEXT.search(text)
    ]
    assert not bad, f"SQL text outside services/media/store.py: {bad}"


def test_the_store_is_what_holds_it() -> None:
    """The check above looks at something: the store really has media's statements."""
    tree = ast.parse((MEDIA / "store.py").read_text(encoding="utf-8"))
    found = [text for _, text in texts(tree) if SQL_TEXT.search(text)]
    assert len(found) >= 20, found
