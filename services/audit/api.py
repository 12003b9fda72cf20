"""What the audit log answers, over a database connection: queries with proofs, proofs,
bundles and verification. Shared by the service's request-reply handlers and the CLI.

Requests and replies are the typed models of :mod:`cctv.contract.rpcmodels` (``Audit*``); a
refusal is an :class:`AuditError` with a code and the reason in Chinese and English, which the
service answers in the one error shape.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg

from cctv.contract import rpcmodels as m
from cctv.evidence import bundle, merkle
from cctv.evidence.chain import ChainVerifier, VerifyReport
from cctv.evidence.checkpoint import Checkpoint, NoteError, Verifier
from cctv.evidence.entry import Entry, index_fields

from . import store


class AuditError(ValueError):
    """A request the log cannot answer, in the one error shape: a stable code, why in Chinese
    and English, and the article when the regulation is the reason."""

    def __init__(self, code: str, zh: str, en: str, article: str | None = None) -> None:
        super().__init__(f"{zh} — {en}")
        self.code, self.zh, self.en, self.article = code, zh, en, article


NO_CHECKPOINT = ("no_checkpoint", "尚无签名检查点", "the log has no signed checkpoint yet")


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def parse_query(q: m.AuditQueryRequest) -> store.Query:
    """The store's query from the typed request (bounds and types were checked by the model)."""
    return store.Query(
        camera_id=q.camera_id or None,
        actor=q.actor or None,
        request_no=q.request_no or None,
        event_type=q.event_type or None,
        kind=q.kind or None,
        since=q.since,
        until=q.until,
        after_seq=q.after_seq,
        limit=q.limit,
    )


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
            "no_checkpoint",
            "尚无覆盖该条目的签名检查点",
            f"no signed checkpoint covers {size} entries yet; the next one is made within "
            "the checkpoint interval",
        )
    return found


def _signed_root(note: str) -> bytes:
    """The root a stored checkpoint note states (its signature is checked by the caller)."""
    return Checkpoint.parse_body(note.split("\n\n")[0] + "\n").root_hash


def _broken(what: str, exc: Exception) -> AuditError:
    return AuditError(
        "tree_altered",
        "存储的树节点已被改动，请运行 `cctv audit verify` 校验",
        f"{what} built from the stored tree nodes does not match the signed checkpoint "
        f"({exc}): the stored tree was altered; run `cctv audit verify`",
    )


def _empty_range(start: int, end: int, size: int) -> AuditError:
    return AuditError(
        "bad_range",
        f"范围 [{start}, {end}) 为空或超出检查点（{size} 条）",
        f"range [{start}, {end}) is empty or beyond the checkpoint ({size})",
    )


REPLY_BUDGET = 600_000
"""Bytes of entries one query reply carries at most (NATS max_payload is 1 MiB); a page cut
short by it says where to go on (``next_after_seq``) like a full page does."""


async def query(conn: store.Conn, schema: str, q: m.AuditQueryRequest) -> m.AuditQueryReply:
    """Entries matching the filters, in log order. ``compact`` returns only ``seq`` and the
    entry bytes (what `cctv audit export` pages through)."""
    rows = await store.query(conn, schema, parse_query(q))
    entries: list[dict[str, Any]] = []
    used = 0
    for r in rows:
        item = {"seq": r["seq"], "entry": b64(bytes(r["data"]))} if q.compact else entry_json(r)
        cost = len(bytes(r["data"])) * (2 if q.compact else 3) + 200
        if entries and used + cost > REPLY_BUDGET:
            break
        entries.append(item)
        used += cost
    cut = len(entries) < len(rows)
    more = bool(entries) and (cut or len(rows) == q.limit)
    checkpoint: str | None = None
    rows = rows[: len(entries)]
    if q.proof and rows:
        size, checkpoint = await covering_checkpoint(conn, schema, int(rows[-1]["seq"]) + 1)
        for item in entries:
            proof = await store.resolve(conn, schema, merkle.inclusion_plan(item["seq"], size))
            item["inclusion_proof"] = [b64(h) for h in proof]
    body: dict[str, Any] = {
        "entries": entries,
        "next_after_seq": entries[-1]["seq"] if more else None,
    }
    if checkpoint is not None:
        body["checkpoint"] = checkpoint
    return m.AuditQueryReply.model_validate(body)


async def _latest(conn: store.Conn, schema: str) -> tuple[int, str]:
    latest = await store.latest_checkpoint(conn, schema)
    if latest is None:
        raise AuditError(*NO_CHECKPOINT)
    return latest


async def prove(conn: store.Conn, schema: str, q: m.AuditProveRequest) -> m.AuditProveReply:
    """Inclusion proof of entry ``index``, range proof ``start``..``end``, or consistency proof
    ``old_size`` -> ``new_size``, against a stored signed checkpoint (the latest unless
    ``size`` names one)."""
    size, note = await _latest(conn, schema)
    if q.size is not None:
        size, note = await covering_checkpoint(conn, schema, q.size)
        if size != q.size:
            raise AuditError(
                "no_checkpoint",
                f"没有大小为 {q.size} 的检查点（下一个为 {size}）",
                f"no checkpoint at size {q.size} (next one is at {size})",
            )
    if q.start is not None:
        start, end = q.start, min(size if q.end is None else q.end, size)
        if not 0 <= start < end:
            raise _empty_range(start, end, size)
        try:
            proof = await store.resolve(conn, schema, merkle.range_plan(start, end, size))
        except merkle.ProofError as exc:
            raise _broken(f"range proof [{start}, {end})", exc) from exc
        return m.AuditProveReply(
            kind="range",
            start=start,
            end=end,
            tree_size=size,
            proof=[b64(h) for h in proof],
            checkpoint=note,
        )
    if q.index is not None:
        index = q.index
        if not 0 <= index < size:
            raise AuditError(
                "not_found",
                f"第 {index} 条不在 {size} 条的检查点内",
                f"entry {index} is not in the checkpoint of {size} entries",
            )
        try:
            proof = await store.resolve(conn, schema, merkle.inclusion_plan(index, size))
            leaf = await store.get_nodes(conn, schema, [(0, index)])
            merkle.verify_inclusion(index, size, leaf[(0, index)], proof, _signed_root(note))
        except merkle.ProofError as exc:
            raise _broken(f"inclusion proof of entry {index}", exc) from exc
        return m.AuditProveReply(
            kind="inclusion",
            index=index,
            tree_size=size,
            leaf_hash=b64(leaf[(0, index)]),
            proof=[b64(h) for h in proof],
            checkpoint=note,
        )
    old, new = q.old_size, size if q.new_size is None else q.new_size
    if new != size:
        new, note = await covering_checkpoint(conn, schema, new)
    if not 0 <= old <= new:
        raise AuditError(
            "bad_range", f"无法证明 {old} -> {new} 的一致性", f"cannot prove size {old} -> {new}"
        )
    try:
        proof = await store.resolve(conn, schema, merkle.consistency_plan(old, new))
        old_root = await store.resolve(conn, schema, merkle.root_plan(old)) if old else []
        old_h = old_root[0] if old_root else merkle.EMPTY_ROOT
        merkle.verify_consistency(old, new, old_h, _signed_root(note), proof)
    except merkle.ProofError as exc:
        raise _broken(f"consistency proof {old} -> {new}", exc) from exc
    return m.AuditProveReply(
        kind="consistency",
        old_size=old,
        new_size=new,
        old_root=b64(old_h),
        proof=[b64(h) for h in proof],
        checkpoint=note,
    )


async def export(
    conn: store.Conn, schema: str, q: m.AuditExportRequest, vkey: str
) -> dict[str, Any]:
    """A range export ({start, end}) or an evidence pack ({request_no} or {grant_id}),
    checked as an auditor would before it leaves (a broken stored tree is named, not sent)."""
    try:
        doc = await _export(conn, schema, q, vkey)
        bundle.check_bundle(doc, vkey)
    except (merkle.ProofError, bundle.BundleError) as exc:
        raise _broken("the bundle", exc) from exc
    return doc


async def _export(
    conn: store.Conn, schema: str, q: m.AuditExportRequest, vkey: str
) -> dict[str, Any]:
    size, note = await _latest(conn, schema)
    cp = Checkpoint.parse_body(note.split("\n\n")[0] + "\n")
    nodes = _Nodes(conn, schema)
    if q.request_no or q.grant_id:
        key = "request_no" if q.request_no else "grant_id"
        wanted = q.request_no or q.grant_id or ""
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
            raise AuditError(
                "not_found",
                f"审计日志中没有 {key} {wanted} 的相关记录",
                f"no entry for {key} {wanted} in the audit log",
                "Art. 15",
            )
        late = [int(r["seq"]) for r in rows if r["seq"] >= size]
        if late:
            raise AuditError(
                "no_checkpoint",
                "尚无覆盖这些条目的签名检查点，请稍后重试",
                f"entries {late[0]}.. for {key} {wanted} are not yet covered by a signed "
                f"checkpoint (latest: {size} entries); one is signed within the checkpoint "
                "interval — retry, or export through the service (cctv.rpc.audit.export)",
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
    start = q.start
    end = min(size if q.end is None else q.end, size)
    if not 0 <= start < end:
        raise _empty_range(start, end, size)
    entries = await store.entries_range(conn, schema, start, end)
    if len(entries) != end - start:
        raise AuditError(
            "tree_altered",
            f"[{start}, {end}) 中有条目缺失，请运行 `cctv audit verify`",
            f"entries missing in [{start}, {end}): run `cctv audit verify`",
        )
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
