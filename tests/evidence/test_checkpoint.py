"""Signed-note checkpoints: known answers from the Go reference implementation.

Vectors: github.com/golang/mod, sumdb/note/note.go (package documentation example) and
sumdb/note/note_test.go — the PeterNeumann signer key, verifier key, text and signed note.
Ed25519 is deterministic, so signing the same text must reproduce the signature exactly.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cctv.evidence import checkpoint as c

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_go_reference_key_and_signature_byte_for_byte() -> None:
    signer = c.Signer.from_skey(GO_SKEY)
    assert signer.verifier.vkey() == GO_VKEY
    assert signer.skey() == GO_SKEY
    assert c.sign_note(GO_TEXT, signer) == GO_NOTE
    v = c.Verifier.from_vkey(GO_VKEY)
    assert v.key_id.hex() == "c74f20a3"
    assert c.open_note(GO_NOTE, v) == GO_TEXT


def test_tampered_note_is_rejected() -> None:
    v = c.Verifier.from_vkey(GO_VKEY)
    with pytest.raises(c.NoteError, match="does not verify"):
        c.open_note(GO_NOTE.replace("cryptography", "Cryptography"), v)
    other = c.Signer.generate("PeterNeumann").verifier
    with pytest.raises(c.NoteError, match="not signed by a known key"):
        c.open_note(GO_NOTE, other)
    with pytest.raises(c.NoteError, match="em dash"):
        c.open_note(GO_NOTE.replace("— ", "-- "), v)


def test_unknown_cosigners_are_ignored() -> None:
    witness = c.Signer.generate("witness.campus.example")
    cosigned = GO_NOTE + c.sign_note(GO_TEXT, witness).split("\n\n")[1]
    assert c.open_note(cosigned, c.Verifier.from_vkey(GO_VKEY)) == GO_TEXT
    assert c.open_note(cosigned, witness.verifier) == GO_TEXT


def test_checkpoint_round_trip_and_format() -> None:
    signer = c.Signer.generate("audit.cctv.hnsoftedu")
    cp = c.Checkpoint("campus-cctv/audit", 42, bytes(range(32)))
    note = cp.sign(signer)
    lines = note.split("\n")
    assert lines[0] == "campus-cctv/audit"
    assert lines[1] == "42"
    assert lines[2] == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    assert lines[3] == ""
    assert lines[4].startswith("— audit.cctv.hnsoftedu ")
    assert c.Checkpoint.open(note, signer.verifier, origin="campus-cctv/audit") == cp
    with pytest.raises(c.NoteError, match="expected"):
        c.Checkpoint.open(note, signer.verifier, origin="other/log")
    forged = note.replace("\n42\n", "\n43\n")
    with pytest.raises(c.NoteError):
        c.Checkpoint.open(forged, signer.verifier)


def test_bad_verifier_keys_name_the_problem() -> None:
    with pytest.raises(c.NoteError, match="does not match"):
        c.Verifier.from_vkey(GO_VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(c.NoteError, match="<name>"):
        c.Verifier.from_vkey("nonsense")
    with pytest.raises(c.NoteError, match="decimal"):
        c.Checkpoint.parse_body("o\n12a\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")


def test_key_made_on_first_start_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.key"
    first = c.load_or_create_signer(path, "audit.cctv.hnsoftedu")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = c.load_or_create_signer(path, "audit.cctv.hnsoftedu")
    assert again.verifier == first.verifier
    with pytest.raises(c.NoteError, match="configured"):
        c.load_or_create_signer(path, "another.name")
