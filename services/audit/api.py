"""What the audit log answers, over a database connection: queries with proofs, proofs,
bundles and verification. Shared by the service's request-reply handlers and the CLI.

Request-reply subjects (core NATS; replies are {"ok": true, ...} or {"ok": false, "error"}):
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import asyncpg

from cctv.evidence import bundle, merkle
from cctv.evidence.chain import ChainVerifier, VerifyReport
from cctv.evidence.checkpoint import Checkpoint, NoteError, Verifier
from cctv.evidence.entry import Entry, index_fields

from . import store


class AuditError(ValueError):
    """A request the log cannot answer; the message says why."""


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _time(v: Any) -> datetime | None:
    if v in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    except ValueError as exc:
        raise AuditError(f"time {v!r} is not ISO 8601, e.g. 2026-11-25T08:00:00+08:00") from exc


BIGINT_MAX = 2**63 - 1


def parse_query(req: dict[str, Any]) -> store.Query:
    for name in ("after_seq", "limit"):  # PostgreSQL bigint: past it the query never answered
        value = req.get(name)
        if value is not None and not (
            isinstance(value, int | str)
            and str(value).lstrip("-").isdigit()
            and -1 <= int(value) <= BIGINT_MAX
        ):
            raise AuditError(f"bad query: {name} must be an integer from -1 to {BIGINT_MAX}")
    try:
        return store.Query(
            camera_id=req.get("camera_id") or None,
            actor=req.get("actor") or None,
            request_no=req.get("request_no") or None,
            event_type=req.get("event_type") or None,
            kind=req.get("kind") or None,
            since=_time(req.get("since")),
            until=_time(req.get("until")),
            after_seq=int(req.get("after_seq", -1)),
            limit=int(req.get("limit", 50)),
        )
    except (TypeError, ValueError) as exc:
        raise AuditError(f"bad query: {exc}") from exc


def entry_json(r: asyncpg.Record) -> dict[str, Any]:
    data = bytes(r["data"])
    e = Entry.decode(data)
    payload: Any
    try:
        payload = json.loads(e.payload) if e.kind == "event" else None
    except ValueError:
        payload = None
    return {
        "seq": r["seq"],
        "event_id": r["event_id"],
        "kind": r["kind"],
        "subject": r["subject"],
        "event_type": r["event_type"],
        "event_time": r["event_time"].isoformat() if r["event_time"] else None,
        "recorded_at": r["recorded_at"].isoformat(),
        "actor": r["actor"],
        "camera_ids": list(r["camera_ids"] or []),
        "request_no": r["request_no"],
        "reason": e.reason,
        "leaf_hash": bytes(r["leaf_hash"]).hex(),
        "entry": b64(data),
        "envelope": payload,
    }


async def covering_checkpoint(conn: store.Conn, schema: str, size: int) -> tuple[int, str]:
    found = await store.checkpoint_at_least(conn, schema, size)
    if found is None:
        raise AuditError(
            f"no signed checkpoint covers {size} entries yet; the next one is made within "
            "the checkpoint interval 尚无覆盖该条目的签名检查点"
        )
    return found


def _signed_root(note: str) -> bytes:
    """The root a stored checkpoint note states (its signature is checked by the caller)."""
    return Checkpoint.parse_body(note.split("\n\n")[0] + "\n").root_hash


def _broken(what: str, exc: Exception) -> str:
    return (
        f"{what} built from the stored tree nodes does not match the signed checkpoint "
        f"({exc}): the stored tree was altered; run `cctv audit verify` "
        "存储的树节点已被改动，请运行校验"
    )


REPLY_BUDGET = 600_000
"""Bytes of entries one query reply carries at most (NATS max_payload is 1 MiB); a page cut
short by it says where to go on (``next_after_seq``) like a full page does."""


async def query(conn: store.Conn, schema: str, req: dict[str, Any]) -> dict[str, Any]:
    """Entries matching the filters, in log order. ``compact`` returns only ``seq`` and the
    entry bytes (what `cctv audit export` pages through)."""
    q = parse_query(req)
    rows = await store.query(conn, schema, q)
    entries: list[dict[str, Any]] = []
    used = 0
    for r in rows:
        item = (
            {"seq": r["seq"], "entry": b64(bytes(r["data"]))}
            if req.get("compact")
            else entry_json(r)
        )
        cost = len(bytes(r["data"])) * (2 if req.get("compact") else 3) + 200
        if entries and used + cost > REPLY_BUDGET:
            break
        entries.append(item)
        used += cost
    cut = len(entries) < len(rows)
    out: dict[str, Any] = {
        "entries": entries,
        "next_after_seq": entries[-1]["seq"] if entries and (cut or len(rows) == q.limit) else None,
    }
    rows = rows[: len(entries)]
    if req.get("proof") and rows:
        size, note = await covering_checkpoint(conn, schema, int(rows[-1]["seq"]) + 1)
        out["checkpoint"] = note
        for item in out["entries"]:
            proof = await store.resolve(conn, schema, merkle.inclusion_plan(item["seq"], size))
            item["inclusion_proof"] = [b64(h) for h in proof]
    return out


async def prove(conn: store.Conn, schema: str, req: dict[str, Any]) -> dict[str, Any]:
    """Inclusion proof of entry ``index`` or consistency proof ``old_size`` -> ``new_size``,
    against a stored signed checkpoint (the latest unless ``size`` names one)."""
    latest = await store.latest_checkpoint(conn, schema)
    if latest is None:
        raise AuditError("the log has no signed checkpoint yet 尚无签名检查点")
    size, note = latest
    if req.get("size") is not None:
        size, note = await covering_checkpoint(conn, schema, int(req["size"]))
        if size != int(req["size"]):
            raise AuditError(f"no checkpoint at size {req['size']} (next one is at {size})")
    if req.get("start") is not None:
        start, end = int(req["start"]), min(int(req.get("end", size)), size)
        if not 0 <= start < end:
            raise AuditError(f"range [{start}, {end}) is empty or beyond the checkpoint ({size})")
        try:
            proof = await store.resolve(conn, schema, merkle.range_plan(start, end, size))
        except merkle.ProofError as exc:
            raise AuditError(_broken(f"range proof [{start}, {end})", exc)) from exc
        return {
            "kind": "range",
            "start": start,
            "end": end,
            "tree_size": size,
            "proof": [b64(h) for h in proof],
            "checkpoint": note,
        }
    if req.get("index") is not None:
        index = int(req["index"])
        if not 0 <= index < size:
            raise AuditError(f"entry {index} is not in the checkpoint of {size} entries")
        try:
            proof = await store.resolve(conn, schema, merkle.inclusion_plan(index, size))
            leaf = await store.get_nodes(conn, schema, [(0, index)])
            merkle.verify_inclusion(index, size, leaf[(0, index)], proof, _signed_root(note))
        except merkle.ProofError as exc:
            raise AuditError(_broken(f"inclusion proof of entry {index}", exc)) from exc
        return {
            "kind": "inclusion",
            "index": index,
            "tree_size": size,
            "leaf_hash": b64(leaf[(0, index)]),
            "proof": [b64(h) for h in proof],
            "checkpoint": note,
        }
    old, new = int(req.get("old_size", 0)), int(req.get("new_size", size))
    if new != size:
        new, note = await covering_checkpoint(conn, schema, new)
    if not 0 <= old <= new:
        raise AuditError(f"cannot prove size {old} -> {new}")
    try:
        proof = await store.resolve(conn, schema, merkle.consistency_plan(old, new))
        old_root = await store.resolve(conn, schema, merkle.root_plan(old)) if old else []
        old_h = old_root[0] if old_root else merkle.EMPTY_ROOT
        merkle.verify_consistency(old, new, old_h, _signed_root(note), proof)
    except merkle.ProofError as exc:
        raise AuditError(_broken(f"consistency proof {old} -> {new}", exc)) from exc
    return {
        "kind": "consistency",
        "old_size": old,
        "new_size": new,
        "old_root": b64(old_h),
        "proof": [b64(h) for h in proof],
        "checkpoint": note,
    }


async def export(conn: store.Conn, schema: str, req: dict[str, Any], vkey: str) -> dict[str, Any]:
    """A range export ({start, end}) or an evidence pack ({request_no} or {grant_id}),
    checked as an auditor would before it leaves (a broken stored tree is named, not sent)."""
    try:
        doc = await _export(conn, schema, req, vkey)
        bundle.check_bundle(doc, vkey)
    except (merkle.ProofError, bundle.BundleError) as exc:
        raise AuditError(_broken("the bundle", exc)) from exc
    return doc


async def _export(conn: store.Conn, schema: str, req: dict[str, Any], vkey: str) -> dict[str, Any]:
    latest = await store.latest_checkpoint(conn, schema)
    if latest is None:
        raise AuditError("the log has no signed checkpoint yet 尚无签名检查点")
    size, note = latest
    cp = Checkpoint.parse_body(note.split("\n\n")[0] + "\n")
    nodes = _Nodes(conn, schema)
    if req.get("request_no") or req.get("grant_id"):
        key = "request_no" if req.get("request_no") else "grant_id"
        wanted = str(req[key])
        if key == "grant_id":
            # The grant's own records (the approval that made it, retrievals, the export)
            # and, through their access request number, the rest of that request's history.
            rows = await conn.fetch(
                f"WITH e AS (SELECT seq, data, request_no, convert_from(substring(data FROM "
                "position('\\x0a'::bytea IN data) + 1), 'UTF8')::jsonb AS env "
                f"FROM {schema}.entry WHERE kind = 'event' "
                "AND position(convert_to($1, 'UTF8') IN data) > 0), "  # cheap byte prefilter
                "g AS (SELECT seq, data, request_no FROM e WHERE env #>> '{data,grant_id}' = $1 "
                "OR env #>> '{data,summary,grant,grant_id}' = $1) "
                f"SELECT seq, data FROM g UNION SELECT seq, data FROM {schema}.entry "
                "WHERE request_no IN (SELECT request_no FROM g) ORDER BY seq",
                wanted,
            )
        else:
            rows = await conn.fetch(
                f"SELECT seq, data FROM {schema}.entry WHERE request_no = $1 ORDER BY seq",
                wanted,
            )
        if not rows:
            raise AuditError(f"no entry for {key} {wanted} 审计日志中没有相关记录")
        late = [int(r["seq"]) for r in rows if r["seq"] >= size]
        if late:
            raise AuditError(
                f"entries {late[0]}.. for {key} {wanted} are not yet covered by a signed "
                f"checkpoint (latest: {size} entries); one is signed within the checkpoint "
                "interval — retry, or export through the service (cctv.rpc.audit.export) "
                "尚无覆盖这些条目的签名检查点，请稍后重试"
            )
        entries = [(int(r["seq"]), bytes(r["data"])) for r in rows]
        proofs = {i: await nodes.inclusion(i, size) for i, _ in entries}
        return bundle.make_bundle(
            origin=cp.origin,
            verifier_key=vkey,
            checkpoint_note=note,
            entries=entries,
            inclusion_proofs=proofs,
            purpose="evidence",
            description=f"证据包 evidence for {key} {wanted}: entries, inclusion proofs, "
            "signed checkpoint",
        )
    start = int(req.get("start", 0))
    end = min(int(req.get("end", size)), size)
    if not 0 <= start < end:
        raise AuditError(f"range [{start}, {end}) is empty or beyond the checkpoint ({size})")
    entries = await store.entries_range(conn, schema, start, end)
    if len(entries) != end - start:
        raise AuditError(f"entries missing in [{start}, {end}): run `cctv audit verify`")
    proof = await store.resolve(conn, schema, merkle.range_plan(start, end, size))
    return bundle.make_bundle(
        origin=cp.origin,
        verifier_key=vkey,
        checkpoint_note=note,
        entries=entries,
        range_proof=proof,
        description=f"审计日志导出 audit log entries [{start}, {end})",
    )


class _Nodes:
    def __init__(self, conn: store.Conn, schema: str) -> None:
        self.conn, self.schema = conn, schema

    async def inclusion(self, index: int, size: int) -> list[bytes]:
        return await store.resolve(self.conn, self.schema, merkle.inclusion_plan(index, size))


async def verify(
    conn: asyncpg.Connection,
    schema: str,
    verifier: Verifier,
    *,
    origin: str | None = None,
    extra_checkpoints: list[str] = (),  # type: ignore[assignment]
) -> tuple[VerifyReport, list[str]]:
    """Recompute chain and tree from every row; check stored and given checkpoints.

    One snapshot for all of it: the writer keeps appending, and rows read after the tree
    heads would look like rows nobody appended."""
    problems: list[str] = []
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        stored = await store.signed_checkpoints(conn, schema, verifier, origin)
        for size, why in stored.invalid:
            problems.append(f"stored checkpoint at size {size} is not validly signed: {why}")
        cps = list(stored.valid)
        for note in extra_checkpoints:
            try:
                cps.append(Checkpoint.open(note, verifier, origin=origin))
            except NoteError as exc:
                problems.append(f"given checkpoint rejected: {exc}")
        heads = await store.tree_heads(conn, schema)
        nodes = await store.all_nodes(conn, schema)
        v = ChainVerifier(
            cps,
            heads=heads,
            derive=index_fields,
            nodes=nodes,
            node_min_level=store.STORED_MIN_LEVEL,
        )
        async for rows in store.iter_chunks(conn, schema):
            v.feed_many(rows)
    return v.finish(), problems
