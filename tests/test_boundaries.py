"""Services meet only on the contract (issue 8): the import rule, checked on every `make test`.

- services/X never imports services/Y (Y != X): services share only `cctv.contract`,
  `cctv.plumbing`, the shared libraries under `cctv/` and third-party packages;
- nothing under `cctv/` imports `services`;
- nothing under `services/` or `cctv/` imports `demo`, except `cctv/devstack` (the developer
  stack, which starts the demo campus);
- the layers point one way: `cctv.contract` imports no other part of the project,
  `cctv.plumbing` only the contract, and services neither the CLI nor the developer stack.

``KNOWN`` lists the crossings still being removed, each with the issue that removes it. The list
may only shrink: a new crossing fails, and so does an entry that no longer occurs (delete it).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (file, imported module) -> the issue that removes it.
KNOWN: dict[tuple[str, str], str] = {}


def crossings(root: Path) -> list[tuple[str, int, str]]:
    """Every import that breaks the rule, as (file, line, module)."""
    found: list[tuple[str, int, str]] = []
    files = sorted([*root.glob("services/**/*.py"), *root.glob("cctv/**/*.py")])
    for path in files:
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        own = parts[1] if parts[0] == "services" and len(parts) > 2 else None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
                if node.module in ("services", "demo"):  # from services import workflow
                    names = [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                seg = name.split(".")
                if _layer_broken(rel, seg):
                    found.append((rel, node.lineno, name))
                elif seg[0] == "services" and len(seg) > 1 and seg[1] != "__init__":
                    if parts[0] == "cctv" or (own is not None and seg[1] != own):
                        found.append((rel, node.lineno, name))
                elif seg[0] == "demo" and not rel.startswith("cctv/devstack/"):
                    found.append((rel, node.lineno, name))
    return found


def _layer_broken(rel: str, seg: list[str]) -> bool:
    """contract <- plumbing <- services; cli and devstack are tools on top, never below."""
    if seg[0] != "cctv" or len(seg) < 2:
        return False
    if rel.startswith("cctv/contract/"):
        return seg[1] != "contract"
    if rel.startswith("cctv/plumbing/"):
        return seg[1] not in ("contract", "plumbing")
    if rel.startswith("services/"):
        return seg[1] in ("cli", "devstack")
    return False


def test_services_meet_only_on_the_contract() -> None:
    found = crossings(ROOT)
    new = [f"{f}:{line}: imports {m}" for f, line, m in found if (f, m) not in KNOWN]
    assert not new, (
        "services meet only on cctv.contract / cctv.plumbing (issue 8, docs/adr): " + "; ".join(new)
    )


def test_known_crossings_are_still_there() -> None:
    """An entry whose import is gone must leave KNOWN, so the list only shrinks."""
    seen = {(f, m) for f, _line, m in crossings(ROOT)}
    gone = sorted(f"{f} -> {m} ({issue})" for (f, m), issue in KNOWN.items() if (f, m) not in seen)
    assert not gone, "remove from tests/test_boundaries.py KNOWN: " + "; ".join(gone)


def test_the_rule_catches_each_kind_of_crossing(tmp_path: Path) -> None:
    """The checker itself: one file per kind of crossing, and the allowed imports pass."""
    files = {
        "services/a/x.py": "from services.b import store\nfrom services.a import y\n",
        "services/a/y.py": "import demo.campus\nfrom cctv.contract import Event\n",
        "cctv/cli/z.py": "from services import workflow\n",
        "cctv/devstack/run.py": "from demo import campus\n",
        "cctv/plumbing/w.py": "from demo import simulator\nfrom cctv.cli import common\n",
        "cctv/contract/v.py": "from cctv.plumbing import service\nfrom cctv.contract import rpc\n",
        "services/a/z.py": "import cctv.devstack.run\nfrom cctv.plumbing import service\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    got = sorted((f, m) for f, _line, m in crossings(tmp_path))
    assert got == [
        ("cctv/cli/z.py", "services.workflow"),
        ("cctv/contract/v.py", "cctv.plumbing"),
        ("cctv/plumbing/w.py", "cctv.cli"),
        ("cctv/plumbing/w.py", "demo.simulator"),
        ("services/a/x.py", "services.b"),
        ("services/a/y.py", "demo.campus"),
        ("services/a/z.py", "cctv.devstack.run"),
    ]
