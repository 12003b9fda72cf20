"""The hash chain and Merkle tree over audit entries: appending, and verifying stored rows.

Why both a chain and a tree: the tree gives compact proofs against signed checkpoints (what
outsiders check); the chain — each entry holds its predecessor's leaf hash — lets ``verify``
say *where* and *how* stored rows went wrong (changed, removed, reordered, inserted,
truncated), not just that a root no longer matches. A superuser can edit rows; they cannot
re-sign checkpoints, and editing one entry leaves the chain of the next one pointing at the
original, so the first bad entry is named from the rows themselves.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cctv.evidence import merkle
from cctv.evidence.checkpoint import Checkpoint
from cctv.evidence.entry import ZERO_HASH, Entry, EntryError, IndexFields, Witnessed, utc_now

FindingKind = Literal[
    "changed", "removed", "reordered", "inserted", "truncated", "checkpoint", "node", "head"
]


@dataclass(frozen=True)
class Appended:
    """An entry with its position fixed, ready to store in one transaction with its nodes."""

    entry: Entry
    data: bytes
    leaf_hash: bytes
    nodes: list[tuple[int, int, bytes]]
    fields: IndexFields | None = None


class LogState:
    """What the single writer keeps in memory: next position, last leaf hash, tree frontier."""

    def __init__(
        self, size: int = 0, last_leaf: bytes = ZERO_HASH, frontier: Sequence[bytes] = ()
    ) -> None:
        self.tree = merkle.CompactRange(size, frontier)
        self.last_leaf = last_leaf

    @property
    def size(self) -> int:
        return self.tree.size

    def root(self) -> bytes:
        return self.tree.root()

    def append(self, item: Witnessed, recorded_at: str | None = None) -> Appended:
        entry = item.at(self.size, self.last_leaf, recorded_at or utc_now())
        data = entry.encode()
        lh = merkle.leaf_hash(data)
        nodes = self.tree.append(lh)
        self.last_leaf = lh
        return Appended(entry, data, lh, nodes, item.fields)

    def snapshot(self) -> tuple[int, bytes, list[bytes]]:
        return self.tree.size, self.last_leaf, list(self.tree.frontier)

    def restore(self, snap: tuple[int, bytes, list[bytes]]) -> None:
        """Undo appends whose transaction did not commit."""
        size, last, frontier = snap
        self.tree = merkle.CompactRange(size, frontier)
        self.last_leaf = last


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A stored row as read back: the ``seq`` column, the entry bytes, and what was stored
    beside them (the leaf hash written at append time and the query columns), if any."""

    seq: int
    data: bytes
    leaf_hash: bytes | None = None
    columns: IndexFields | None = None


@dataclass(frozen=True)
class Finding:
    index: int
    kind: FindingKind
    detail: str

    def __str__(self) -> str:
        return f"entry {self.index}: {self.kind} — {self.detail}"


@dataclass
class VerifyReport:
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    checkpoints_ok: list[int] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


@dataclass(slots=True)
class _Seen:
    pos: int
    row: Row
    h: bytes
    entry: Entry | None
    error: str | None


def _read(pos: int, row: Row, derive: Callable[[Entry], IndexFields] | None) -> _Seen:
    h = merkle.leaf_hash(row.data)
    try:
        e = Entry.decode(row.data, strict=False)
    except EntryError as exc:
        return _Seen(pos, row, h, None, f"unreadable entry bytes ({exc})")
    if row.leaf_hash is not None and row.leaf_hash != h:
        return _Seen(pos, row, h, e, "entry bytes do not hash to the leaf hash stored with them")
    if row.columns is not None and derive is not None:
        want = derive(e)
        if want != row.columns:
            names = [
                f
                for f in IndexFields.__dataclass_fields__
                if getattr(want, f) != getattr(row.columns, f)
            ]
            return _Seen(
                pos, row, h, e, f"query column(s) {', '.join(names)} disagree with the entry bytes"
            )
    return _Seen(pos, row, h, e, None)


class ChainVerifier:
    """Streams rows in ``seq`` order, recomputing chain and tree; checks signed checkpoints.

    ``feed`` rows one by one (so a million rows never sit in memory), then ``finish``. On the
    first anomaly the verifier keeps the rows after it (up to ``lookahead``) to tell how the
    log was altered, and stops checking roots: later checkpoints cannot match anyway.
    """

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint] = (),
        *,
        heads: Iterable[tuple[int, bytes]] = (),
        expected_size: int = 0,
        derive: Callable[[Entry], IndexFields] | None = None,
        nodes: Mapping[merkle.NodeId, bytes] | None = None,
        node_min_level: int = 1,
        lookback: int = 4096,
        lookahead: int = 200_000,
    ) -> None:
        cps = list(checkpoints)
        hs = list(heads)
        # Only signed checkpoints locate a rewrite: whoever rewrites rows can rewrite the
        # unsigned tree heads too (issue 13). Heads are compared, and a mismatch reported,
        # but they never vouch for a prefix of the log.
        self.expect = sorted(
            [(c.size, c.root_hash, True) for c in cps] + [(s, r, False) for s, r in hs],
            key=lambda x: (x[0], not x[2]),
        )
        self.last_head = max((s for s, _ in hs), default=None)
        self.expected_size = max([expected_size, *(x[0] for x in self.expect)])
        self.derive = derive
        self.tree = merkle.CompactRange()
        self.prev = ZERO_HASH
        self.recent: deque[_Seen] = deque(maxlen=lookback)
        self.lookahead = lookahead
        self.anomaly: list[_Seen] | None = None
        self._cp = 0
        self._last_ok = 0
        # Stored inner nodes (level >= node_min_level): each is compared with the node
        # recomputed from the entries; proofs and a restarted writer read them.
        self.stored = nodes
        self.node_min_level = node_min_level
        self.made: dict[merkle.NodeId, bytes] = {}
        self.bad_nodes: list[tuple[merkle.NodeId, str]] = []
        self.report = VerifyReport()
        self._check_checkpoints()

    def feed(self, row: Row) -> None:
        if self.anomaly is not None:
            if len(self.anomaly) < self.lookahead:
                pos = self.anomaly[-1].pos + 1
                self.anomaly.append(_read(pos, row, self.derive))
            return
        pos = self.tree.size
        s = _read(pos, row, self.derive)
        if (
            s.error is None
            and s.entry is not None
            and row.seq == pos
            and s.entry.seq == pos
            and s.entry.prev == self.prev
        ):
            made = self.tree.append(s.h)
            if self.stored is not None:
                self._compare_nodes(made)
            self.prev = s.h
            self.recent.append(s)
            if self._cp < len(self.expect) and self.expect[self._cp][0] <= pos + 1:
                self._check_checkpoints()
            return
        self.anomaly = [*self.recent, s]

    def feed_many(self, rows: Iterable[Row]) -> None:
        for r in rows:
            self.feed(r)

    def _compare_nodes(self, made: list[tuple[int, int, bytes]]) -> None:
        assert self.stored is not None
        for lv, ix, h in made:
            if lv < self.node_min_level:
                continue
            self.made[(lv, ix)] = h
            got = self.stored.get((lv, ix))
            if got != h:
                self.bad_nodes.append(((lv, ix), "missing" if got is None else "differs"))

    def _check_checkpoints(self) -> None:
        size = self.tree.size
        while self._cp < len(self.expect) and self.expect[self._cp][0] <= size:
            cp_size, cp_root, signed = self.expect[self._cp]
            self._cp += 1
            root = self.tree.root() if size else merkle.EMPTY_ROOT
            if cp_root == root:
                if signed:
                    self.report.checkpoints_ok.append(cp_size)
                    self._last_ok = cp_size
                continue
            if not signed:
                if not any(f.kind == "head" for f in self.report.findings):
                    self.report.findings.append(
                        Finding(
                            cp_size,
                            "head",
                            f"the unsigned tree head stored at size {cp_size} differs from the "
                            "root of the entries (a tree head is not evidence of which entries "
                            "changed; the signed checkpoints are)",
                        )
                    )
                continue
            if any(f.kind == "checkpoint" for f in self.report.findings):
                continue  # the first mismatch is the one that locates the rewrite
            lo, hi, how = self._last_ok, cp_size, ""
            narrowed = self._narrow(cp_size, cp_root)
            if narrowed is not None and narrowed[1] > lo:
                lo, hi = max(lo, narrowed[0]), min(hi, narrowed[1])
                how = (
                    "; located with the stored tree nodes, which the signed checkpoint "
                    "authenticates"
                )
            self.report.findings.append(
                Finding(
                    lo,
                    "checkpoint",
                    f"rows chain correctly but the root at size {cp_size} differs from the "
                    f"signed checkpoint: the first rewritten entry is in [{lo}, {hi}) "
                    f"(the last signed checkpoint that matches is at size {self._last_ok}{how}); "
                    "entries were rewritten together with their chain",
                )
            )

    def _narrow(self, size: int, root: bytes) -> tuple[int, int] | None:
        """Where the entries first differ from the signed tree, using stored nodes only as
        far as the signed root authenticates them (a hash chain up to it).

        Called when the recomputed tree has exactly ``size`` leaves, so its frontier holds
        the recomputed hashes of the perfect cover of [0, size). The writer stores that cover
        with each checkpoint (low levels included), so the fold can be checked."""
        if self.stored is None or self.tree.size != size:
            return None
        cover = merkle.perfect_cover(0, size)
        recomputed = dict(zip(cover, self.tree.frontier, strict=True))
        trusted: list[bytes] = []
        for nid in cover:
            h = self.stored.get(nid)
            if h is None and nid[0] < self.node_min_level:
                h = recomputed[nid]
            if h is None:
                return None
            trusted.append(h)
        if merkle.fold(trusted) != root:
            return None  # the stored nodes were rewritten too: they prove nothing
        for nid, auth in zip(cover, trusted, strict=True):
            if recomputed[nid] == auth:
                continue
            lv, ix = nid
            while lv > self.node_min_level:
                left, right = (lv - 1, 2 * ix), (lv - 1, 2 * ix + 1)
                sl, sr = self.stored.get(left), self.stored.get(right)
                if sl is None or sr is None or merkle.node_hash(sl, sr) != auth:
                    break
                if self.made.get(left) != sl:
                    (lv, ix), auth = left, sl
                else:
                    (lv, ix), auth = right, sr
            return ix << lv, (ix + 1) << lv
        return None

    def _node_findings(self, before: int) -> list[Finding]:
        """Stored nodes that differ from the entries, where the entries are not to blame."""
        out: list[Finding] = []
        bad = [(nid, how) for nid, how in self.bad_nodes if (nid[1] + 1) << nid[0] <= before]
        if bad:
            (lv, ix), how = bad[0]
            lo, hi = ix << lv, (ix + 1) << lv
            more = f"; {len(bad) - 1} more stored node(s) too" if len(bad) > 1 else ""
            out.append(
                Finding(
                    lo,
                    "node",
                    f"stored tree node (level {lv}, index {ix}) over entries [{lo}, {hi}) "
                    + ("is missing" if how == "missing" else "differs from the one recomputed")
                    + " from the entries; proofs built from it cannot verify and a restarted "
                    f"writer must not trust it{more}",
                )
            )
        return out

    def finish(self) -> VerifyReport:
        rep = self.report
        rep.size = self.tree.size
        rep.root = self.tree.root()
        cut = min((f.index for f in rep.findings if f.kind == "checkpoint"), default=None)
        rep.findings.extend(self._node_findings(rep.size if cut is None else cut))
        if self.anomaly is not None:
            rep.findings.insert(0, _classify(self.anomaly))
        elif self.expected_size > rep.size:
            rep.findings.insert(
                0,
                Finding(
                    rep.size,
                    "truncated",
                    f"the log ends after {rep.size} entries but {self.expected_size} were "
                    f"recorded (signed checkpoint or tree head); entries {rep.size}.."
                    f"{self.expected_size - 1} are gone",
                ),
            )
        elif self.last_head is not None and rep.size > self.last_head:
            rep.findings.insert(
                0,
                Finding(
                    self.last_head,
                    "inserted",
                    f"rows {self.last_head}..{rep.size - 1} are not covered by any tree head the "
                    "service stored: they were not appended by the audit service",
                ),
            )
        # Unsigned heads last: what the signed checkpoints and the entries show comes first.
        rep.findings.sort(key=lambda f: f.kind == "head")
        return rep


def _classify(win: list[_Seen]) -> Finding:
    """Name the first position whose row is not the original entry, and how it differs.

    Evidence for "the original entry x" is the prev hash in the row that declares itself
    entry x+1: that row was written right after x, and an edit to x does not update it.
    """
    auth: dict[int, bytes] = {}
    where: dict[bytes, int] = {}
    for s in win:
        if s.entry is not None and s.entry.seq >= 1:
            auth.setdefault(s.entry.seq - 1, s.entry.prev)
        where.setdefault(s.h, s.pos)

    def genuine(s: _Seen, x: int) -> bool | None:
        """Is the row at s the original entry x? None when nothing says."""
        if s.entry is None or s.entry.seq != x:
            return False
        a = auth.get(x)
        return None if a is None else a == s.h

    prev_h = None
    for i, s in enumerate(win):
        p = s.pos
        g = genuine(s, p)
        link_ok = i == 0 or (s.entry is not None and s.entry.prev == prev_h)
        if g is not False and s.error is None and s.row.seq == p and link_ok:
            prev_h = s.h
            continue
        return _explain(p, s, g, auth, where)
    last = win[-1]
    return Finding(last.pos, "changed", "rows do not chain")


def _explain(
    p: int, s: _Seen, g: bool | None, auth: dict[int, bytes], where: dict[bytes, int]
) -> Finding:
    e = s.entry
    original = auth.get(p)
    moved_to = where.get(original) if original is not None else None
    if moved_to is not None and moved_to == p:
        moved_to = None
    d = e.seq if e is not None else None
    # Is this row the original of the entry it claims to be? Without a later row vouching
    # for it (it was the last entry), trust its own stored leaf hash.
    row_is_entry_d = (
        e is not None
        and d is not None
        and d != p
        and (auth.get(d) == s.h or (auth.get(d) is None and s.error is None))
    )
    if e is not None and d == p and g is not False:
        # The entry bytes are the original; something stored beside them was edited.
        if s.error:
            return Finding(p, "changed", s.error)
        if s.row.seq != p:
            return Finding(p, "changed", f"seq column says {s.row.seq} for entry {p}")
        return Finding(p, "changed", "entry does not chain to the entry before it")
    if moved_to is not None:
        if row_is_entry_d:
            return Finding(
                p,
                "reordered",
                f"position {p} holds entry {d}; entry {p} was moved to position {moved_to}",
            )
        return Finding(
            p,
            "inserted",
            f"the row at position {p} is not an entry of this log"
            + (f" (it claims to be entry {d})" if d is not None else "")
            + f"; the original entry {p} follows at position {moved_to}",
        )
    if e is not None and d is not None and d > p and row_is_entry_d:
        n = d - p
        return Finding(
            p,
            "removed",
            f"entr{'y' if n == 1 else 'ies'} {p}"
            + (f"..{d - 1}" if n > 1 else "")
            + f" {'is' if n == 1 else 'are'} missing: the next row is entry {d}",
        )
    if e is not None and d is not None and d < p:
        return Finding(p, "inserted", f"the row at position {p} repeats entry number {d}")
    if e is not None and d == p:
        why = s.error or "its content differs from what the next entry chained to"
        return Finding(p, "changed", f"entry {p} was altered: {why}")
    return Finding(p, "changed", s.error or f"the row at position {p} is not entry {p}")


def verify_rows(
    rows: Iterable[Row],
    checkpoints: Iterable[Checkpoint] = (),
    *,
    heads: Iterable[tuple[int, bytes]] = (),
    expected_size: int = 0,
    derive: Callable[[Entry], IndexFields] | None = None,
    nodes: Mapping[merkle.NodeId, bytes] | None = None,
    node_min_level: int = 1,
) -> VerifyReport:
    v = ChainVerifier(
        checkpoints,
        heads=heads,
        expected_size=expected_size,
        derive=derive,
        nodes=nodes,
        node_min_level=node_min_level,
    )
    v.feed_many(rows)
    return v.finish()
