"""Signed checkpoints in the transparency-log formats (C2SP tlog-checkpoint + signed-note).

Why these formats: witnesses and auditors already have verifiers for them (Go's
golang.org/x/mod/sumdb/note, transparency-dev/formats), so a campus system or the police can
check our checkpoints without our code. Ed25519 keys come from ``cryptography``.

Checkpoint body::

    <origin>\\n<tree size>\\n<base64 root hash>\\n[<extension line>\\n...]

Signed note: body, a blank line, then ``— <key name> <base64(key id || signature)>\\n``
lines, where key id = SHA-256(key name || 0x0A || 0x01 || public key)[:4].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALG_ED25519 = 0x01
SIG_PREFIX = "— "  # U+2014 EM DASH, then a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or checkpoint is malformed or its signature does not verify."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or not name.isprintable():
        raise NoteError(f"key name {name!r} must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    """First 4 bytes of SHA-256(name || 0x0A || 0x01 || public key)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key, as written in the note verifier-key format."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def vkey(self) -> str:
        """``<name>+<hex key id>+<base64(0x01 || public key)>`` — what verifiers are given."""
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([ALG_ED25519]) + self.public_key)}"

    def fingerprint(self) -> str:
        """``SHA256:<hex of SHA-256(vkey text)>``: what the campus publishes beside the key, so
        anyone handed a key can compare it over the phone or on paper (docs/audit-bundle.md).
        The 4-byte key id is too short for that."""
        return "SHA256:" + hashlib.sha256(self.vkey().encode("ascii")).hexdigest()

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must be <name>+<hex key id>+<base64 key>")
        name, hex_id, b64key = parts
        _check_name(name)
        raw = _unb64(b64key, "verifier key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key (0x01 || 32 bytes)")
        v = cls(name, raw[1:])
        if hex_id.lower() != v.key_id.hex():
            raise NoteError(f"verifier key id {hex_id} does not match its name and key")
        return v

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key (the log's checkpoint key)."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    @classmethod
    def generate(cls, name: str) -> Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, _raw_public(self.private_key.public_key()))

    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def skey(self) -> str:
        """``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`` (Go note format)."""
        kid = self.verifier.key_id.hex()
        return f"PRIVATE+KEY+{self.name}+{kid}+{_b64(bytes([ALG_ED25519]) + self.seed())}"

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("signer key must be PRIVATE+KEY+<name>+<hex id>+<base64 key>")
        name, hex_id, b64key = parts[2:]
        raw = _unb64(b64key, "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 key (0x01 || 32-byte seed)")
        s = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if s.verifier.key_id.hex() != hex_id.lower():
            raise NoteError(f"signer key id {hex_id} does not match its name and key")
        return s

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def load_or_create_signer(path: Path, name: str, *, create: bool = True) -> Signer:
    """The log key, made on first start and kept (0600) at ``path`` — a data dir or secret.

    A mounted secret is read-only and already holds the key; only a missing file is created,
    and only when ``create`` (a development stack). In production a missing key is an error:
    a key made afresh per pod would sign checkpoints no published key verifies.
    """
    if not path.exists() and not create:
        raise NoteError(
            f"no log signing key at {path}: mount the audit key secret there (AUDIT_KEY_FILE); "
            "it is not generated when AUDIT_KEY_CREATE=false 未找到审计日志签名密钥"
        )
    if path.exists():
        signer = Signer.from_skey(path.read_text(encoding="ascii"))
        if signer.name != name:
            raise NoteError(f"key file {path} is for {signer.name!r}, configured {name!r}")
        return signer
    signer = Signer.generate(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(signer.skey() + "\n")
    os.replace(tmp, path)
    return signer


# --- signed notes -------------------------------------------------------------------------


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    if "\n\n" in text:
        raise NoteError("note text must not contain a blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("note text must not contain control characters")


def sign_note(text: str, *signers: Signer) -> str:
    _check_text(text)
    msg = text.encode()
    lines = [f"{SIG_PREFIX}{s.name} {_b64(s.verifier.key_id + s.sign(msg))}\n" for s in signers]
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


def split_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Text and signature lines of a signed note; checks the syntax, not the signatures."""
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("signed note has no blank line before its signatures")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    if not sig_block.endswith("\n"):
        raise NoteError("signed note must end with a newline")
    sigs: list[NoteSignature] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError(f"signature line {line[:40]!r} does not start with an em dash")
        name, sep, b64sig = line[len(SIG_PREFIX) :].partition(" ")
        if not sep or " " in b64sig:
            raise NoteError(f"malformed signature line {line[:40]!r}")
        raw = _unb64(b64sig, "signature")
        if len(raw) < 5:
            raise NoteError("signature too short")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    if not sigs or len(sigs) > MAX_SIGNATURES:
        raise NoteError(f"a signed note has 1 to {MAX_SIGNATURES} signatures, got {len(sigs)}")
    return text, sigs


def open_note(note: str, *verifiers: Verifier) -> str:
    """The note text, if a known key signed it; raises NoteError otherwise.

    Lines from unknown keys are ignored (other witnesses may cosign); a known key's bad
    signature rejects the whole note, as the signed-note specification requires.
    """
    text, sigs = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = False
    for s in sigs:
        v = known.get((s.name, s.key_id))
        if v is None:
            continue
        if not v.verify(text.encode(), s.signature):
            raise NoteError(f"signature by {s.name} does not verify")
        verified = True
    if not verified:
        names = ", ".join(sorted({s.name for s in sigs}))
        raise NoteError(f"note is not signed by a known key (signed by: {names})")
    return text


# --- checkpoints --------------------------------------------------------------------------

_SIZE_RE = re.compile(r"^(0|[1-9][0-9]*)$")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement: at ``size`` entries its Merkle root is ``root_hash``."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = field(default=())

    def body(self) -> str:
        ext = "".join(e + "\n" for e in self.extensions)
        return f"{self.origin}\n{self.size}\n{_b64(self.root_hash)}\n{ext}"

    def sign(self, signer: Signer) -> str:
        return sign_note(self.body(), signer)

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("checkpoint needs origin, size and root hash lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not origin:
            raise NoteError("checkpoint origin line is empty")
        if not _SIZE_RE.match(size):
            raise NoteError(f"checkpoint tree size {size!r} is not a decimal number")
        root_hash = _unb64(root, "checkpoint root hash")
        if len(root_hash) != 32:
            raise NoteError("checkpoint root hash is not 32 bytes")
        extensions = tuple(lines[3:-1])
        if any(not e for e in extensions):
            raise NoteError("checkpoint extension lines must not be empty")
        return cls(origin, int(size), root_hash, extensions)

    @classmethod
    def open(cls, note: str, verifier: Verifier, origin: str | None = None) -> Checkpoint:
        """Verify a signed checkpoint note and parse it; checks the origin when given."""
        cp = cls.parse_body(open_note(note, verifier))
        if origin is not None and cp.origin != origin:
            raise NoteError(f"checkpoint is for log {cp.origin!r}, expected {origin!r}")
        return cp
