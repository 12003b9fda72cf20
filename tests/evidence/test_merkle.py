"""Known-answer and property tests for the RFC 9162 / RFC 6962 Merkle tree.

Known answers come from the published RFC 6962 test vectors of the transparency-dev project:
- leaves, node hashes and roots: github.com/transparency-dev/merkle, testonly/constants.go
  (LeafInputs, NodeHashes, RootHashes, EmptyRootHash);
- inclusion and consistency proofs: github.com/transparency-dev/merkle, proof/verify_test.go
  (inclusionProofs with 1-based leaf numbers, consistencyProofs, roots); the same vectors
  appear in google/certificate-transparency-go merkletree/merkle_verifier_test.go.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cctv.evidence import merkle as m

LEAF_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]

# Root hashes for tree sizes 0..8 (testonly/constants.go RootHashes()).
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# NodeHashes()[level][index].
NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

# (1-based leaf, tree size, proof) from proof/verify_test.go inclusionProofs.
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (size1, size2, proof) from proof/verify_test.go consistencyProofs.
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def h(x: str) -> bytes:
    return bytes.fromhex(x)


@pytest.fixture(scope="module")
def tree8() -> m.MemoryTree:
    t = m.MemoryTree()
    for leaf in LEAF_INPUTS:
        t.append(h(leaf))
    return t


def test_empty_root_is_sha256_of_nothing() -> None:
    assert m.MemoryTree().root() == h(ROOTS[0])
    assert m.CompactRange().root() == h(ROOTS[0])


def test_node_hashes_match_vectors(tree8: m.MemoryTree) -> None:
    for level, row in enumerate(NODE_HASHES):
        assert [x.hex() for x in tree8.levels[level]] == row


@pytest.mark.parametrize("size", range(9))
def test_roots_match_vectors(tree8: m.MemoryTree, size: int) -> None:
    assert tree8.root(size) == h(ROOTS[size])
    assert m.root_of_leaves(m.leaf_hash(h(x)) for x in LEAF_INPUTS[:size]) == h(ROOTS[size])


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_inclusion_vectors(tree8: m.MemoryTree, leaf: int, size: int, proof: list[str]) -> None:
    got = tree8.inclusion_proof(leaf - 1, size)
    assert [x.hex() for x in got] == proof
    lh = m.leaf_hash(h(LEAF_INPUTS[leaf - 1]))
    m.verify_inclusion(leaf - 1, size, lh, [h(p) for p in proof], h(ROOTS[size]))


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_consistency_vectors(tree8: m.MemoryTree, size1: int, size2: int, proof: list[str]) -> None:
    assert [x.hex() for x in tree8.consistency_proof(size1, size2)] == proof
    m.verify_consistency(size1, size2, h(ROOTS[size1]), h(ROOTS[size2]), [h(p) for p in proof])


@pytest.mark.parametrize(("leaf", "size", "proof"), [v for v in INCLUSION if v[2]])
def test_corrupted_inclusion_proofs_fail(leaf: int, size: int, proof: list[str]) -> None:
    """The corruptions transparency-dev's verifierCheck applies must all be rejected."""
    idx = leaf - 1
    lh = m.leaf_hash(h(LEAF_INPUTS[idx]))
    root = h(ROOTS[size])
    p = [h(x) for x in proof]
    some = h("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (idx - 1, size, lh, p, root),
        (idx + 1, size, lh, p, root),
        (idx ^ 2, size, lh, p, root),
        (idx, size * 2, lh, p, root),
        (idx, size // 2, lh, p, root),
        (idx, size, m.leaf_hash(b"WrongLeaf"), p, root),
        (idx, size, lh, p, h(ROOTS[0])),
        (idx, size, lh, p, some),
        (idx, size, lh, [*p, root], root),
        (idx, size, lh, [root, *p], root),
        (idx, size, lh, p[:-1], root),
    ]
    for i in range(len(p)):
        bad = list(p)
        bad[i] = bytes([bad[i][0] ^ 8]) + bad[i][1:]
        probes.append((idx, size, lh, bad, root))
    if len(p) > 1:
        probes.append((idx, size, lh, [p[0], some, *p[1:]], root))
    for probe in probes:
        with pytest.raises(m.ProofError):
            m.verify_inclusion(*probe)


@pytest.mark.parametrize(("size1", "size2", "proof"), [v for v in CONSISTENCY if v[2]])
def test_corrupted_consistency_proofs_fail(size1: int, size2: int, proof: list[str]) -> None:
    r1, r2 = h(ROOTS[size1]), h(ROOTS[size2])
    p = [h(x) for x in proof]
    probes = [
        (size1 - 1, size2, r1, r2, p),
        (size1 + 1, size2, r1, r2, p),
        (size1 ^ 2, size2, r1, r2, p),
        (size1, size2 * 2, r1, r2, p),
        (size1, size2 // 2, r1, r2, p),
        (size1, size2, m.leaf_hash(b"WrongRoot"), r2, p),
        (size1, size2, r1, m.leaf_hash(b"WrongRoot"), p),
        (size1, size2, r2, r1, p),
        (size1, size2, r1, r2, []),
        (size1, size2, r1, r2, [*p, r1]),
        (size1, size2, r1, r2, [*p, r2]),
        (size1, size2, r1, r2, [r1, *p]),
        (size1, size2, r1, r2, [r2, *p]),
        (size1, size2, r1, r2, [p[0], *p]),
        (size1, size2, r1, r2, p[:-1]),
    ]
    for i in range(len(p)):
        bad = list(p)
        bad[i] = bytes([bad[i][0] ^ 16]) + bad[i][1:]
        probes.append((size1, size2, r1, r2, bad))
    for probe in probes:
        if probe[0] < 0 or probe[0] > probe[1]:
            continue
        with pytest.raises(m.ProofError):
            m.verify_consistency(*probe)


def test_single_entry_and_edge_cases() -> None:
    lh = m.leaf_hash(b"data")
    m.verify_inclusion(0, 1, lh, [], lh)
    with pytest.raises(m.ProofError, match="outside"):
        m.verify_inclusion(1, 1, lh, [], lh)
    with pytest.raises(m.ProofError, match="bytes"):
        m.verify_inclusion(0, 1, b"", [], lh)
    m.verify_consistency(0, 5, m.EMPTY_ROOT, lh, [])
    with pytest.raises(m.ProofError, match="down"):
        m.verify_consistency(2, 1, lh, lh, [])
    with pytest.raises(m.ProofError, match="different roots"):
        m.verify_consistency(3, 3, lh, m.EMPTY_ROOT, [])


def build(entries: list[bytes]) -> m.MemoryTree:
    t = m.MemoryTree()
    for e in entries:
        t.append(e)
    return t


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 definition, straight recursion, as an independent oracle."""
    if not leaves:
        return m.EMPTY_ROOT
    if len(leaves) == 1:
        return m.leaf_hash(leaves[0])
    k = m.split_point(len(leaves))
    return m.node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


entries_st = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(entries_st)
def test_every_size_root_matches_the_rfc_definition(entries: list[bytes]) -> None:
    t = build(entries)
    cr = m.CompactRange()
    for n in range(1, len(entries) + 1):
        cr.append(m.leaf_hash(entries[n - 1]))
        assert t.root(n) == reference_mth(entries[:n]) == cr.root()


@settings(max_examples=40, deadline=None)
@given(entries_st)
def test_every_pair_of_sizes_is_consistent(entries: list[bytes]) -> None:
    t = build(entries)
    n = len(entries)
    for a in range(n + 1):
        for b in range(a, n + 1):
            m.verify_consistency(a, b, t.root(a), t.root(b), t.consistency_proof(a, b))


@settings(max_examples=40, deadline=None)
@given(entries_st)
def test_every_entry_is_included_at_every_size(entries: list[bytes]) -> None:
    t = build(entries)
    for size in range(1, len(entries) + 1):
        root = t.root(size)
        for i in range(size):
            m.verify_inclusion(i, size, m.leaf_hash(entries[i]), t.inclusion_proof(i, size), root)


@settings(max_examples=80, deadline=None)
@given(entries_st, st.data())
def test_a_changed_byte_breaks_the_proofs(entries: list[bytes], data: st.DataObject) -> None:
    t = build(entries)
    n = len(entries)
    i = data.draw(st.integers(0, n - 1))
    root = t.root()
    proof = t.inclusion_proof(i)
    # Change a byte of the entry: the leaf no longer verifies.
    e = entries[i] or b"\x00"
    pos = data.draw(st.integers(0, len(e) - 1))
    changed = e[:pos] + bytes([e[pos] ^ 0x01]) + e[pos + 1 :]
    if entries[i] == b"":
        changed = b"\x00"
    with pytest.raises(m.ProofError):
        m.verify_inclusion(i, n, m.leaf_hash(changed), proof, root)
    # Change a byte of the proof: it no longer verifies.
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        k = data.draw(st.integers(0, 31))
        bad = list(proof)
        bad[j] = bad[j][:k] + bytes([bad[j][k] ^ 0x80]) + bad[j][k + 1 :]
        with pytest.raises(m.ProofError):
            m.verify_inclusion(i, n, m.leaf_hash(entries[i]), bad, root)
    # A consistency proof against a tree with one changed entry fails.
    a = data.draw(st.integers(1, n))
    if a < n and i < a:
        other = build([*entries[:i], changed, *entries[i + 1 :]])
        with pytest.raises(m.ProofError):
            m.verify_consistency(a, n, other.root(a), root, t.consistency_proof(a))


@settings(max_examples=60, deadline=None)
@given(entries_st, st.data())
def test_range_proofs(entries: list[bytes], data: st.DataObject) -> None:
    t = build(entries)
    n = len(entries)
    a = data.draw(st.integers(0, n - 1))
    b = data.draw(st.integers(a + 1, n))
    leaves = [m.leaf_hash(e) for e in entries[a:b]]
    proof = m.range_proof(t, a, b, n)
    assert m.root_from_range(a, b, n, leaves, proof) == t.root()
    bad = [*leaves]
    j = data.draw(st.integers(0, len(bad) - 1))
    bad[j] = m.leaf_hash(b"forged")
    assert m.root_from_range(a, b, n, bad, proof) != t.root()
    with pytest.raises(m.ProofError):
        m.root_from_range(a, b, n, leaves, [*proof, t.root()])


def test_compact_range_reload_continues_the_same_tree() -> None:
    entries = [bytes([i]) for i in range(37)]
    t = build(entries[:21])
    cr = m.CompactRange.load(t, 21)
    for e in entries[21:]:
        made = cr.append(m.leaf_hash(e))
        t.append(e)
        for level, index, value in made:
            assert t.levels[level][index] == value
    assert cr.root() == reference_mth(entries)


def test_proof_plans_touch_only_logarithmically_many_nodes() -> None:
    n = 1_000_003
    for i in (0, 1, 499_999, n - 1):
        assert len(m.inclusion_plan(i, n).node_ids()) <= 2 * n.bit_length()
    for a in (1, 7, 524_288, n - 1):
        assert len(m.consistency_plan(a, n).node_ids()) <= 2 * n.bit_length()


# proof/verify_test.go TestVerifyConsistency: (size1, size2, root1, root2, proof, want error).
_R1, _R2 = b"don't care 1", b"don't care 2"
_SOME = h("abacaba000000000000000000000000000000000000000000060061e00123456")
_EMPTY = h(ROOTS[0])


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "bad"),
    [
        (0, 0, _R1, _R2, [], True),
        (1, 1, _R1, _R2, [], True),
        (0, 0, _R1, _R1, [], False),
        (0, 1, _R1, _R2, [], False),
        (1, 1, _R2, _R2, [], False),
        (1, 0, _R1, _R2, [], True),
        (2, 1, _R1, _R2, [], True),
        (1, 2, _R1, _R2, [], True),
        (0, 0, _EMPTY, _R2, [], True),
        (1, 1, _EMPTY, _R2, [], True),
        (0, 0, _EMPTY, _EMPTY, [_EMPTY], True),
        (0, 1, _EMPTY, _EMPTY, [_EMPTY], True),
        (1, 1, _EMPTY, _EMPTY, [_EMPTY], True),
    ],
)
def test_consistency_edge_table(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], bad: bool
) -> None:
    if bad:
        with pytest.raises(m.ProofError):
            m.verify_consistency(size1, size2, root1, root2, proof)
    else:
        m.verify_consistency(size1, size2, root1, root2, proof)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_probes_with_an_empty_proof_fail(index: int, size: int) -> None:
    """proof/verify_test.go TestVerifyInclusion: invalid leaf/root pairs never verify."""
    for leaf, root in ((_SOME, b""), (b"", _EMPTY), (_SOME, _EMPTY)):
        with pytest.raises(m.ProofError):
            m.verify_inclusion(index, size, leaf, [], root)
