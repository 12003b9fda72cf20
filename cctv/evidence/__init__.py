"""Audit evidence: what the audit service writes and what anyone checks, in one small library.

Why a library: the audit service (writing), the `cctv audit` CLI (an outside auditor's tool)
and the console (showing proofs) must agree byte for byte on the entry encoding, the RFC 9162
Merkle tree, the signed-note checkpoints and the bundle check; none of them may depend on
another's insides. Only the standard library and ``cryptography``; no database, no network.
Format: docs/audit-bundle.md. Tests with published vectors: tests/evidence/.
"""
