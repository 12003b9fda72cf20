"""The log in real PostgreSQL: append-only enforcement, and every kind of superuser tampering
detected and named by verify. Uses the session's real PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from cctv.contract import rpcmodels as m
from cctv.evidence import bundle, merkle
from cctv.evidence.chain import VerifyReport
from cctv.evidence.checkpoint import Checkpoint, Signer
from cctv.evidence.entry import Witnessed
from cctv.plumbing.db import apply_migrations, create_pool
from services.audit import api, store
from services.audit.writer import AuditWriter, WriterConfig

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "audit" / "migrations"
ORIGIN = "test.campus/audit"
SIGNER = Signer.generate("test.campus/audit")


def item(i: int) -> Witnessed:
    env = {
        "id": f"ev-{i}",
        "type": "access.recorded",
        "time": "2026-11-25T08:00:00+08:00",
        "source": "console",
        "key": f"cam-{i % 3}",
        "actor": f"user-{i % 4}",
        "correlation_id": "-",
        "schema_version": 1,
        "data": {
            "action": "view",
            "actor": f"user-{i % 4}",
            "camera_ids": [f"cam-{i % 3}"],
            "request_no": f"DY-{i % 2}",
            "detail": "查阅",
        },
    }
    return Witnessed.event(
        f"cctv.access.recorded.cam-{i % 3}", f"ev-{i}", json.dumps(env, ensure_ascii=False).encode()
    )


class Log:
    def __init__(
        self, admin: asyncpg.Pool, writer_pool: asyncpg.Pool, schema: str, writer: AuditWriter
    ) -> None:
        self.admin, self.writer_pool, self.schema, self.writer = admin, writer_pool, schema, writer

    async def tamper(self, *sql: str) -> None:
        """What a superuser can do: switch the triggers off for the session and edit rows."""
        async with self.admin.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            for s in sql:
                await conn.execute(s.replace("{s}", self.schema))

    async def verify(self) -> VerifyReport:
        async with self.writer_pool.acquire() as conn:
            report, problems = await api.verify(conn, self.schema, SIGNER.verifier, origin=ORIGIN)
        assert not problems
        return report


@pytest.fixture
async def log(database_url: str) -> AsyncIterator[Log]:
    schema = f"audit_{uuid.uuid4().hex[:8]}"
    admin = await create_pool(database_url)
    await apply_migrations(admin, schema, MIGRATIONS)
    wpool = await asyncpg.create_pool(database_url, user=f"{schema}_writer", min_size=1, max_size=2)
    assert wpool is not None
    w = AuditWriter(wpool, schema, SIGNER, WriterConfig(ORIGIN, checkpoint_every=8))
    await w.start(dsn=database_url)
    for start in range(0, 30, 7):
        await w.append([item(i) for i in range(start, min(start + 7, 30))])
    await w.checkpoint_if_due(force=True)
    yield Log(admin, wpool, schema, w)
    await w.stop()
    await wpool.close()
    await admin.close()


async def test_intact_log_verifies(log: Log) -> None:
    rep = await log.verify()
    assert rep.ok, rep.findings
    assert rep.size == 30
    # every 8 entries, at batch boundaries (batches of 7), plus the forced one at the end
    assert rep.checkpoints_ok == [14, 28, 30]


async def test_duplicates_are_not_appended_again(log: Log) -> None:
    assert await log.writer.append([item(3), item(3), item(29)]) == 0
    assert await log.writer.append([item(30), item(30)]) == 1
    assert await store.tree_size(log.writer_pool, log.schema) == 31


async def test_service_role_may_only_insert_and_select(log: Log) -> None:
    async with log.writer_pool.acquire() as conn:
        for sql in (
            "UPDATE {s}.entry SET actor='x'",
            "DELETE FROM {s}.entry",
            "TRUNCATE {s}.entry",
            "DELETE FROM {s}.checkpoint",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql.replace("{s}", log.schema))


async def test_triggers_refuse_changes_even_to_the_owner(log: Log) -> None:
    async with log.admin.acquire() as conn:
        for sql in (
            "UPDATE {s}.entry SET actor='x' WHERE seq=1",
            "DELETE FROM {s}.tree_node",
            "TRUNCATE {s}.entry",
            "UPDATE {s}.checkpoint SET note=''",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(sql.replace("{s}", log.schema))


async def test_changed_row_is_named(log: Log) -> None:
    await log.tamper(
        "UPDATE {s}.entry SET data = convert_to(replace(convert_from(data, 'UTF8'), "
        "'user-1', 'user-2'), 'UTF8') WHERE seq = 13"
    )
    f = (await log.verify()).first
    assert f is not None and (f.index, f.kind) == (13, "changed"), f


async def test_changed_column_is_named(log: Log) -> None:
    await log.tamper("UPDATE {s}.entry SET actor = 'nobody' WHERE seq = 9")
    f = (await log.verify()).first
    assert f is not None and (f.index, f.kind) == (9, "changed") and "actor" in f.detail


async def test_deleted_row_is_named(log: Log) -> None:
    await log.tamper("DELETE FROM {s}.entry WHERE seq = 17")
    f = (await log.verify()).first
    assert f is not None and (f.index, f.kind) == (17, "removed"), f


async def test_reordered_rows_are_named(log: Log) -> None:
    await log.tamper(
        "UPDATE {s}.entry SET seq = 1000 WHERE seq = 5",
        "UPDATE {s}.entry SET seq = 5 WHERE seq = 20",
        "UPDATE {s}.entry SET seq = 20 WHERE seq = 1000",
    )
    f = (await log.verify()).first
    assert f is not None and (f.index, f.kind) == (5, "reordered"), f
    assert "position 20" in f.detail


async def test_inserted_row_is_named(log: Log) -> None:
    # Shift entries >= 11 up by one and slip a forged, correctly chained row in at 11.
    prev = await log.admin.fetchval(f"SELECT leaf_hash FROM {log.schema}.entry WHERE seq = 10")
    forged = item(999).at(11, bytes(prev), "2026-11-25T00:00:00.000000Z")
    data = forged.encode()
    await log.tamper(
        "UPDATE {s}.entry SET seq = seq + 1000 WHERE seq >= 11",
        "UPDATE {s}.entry SET seq = seq - 999 WHERE seq >= 1000",
    )
    async with log.admin.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            f"INSERT INTO {log.schema}.entry (seq, event_id, kind, subject, recorded_at, "
            "leaf_hash, data) "
            "VALUES (11, 'forged', 'event', 'cctv.access.recorded', now(), $1, $2)",
            merkle.leaf_hash(data),
            data,
        )
    f = (await log.verify()).first
    assert f is not None and (f.index, f.kind) == (11, "inserted"), f


async def test_truncated_table_is_named(log: Log) -> None:
    await log.tamper("TRUNCATE {s}.entry")
    f = (await log.verify()).first
    assert f is not None and (f.index, f.kind) == (0, "truncated"), f
    assert "30" in f.detail


async def test_tail_deleted_is_named_truncated(log: Log) -> None:
    await log.tamper("DELETE FROM {s}.entry WHERE seq >= 25")
    f = (await log.verify()).first
    assert f is not None and (f.index, f.kind) == (25, "truncated"), f


async def test_restart_continues_the_same_tree(log: Log, database_url: str) -> None:
    w2 = AuditWriter(log.writer_pool, log.schema, SIGNER, WriterConfig(ORIGIN))
    await w2.start()
    assert w2.state.root() == log.writer.state.root()
    await w2.append([item(i) for i in range(30, 40)])
    await w2.checkpoint_if_due(force=True)
    rep = await log.verify()
    assert rep.ok and rep.size == 40


async def test_proofs_and_bundles_from_the_database(log: Log) -> None:
    async with log.writer_pool.acquire() as conn:
        p = await api.prove(conn, log.schema, m.AuditProveRequest(index=7))
        cp = Checkpoint.open(p.checkpoint, SIGNER.verifier)
        import base64

        leaf = base64.b64decode(p.leaf_hash or "")
        merkle.verify_inclusion(
            7, cp.size, leaf, [base64.b64decode(h) for h in p.proof], cp.root_hash
        )
        c = await api.prove(conn, log.schema, m.AuditProveRequest(old_size=8, new_size=30))
        merkle.verify_consistency(
            8,
            30,
            base64.b64decode(c.old_root or ""),
            cp.root_hash,
            [base64.b64decode(h) for h in c.proof],
        )
        doc = await api.export(
            conn, log.schema, m.AuditExportRequest(start=3, end=25), SIGNER.verifier.vkey()
        )
        rep = bundle.check_bundle(bundle.loads(bundle.dumps(doc)), SIGNER.verifier.vkey())
        assert [e.index for e in rep.entries] == list(range(3, 25))
        ev = await api.export(
            conn, log.schema, m.AuditExportRequest(request_no="DY-1"), SIGNER.verifier.vkey()
        )
        rep2 = bundle.check_bundle(ev, SIGNER.verifier.vkey())
        assert [e.index for e in rep2.entries] == list(range(1, 30, 2))
        q = await api.query(
            conn,
            log.schema,
            m.AuditQueryRequest(camera_id="cam-1", actor="user-1", limit=2, proof=True),
        )
        assert [e.seq for e in q.entries] == [1, 13]
        assert q.next_after_seq == 13
        q2 = await api.query(
            conn, log.schema, m.AuditQueryRequest(camera_id="cam-1", actor="user-1", after_seq=13)
        )
        assert [e.seq for e in q2.entries] == [25]


async def test_proofs_from_stored_nodes_equal_the_reference_tree(log: Log) -> None:
    """Nodes below STORED_MIN_LEVEL are folded from leaves: every proof must still be the
    RFC 9162 one, for every entry and every pair of sizes."""
    tree = merkle.MemoryTree()
    for _, data in await store.entries_range(log.writer_pool, log.schema, 0, 30):
        tree.append(data)
    async with log.writer_pool.acquire() as conn:
        for size in (1, 7, 16, 17, 30):
            root = await store.resolve(conn, log.schema, merkle.root_plan(size))
            assert root == [tree.root(size)]
            for i in range(size):
                got = await store.resolve(conn, log.schema, merkle.inclusion_plan(i, size))
                assert got == tree.inclusion_proof(i, size), (i, size)
            for old in range(size + 1):
                got = await store.resolve(conn, log.schema, merkle.consistency_plan(old, size))
                assert got == tree.consistency_proof(old, size), (old, size)
        # below STORED_MIN_LEVEL only the covers stored with signed checkpoints
        low = await conn.fetch(
            f"SELECT level, idx FROM {log.schema}.tree_node WHERE level < $1",
            store.STORED_MIN_LEVEL,
        )
        sizes = await conn.fetch(f"SELECT size FROM {log.schema}.checkpoint")
        covers = {
            nid
            for r in sizes
            for nid in merkle.CompactRange.frontier_ids(int(r["size"]))
            if nid[0] < store.STORED_MIN_LEVEL
        }
        assert {(r["level"], r["idx"]) for r in low} == covers


async def test_verify_while_the_writer_appends_sees_one_consistent_log(log: Log) -> None:
    """Verify reads one snapshot: rows committed meanwhile are neither tampering nor missing."""
    stop = asyncio.Event()

    async def keep_appending() -> int:
        i = 1000
        while not stop.is_set():
            await log.writer.append([item(i), item(i + 1)])
            i += 2
        return i

    appender = asyncio.create_task(keep_appending())
    try:
        for _ in range(30):
            rep = await log.verify()
            assert rep.ok, rep.findings
    finally:
        stop.set()
        assert await appender > 1000


async def test_altered_stored_node_is_named_by_verify_prove_and_a_restarted_writer(
    log: Log,
) -> None:
    """Issue 13 defect 4: verify checks the stored inner nodes; prove and export refuse a
    proof the signed checkpoint does not back; a restarted writer does not sign on top."""
    await log.tamper("UPDATE {s}.tree_node SET hash = sha256(hash) WHERE level = 4 AND idx = 0")
    rep = await log.verify()
    assert [f.kind for f in rep.findings] == ["node"], rep.findings
    assert "level 4, index 0" in rep.findings[0].detail
    assert rep.checkpoints_ok == [14, 28, 30]  # the entries themselves are intact
    async with log.writer_pool.acquire() as conn:
        with pytest.raises(api.AuditError, match="stored tree was altered"):
            await api.prove(conn, log.schema, m.AuditProveRequest(index=20))
        with pytest.raises(api.AuditError, match="stored tree was altered"):
            await api.export(
                conn, log.schema, m.AuditExportRequest(start=20, end=25), SIGNER.verifier.vkey()
            )
    again = AuditWriter(log.writer_pool, log.schema, SIGNER, WriterConfig(ORIGIN))
    with pytest.raises(store.StoreError, match=r"level 4, index 0.*\[0, 16\)"):
        await again.start()


async def test_rewrite_with_recomputed_heads_is_located_by_signed_checkpoints(log: Log) -> None:
    """Issue 13 defect 3: a superuser rewrites entry 20 on, recomputing the chain and every
    unsigned tree head. The place comes from the signed checkpoints (14 good, 28 bad) and the
    stored nodes the signed root authenticates — not from a head."""
    from cctv.evidence.chain import LogState
    from cctv.evidence.entry import Entry

    rows = await store.entries_range(log.writer_pool, log.schema, 0, 30)
    st = LogState()
    new: list[tuple[int, bytes, bytes]] = []
    roots: dict[int, bytes] = {}
    for seq, data in rows:
        e = Entry.decode(data)
        payload = e.payload.replace("查阅".encode(), "改过".encode()) if seq == 20 else e.payload
        a = st.append(Witnessed(e.kind, e.subject, e.event_id, payload), e.recorded_at)
        new.append((seq, a.data, a.leaf_hash))
        roots[st.size] = st.root()
    await log.tamper(
        *[
            f"UPDATE {{s}}.entry SET data = '\\x{d.hex()}'::bytea, "
            f"leaf_hash = '\\x{h.hex()}'::bytea WHERE seq = {seq}"
            for seq, d, h in new[20:]
        ],
        *[
            f"UPDATE {{s}}.tree_head SET root = '\\x{r.hex()}'::bytea WHERE size = {n}"
            for n, r in roots.items()
        ],
    )
    rep = await log.verify()
    assert rep.checkpoints_ok == [14]
    assert rep.first is not None and rep.first.kind == "checkpoint", rep.findings
    assert rep.first.index == 16 and "[16, 24)" in rep.first.detail, rep.first


async def test_query_pages_are_cut_by_size_and_say_where_to_go_on(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply never outgrows a NATS message: a page cut by bytes continues like a full one."""
    monkeypatch.setattr(api, "REPLY_BUDGET", 4000)
    seen: list[int] = []
    after = -1
    async with log.writer_pool.acquire() as conn:
        while True:
            page = await api.query(
                conn, log.schema, m.AuditQueryRequest(after_seq=after, compact=True)
            )
            seen += [e.seq for e in page.entries]
            assert 0 < len(page.entries) < 30
            assert page.entries[0].model_fields_set == {"seq", "entry"}
            if page.next_after_seq is None:
                break
            after = page.next_after_seq
        r = await api.prove(conn, log.schema, m.AuditProveRequest(start=3, end=25))
    assert seen == list(range(30))
    assert r.kind == "range" and (r.start, r.end, r.tree_size) == (3, 25, 30)


async def test_a_restarting_writer_starts_from_the_signed_cover_not_from_every_leaf(
    log: Log,
) -> None:
    """The latest checkpoint signed by the writer's key, with its stored cover, is where a
    restart begins: an edited old leaf hash does not change what the writer signs next
    (verify reports it), and without the key the writer recomputes everything and stops."""
    await log.tamper("UPDATE {s}.entry SET leaf_hash = sha256(leaf_hash) WHERE seq = 0")
    async with log.writer_pool.acquire() as conn:
        st = await store.load_state(conn, log.schema, SIGNER.verifier, ORIGIN)
        cp = Checkpoint.parse_body(
            (await store.latest_checkpoint(conn, log.schema))[1].split("\n\n")[0] + "\n"  # type: ignore[index]
        )
        assert (st.size, st.root()) == (30, cp.root_hash)
        with pytest.raises(store.StoreError, match=r"level 4, index 0"):
            await store.load_state(conn, log.schema)
    rep = await log.verify()
    assert rep.first is not None and rep.first.index == 0
