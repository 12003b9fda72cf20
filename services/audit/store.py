"""audit's tables: entries, tree nodes, tree heads, checkpoints. INSERT and SELECT only.

Why COPY: the writer appends thousands of entries per transaction; COPY is several times
faster than INSERT for that, and the whole batch (entries, new tree nodes, the tree head)
still commits or rolls back as one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from cctv.contract.campustime import parse_instant
from cctv.evidence import merkle
from cctv.evidence.chain import Appended, LogState, Row
from cctv.evidence.checkpoint import Checkpoint, NoteError, Verifier
from cctv.evidence.entry import ZERO_HASH, IndexFields, index_fields

SCHEMA = "audit"
ENTRY_COLUMNS = (
    "seq",
    "event_id",
    "kind",
    "subject",
    "event_type",
    "event_time",
    "recorded_at",
    "actor",
    "camera_ids",
    "request_no",
    "leaf_hash",
    "data",
)


Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

STORED_MIN_LEVEL = 4
"""Perfect nodes are stored from this level up (~n/8 rows for n entries, not ~n); a node
below it is recomputed from at most 8 stored leaf hashes when a proof needs it. Halves the
rows a batch writes, which is most of what tamper evidence costs PostgreSQL."""


def writer_role(schema: str) -> str:
    return f"{schema}_writer"


def _recorded(at: str) -> datetime:
    return parse_instant(at, "at", naive="utc")


def entry_record(a: Appended) -> tuple[Any, ...]:
    e = a.entry
    f = a.fields if a.fields is not None else index_fields(e)
    return (
        e.seq,
        e.event_id,
        e.kind,
        e.subject,
        f.event_type,
        f.event_time,
        _recorded(e.recorded_at),
        f.actor,
        list(f.camera_ids),
        f.request_no,
        a.leaf_hash,
        a.data,
    )


async def existing_ids(conn: Conn, schema: str, ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        f"SELECT event_id FROM {schema}.entry WHERE event_id = ANY($1::text[])", list(ids)
    )
    return {r["event_id"] for r in rows}


async def write_batch(
    conn: asyncpg.Connection, schema: str, batch: Sequence[Appended], head: tuple[int, bytes]
) -> None:
    """Entries, the tree nodes they completed and the new tree head; caller's transaction."""
    await conn.copy_records_to_table(
        "entry",
        schema_name=schema,
        columns=ENTRY_COLUMNS,
        records=[entry_record(a) for a in batch],
    )
    nodes = [(lv, ix, h) for a in batch for lv, ix, h in a.nodes if lv >= STORED_MIN_LEVEL]
    if nodes:
        await conn.copy_records_to_table(
            "tree_node", schema_name=schema, columns=("level", "idx", "hash"), records=nodes
        )
    await conn.execute(f"INSERT INTO {schema}.tree_head (size, root) VALUES ($1, $2)", *head)


async def get_nodes(
    conn: Conn, schema: str, ids: Sequence[merkle.NodeId]
) -> dict[merkle.NodeId, bytes]:
    """Any set of perfect nodes in one round trip: leaves from entries, stored nodes from
    tree_node, and the low nodes that are not stored folded from their leaves."""
    leaves: set[int] = set()
    inner: list[merkle.NodeId] = []
    for lv, ix in ids:
        if lv == 0:
            leaves.add(ix)
        elif lv < STORED_MIN_LEVEL:
            leaves.update(range(ix << lv, (ix + 1) << lv))
        else:
            inner.append((lv, ix))
    rows = await conn.fetch(
        f"SELECT 0 AS level, seq AS idx, leaf_hash AS hash FROM {schema}.entry "
        "WHERE seq = ANY($1::bigint[]) "
        f"UNION ALL SELECT n.level, n.idx, n.hash FROM {schema}.tree_node n "
        "JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, idx) "
        "ON n.level = w.level AND n.idx = w.idx",
        sorted(leaves),
        [lv for lv, _ in inner],
        [ix for _, ix in inner],
    )
    got = {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
    for lv, ix in ids:
        if 0 < lv < STORED_MIN_LEVEL and (lv, ix) not in got:
            row = [got.get((0, i)) for i in range(ix << lv, (ix + 1) << lv)]
            if any(h is None for h in row):
                continue  # reported as missing below
            hashes = [h for h in row if h is not None]
            while len(hashes) > 1:
                hashes = [
                    merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)
                ]
            got[(lv, ix)] = hashes[0]
    missing = [i for i in ids if i not in got]
    if missing:
        raise merkle.ProofError(f"tree node {missing[0]} is missing from the store")
    return {i: got[i] for i in ids}


async def resolve(conn: Conn, schema: str, plan: merkle.ProofPlan) -> list[bytes]:
    return plan.assemble(await get_nodes(conn, schema, plan.node_ids()))


async def tree_size(conn: Conn, schema: str) -> int:
    v = await conn.fetchval(f"SELECT max(seq) FROM {schema}.entry")
    return 0 if v is None else int(v) + 1


class StoreError(RuntimeError):
    """What is stored contradicts itself; the message says what and what to run."""


async def load_state(
    conn: Conn,
    schema: str,
    verifier: Verifier | None = None,
    origin: str | None = None,
    chunk: int = 20_000,
) -> LogState:
    """The writer's memory after a restart, never taken from stored nodes on trust.

    Why: a stored node nobody checks would make the writer sign roots its own entries do not
    have (issue 13). Fast path: the latest checkpoint signed by the writer's own key has its
    perfect cover stored beside it; if the cover folds to the signed root it is authentic,
    and only the leaves after it are hashed on top (O(log n + uncovered)). Otherwise (no such
    checkpoint, or the fold fails) every leaf hash is read and the tree recomputed (about
    five seconds per million entries), and a stored frontier node that disagrees stops the
    writer (StoreError naming it)."""
    async with _read_tx(conn) as c:
        size = await tree_size(c, schema)
        count = await c.fetchval(f"SELECT count(*) FROM {schema}.entry")
        if count != size:
            raise StoreError(
                f"the log has {count} rows but its last entry is number {size - 1}: entries "
                "were removed; run `cctv audit verify` 审计日志被改动，请运行校验"
            )
        start = await _signed_cover(c, schema, size, verifier, origin)
        tree = start if start is not None else merkle.CompactRange()
        last = ZERO_HASH
        cur = tree.size
        while cur < size:
            rows = await c.fetch(
                f"SELECT seq, leaf_hash FROM {schema}.entry WHERE seq >= $1 ORDER BY seq LIMIT $2",
                cur,
                chunk,
            )
            for r in rows:
                if int(r["seq"]) != tree.size:
                    raise StoreError(
                        f"entry {tree.size} is missing (next row is {r['seq']}): the log was "
                        "altered; run `cctv audit verify` 审计日志被改动，请运行校验"
                    )
                tree.append(bytes(r["leaf_hash"]))
            if not rows:
                break
            cur = int(rows[-1]["seq"]) + 1
        if size:
            last = bytes(
                await c.fetchval(f"SELECT leaf_hash FROM {schema}.entry WHERE seq = $1", size - 1)
            )
        if start is None:
            await _check_frontier(c, schema, tree)
    return LogState(tree.size, last, tree.frontier)


async def _signed_cover(
    c: asyncpg.Connection,
    schema: str,
    size: int,
    verifier: Verifier | None,
    origin: str | None,
) -> merkle.CompactRange | None:
    """The tree at the latest checkpoint our key signed, from its stored cover, if the cover
    folds to the signed root; None when there is none to trust."""
    if verifier is None or size == 0:
        return None
    row = await c.fetchrow(
        f"SELECT size, note FROM {schema}.checkpoint WHERE size <= $1 ORDER BY size DESC LIMIT 1",
        size,
    )
    if row is None:
        return None
    try:
        cp = Checkpoint.open(row["note"], verifier, origin=origin)
    except NoteError:
        return None
    if cp.size != row["size"] or cp.size == 0:
        return None
    ids = merkle.CompactRange.frontier_ids(cp.size)
    rows = await c.fetch(
        f"SELECT n.level, n.idx, n.hash FROM {schema}.tree_node n "
        "JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) "
        "ON n.level = w.level AND n.idx = w.idx",
        [lv for lv, _ in ids],
        [ix for _, ix in ids],
    )
    got = {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
    if any(i not in got for i in ids):
        return None  # a checkpoint from before covers were stored
    cover = [got[i] for i in ids]
    if merkle.fold(cover) != cp.root_hash:
        return None  # something in it was altered: recompute, and name it
    return merkle.CompactRange(cp.size, cover)


async def _check_frontier(c: asyncpg.Connection, schema: str, tree: merkle.CompactRange) -> None:
    ids = [i for i in merkle.CompactRange.frontier_ids(tree.size) if i[0] >= STORED_MIN_LEVEL]
    if not ids:
        return
    rows = await c.fetch(
        f"SELECT n.level, n.idx, n.hash FROM {schema}.tree_node n "
        "JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx) "
        "ON n.level = w.level AND n.idx = w.idx",
        [lv for lv, _ in ids],
        [ix for _, ix in ids],
    )
    stored = {(r["level"], r["idx"]): bytes(r["hash"]) for r in rows}
    want = dict(zip(merkle.CompactRange.frontier_ids(tree.size), tree.frontier, strict=True))
    for nid in ids:
        if stored.get(nid) != want[nid]:
            lv, ix = nid
            raise StoreError(
                f"stored tree node (level {lv}, index {ix}) over entries "
                f"[{ix << lv}, {(ix + 1) << lv}) "
                + ("is missing" if nid not in stored else "differs from the entries")
                + ": not signing on top of it; run `cctv audit verify` "
                "存储的树节点与条目不符"
            )


def _read_tx(conn: Conn) -> Any:
    """One snapshot for the whole reload (the pool form acquires a connection)."""
    import contextlib

    @contextlib.asynccontextmanager
    async def tx() -> AsyncIterator[asyncpg.Connection]:
        if isinstance(conn, asyncpg.Pool):
            async with conn.acquire() as c, c.transaction(isolation="repeatable_read"):
                yield c
        else:
            async with conn.transaction(isolation="repeatable_read"):
                yield conn

    return tx()


async def save_cover(conn: Conn, schema: str, size: int, frontier: Sequence[bytes]) -> None:
    """The perfect cover of [0, size) beside its checkpoint: low levels and the odd leaf
    included, so verify can fold stored nodes to the signed root (see ChainVerifier)."""
    ids = merkle.CompactRange.frontier_ids(size)
    low = [(lv, ix, h) for (lv, ix), h in zip(ids, frontier, strict=True) if lv < STORED_MIN_LEVEL]
    if low:
        await conn.executemany(
            f"INSERT INTO {schema}.tree_node (level, idx, hash) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            low,
        )


async def all_nodes(conn: Conn, schema: str) -> dict[merkle.NodeId, bytes]:
    rows = await conn.fetch(f"SELECT level, idx, hash FROM {schema}.tree_node")
    return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in rows}


# --- checkpoints and keys ---------------------------------------------------------------


async def save_checkpoint(conn: Conn, schema: str, cp: Checkpoint, note: str) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.checkpoint (size, root, note) VALUES ($1, $2, $3) "
        "ON CONFLICT (size) DO NOTHING",
        cp.size,
        cp.root_hash,
        note,
    )


async def latest_checkpoint(conn: Conn, schema: str) -> tuple[int, str] | None:
    row = await conn.fetchrow(
        f"SELECT size, note FROM {schema}.checkpoint ORDER BY size DESC LIMIT 1"
    )
    return (int(row["size"]), row["note"]) if row else None


async def checkpoint_at_least(conn: Conn, schema: str, size: int) -> tuple[int, str] | None:
    row = await conn.fetchrow(
        f"SELECT size, note FROM {schema}.checkpoint WHERE size >= $1 ORDER BY size LIMIT 1",
        size,
    )
    return (int(row["size"]), row["note"]) if row else None


async def record_key(conn: Conn, schema: str, vkey: str) -> None:
    await conn.execute(
        f"INSERT INTO {schema}.log_key (vkey) VALUES ($1) ON CONFLICT DO NOTHING", vkey
    )


async def log_keys(conn: Conn, schema: str) -> list[str]:
    return [r["vkey"] for r in await conn.fetch(f"SELECT vkey FROM {schema}.log_key")]


@dataclass
class StoredCheckpoints:
    valid: list[Checkpoint]
    invalid: list[tuple[int, str]]


async def signed_checkpoints(
    conn: Conn, schema: str, verifier: Verifier, origin: str | None
) -> StoredCheckpoints:
    """Every stored checkpoint whose signature verifies; the others with the reason."""
    out = StoredCheckpoints([], [])
    for r in await conn.fetch(f"SELECT size, note FROM {schema}.checkpoint ORDER BY size"):
        try:
            cp = Checkpoint.open(r["note"], verifier, origin=origin)
        except NoteError as exc:
            out.invalid.append((int(r["size"]), str(exc)))
            continue
        if cp.size != r["size"]:
            out.invalid.append((int(r["size"]), f"note says size {cp.size}"))
            continue
        out.valid.append(cp)
    return out


async def tree_heads(conn: Conn, schema: str) -> list[tuple[int, bytes]]:
    rows = await conn.fetch(f"SELECT size, root FROM {schema}.tree_head ORDER BY size")
    return [(int(r["size"]), bytes(r["root"])) for r in rows]


# --- reading entries back --------------------------------------------------------------


def row_columns(r: asyncpg.Record) -> IndexFields:
    return IndexFields(
        event_type=r["event_type"],
        event_time=r["event_time"],
        actor=r["actor"],
        camera_ids=tuple(r["camera_ids"] or ()),
        request_no=r["request_no"],
    )


async def iter_chunks(
    conn: asyncpg.Connection, schema: str, chunk: int = 5000
) -> AsyncIterator[list[Row]]:
    """All rows in seq order, a chunk at a time, through a server-side cursor (needs a
    transaction). The next chunk is requested before the current one is handed out, so
    PostgreSQL reads it while the caller hashes this one."""
    cur = await conn.cursor(
        "SELECT seq, data, leaf_hash, event_type, event_time, actor, camera_ids, request_no "
        f"FROM {schema}.entry ORDER BY seq"
    )
    queue: asyncio.Queue[list[Row] | None] = asyncio.Queue(maxsize=2)

    async def produce() -> None:
        while True:
            recs = await cur.fetch(chunk)
            await queue.put(
                [
                    Row(int(r["seq"]), bytes(r["data"]), bytes(r["leaf_hash"]), row_columns(r))
                    for r in recs
                ]
            )
            if len(recs) < chunk:
                await queue.put(None)
                return

    task = asyncio.create_task(produce())
    try:
        while (rows := await queue.get()) is not None:
            if rows:
                yield rows
        await task
    finally:
        task.cancel()


async def entries_range(conn: Conn, schema: str, start: int, end: int) -> list[tuple[int, bytes]]:
    rows = await conn.fetch(
        f"SELECT seq, data FROM {schema}.entry WHERE seq >= $1 AND seq < $2 ORDER BY seq",
        start,
        end,
    )
    return [(int(r["seq"]), bytes(r["data"])) for r in rows]


@dataclass(frozen=True)
class Query:
    """Find entries; every filter optional, results in log order, keyset-paginated."""

    camera_id: str | None = None
    actor: str | None = None
    request_no: str | None = None
    event_type: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int = -1
    limit: int = 50


async def query(conn: Conn, schema: str, q: Query) -> list[asyncpg.Record]:
    where = ["seq > $1"]
    args: list[Any] = [q.after_seq]

    def add(cond: str, value: Any) -> None:
        args.append(value)
        where.append(cond.replace("?", f"${len(args)}"))

    if q.camera_id:
        add("camera_ids @> ARRAY[?]::text[]", q.camera_id)
    if q.actor:
        add("actor = ?", q.actor)
    if q.request_no:
        add("request_no = ?", q.request_no)
    if q.event_type:
        add("event_type = ?", q.event_type)
    if q.kind:
        add("kind = ?", q.kind)
    if q.since:
        add("event_time >= ?", q.since)
    if q.until:
        add("event_time < ?", q.until)
    args.append(max(1, min(q.limit, 500)))
    return list(
        await conn.fetch(
            f"SELECT seq, event_id, kind, subject, event_type, event_time, recorded_at, actor, "
            f"camera_ids, request_no, leaf_hash, data FROM {schema}.entry "
            f"WHERE {' AND '.join(where)} ORDER BY seq LIMIT ${len(args)}",
            *args,
        )
    )


__all__ = ["ZERO_HASH", "Query", "StoredCheckpoints"]
