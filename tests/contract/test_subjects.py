"""Published subjects agree with the contract (issue 8): every event goes out on
`cctv.<type>.<key>`, the address the AsyncAPI channel declares, so a subscriber to
`cctv.<type>.*` or a filter on the key sees every message."""

from __future__ import annotations

import ast
from pathlib import Path

from cctv.contract.asyncapi import document

ROOT = Path(__file__).resolve().parents[2]
# (file, line text) -> why it may publish without a key
KEYLESS_ALLOWED = {
    ("services/ingest/app.py", "self.svc.publish(event)"): "#16: fallback on a bad key",
}


def keyless_publications(root: Path) -> list[tuple[str, int, str]]:
    """Calls of stage(...) / <x>.publish(<event>) / subject_for(<event>) that give no key."""
    found = []
    for path in sorted([*root.glob("services/**/*.py"), *root.glob("cctv/**/*.py")]):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("cctv/plumbing/", "cctv/devstack/")):
            continue  # the machinery itself publishes subjects already made
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name == "subject_for" and len(node.args) < 2 and not node.keywords:
                found.append((rel, node.lineno, ast.unparse(node)))
                continue
            if name in ("stage", "publish") and not any(k.arg == "key" for k in node.keywords):
                if name == "publish" and len(node.args) >= 2:
                    continue  # a local helper taking (event, key)
                found.append((rel, node.lineno, ast.unparse(node)))
    return found


def test_every_channel_address_has_the_key() -> None:
    for name, channel in document()["channels"].items():
        if not name.startswith("cctv.rpc."):
            assert channel["address"] == f"{name}.{{key}}"


def test_every_event_is_published_with_its_key() -> None:
    bad = [
        f"{f}:{line}: {text[:80]}"
        for f, line, text in keyless_publications(ROOT)
        if (f, text) not in KEYLESS_ALLOWED
    ]
    assert not bad, "publish with key= (cctv.<type>.<key>, docs/asyncapi.json): " + "; ".join(bad)


def test_request_subjects_are_defined_only_in_the_contract() -> None:
    """Every `cctv.rpc.*` subject is written once, in cctv/contract/rpc.py (issue 8); other
    modules name it from there, so callers and responders cannot drift apart."""
    bad = []
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("cctv/**/*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "cctv/contract/rpc.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
                continue
            for v in [node.value]:
                text = v.value if isinstance(v, ast.Constant) else None
                if isinstance(v, ast.JoinedStr) and v.values:
                    first = v.values[0]
                    text = first.value if isinstance(first, ast.Constant) else None
                if isinstance(text, str) and text.startswith("cctv.rpc."):
                    bad.append(f"{rel}:{node.lineno}: {text}")
    assert not bad, "define request subjects in cctv/contract/rpc.py: " + "; ".join(bad)
