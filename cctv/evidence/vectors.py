"""Published test vectors: a tiny log, its hashes, a signed checkpoint and bundles that must
pass or fail — what an outside verifier written from docs/audit-bundle.md is checked against.

Why: "agrees with `cctv audit check` on every bundle" needs bundles both sides run, including
the forged ones. Everything is deterministic (a fixed test key, fixed times), so the file is
reproducible: ``python -m cctv.evidence.vectors > docs/audit-vectors.json``; a test keeps the
published file equal to this output and each verdict equal to ``check_bundle``'s.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv.evidence import bundle, merkle
from cctv.evidence.chain import LogState
from cctv.evidence.checkpoint import Checkpoint, Signer
from cctv.evidence.entry import Witnessed

ORIGIN = "vectors.example/campus-cctv/audit"
SEED = bytes(range(32))
"""The test key's Ed25519 seed: public on purpose, never a real log's key."""
N = 7


def signer() -> Signer:
    return Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(SEED))


def _payload(i: int) -> bytes:
    env = {
        "id": f"00000000-0000-4000-8000-00000000000{i}",
        "type": "access.recorded",
        "time": f"2026-11-25T08:0{i}:00+08:00",
        "source": "console",
        "key": "cam-1",
        "actor": f"user-{i % 3}",
        "correlation_id": "-",
        "schema_version": 1,
        "data": {
            "action": "view",
            "actor": f"user-{i % 3}",
            "camera_ids": ["cam-1"],
            "request_no": "DY-2026-0001",
            "detail": "查阅 view",
        },
    }
    return json.dumps(env, ensure_ascii=False, sort_keys=True).encode()


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _edit(doc: dict[str, Any], k: int, old: bytes, new: bytes) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    raw = base64.b64decode(d["entries"][k]["entry"])
    assert old in raw, (old, raw[:80])
    d["entries"][k]["entry"] = _b64(raw.replace(old, new, 1))
    return d


def generate() -> dict[str, Any]:
    s = signer()
    st = LogState()
    tree = merkle.MemoryTree()
    datas: list[bytes] = []
    for i in range(N):
        w = Witnessed.event("cctv.access.recorded.cam-1", f"evt-{i}", _payload(i))
        a = st.append(w, recorded_at=f"2026-11-25T00:00:0{i}.000000Z")
        tree.append_leaf_hash(a.leaf_hash)
        datas.append(a.data)
    cp = Checkpoint(ORIGIN, N, tree.root())
    note = cp.sign(s)
    vkey = s.verifier.vkey()

    def fixed(doc: dict[str, Any]) -> dict[str, Any]:
        doc["created_at"] = "2026-11-25T00:01:00.000000Z"
        return doc

    rng = fixed(
        bundle.range_bundle_from_store(tree, [(i, datas[i]) for i in range(1, 5)], cp, note, vkey)
    )
    ev = fixed(bundle.evidence_from_store(tree, [(2, datas[2]), (6, datas[6])], cp, note, vkey))
    first = fixed(bundle.range_bundle_from_store(tree, [(0, datas[0])], cp, note, vkey))

    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("range", "pass", rng, "entries [1, 5) with one range proof"),
        ("evidence", "pass", ev, "entries 2 and 6, each with its inclusion proof"),
        ("first-entry", "pass", first, "entry 0: prev is 64 zeros"),
    ]

    dup = copy.deepcopy(ev)
    forged = _edit(ev, 0, b'"user-2"', b'"user-0"')["entries"][0]
    dup["entries"].insert(1, forged)
    cases.append(("duplicate-index", "fail", dup, "entry 2 appears twice"))
    dup2 = copy.deepcopy(rng)
    extra = _edit(rng, 1, b'"user-2"', b'"user-0"')["entries"][1]
    dup2["entries"].insert(2, extra)
    cases.append(("duplicate-in-range", "fail", dup2, "entry 2 appears twice"))
    order = copy.deepcopy(ev)
    order["entries"].reverse()
    cases.append(("out-of-order", "fail", order, "log order"))
    changed = _edit(ev, 1, b'"user-0"', b'"user-1"')
    cases.append(("changed-actor", "fail", changed, "entry 6"))
    changed_r = _edit(rng, 3, b'"user-1"', b'"user-2"')
    cases.append(("changed-in-range", "fail", changed_r, "do not belong"))
    prev_hex = datas[2].split(b'"prev":"')[1][:64]
    upper = _edit(rng, 1, prev_hex, prev_hex.upper())
    cases.append(("prev-uppercase", "fail", upper, "lowercase"))
    at = _edit(rng, 0, b"00:00:01.000000Z", b"00:00:01Z")
    cases.append(("at-without-microseconds", "fail", at, "microseconds"))
    spaced = _edit(rng, 0, b'{"at":', b'{ "at":')
    cases.append(("header-not-canonical", "fail", spaced, "canonical"))
    tagged = _edit(rng, 0, b'"seq":', b'"raw_len":3,"seq":')
    cases.append(("event-with-raw-len", "fail", tagged, "only rejected ones do"))
    unproven = copy.deepcopy(ev)
    del unproven["entries"][1]["inclusion_proof"]
    cases.append(("unproven-entry", "fail", unproven, "no proof"))
    unknown = copy.deepcopy(ev)
    unknown["entries"][0]["actor"] = "user-9"
    cases.append(("unknown-item-field", "fail", unknown, "unknown field"))
    hole = copy.deepcopy(rng)
    del hole["entries"][2]
    cases.append(("range-missing-entry", "fail", hole, "lacks entry 3"))
    origin = copy.deepcopy(rng)
    origin["log"]["origin"] = "other.example/audit"
    cases.append(("wrong-origin", "fail", origin, "expected 'other.example/audit'"))
    other = Signer(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    resigned = copy.deepcopy(rng)
    resigned["checkpoint"] = cp.sign(other)
    resigned["log"]["verifier_key"] = other.verifier.vkey()
    cases.append(("signed-by-another-key", "fail", resigned, "not signed by a known key"))

    return {
        "about": "campus-cctv audit evidence test vectors; format: docs/audit-bundle.md. "
        "Check every bundle with the key below: `expect` is the verdict, `reason` a phrase "
        "of cctv audit check's message.",
        "origin": ORIGIN,
        "verifier_key": vkey,
        "fingerprint": s.verifier.fingerprint(),
        "entries": [_b64(d) for d in datas],
        "leaf_hashes": [merkle.leaf_hash(d).hex() for d in datas],
        "roots": [tree.root(n).hex() for n in range(N + 1)],
        "checkpoint": note,
        "bundles": [
            {"name": name, "expect": expect, "reason": reason, "bundle": doc}
            for name, expect, doc, reason in cases
        ],
    }


def dumps() -> str:
    return json.dumps(generate(), ensure_ascii=False, indent=1) + "\n"


if __name__ == "__main__":
    print(dumps(), end="")
