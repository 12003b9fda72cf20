"""The published vectors (docs/audit-vectors.json) are what this code produces, and every
bundle in them gets the verdict the file states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cctv.evidence import bundle, merkle, vectors
from cctv.evidence.checkpoint import Checkpoint, Verifier

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "audit-vectors.json"
DOC = json.loads(PUBLISHED.read_text(encoding="utf-8"))


def test_published_file_is_current() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == vectors.dumps(), (
        "regenerate: python -m cctv.evidence.vectors > docs/audit-vectors.json"
    )


def test_hashes_roots_and_checkpoint() -> None:
    import base64

    entries = [base64.b64decode(e) for e in DOC["entries"]]
    assert [merkle.leaf_hash(e).hex() for e in entries] == DOC["leaf_hashes"]
    leaves = [merkle.leaf_hash(e) for e in entries]
    assert [merkle.root_of_leaves(leaves[:n]).hex() for n in range(len(leaves) + 1)] == DOC["roots"]
    v = Verifier.from_vkey(DOC["verifier_key"])
    assert v.fingerprint() == DOC["fingerprint"]
    cp = Checkpoint.open(DOC["checkpoint"], v, origin=DOC["origin"])
    assert cp.root_hash.hex() == DOC["roots"][-1]


@pytest.mark.parametrize("case", DOC["bundles"], ids=[c["name"] for c in DOC["bundles"]])
def test_each_bundle_gets_its_stated_verdict(case: dict) -> None:  # type: ignore[type-arg]
    if case["expect"] == "pass":
        bundle.check_bundle(case["bundle"], DOC["verifier_key"])
    else:
        with pytest.raises(bundle.BundleError, match=case["reason"].replace("[", r"\[")):
            bundle.check_bundle(case["bundle"], DOC["verifier_key"])
