"""Every refusal names the article it comes from (issue #4: "Every refusal names the article").

Statically: each place in the workflow service that builds a refusal, rule violation or
invalid-input error passes an article ("Art. N" or "Annex N"), never a placeholder. At run
time: every factory in refusals.py gives a message that ends with its article.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from services.workflow import refusals

SOURCES = sorted((Path(__file__).parents[2] / "services" / "workflow").glob("*.py"))
ARTICLE = re.compile(r"^(Art\. \d+|Annex \d)")
# constructor -> index of the article among its positional arguments
BUILDERS = {
    "Refusal": 3,
    "RuleViolation": 3,
    "InvalidInput": 3,
    "CalendarUnknown": 3,
    "missing_field": 2,
    "unknown_camera": 1,
}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _sites() -> list[tuple[str, int, str, ast.expr | None]]:
    out = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) in BUILDERS:
                i = BUILDERS[_name(node.func)]
                arg = node.args[i] if len(node.args) > i else None
                out.append((path.name, node.lineno, _name(node.func), arg))
    return out


def test_every_refusal_site_names_an_article() -> None:
    sites = _sites()
    assert len(sites) > 40  # the scan sees the service's refusals at all
    bad = []
    for file, line, name, arg in sites:
        if name == "unknown_camera" and arg is None:
            continue  # defaults to Art. 16
        if isinstance(arg, ast.Constant):
            if not (isinstance(arg.value, str) and ARTICLE.match(arg.value)):
                bad.append(f"{file}:{line} {name}({arg.value!r})")
        elif arg is None:
            bad.append(f"{file}:{line} {name}: no article")
        # a variable or lookup (the form's article, the caller's article) is checked below
    assert bad == []


@pytest.mark.parametrize(
    "factory",
    [
        f
        for _, f in inspect.getmembers(refusals, inspect.isfunction)
        if f.__module__ == refusals.__name__
    ],
    ids=lambda f: f.__name__,
)
def test_each_catalogued_refusal_ends_with_its_article(factory) -> None:
    args = [
        "Art. 16" if p.name == "article" else "x"
        for p in inspect.signature(factory).parameters.values()
        if p.default is inspect.Parameter.empty
    ]
    err = factory(*args)
    assert ARTICLE.match(err.article), err.article
    assert err.message.endswith(f"({err.article})")
    assert err.zh and err.en and err.zh != err.en  # Chinese first, English beside it


def test_form_articles_cover_every_process() -> None:
    from services.workflow.app import FORM_ARTICLE, FORMS

    assert set(FORM_ARTICLE) == set(FORMS)
    assert all(ARTICLE.match(a) for a in FORM_ARTICLE.values())
