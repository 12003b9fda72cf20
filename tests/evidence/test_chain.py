"""Entries, the hash chain and the row verifier, without a database.

The same tampering the PostgreSQL tests do as a superuser is done here on the row list, so
the classification logic is pinned down fast and exhaustively; tests/audit/test_audit_store.py
repeats each kind against real rows.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cctv.evidence import merkle
from cctv.evidence.chain import LogState, Row, verify_rows
from cctv.evidence.checkpoint import Checkpoint, Signer
from cctv.evidence.entry import (
    ZERO_HASH,
    Entry,
    EntryError,
    IndexFields,
    Witnessed,
    index_fields,
)


def envelope(i: int, **data: object) -> bytes:
    env = {
        "id": f"evt-{i:04d}",
        "type": "camera.status_changed",
        "time": "2026-11-25T06:00:00+08:00",
        "source": "health",
        "key": f"cam-{i % 5}",
        "actor": "system",
        "correlation_id": None,
        "schema_version": 1,
        "data": {"camera_id": f"cam-{i % 5}", "状态": "离线", **data},
    }
    return json.dumps(env, ensure_ascii=False).encode()


def make_log(n: int) -> tuple[LogState, list[Row], list[tuple[int, bytes]]]:
    st_ = LogState()
    rows: list[Row] = []
    heads: list[tuple[int, bytes]] = []
    for i in range(n):
        a = st_.append(
            Witnessed.event(f"cctv.camera.status.cam-{i % 5}", f"evt-{i:04d}", envelope(i)),
            recorded_at="2026-11-25T00:00:00.000000Z",
        )
        rows.append(Row(i, a.data, a.leaf_hash, index_fields(a.entry)))
        if i % 4 == 3:
            heads.append((st_.size, st_.root()))
    return st_, rows, heads


def test_entry_round_trip_is_canonical() -> None:
    w = Witnessed.event("cctv.access.viewed", "e1", envelope(1))
    e = w.at(7, b"\x11" * 32, "2026-11-25T00:00:00.000000Z")
    data = e.encode()
    head = data.split(b"\n", 1)[0]
    assert head.startswith(b'{"at":"2026-11-25T00:00:00.000000Z","id":"e1","kind":"event"')
    assert Entry.decode(data) == e
    reordered_keys = json.dumps(json.loads(head)).encode() + b"\n" + e.payload
    with pytest.raises(EntryError, match="canonical"):
        Entry.decode(reordered_keys)
    with pytest.raises(EntryError, match="header"):
        Entry.decode(b"no newline")


def test_rejected_keeps_hash_subject_and_reason() -> None:
    raw = b"\xff\xfe not json at all" * 10_000
    w = Witnessed.rejected("cctv.camera.status.x", raw, "invalid JSON")
    e = Entry.decode(w.at(0, ZERO_HASH, "2026-11-25T08:00:00.000000Z").encode())
    assert e.kind == "rejected"
    assert e.raw_len == len(raw)
    assert e.event_id == "sha256:" + e.raw_sha256  # type: ignore[operator]
    assert len(e.payload) == 64 * 1024
    assert index_fields(e) == IndexFields()


def test_index_fields_find_cameras_actor_and_request() -> None:
    body = json.dumps(
        {
            "id": "x",
            "type": "workflow.access_request.approved",
            "time": "2026-11-25T01:02:03Z",
            "actor": {"id": "u-logistics-head", "name": "后勤处长"},
            "data": {
                "request_no": "DY-2026-0042",
                "cameras": [{"camera_id": "cam-1"}, {"camera_id": "cam-2"}],
            },
        }
    ).encode()
    f = index_fields(
        Witnessed.event("cctv.workflow.access_request.approved", "x", body).at(
            0, ZERO_HASH, "2026-11-25T08:00:00.000000Z"
        )
    )
    assert f.event_type == "workflow.access_request.approved"
    assert f.actor == "u-logistics-head"
    assert f.camera_ids == ("cam-1", "cam-2")
    assert f.request_no == "DY-2026-0042"
    assert f.event_time is not None and f.event_time.hour == 1


def test_chain_links_each_entry_to_the_one_before() -> None:
    st_, rows, _ = make_log(5)
    prev = ZERO_HASH
    for r in rows:
        e = Entry.decode(r.data)
        assert e.prev == prev
        prev = merkle.leaf_hash(r.data)
    assert st_.last_leaf == prev


def test_intact_log_verifies_against_signed_checkpoints() -> None:
    st_, rows, heads = make_log(20)
    signer = Signer.generate("audit.test")
    cp = Checkpoint.open(Checkpoint("o", st_.size, st_.root()).sign(signer), signer.verifier)
    rep = verify_rows(rows, [cp], heads=heads, derive=index_fields)
    assert rep.ok, rep.findings
    assert rep.checkpoints_ok == [20]
    assert rep.root == st_.root()


N = 12


@pytest.fixture
def log() -> tuple[list[Row], list[Checkpoint], list[tuple[int, bytes]]]:
    st_, rows, heads = make_log(N)
    cp = Checkpoint("o", st_.size, st_.root())
    return rows, [cp], heads


def reseq(rows: list[Row]) -> list[Row]:
    return [dataclasses.replace(r, seq=i) for i, r in enumerate(rows)]


def forge(i: int, prev: bytes) -> Row:
    e = Witnessed.event("cctv.camera.status.cam-9", "forged", envelope(999)).at(
        i, prev, "2026-11-25T08:00:00.000000Z"
    )
    d = e.encode()
    return Row(i, d, merkle.leaf_hash(d), index_fields(e))


def test_changed_entry_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    r = rows[5]
    rows[5] = dataclasses.replace(r, data=r.data.replace("离线".encode(), "在线".encode()))
    f = verify_rows(rows, cps, heads=heads, derive=index_fields).first
    assert f is not None and (f.index, f.kind) == (5, "changed")


def test_changed_entry_with_recomputed_leaf_hash_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    data = rows[5].data.replace("离线".encode(), "在线".encode())
    rows[5] = dataclasses.replace(rows[5], data=data, leaf_hash=merkle.leaf_hash(data))
    f = verify_rows(rows, cps, heads=heads, derive=index_fields).first
    assert f is not None and (f.index, f.kind) == (5, "changed"), f


def test_changed_query_column_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    cols = dataclasses.replace(rows[3].columns, actor="someone-else")  # type: ignore[type-var]
    rows[3] = dataclasses.replace(rows[3], columns=cols)
    f = verify_rows(rows, cps, heads=heads, derive=index_fields).first
    assert f is not None and (f.index, f.kind) == (3, "changed")
    assert "actor" in f.detail


def test_changed_last_entry_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    r = rows[-1]
    rows[-1] = dataclasses.replace(r, data=r.data.replace(b"system", b"intrud"))
    f = verify_rows(rows, cps, heads=heads, derive=index_fields).first
    assert f is not None and (f.index, f.kind) == (N - 1, "changed")


def test_removed_entry_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    del rows[4]
    f = verify_rows(rows, cps, heads=heads).first
    assert f is not None and (f.index, f.kind) == (4, "removed")
    # Renumbering the seq column to hide the gap does not help.
    f2 = verify_rows(reseq(rows), cps, heads=heads).first
    assert f2 is not None and (f2.index, f2.kind) == (4, "removed")


def test_removed_run_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    del rows[2:6]
    f = verify_rows(rows, cps, heads=heads).first
    assert f is not None and (f.index, f.kind) == (2, "removed")
    assert "2..5" in f.detail


@pytest.mark.parametrize(("i", "j"), [(3, 7), (3, 4), (0, 11)])
def test_reordered_entries_are_named(log, i: int, j: int) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    rows[i], rows[j] = rows[j], rows[i]
    f = verify_rows(reseq(rows), cps, heads=heads).first
    assert f is not None and (f.index, f.kind) == (i, "reordered"), f


def test_inserted_row_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    prev = rows[4].leaf_hash
    assert prev is not None
    rows.insert(5, forge(5, prev))
    f = verify_rows(reseq(rows), cps, heads=heads).first
    assert f is not None and (f.index, f.kind) == (5, "inserted"), f


def test_inserted_careless_row_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    rows.insert(5, Row(5, b'{"v":1}\nhello', None, None))
    f = verify_rows(reseq(rows), cps, heads=heads).first
    assert f is not None and (f.index, f.kind) == (5, "inserted"), f


def test_row_appended_behind_the_services_back_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, _, heads = log
    last = rows[-1].leaf_hash
    assert last is not None
    rows.append(forge(N, last))
    f = verify_rows(rows, heads=heads).first
    assert f is not None and (f.index, f.kind) == (N, "inserted"), f


def test_truncated_log_is_named(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, heads = log
    f = verify_rows([], cps, heads=heads).first
    assert f is not None and (f.index, f.kind) == (0, "truncated")
    f = verify_rows(rows[:7], cps, heads=heads).first
    assert f is not None and (f.index, f.kind) == (7, "truncated")


def test_consistent_rewrite_is_caught_by_the_checkpoint(log) -> None:  # type: ignore[no-untyped-def]
    rows, cps, _ = log
    # The attacker rebuilds the whole chain from entry 6 on, with correct hashes.
    st_ = LogState()
    new_rows: list[Row] = []
    for i, r in enumerate(rows):
        e = Entry.decode(r.data)
        w = Witnessed(
            e.kind,
            e.subject,
            e.event_id,
            e.payload.replace("离线".encode(), "在线".encode()) if i == 6 else e.payload,
        )
        a = st_.append(w, recorded_at=e.recorded_at)
        new_rows.append(Row(i, a.data, a.leaf_hash, index_fields(a.entry)))
    rep = verify_rows(new_rows, cps, derive=index_fields)
    assert rep.first is not None and rep.first.kind == "checkpoint"
    assert "[0, 12)" in rep.first.detail


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_single_tamper_is_detected_at_its_position(data: st.DataObject) -> None:
    n = data.draw(st.integers(3, 30))
    _, rows, heads = make_log(n)
    st2 = LogState()
    for r in rows:
        st2.tree.append(merkle.leaf_hash(r.data))
    cps = [Checkpoint("o", n, st2.root())]
    kind = data.draw(st.sampled_from(["changed", "removed", "reordered", "inserted"]))
    i = data.draw(st.integers(0, n - 2))
    if kind == "changed":
        rows[i] = dataclasses.replace(rows[i], data=rows[i].data.replace(b"system", b"SYSTEM"))
    elif kind == "removed":
        del rows[i]
    elif kind == "reordered":
        j = data.draw(st.integers(i + 1, n - 1))
        rows[i], rows[j] = rows[j], rows[i]
    else:
        prev = rows[i - 1].leaf_hash if i else ZERO_HASH
        assert prev is not None
        rows.insert(i, forge(i, prev))
    f = verify_rows(reseq(rows), cps, heads=heads, derive=index_fields).first
    assert f is not None and (f.index, f.kind) == (i, kind), f


# --- issue 13, defects 3 and 4: locate from signed checkpoints; check stored nodes ----------


def _signed_log(
    n: int, every: int
) -> tuple[list[Row], list[Checkpoint], list[tuple[int, bytes]], dict[merkle.NodeId, bytes]]:
    """A log with signed checkpoints every ``every`` entries, heads and stored nodes (>= 4)."""
    st_ = LogState()
    rows: list[Row] = []
    cps: list[Checkpoint] = []
    heads: list[tuple[int, bytes]] = []
    nodes: dict[merkle.NodeId, bytes] = {}
    for i in range(n):
        a = st_.append(
            Witnessed.event("cctv.camera.status.cam-1", f"evt-{i:04d}", envelope(i)),
            recorded_at="2026-11-25T00:00:00.000000Z",
        )
        rows.append(Row(i, a.data, a.leaf_hash, index_fields(a.entry)))
        nodes.update({(lv, ix): h for lv, ix, h in a.nodes if lv >= 4})
        heads.append((st_.size, st_.root()))
        if st_.size % every == 0:
            cps.append(Checkpoint("o", st_.size, st_.root()))
            # as the writer does: the checkpoint's perfect cover, low levels included
            cover = merkle.CompactRange.frontier_ids(st_.size)
            nodes.update(zip(cover, st_.tree.frontier, strict=True))
    return rows, cps, heads, nodes


def _rewrite_from(
    rows: list[Row], k: int
) -> tuple[list[Row], list[tuple[int, bytes]], dict[merkle.NodeId, bytes]]:
    """The superuser's rewrite: entry k changed, chain, heads and nodes all recomputed."""
    st_ = LogState()
    out: list[Row] = []
    heads: list[tuple[int, bytes]] = []
    nodes: dict[merkle.NodeId, bytes] = {}
    for i, r in enumerate(rows):
        e = Entry.decode(r.data)
        payload = e.payload.replace(b'"system"', b'"mallory"') if i == k else e.payload
        a = st_.append(Witnessed(e.kind, e.subject, e.event_id, payload), e.recorded_at)
        out.append(Row(i, a.data, a.leaf_hash, index_fields(a.entry)))
        heads.append((st_.size, st_.root()))
        nodes.update({(lv, ix): h for lv, ix, h in a.nodes if lv >= 4})
    return out, heads, nodes


def test_rewrite_with_recomputed_heads_is_located_by_signed_checkpoints() -> None:
    rows, cps, _, nodes = _signed_log(300, 100)
    forged, forged_heads, forged_nodes = _rewrite_from(rows, 110)
    # Heads and nodes rewritten too: only the signed checkpoints at 100 (good) and 200 (bad)
    # say anything, and the report must not name a head's position.
    rep = verify_rows(forged, cps, heads=forged_heads, nodes=forged_nodes, node_min_level=4)
    assert rep.first is not None and rep.first.kind == "checkpoint", rep.findings
    assert rep.first.index == 100
    assert "[100, 200)" in rep.first.detail
    assert rep.checkpoints_ok == [100]
    # Nodes left as the writer stored them are authenticated by the signed root at 200 and
    # narrow the place down to the 16 entries holding entry 110.
    rep = verify_rows(forged, cps, heads=forged_heads, nodes=nodes, node_min_level=4)
    assert rep.first is not None and rep.first.kind == "checkpoint"
    assert rep.first.index == 100 and "[100, 112)" in rep.first.detail, rep.first


def test_altered_stored_node_is_named_and_entries_are_not_blamed() -> None:
    rows, cps, heads, nodes = _signed_log(100, 50)
    assert verify_rows(rows, cps, heads=heads, nodes=nodes, node_min_level=4).ok
    bad = dict(nodes)
    bad[(5, 1)] = bytes(32)
    rep = verify_rows(rows, cps, heads=heads, nodes=bad, node_min_level=4)
    assert [f.kind for f in rep.findings] == ["node"], rep.findings
    assert "level 5, index 1" in rep.findings[0].detail
    assert "[32, 64)" in rep.findings[0].detail
    assert rep.checkpoints_ok == [50, 100]
    missing = dict(nodes)
    del missing[(4, 3)]
    rep = verify_rows(rows, cps, heads=heads, nodes=missing, node_min_level=4)
    assert rep.first is not None and rep.first.kind == "node" and "missing" in rep.first.detail
