"""An auditor's bundle verifier written from docs/audit-bundle.md alone — none of cctv's code.

Why it is here: the issue's bar is that an outside verifier given only the documentation and
the public key agrees with `cctv audit check` on every bundle. This is such a verifier
(standard library + `cryptography` for Ed25519); tests/evidence/test_outside_verifier.py
holds the two to the same verdicts. If the document is wrong or incomplete, they disagree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Rejected(Exception):
    pass


def _b64(s: Any) -> bytes:
    if not isinstance(s, str):
        raise Rejected("not base64 text")
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejected("bad base64") from exc


def _sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def leaf(entry: bytes) -> bytes:
    return _sha(b"\x00" + entry)


def node(a: bytes, b: bytes) -> bytes:
    return _sha(b"\x01" + a + b)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def parse_key(vkey: str) -> tuple[str, bytes, bytes]:
    name, kid, b = vkey.split("+", 2)
    raw = base64.b64decode(b)
    if len(raw) != 33 or raw[0] != 1:
        raise Rejected("not an Ed25519 verifier key")
    want = _sha(name.encode() + b"\n" + raw)[:4]
    if bytes.fromhex(kid) != want:
        raise Rejected("key id mismatch")
    return name, want, raw[1:]


def open_checkpoint(note: Any, vkey: str) -> tuple[str, int, bytes]:
    name, kid, pub = parse_key(vkey)
    if not isinstance(note, str) or "\n\n" not in note:
        raise Rejected("checkpoint is not a signed note")
    cut = note.rfind("\n\n")
    text, sigs = note[: cut + 1], note[cut + 2 :]
    good = False
    if not sigs.endswith("\n"):
        raise Rejected("signature block must end with a newline")
    for line in sigs[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise Rejected("bad signature line")
        n, _, sig = line[2:].partition(" ")
        raw = _b64(sig)
        if n != name or raw[:4] != kid:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(raw[4:], text.encode())
        except InvalidSignature as exc:
            raise Rejected("bad signature by the trusted key") from exc
        good = True
    if not good:
        raise Rejected("not signed by the trusted key")
    lines = text.split("\n")
    if len(lines) < 4 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise Rejected("bad checkpoint body")
    root = _b64(lines[2])
    if len(root) != 32:
        raise Rejected("root is not 32 bytes")
    return lines[0], int(lines[1]), root


HEADER_KEYS = {"v", "seq", "prev", "kind", "subject", "id", "at"}
REJECTED_KEYS = {"reason", "raw_sha256", "raw_len"}
AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def parse_entry(data: bytes) -> dict[str, Any]:
    head, sep, _payload = data.partition(b"\n")
    if not sep:
        raise Rejected("no header line")
    try:
        h = json.loads(head)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected("header is not JSON") from exc
    if not isinstance(h, dict):
        raise Rejected("header is not an object")
    if json.dumps(h, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() != head:
        raise Rejected("header not canonical")
    keys = set(h)
    if not HEADER_KEYS <= keys or not keys <= HEADER_KEYS | REJECTED_KEYS:
        raise Rejected("header keys")
    if h["v"] != 1 or h["kind"] not in ("event", "rejected"):
        raise Rejected("version or kind")
    if type(h["seq"]) is not int or h["seq"] < 0:
        raise Rejected("seq")
    if not isinstance(h["prev"], str) or not re.fullmatch(r"[0-9a-f]{64}", h["prev"]):
        raise Rejected("prev must be 64 lowercase hex")
    for k in ("subject", "id", "at"):
        if not isinstance(h[k], str):
            raise Rejected(k)
    if not AT.fullmatch(h["at"]):
        raise Rejected("at format")
    extra = keys & REJECTED_KEYS
    if h["kind"] == "event" and extra:
        raise Rejected("reason/raw_* on an event")
    if h["kind"] == "rejected":
        if extra != REJECTED_KEYS or not isinstance(h["reason"], str):
            raise Rejected("rejected entry fields")
        if not isinstance(h["raw_sha256"], str) or not re.fullmatch(
            r"[0-9a-f]{64}", h["raw_sha256"]
        ):
            raise Rejected("raw_sha256")
        if type(h["raw_len"]) is not int or h["raw_len"] < 0:
            raise Rejected("raw_len")
    return h


def root_from_inclusion(index: int, size: int, h: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size:
        raise Rejected("index outside tree")
    fn, sn, r = index, size - 1, h
    for p in proof:
        if len(p) != 32:
            raise Rejected("proof hash size")
        if sn == 0:
            raise Rejected("proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Rejected("proof too short")
    return r


def root_from_range(a: int, b: int, size: int, leaves: list[bytes], proof: list[bytes]) -> bytes:
    """The walk of audit-bundle.md: outside [a, b) takes the next proof hash, inside is
    computed from the entries, the rest splits at the largest power of two."""
    it = iter(proof)

    def mth(lo: int, hi: int) -> bytes:
        if hi <= a or lo >= b:
            try:
                h = next(it)
            except StopIteration as exc:
                raise Rejected("range proof too short") from exc
            if len(h) != 32:
                raise Rejected("proof hash size")
            return h
        if hi - lo == 1:
            return leaves[lo - a]
        k = _k(hi - lo)
        return node(mth(lo, lo + k), mth(lo + k, hi))

    r = mth(0, size)
    if next(it, None) is not None:
        raise Rejected("range proof hashes left over")
    return r


def verify(doc: Any, vkey: str) -> None:
    """Raise Rejected unless the bundle checks under ``vkey``."""
    if not isinstance(doc, dict) or doc.get("format") != "cctv-audit-bundle/v1":
        raise Rejected("format")
    log = doc.get("log")
    if not isinstance(log, dict) or not isinstance(log.get("origin"), str):
        raise Rejected("log.origin")
    origin, size, root = open_checkpoint(doc.get("checkpoint"), vkey)
    if origin != log["origin"]:
        raise Rejected("origin")
    items = doc.get("entries")
    if not isinstance(items, list) or not items:
        raise Rejected("no entries")
    got: dict[int, bytes] = {}
    proofs: dict[int, list[bytes]] = {}
    last = -1
    for it in items:
        if not isinstance(it, dict) or not set(it) <= {"index", "entry", "inclusion_proof"}:
            raise Rejected("item fields")
        i = it.get("index")
        if type(i) is not int or not 0 <= i < size or i <= last:
            raise Rejected("index: once each, ascending, inside the tree")
        last = i
        data = _b64(it.get("entry"))
        h = parse_entry(data)
        if h["seq"] != i:
            raise Rejected("seq")
        if i == 0 and h["prev"] != "0" * 64:
            raise Rejected("entry 0 prev")
        got[i] = data
        if "inclusion_proof" in it:
            if not isinstance(it["inclusion_proof"], list):
                raise Rejected("inclusion proof")
            proofs[i] = [_b64(p) for p in it["inclusion_proof"]]
    proven: set[int] = set()
    rng = doc.get("range")
    if rng is not None:
        if not isinstance(rng, dict):
            raise Rejected("range")
        a, b = rng.get("start"), rng.get("end")
        if type(a) is not int or type(b) is not int or not 0 <= a < b <= size:
            raise Rejected("range bounds")
        if any(i not in got for i in range(a, b)):
            raise Rejected("range lacks an entry")
        raw = rng.get("proof", [])
        if not isinstance(raw, list):
            raise Rejected("range proof")
        pr = [_b64(p) for p in raw]
        if root_from_range(a, b, size, [leaf(got[i]) for i in range(a, b)], pr) != root:
            raise Rejected("range proof does not give the root")
        proven.update(range(a, b))
    for i, pr in proofs.items():
        if root_from_inclusion(i, size, leaf(got[i]), pr) != root:
            raise Rejected("inclusion proof does not give the root")
        proven.add(i)
    for i, data in got.items():
        if i - 1 in got and parse_entry(data)["prev"] != leaf(got[i - 1]).hex():
            raise Rejected("chain")
    if set(got) - proven:
        raise Rejected("unproven entry")
