"""RFC 9162 (RFC 6962) Merkle tree hashing, proofs and their verification.

Why our own module: the hashing and proof shapes must be byte-compatible with Certificate
Transparency so that an outside auditor's independent verifier accepts our proofs, and the
proof *generation* must read only O(log n) stored nodes so it never rescans the log.

Storage model: a node is identified by ``(level, index)`` and is the hash of the perfect
(complete) subtree over leaves ``[index * 2**level, (index + 1) * 2**level)``. Perfect nodes
never change once written, so they are persisted as leaves are appended (see
:class:`CompactRange`). Every subtree the RFC recursion asks for has its left edge aligned, so
its hash is a right fold over at most log2(n) perfect nodes. Proof generation is split into a
*plan* (which perfect nodes are needed: a pure function of the sizes) and an *assembly* (fold
the fetched hashes), so a database-backed store answers a whole proof with one query.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""(level, index) of a perfect subtree; level 0 is a leaf hash."""


class ProofError(ValueError):
    """A proof or its parameters do not verify; the message says what is wrong."""


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d) — the leaf domain prefix stops second pre-images."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2), where RFC 9162 splits."""
    if n < 2:
        raise ValueError(f"cannot split a tree of size {n}")
    return 1 << ((n - 1).bit_length() - 1)


def perfect_cover(lo: int, hi: int) -> list[NodeId]:
    """Perfect nodes covering [lo, hi), largest first, for a left-aligned range.

    The RFC recursion only asks for MTH(D[lo:hi]) where lo is a multiple of a power of two
    >= hi - lo; such a range decomposes along the binary expansion of its length.
    """
    size = hi - lo
    if size <= 0:
        raise ValueError(f"empty range [{lo}, {hi})")
    out: list[NodeId] = []
    pos = lo
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            if pos % (1 << level):
                raise ValueError(f"range [{lo}, {hi}) is not left-aligned")
            out.append((level, pos >> level))
            pos += 1 << level
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a left-aligned range from its perfect cover (largest first): a right fold."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


# --- proof plans: which subtrees, as ranges, in RFC 9162 order -------------------------------


def _path(m: int, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    """RFC 9162 2.1.3.1 PATH(m, D[lo:hi]) as subtree ranges, deepest first."""
    while hi - lo > 1:
        k = split_point(hi - lo)
        if m < k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            m -= k
            lo += k
    out.reverse()


def _subproof(m: int, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[lo:hi], true) as subtree ranges."""
    start_of_tree = True
    tail: list[tuple[int, int]] = []
    while True:
        n = hi - lo
        if m == n:
            if not start_of_tree:
                tail.append((lo, hi))
            break
        k = split_point(n)
        if m <= k:
            tail.append((lo + k, hi))
            hi = lo + k
        else:
            tail.append((lo, lo + k))
            m -= k
            lo += k
            start_of_tree = False
    out.extend(reversed(tail))


@dataclass(frozen=True)
class ProofPlan:
    """The subtree ranges a proof is made of; resolve with any node store."""

    ranges: tuple[tuple[int, int], ...]

    def node_ids(self) -> list[NodeId]:
        seen: dict[NodeId, None] = {}
        for lo, hi in self.ranges:
            for nid in perfect_cover(lo, hi):
                seen[nid] = None
        return list(seen)

    def assemble(self, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
        return [fold([nodes[nid] for nid in perfect_cover(lo, hi)]) for lo, hi in self.ranges]


def inclusion_plan(index: int, size: int) -> ProofPlan:
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    out: list[tuple[int, int]] = []
    _path(index, 0, size, out)
    return ProofPlan(tuple(out))


def consistency_plan(old_size: int, new_size: int) -> ProofPlan:
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return ProofPlan(())
    out: list[tuple[int, int]] = []
    _subproof(old_size, 0, new_size, out)
    return ProofPlan(tuple(out))


def root_plan(size: int) -> ProofPlan:
    return ProofPlan(((0, size),) if size else ())


# --- node stores ----------------------------------------------------------------------------


class NodeReader(Protocol):
    def get_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]: ...


class MemoryTree:
    """An in-memory log: per-level lists of perfect-node hashes, filled on append.

    Used by tests, the offline checker and benchmarks; the service persists the same nodes.
    """

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append_leaf_hash(self, h: bytes) -> None:
        level = 0
        cur = h
        while True:
            row = self.levels[level]
            row.append(cur)
            if len(row) % 2:
                return
            cur = node_hash(row[-2], cur)
            level += 1
            if len(self.levels) == level:
                self.levels.append([])

    def append(self, entry: bytes) -> None:
        self.append_leaf_hash(leaf_hash(entry))

    def get_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        try:
            return {(lv, ix): self.levels[lv][ix] for lv, ix in ids}
        except IndexError as exc:
            raise ProofError(f"node missing from the tree of size {self.size}") from exc

    def root(self, size: int | None = None) -> bytes:
        return tree_root(self, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self, index, self.size if size is None else size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_proof(self, old_size, self.size if new_size is None else new_size)


def resolve(store: NodeReader, plan: ProofPlan) -> list[bytes]:
    return plan.assemble(store.get_nodes(plan.node_ids()))


def tree_root(store: NodeReader, size: int) -> bytes:
    return resolve(store, root_plan(size))[0] if size else EMPTY_ROOT


def inclusion_proof(store: NodeReader, index: int, size: int) -> list[bytes]:
    return resolve(store, inclusion_plan(index, size))


def consistency_proof(store: NodeReader, old_size: int, new_size: int) -> list[bytes]:
    return resolve(store, consistency_plan(old_size, new_size))


class CompactRange:
    """The right frontier of the tree: what an appender keeps to hash the next leaves.

    ``append`` returns every perfect node that became complete, to be persisted with the
    entry in the same transaction; the root of any size is then O(log n) lookups away.
    """

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = ()) -> None:
        if len(frontier) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} nodes")
        self.size = size
        self.frontier = list(frontier)

    @staticmethod
    def frontier_ids(size: int) -> list[NodeId]:
        return perfect_cover(0, size) if size else []

    @classmethod
    def load(cls, store: NodeReader, size: int) -> CompactRange:
        ids = cls.frontier_ids(size)
        nodes = store.get_nodes(ids)
        return cls(size, [nodes[i] for i in ids])

    def append(self, lh: bytes) -> list[tuple[int, int, bytes]]:
        index = self.size
        made = [(0, index, lh)]
        cur = lh
        level = 0
        while index >> level & 1:
            cur = node_hash(self.frontier.pop(), cur)
            level += 1
            made.append((level, index >> level, cur))
        self.frontier.append(cur)
        self.size += 1
        return made

    def root(self) -> bytes:
        return fold(self.frontier) if self.frontier else EMPTY_ROOT


def root_of_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    cr = CompactRange()
    for h in leaf_hashes:
        cr.append(h)
    return cr.root()


# --- verification: RFC 9162 2.1.3.2 and 2.1.4.2, literally ----------------------------------


def _check_hash(name: str, h: bytes) -> None:
    if len(h) != HASH_SIZE:
        raise ProofError(f"{name} is {len(h)} bytes, a SHA-256 hash is {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2 steps 1-4: the root this proof implies for leaf hash ``leaf``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("leaf hash", leaf)
    fn, sn = index, size - 1
    r = leaf
    for i, p in enumerate(proof):
        _check_hash(f"inclusion proof element {i}", p)
        if sn == 0:
            raise ProofError(f"inclusion proof has {len(proof) - i} element(s) too many")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short for the tree size")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``leaf`` is at ``index`` in the tree of ``size`` with ``root``."""
    got = root_from_inclusion_proof(index, size, leaf, proof)
    if got != root:
        raise ProofError(
            f"inclusion proof for leaf {index} in tree size {size} gives root "
            f"{got.hex()}, expected {root.hex()}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless the tree of ``new_size`` extends the one of ``old_size``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"tree size went from {old_size} down to {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        return
    # RFC 9162 2.1.4.2.
    if not proof:
        raise ProofError("consistency proof is empty")
    for i, p in enumerate(proof):
        _check_hash(f"consistency proof element {i}", p)
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof has too many elements")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short for the new tree size")
    if fr != old_root:
        raise ProofError(
            f"consistency proof gives old root {fr.hex()} for size {old_size}, "
            f"expected {old_root.hex()}"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof gives new root {sr.hex()} for size {new_size}, "
            f"expected {new_root.hex()}"
        )


# --- range proofs: a contiguous run of entries against a root -------------------------------


def _range_walk(a: int, b: int, lo: int, hi: int, out: list[tuple[int, int]]) -> None:
    """Subtrees of the RFC recursion over [lo, hi) that lie wholly outside [a, b)."""
    if hi <= a or lo >= b:
        out.append((lo, hi))
        return
    if a <= lo and hi <= b:
        return
    k = split_point(hi - lo)
    _range_walk(a, b, lo, lo + k, out)
    _range_walk(a, b, lo + k, hi, out)


def range_plan(start: int, end: int, size: int) -> ProofPlan:
    """Hashes that, with leaves [start, end), recompute the root of the tree of ``size``.

    Not part of RFC 9162; it follows the RFC's own split so an exported run of entries is
    checked against a checkpoint with O(log n) extra hashes instead of one proof per entry.
    """
    if not 0 <= start < end <= size:
        raise ProofError(f"range [{start}, {end}) is not inside a tree of size {size}")
    out: list[tuple[int, int]] = []
    _range_walk(start, end, 0, size, out)
    return ProofPlan(tuple(out))


def range_proof(store: NodeReader, start: int, end: int, size: int) -> list[bytes]:
    return resolve(store, range_plan(start, end, size))


def root_from_range(
    start: int, end: int, size: int, leaves: Sequence[bytes], proof: Sequence[bytes]
) -> bytes:
    """The root implied by leaf hashes [start, end) and a range proof."""
    if len(leaves) != end - start:
        raise ProofError(f"range [{start}, {end}) needs {end - start} leaves, got {len(leaves)}")
    plan = range_plan(start, end, size)
    if len(proof) != len(plan.ranges):
        raise ProofError(f"range proof has {len(proof)} hashes, expected {len(plan.ranges)}")
    for i, p in enumerate(proof):
        _check_hash(f"range proof element {i}", p)
    supplied = iter(proof)

    def mth(lo: int, hi: int) -> bytes:
        if hi <= start or lo >= end:
            return next(supplied)
        if hi - lo == 1:
            return leaves[lo - start]
        k = split_point(hi - lo)
        left = mth(lo, lo + k)
        return node_hash(left, mth(lo + k, hi))

    return mth(0, size)
