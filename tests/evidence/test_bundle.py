"""Bundles are checked offline with only the bundle, a checkpoint and the public key."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cctv.evidence import bundle as b
from cctv.evidence import merkle
from cctv.evidence.chain import LogState
from cctv.evidence.checkpoint import Checkpoint, Signer
from cctv.evidence.entry import Witnessed

ORIGIN = "hnsoftedu.campus-cctv/audit"


def build(n: int) -> tuple[merkle.MemoryTree, list[bytes]]:
    st = LogState()
    tree = merkle.MemoryTree()
    datas = []
    for i in range(n):
        body = json.dumps(
            {
                "id": f"e{i}",
                "type": "access.footage_viewed",
                "actor": f"u{i % 3}",
                "data": {"camera_id": f"cam-{i}", "request_no": "DY-1"},
            }
        ).encode()
        a = st.append(Witnessed.event("cctv.access.viewed", f"e{i}", body))
        tree.append_leaf_hash(a.leaf_hash)
        datas.append(a.data)
    return tree, datas


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate("audit.hnsoftedu")


@pytest.fixture(scope="module")
def log(signer: Signer) -> tuple[merkle.MemoryTree, list[bytes], Checkpoint, str]:
    tree, datas = build(23)
    cp = Checkpoint(ORIGIN, tree.size, tree.root())
    return tree, datas, cp, cp.sign(signer)


def range_doc(log, signer: Signer, a: int, z: int) -> dict:  # type: ignore[no-untyped-def]
    tree, datas, cp, note = log
    entries = [(i, datas[i]) for i in range(a, z)]
    return b.range_bundle_from_store(tree, entries, cp, note, signer.verifier.vkey())


def evidence(log, signer: Signer, *at: int) -> dict:  # type: ignore[no-untyped-def]
    """An evidence pack of the log's entries at positions ``at``, signed by ``signer``."""
    tree, datas, cp, note = log
    return b.evidence_from_store(
        tree, [(i, datas[i]) for i in at], cp, note, signer.verifier.vkey()
    )


def test_range_export_checks_offline(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = b.loads(b.dumps(range_doc(log, signer, 5, 17)))
    rep = b.check_bundle(doc, trusted_key=signer.verifier.vkey())
    assert [e.index for e in rep.entries] == list(range(5, 17))
    assert rep.checkpoint.size == 23
    assert not rep.warnings
    assert "cameras=cam-5" in rep.entries[0].summary()


def test_without_trusted_key_it_warns(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    rep = b.check_bundle(range_doc(log, signer, 0, 23))
    assert rep.warnings and "no trusted key" in rep.warnings[0]


def test_evidence_pack_with_inclusion_proofs(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    tree, datas, cp, note = log
    doc = b.evidence_from_store(
        tree,
        [(2, datas[2]), (19, datas[19])],
        cp,
        note,
        signer.verifier.vkey(),
        description="拷贝授权 DY-1 证据包",
    )
    rep = b.check_bundle(doc, trusted_key=signer.verifier.vkey())
    assert [(e.index, e.how) for e in rep.entries] == [
        (2, "inclusion proof"),
        (19, "inclusion proof"),
    ]


def _mutate_entry(doc: dict, k: int, old: bytes, new: bytes) -> dict:
    d = copy.deepcopy(doc)
    raw = base64.b64decode(d["entries"][k]["entry"])
    d["entries"][k]["entry"] = base64.b64encode(raw.replace(old, new)).decode()
    return d


def test_changed_entry_fails(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = range_doc(log, signer, 5, 17)
    with pytest.raises(b.BundleError, match=r"chain|do not belong"):
        b.check_bundle(_mutate_entry(doc, 3, b'"u2"', b'"u1"'), signer.verifier.vkey())
    last = _mutate_entry(doc, 11, b"cam-16", b"cam-99")
    with pytest.raises(b.BundleError, match="do not belong"):
        b.check_bundle(last, signer.verifier.vkey())


def test_removed_or_reordered_entry_fails(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = range_doc(log, signer, 5, 17)
    d = copy.deepcopy(doc)
    del d["entries"][4]
    with pytest.raises(b.BundleError, match="lacks entry 9"):
        b.check_bundle(d, signer.verifier.vkey())
    d = copy.deepcopy(doc)
    d["entries"][2], d["entries"][3] = d["entries"][3], d["entries"][2]
    d["entries"][2]["index"], d["entries"][3]["index"] = 7, 8
    with pytest.raises(b.BundleError, match="say it is entry"):
        b.check_bundle(d, signer.verifier.vkey())


def test_forged_checkpoint_or_wrong_key_fails(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = range_doc(log, signer, 0, 4)
    other = Signer.generate("audit.hnsoftedu")
    with pytest.raises(b.BundleError, match="checkpoint"):
        b.check_bundle(doc, other.verifier.vkey())
    d = copy.deepcopy(doc)
    d["checkpoint"] = d["checkpoint"].replace("\n23\n", "\n24\n")
    with pytest.raises(b.BundleError, match="checkpoint"):
        b.check_bundle(d, signer.verifier.vkey())


def test_tampered_inclusion_proof_fails(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = evidence(log, signer, 7)
    doc["entries"][0]["inclusion_proof"][1] = base64.b64encode(bytes(32)).decode()
    with pytest.raises(b.BundleError, match="entry 7"):
        b.check_bundle(doc, signer.verifier.vkey())
    del doc["entries"][0]["inclusion_proof"]
    with pytest.raises(b.BundleError, match="no proof"):
        b.check_bundle(doc, signer.verifier.vkey())


# --- issue 13, defect 1: every item bound to exactly one proven leaf -------------------------


def _forged_copy(doc: dict, k: int, old: bytes, new: bytes) -> dict:
    """A second copy of item k, same index, content rewritten (header stays canonical)."""
    d = copy.deepcopy(doc)
    forged = _mutate_entry(d, k, old, new)["entries"][k]
    forged.pop("inclusion_proof", None)
    d["entries"].insert(k + 1, forged)
    return d


def test_a_second_copy_of_a_range_entry_fails(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = range_doc(log, signer, 5, 17)
    forged = _forged_copy(doc, 3, b'"u2"', b'"u1"')
    with pytest.raises(b.BundleError, match="entry 8 appears twice"):
        b.check_bundle(forged, signer.verifier.vkey())


def test_evidence_pack_with_a_rewritten_actor_copy_fails(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = evidence(log, signer, 2, 19)
    forged = _forged_copy(doc, 0, b'"u2"', b'"u0"')
    with pytest.raises(b.BundleError, match="entry 2 appears twice"):
        b.check_bundle(forged, signer.verifier.vkey())
    # the copy carrying the genuine proof does not make it any better
    forged["entries"][1]["inclusion_proof"] = doc["entries"][0]["inclusion_proof"]
    with pytest.raises(b.BundleError, match="entry 2 appears twice"):
        b.check_bundle(forged, signer.verifier.vkey())


def test_items_out_of_order_or_with_unknown_fields_fail(log, signer: Signer) -> None:  # type: ignore[no-untyped-def]
    doc = evidence(log, signer, 2, 19)
    d = copy.deepcopy(doc)
    d["entries"].reverse()
    with pytest.raises(b.BundleError, match="log order"):
        b.check_bundle(d, signer.verifier.vkey())
    d = copy.deepcopy(doc)
    d["entries"][0]["actor"] = "someone-else"
    with pytest.raises(b.BundleError, match="unknown field"):
        b.check_bundle(d, signer.verifier.vkey())
    d = copy.deepcopy(doc)
    d["entries"][0]["index"] = True
    with pytest.raises(b.BundleError, match="index True"):
        b.check_bundle(d, signer.verifier.vkey())


def test_non_canonical_prev_or_time_is_refused() -> None:
    from cctv.evidence.entry import Entry, EntryError

    e = Witnessed.event("cctv.x", "e", b"{}").at(1, bytes(range(32)), "2026-11-25T08:00:00.000000Z")
    data = e.encode()
    assert Entry.decode(data) == e
    upper = data.replace(e.prev.hex().encode(), e.prev.hex().upper().encode())
    with pytest.raises(EntryError, match="lowercase"):
        Entry.decode(upper)
    short = data.replace(b"08:00:00.000000Z", b"08:00:00Z")
    with pytest.raises(EntryError, match="microseconds"):
        Entry.decode(short)


# --- bad input: a clear BundleError, never a crash ------------------------------------------

_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_mutated_bundle_fails_cleanly(data: st.DataObject) -> None:
    tree, datas = build(9)
    s = Signer.generate("audit.fuzz")
    cp = Checkpoint(ORIGIN, tree.size, tree.root())
    note = cp.sign(s)
    doc = (
        b.range_bundle_from_store(tree, [(i, datas[i]) for i in range(2, 6)], cp, note, "")
        if data.draw(st.booleans())
        else b.evidence_from_store(tree, [(1, datas[1]), (7, datas[7])], cp, note, "")
    )
    doc["log"]["verifier_key"] = s.verifier.vkey()
    paths: list[tuple[object, ...]] = [("format",), ("log",), ("log", "origin"), ("checkpoint",)]
    paths += [("entries",), ("entries", 0), ("entries", 0, "index"), ("entries", 0, "entry")]
    paths += [("entries", 1, "inclusion_proof"), ("range",), ("range", "start"), ("range", "proof")]
    path = data.draw(st.sampled_from(paths))
    target: object = doc
    for k in path[:-1]:
        if isinstance(target, dict) and k in target:
            target = target[k]
        elif isinstance(target, list) and isinstance(k, int) and k < len(target):
            target = target[k]
        else:
            return
    junk = data.draw(_JUNK)
    if isinstance(target, dict):
        target[path[-1]] = junk
    elif isinstance(target, list) and isinstance(path[-1], int) and path[-1] < len(target):
        target[path[-1]] = junk
    try:
        b.check_bundle(doc, s.verifier.vkey())
    except b.BundleError:
        pass
