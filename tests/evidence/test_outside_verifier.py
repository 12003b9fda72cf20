"""`cctv audit check` and a verifier written from docs/audit-bundle.md alone agree: on the
published vectors, and on any mutation of a real bundle."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cctv.evidence import bundle
from tests.evidence import outside_verifier as outside
from tests.evidence.test_bundle import ORIGIN, build

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "audit-vectors.json").read_text("utf-8")
)


def ours(doc: Any, vkey: str) -> bool:
    try:
        bundle.check_bundle(doc, vkey)
    except bundle.BundleError:
        return False
    return True


def theirs(doc: Any, vkey: str) -> bool:
    try:
        outside.verify(doc, vkey)
    except outside.Rejected:
        return False
    return True


@pytest.mark.parametrize("case", VECTORS["bundles"], ids=[c["name"] for c in VECTORS["bundles"]])
def test_outside_verifier_agrees_on_the_published_vectors(case: dict[str, Any]) -> None:
    want = case["expect"] == "pass"
    assert theirs(case["bundle"], VECTORS["verifier_key"]) is want
    assert ours(case["bundle"], VECTORS["verifier_key"]) is want


def _docs() -> tuple[list[dict[str, Any]], str]:
    from cctv.evidence.checkpoint import Checkpoint, Signer

    tree, datas = build(11)
    s = Signer.generate(ORIGIN)
    cp = Checkpoint(ORIGIN, tree.size, tree.root())
    note, vkey = cp.sign(s), s.verifier.vkey()
    docs = [
        bundle.range_bundle_from_store(tree, [(i, datas[i]) for i in range(0, 6)], cp, note, vkey),
        bundle.range_bundle_from_store(tree, [(i, datas[i]) for i in range(3, 11)], cp, note, vkey),
        bundle.evidence_from_store(
            tree, [(1, datas[1]), (2, datas[2]), (9, datas[9])], cp, note, vkey
        ),
    ]
    return docs, vkey


DOCS, VKEY = _docs()


def _flip(raw: str, at: int, to: str) -> str:
    b = bytearray(base64.b64decode(raw))
    if not b:
        return raw
    b[at % len(b)] = ord(to)
    return base64.b64encode(bytes(b)).decode()


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_outside_verifier_agrees_on_mutated_bundles(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(DOCS)))
    assert ours(doc, VKEY) and theirs(doc, VKEY)
    n = len(doc["entries"])
    what = data.draw(
        st.sampled_from(["byte", "drop", "dup", "swap", "index", "proof", "range", "field"])
    )
    k = data.draw(st.integers(0, n - 1))
    item = doc["entries"][k]
    if what == "byte":
        pos = data.draw(st.integers(0, 400))
        ch = data.draw(st.sampled_from(list('0aAf" :,{}\n.Z9')))
        item["entry"] = _flip(item["entry"], pos, ch)
    elif what == "drop":
        del doc["entries"][k]
        if not doc["entries"]:
            return
    elif what == "dup":
        doc["entries"].insert(k, copy.deepcopy(item))
    elif what == "swap":
        j = data.draw(st.integers(0, n - 1))
        doc["entries"][k], doc["entries"][j] = doc["entries"][j], doc["entries"][k]
    elif what == "index":
        item["index"] = data.draw(st.integers(-1, 12))
    elif what == "proof":
        proof = item.get("inclusion_proof") or (doc.get("range") or {}).get("proof") or []
        if proof:
            i = data.draw(st.integers(0, len(proof) - 1))
            if data.draw(st.booleans()):
                del proof[i]
            else:
                proof[i] = base64.b64encode(bytes(32)).decode()
    elif what == "range" and "range" in doc:
        doc["range"][data.draw(st.sampled_from(["start", "end"]))] += data.draw(
            st.sampled_from([-1, 1])
        )
    elif what == "field":
        item[data.draw(st.sampled_from(["inclusion_proof", "note"]))] = []
    assert ours(doc, VKEY) == theirs(doc, VKEY), what
