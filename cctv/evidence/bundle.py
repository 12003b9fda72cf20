"""Audit bundles: exported entries with the proofs an outside auditor checks offline.

Why: the police, the education authority or an external auditor must be able to check what
we hand them without our database and without trusting us — only the bundle, a signed
checkpoint and the log's public key (published separately). The format is documented in
docs/audit-bundle.md; ``check_bundle`` is what ``cctv audit check`` runs.

Two shapes share one format:
- a *range export*: a contiguous run of entries [start, end) with one range proof;
- an *evidence pack* (for a copy grant, Art. 16/17): chosen entries — the grant, the
  retrieval and the export records — each with its own inclusion proof.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cctv.evidence import merkle
from cctv.evidence.checkpoint import Checkpoint, NoteError, Verifier
from cctv.evidence.entry import ZERO_HASH, Entry, EntryError, index_fields, utc_now

FORMAT = "cctv-audit-bundle/v1"


class BundleError(ValueError):
    """The bundle is malformed or does not verify; the message names the failing part."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: Any, what: str) -> bytes:
    if not isinstance(s, str):
        raise BundleError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(f"{what} is not valid base64") from exc


def make_bundle(
    *,
    origin: str,
    verifier_key: str,
    checkpoint_note: str,
    entries: Sequence[tuple[int, bytes]],
    range_proof: Sequence[bytes] | None = None,
    inclusion_proofs: Mapping[int, Sequence[bytes]] | None = None,
    purpose: str = "export",
    description: str = "",
) -> dict[str, Any]:
    """Assemble a bundle document; proofs must be against the checkpoint's tree size."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "purpose": purpose,
        "description": description,
        "created_at": utc_now(),
        "log": {"origin": origin, "verifier_key": verifier_key},
        "checkpoint": checkpoint_note,
        "entries": [],
    }
    for index, data in entries:
        item: dict[str, Any] = {"index": index, "entry": _b64(data)}
        if inclusion_proofs is not None and index in inclusion_proofs:
            item["inclusion_proof"] = [_b64(h) for h in inclusion_proofs[index]]
        doc["entries"].append(item)
    if range_proof is not None:
        idx = [i for i, _ in entries]
        doc["range"] = {
            "start": idx[0],
            "end": idx[-1] + 1,
            "proof": [_b64(h) for h in range_proof],
        }
    return doc


def range_bundle_from_store(
    store: merkle.NodeReader,
    entries: Sequence[tuple[int, bytes]],
    checkpoint: Checkpoint,
    checkpoint_note: str,
    verifier_key: str,
    description: str = "",
) -> dict[str, Any]:
    start, end = entries[0][0], entries[-1][0] + 1
    proof = merkle.range_proof(store, start, end, checkpoint.size)
    return make_bundle(
        origin=checkpoint.origin,
        verifier_key=verifier_key,
        checkpoint_note=checkpoint_note,
        entries=entries,
        range_proof=proof,
        description=description,
    )


def evidence_from_store(
    store: merkle.NodeReader,
    entries: Sequence[tuple[int, bytes]],
    checkpoint: Checkpoint,
    checkpoint_note: str,
    verifier_key: str,
    description: str = "",
) -> dict[str, Any]:
    proofs = {i: merkle.inclusion_proof(store, i, checkpoint.size) for i, _ in entries}
    return make_bundle(
        origin=checkpoint.origin,
        verifier_key=verifier_key,
        checkpoint_note=checkpoint_note,
        entries=entries,
        inclusion_proofs=proofs,
        purpose="evidence",
        description=description,
    )


@dataclass(frozen=True)
class CheckedEntry:
    index: int
    entry: Entry
    how: str  # "range proof" or "inclusion proof"

    def summary(self) -> str:
        f = index_fields(self.entry)
        parts = [f"#{self.index}", self.entry.kind, f.event_type or self.entry.subject]
        if f.actor:
            parts.append(f"actor={f.actor}")
        if f.camera_ids:
            parts.append("cameras=" + ",".join(f.camera_ids))
        if f.request_no:
            parts.append(f"request={f.request_no}")
        if self.entry.reason:
            parts.append(f"reason={self.entry.reason}")
        return " ".join(parts)


@dataclass
class CheckReport:
    checkpoint: Checkpoint
    key_source: str
    entries: list[CheckedEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_bundle(doc: Mapping[str, Any], trusted_key: str | None = None) -> CheckReport:
    """Verify a bundle with nothing but itself and (ideally) the log's published key.

    Raises BundleError naming the first thing that fails; returns what was proven.
    """
    if doc.get("format") != FORMAT:
        raise BundleError(f"not an audit bundle: format is {doc.get('format')!r}, need {FORMAT}")
    log = doc.get("log")
    if not isinstance(log, dict) or not isinstance(log.get("origin"), str):
        raise BundleError("bundle lacks log.origin, the origin line its checkpoint must carry")
    origin = log["origin"]
    warnings: list[str] = []
    try:
        if trusted_key:
            verifier = Verifier.from_vkey(trusted_key)
            key_source = "trusted key given to the checker"
            inner = log.get("verifier_key")
            if inner and inner.strip() != trusted_key.strip():
                warnings.append("the bundle names a different key than the trusted one")
        else:
            verifier = Verifier.from_vkey(str(log.get("verifier_key", "")))
            key_source = "key carried in the bundle (compare its id with the published key)"
            warnings.append(
                f"no trusted key given: checked against the bundle's own key {verifier.name}+"
                f"{verifier.key_id.hex()}; 未提供可信公钥，请核对公布的公钥 ID"
            )
        cp = Checkpoint.open(str(doc.get("checkpoint", "")), verifier, origin=origin)
    except NoteError as exc:
        raise BundleError(f"checkpoint: {exc}") from exc

    items = doc.get("entries")
    if not isinstance(items, list) or not items:
        raise BundleError("bundle has no entries")
    parsed = _parse_items(items, cp.size)
    by_index = {p.index: p for p in parsed}

    proven: dict[int, str] = {}
    rng = doc.get("range")
    if rng is not None:
        for i in _check_range(rng, by_index, cp):
            proven[i] = "range proof"
    for p in parsed:
        if p.proof is None:
            continue
        try:
            merkle.verify_inclusion(
                p.index, cp.size, merkle.leaf_hash(p.data), p.proof, cp.root_hash
            )
        except merkle.ProofError as exc:
            raise BundleError(f"entry {p.index}: {exc}") from exc
        proven.setdefault(p.index, "inclusion proof")
    for p in parsed:
        if p.index == 0 and p.entry.prev != ZERO_HASH:
            raise BundleError("entry 0: prev must be 64 zeros, the log's first entry has no parent")
        before = by_index.get(p.index - 1)
        if before is not None and p.entry.prev != merkle.leaf_hash(before.data):
            raise BundleError(f"entry {p.index} does not chain to entry {p.index - 1}")
    unproven = [p.index for p in parsed if p.index not in proven]
    if unproven:
        raise BundleError(f"entry {unproven[0]} comes with no proof")
    report = CheckReport(cp, key_source, warnings=warnings)
    report.entries = [CheckedEntry(p.index, p.entry, proven[p.index]) for p in parsed]
    return report


@dataclass(frozen=True)
class _Item:
    index: int
    data: bytes
    entry: Entry
    proof: list[bytes] | None


_ITEM_KEYS = frozenset({"index", "entry", "inclusion_proof"})


def _parse_items(items: list[Any], size: int) -> list[_Item]:
    """Each item once, in increasing index order, its bytes canonical and naming its index.

    Why strict: every item reported must be bound to exactly one proven leaf; a second copy
    of an index (with other content) would otherwise ride on the first copy's proof.
    """
    out: list[_Item] = []
    last = -1
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise BundleError(f"entries[{n}] is not an object")
        extra = sorted(set(item) - _ITEM_KEYS)
        if extra:
            raise BundleError(f"entries[{n}] has unknown field(s) {', '.join(extra)}")
        index = item.get("index")
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
            raise BundleError(
                f"entries[{n}]: index {index!r} is outside the checkpoint's {size} entries"
            )
        if index == last:
            raise BundleError(f"entry {index} appears twice: each index may appear once")
        if index < last:
            raise BundleError(
                f"entries[{n}]: index {index} comes after {last}; entries must be in log order"
            )
        last = index
        data = _unb64(item.get("entry"), f"entry {index}")
        try:
            e = Entry.decode(data)
        except EntryError as exc:
            raise BundleError(f"entry {index}: {exc}") from exc
        if e.seq != index:
            raise BundleError(f"entry {index}: its bytes say it is entry {e.seq}")
        proof: list[bytes] | None = None
        if "inclusion_proof" in item:
            raw = item["inclusion_proof"]
            if not isinstance(raw, list):
                raise BundleError(f"inclusion proof of entry {index} is not a list")
            proof = [_unb64(h, f"inclusion proof of entry {index}") for h in raw]
        out.append(_Item(index, data, e, proof))
    return out


def _check_range(rng: Any, by_index: Mapping[int, _Item], cp: Checkpoint) -> range:
    """The range proof over the items' own bytes; returns the indices it proves."""
    if not isinstance(rng, dict):
        raise BundleError("range is not an object")
    start, end, raw = rng.get("start"), rng.get("end"), rng.get("proof", [])
    if (
        isinstance(start, bool)
        or isinstance(end, bool)
        or not isinstance(start, int)
        or not isinstance(end, int)
        or not 0 <= start < end <= cp.size
    ):
        raise BundleError(f"range [{start}, {end}) is not a valid range in {cp.size} entries")
    missing = [i for i in range(start, end) if i not in by_index]
    if missing:
        raise BundleError(f"range [{start}, {end}) lacks entry {missing[0]}")
    if not isinstance(raw, list):
        raise BundleError("range proof is not a list")
    leaves = [merkle.leaf_hash(by_index[i].data) for i in range(start, end)]
    proof = [_unb64(h, "range proof hash") for h in raw]
    try:
        root = merkle.root_from_range(start, end, cp.size, leaves, proof)
    except merkle.ProofError as exc:
        raise BundleError(f"range proof: {exc}") from exc
    if root != cp.root_hash:
        for i in range(start + 1, end):
            if by_index[i].entry.prev != leaves[i - 1 - start]:
                raise BundleError(f"entry {i} does not chain to entry {i - 1}")
        raise BundleError(
            f"entries [{start}, {end}) do not belong to the signed tree of size {cp.size}: "
            "an entry was changed, removed, reordered or inserted"
        )
    return range(start, end)


def dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def loads(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BundleError(f"bundle is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BundleError("bundle is not a JSON object")
    return doc
