"""`cctv audit verify | export | check | prove | key | witness` against a running audit
service (request-reply) over a real PostgreSQL log, tampered with as a superuser would."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cctv.cli.audit import EXIT_ALERT
from cctv.cli.main import main
from cctv.contract import subject_for, wrap
from cctv.contract.events import AccessRecorded
from cctv.evidence.checkpoint import Checkpoint, NoteError, Signer, load_or_create_signer
from cctv.evidence.merkle import leaf_hash
from cctv.plumbing.identity import HEADER
from services.audit.app import AuditService, build
from services.audit.settings import AuditSettings
from tests.support.audit import exactly_once, publish, running
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity


def access(i: int, tag: str) -> tuple[str, bytes, str]:
    ev = AccessRecorded(
        action="export" if i == 7 else "view",
        actor=f"user-{i % 2}",
        camera_ids=["cam-1"],
        grant_id=f"G-{tag}" if i in (3, 7) else None,
        request_no=f"DY-{tag}" if i in (3, 7) else None,
        detail="查阅",
    )
    env = wrap(ev, source="console", key="cam-1", actor=f"user-{i % 2}")
    return subject_for(ev, "cam-1"), env.to_bytes(), env.id


@dataclass
class Served:
    audit: AuditService
    cfg: AuditSettings
    tag: str
    seqs: dict[int, int]
    """event number -> its position in the log (the stream may hold other tests' events)"""
    signer: Signer

    @property
    def vkey(self) -> str:
        return self.signer.verifier.vkey()

    async def cli(self, *args: str) -> int:
        """The CLI in a thread: it runs its own event loop, the service runs in ours."""
        return await asyncio.to_thread(main, ["audit", *args])

    async def tamper(self, *sql: str, inserted_at: int | None = None) -> None:
        conn = await asyncpg.connect(self.cfg.database_url)
        s = self.cfg.audit_schema
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                if inserted_at is not None:
                    await _insert_forged(conn, s, inserted_at)
                for q in sql:
                    await conn.execute(q.replace("{s}", s))
        finally:
            await conn.close()


async def _insert_forged(conn: asyncpg.Connection, s: str, p: int) -> None:
    """A correctly chained forged entry at position p; the rows from p on move up by one."""
    from cctv.evidence.entry import Witnessed

    prev = await conn.fetchval(f"SELECT leaf_hash FROM {s}.entry WHERE seq = $1", p - 1)
    data = (
        Witnessed.event("cctv.access.recorded.cam-1", "forged", b"{}")
        .at(p, bytes(prev), "2026-11-25T00:00:00.000000Z")
        .encode()
    )
    await conn.execute(f"UPDATE {s}.entry SET seq = seq + 1000000 WHERE seq >= $1", p)
    await conn.execute(f"UPDATE {s}.entry SET seq = seq - 999999 WHERE seq >= 1000000")
    await conn.execute(
        f"INSERT INTO {s}.entry (seq, event_id, kind, subject, recorded_at, leaf_hash, data) "
        "VALUES ($1, 'forged', 'event', 'cctv.access.recorded', now(), $2, $3)",
        p,
        leaf_hash(data),
        data,
    )


@pytest.fixture
async def served(
    cfg: AuditSettings, js: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Served]:
    monkeypatch.setenv("NATS_URL", cfg.nats_url)
    # the operator signed on as NIC's administrator (a CCTV_TOKEN credential, issue 11)
    nic = identity("nic_admin", "sysadmin", department="nic")
    monkeypatch.setenv("CCTV_TOKEN", headers_as(nic)[HEADER])
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "operator"))  # no key configured by default
    monkeypatch.delenv("AUDIT_PUBLIC_KEY_FILE", raising=False)
    monkeypatch.delenv("AUDIT_KEY_FILE", raising=False)
    tag = uuid.uuid4().hex[:6]
    msgs = [access(i, tag) for i in range(12)]
    async with running(cfg) as audit:
        await publish(js, msgs)
        await exactly_once(audit, js, [m[2] for m in msgs])
        assert audit.writer is not None and audit.pool is not None
        await audit.writer.checkpoint_if_due(force=True)
        rows = await audit.pool.fetch(
            f"SELECT seq, event_id FROM {cfg.audit_schema}.entry WHERE event_id = ANY($1)",
            [m[2] for m in msgs],
        )
        by_id = {r["event_id"]: int(r["seq"]) for r in rows}
        seqs = {i: by_id[m[2]] for i, m in enumerate(msgs)}
        assert list(seqs.values()) == sorted(seqs.values())
        yield Served(audit, cfg, tag, seqs, audit.signer)


TAMPERING: dict[str, tuple[list[str], int | None]] = {
    # kind: (SQL run by a superuser with the triggers off; which event's position is named)
    "changed": (
        [
            "UPDATE {s}.entry SET data = convert_to(replace(convert_from(data, 'UTF8'), "
            "'user-1', 'user-0'), 'UTF8') WHERE seq = {p5}"
        ],
        5,
    ),
    "removed": (["DELETE FROM {s}.entry WHERE seq = {p4}"], 4),
    "reordered": (
        [
            "UPDATE {s}.entry SET seq = 10000000 WHERE seq = {p2}",
            "UPDATE {s}.entry SET seq = {p2} WHERE seq = {p8}",
            "UPDATE {s}.entry SET seq = {p8} WHERE seq = 10000000",
        ],
        2,
    ),
    "inserted": ([], 6),
    "truncated": (["TRUNCATE {s}.entry"], None),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
async def test_verify_names_each_kind_of_superuser_tampering(
    served: Served, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    assert await served.cli("verify", "--key", served.vkey) == 0
    assert "完好 OK" in capsys.readouterr().out
    sql, event = TAMPERING[kind]
    pos = {f"{{p{i}}}": str(p) for i, p in served.seqs.items()}
    for k, v in sorted(pos.items(), key=lambda kv: -len(kv[0])):
        sql = [q.replace(k, v) for q in sql]
    where = 0 if event is None else served.seqs[event]
    await served.tamper(*sql, inserted_at=where if kind == "inserted" else None)
    assert await served.cli("verify", "--key", served.vkey) == 1
    text = capsys.readouterr().out
    assert f"篡改 TAMPERED — 第一处差异 first difference: entry {where}: {kind}" in text, text
    assert await served.cli("verify", "--key", served.vkey, "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert not out["ok"]
    assert (out["findings"][0]["index"], out["findings"][0]["kind"]) == (where, kind)


async def test_the_configured_key_is_the_anchor_not_the_database(
    served: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 13 defect 2: a superuser rewrites an entry, re-signs every checkpoint with a key
    of the same name and replaces log_key; verify with the real key says so."""
    # No key configured: nothing is verified, and the CLI says why.
    assert await served.cli("verify") == 2
    assert "no verifier key configured" in capsys.readouterr().err
    assert await served.cli("key") == 2
    capsys.readouterr()
    mallory = Signer.generate(served.signer.name)
    s = served.cfg.audit_schema
    conn = await asyncpg.connect(served.cfg.database_url)
    try:
        notes = await conn.fetch(f"SELECT size, note FROM {s}.checkpoint")
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(f"DELETE FROM {s}.log_key")
            await conn.execute(
                f"INSERT INTO {s}.log_key (vkey) VALUES ($1)", mallory.verifier.vkey()
            )
            for r in notes:
                body = r["note"].split("\n\n")[0] + "\n"
                cp = Checkpoint.parse_body(body)
                await conn.execute(
                    f"UPDATE {s}.checkpoint SET note = $2 WHERE size = $1",
                    r["size"],
                    cp.sign(mallory),
                )
    finally:
        await conn.close()
    assert await served.cli("verify", "--key", served.vkey) == 1
    out = capsys.readouterr().out
    assert "not validly signed" in out and "signed checkpoints verified: 0" in out, out
    # The operator's public key file (what the service writes from its key file) is found
    # by default; the database's key never is.
    pub = served.cfg.data_dir / "audit" / "log.pub"
    assert await served.cli("key", "--key-file", str(pub)) == 0
    got = capsys.readouterr()
    assert got.out.strip() == served.vkey
    assert served.signer.verifier.fingerprint() in got.err
    assert await served.cli("verify", "--key-file", str(pub)) == 1
    assert "not validly signed" in capsys.readouterr().out
    # the published fingerprint pins the key: the attacker's key is refused outright
    fp = served.signer.verifier.fingerprint()
    assert await served.cli("key", "--key", mallory.verifier.vkey(), "--fingerprint", fp) == 2
    assert "not the published" in capsys.readouterr().err
    assert await served.cli("key", "--key-file", str(pub), "--fingerprint", fp) == 0


async def test_export_then_check_offline(
    served: Served,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cctv.cli.audit as cli_audit

    monkeypatch.setattr(cli_audit, "EXPORT_PAGE", 3)  # several request-replies per export
    out = tmp_path / "bundle.json"
    a, b = served.seqs[2], served.seqs[10]
    assert await served.cli("export", "--range", str(a), str(b), "-o", str(out)) == 0
    assert "no verifier key configured" in capsys.readouterr().out
    # The checker needs no database and no network: only the file and the key.
    assert main(["audit", "check", str(out), "--key", served.vkey]) == 0
    assert f"核验通过 CHECK PASSED: {b - a} 条" in capsys.readouterr().out
    # Without a key, the bundle's own key anchors nothing: incomplete, not passed.
    assert main(["audit", "check", str(out)]) == 1
    text = capsys.readouterr().out
    assert "核验未完成 CHECK INCOMPLETE" in text and "CHECK PASSED" not in text
    doc = json.loads(out.read_text())
    k = next(n for n, e in enumerate(doc["entries"]) if b"user-1" in base64.b64decode(e["entry"]))
    raw = base64.b64decode(doc["entries"][k]["entry"]).replace(b"user-1", b"user-0")
    doc["entries"][k]["entry"] = base64.b64encode(raw).decode()
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    assert main(["audit", "check", str(bad), "--key", served.vkey]) == 1
    assert "核验失败 CHECK FAILED" in capsys.readouterr().out


async def test_evidence_pack_with_a_forged_copy_fails_the_check(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13 defect 1, as the auditor sees it: the actor rewritten in a second copy."""
    out = tmp_path / "evidence.json"
    assert await served.cli("export", "--grant-id", f"G-{served.tag}", "-o", str(out)) == 0
    capsys.readouterr()
    assert main(["audit", "check", str(out), "--key", served.vkey, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [(e["index"], e["proof"]) for e in rep["entries"]] == [
        (served.seqs[3], "inclusion proof"),
        (served.seqs[7], "inclusion proof"),
    ]
    doc = json.loads(out.read_text())
    copy = dict(doc["entries"][1])
    raw = base64.b64decode(copy["entry"]).replace(b'"user-1"', b'"user-0"')
    copy["entry"] = base64.b64encode(raw).decode()
    doc["entries"].insert(2, copy)
    out.write_text(json.dumps(doc))
    assert main(["audit", "check", str(out), "--key", served.vkey]) == 1
    assert f"entry {served.seqs[7]} appears twice" in capsys.readouterr().out


async def test_prove_says_what_it_verified_against(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13 defect 5: consistency is proven from a checkpoint the caller holds."""
    k = served.vkey
    assert await served.cli("prove", "--index", str(served.seqs[6]), "--key", k) == 0
    p = json.loads(capsys.readouterr().out)
    assert p["kind"] == "inclusion" and p["verified"]
    assert "signed checkpoint" in p["verified_against"]
    # no old checkpoint of the caller's own: refused, not "verified" against itself
    assert await served.cli("prove", "--consistency", "--key", k) == 2
    assert "needs an old checkpoint you hold" in capsys.readouterr().err
    old = tmp_path / "kept.note"
    assert served.audit.pool is not None
    row = await served.audit.pool.fetchrow(
        f"SELECT size, note FROM {served.cfg.audit_schema}.checkpoint ORDER BY size LIMIT 1"
    )
    old.write_text(row["note"])
    more = [access(i, served.tag + "b") for i in range(5)]
    nc_js = await _js(served.cfg.nats_url)
    await publish(nc_js[1], more)
    await exactly_once(served.audit, nc_js[1], [m[2] for m in more])
    await nc_js[0].close()
    assert await served.cli("prove", "--consistency", "--old-checkpoint", str(old), "--key", k) == 0
    c = json.loads(capsys.readouterr().out)
    assert c["verified"] and c["old_size"] == row["size"] and c["new_size"] > row["size"]
    assert str(old) in c["verified_against"]
    # a checkpoint the caller holds that the log does not extend: a fork, said plainly
    forged = Checkpoint(served.cfg.audit_origin, int(row["size"]), bytes(32)).sign(served.signer)
    old.write_text(forged)
    assert await served.cli("prove", "--consistency", "--old-checkpoint", str(old), "--key", k) == 2
    assert "does not extend" in capsys.readouterr().err


async def _js(nats_url: str) -> tuple[Any, Any]:
    import nats

    nc = await nats.connect(nats_url)
    return nc, nc.jetstream()


async def test_witness_keeps_checkpoints_and_alerts_on_fork_or_rollback(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "witness"
    k = served.vkey
    assert await served.cli("witness", "--state", str(state), "--key", k) == 0
    assert "first checkpoint kept" in capsys.readouterr().out
    first = sorted(state.glob("*.note"))
    assert len(first) == 1
    nc, stream = await _js(served.cfg.nats_url)
    try:
        more = [access(i, served.tag + "w") for i in range(4)]
        await publish(stream, more)
        await exactly_once(served.audit, stream, [m[2] for m in more])
    finally:
        await nc.close()
    assert served.audit.writer is not None
    await served.audit.writer.checkpoint_if_due(force=True)
    assert await served.cli("witness", "--state", str(state), "--key", k) == 0
    assert "consistent: size" in capsys.readouterr().out
    kept = sorted(state.glob("*.note"))
    assert len(kept) == 2 and not (state / "ALERT").exists()
    # verify can use everything the witness kept
    assert await served.cli("verify", "--key", k, "--witness", str(state)) == 0
    capsys.readouterr()
    # Rollback: the database restored from an older copy (newest checkpoints gone).
    newest = int(kept[-1].stem)
    await served.tamper(f"DELETE FROM {{s}}.checkpoint WHERE size >= {newest}")
    bus = await EventLog().start(served.cfg.nats_url, ("cctv.audit.witness_alarm.>",))
    try:
        assert await served.cli("witness", "--state", str(state), "--key", k) == EXIT_ALERT
        assert "ROLLBACK" in capsys.readouterr().err
        assert "ROLLBACK" in (state / "ALERT").read_text()
        (alarm,) = await bus.wait_for("audit.witness_alarm", timeout=10)
        assert alarm["data"]["kind"] == "rollback"
        assert alarm["data"]["kept_size"] == newest > alarm["data"]["seen_size"]
    finally:
        await bus.close()
    # Fork: the witness saw another root for a size the log now extends differently.
    fork = tmp_path / "fork"
    fork.mkdir()
    size = int(first[0].stem)
    other = Checkpoint(served.cfg.audit_origin, size - 1, bytes(32)).sign(served.signer)
    (fork / f"{size - 1:012d}.note").write_text(other)
    assert await served.cli("witness", "--state", str(fork), "--key", k) == EXIT_ALERT
    assert "FORK" in capsys.readouterr().err


def test_a_production_service_without_its_key_does_not_make_one(
    cfg: AuditSettings, tmp_path: Path
) -> None:
    """The signing key is a mounted secret; a pod never generates a fresh one."""
    s = cfg.model_copy(update={"audit_key_create": False, "data_dir": tmp_path / "empty"})
    with pytest.raises(NoteError, match="AUDIT_KEY_FILE"):
        build(s)
    assert not (tmp_path / "empty" / "audit" / "log.key").exists()
    made = load_or_create_signer(tmp_path / "k" / "log.key", cfg.audit_key_name)
    s2 = cfg.model_copy(
        update={"audit_key_create": False, "audit_key_file": tmp_path / "k" / "log.key"}
    )
    assert build(s2).state["audit"].vkey == made.verifier.vkey()


async def test_a_writer_that_finds_an_altered_node_stops_appending_but_verify_answers(
    cfg: AuditSettings, js: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 13 defect 4 after a restart: no checkpoint is signed on top of an altered stored
    node, and the operator can still run verify through the service to see where."""
    from cctv.evidence import merkle

    monkeypatch.setenv("NATS_URL", cfg.nats_url)
    nic = identity("nic_admin", "sysadmin", department="nic")
    monkeypatch.setenv("CCTV_TOKEN", headers_as(nic)[HEADER])
    msgs = [access(i, uuid.uuid4().hex[:6]) for i in range(20)]
    async with running(cfg) as audit:
        await publish(js, msgs)
        await exactly_once(audit, js, [m[2] for m in msgs])
        assert audit.writer is not None
        await audit.writer.checkpoint_if_due(force=True)
        size = audit.writer.size
        key = audit.vkey
    lv, ix = next(n for n in merkle.CompactRange.frontier_ids(size) if n[0] >= 4)
    conn = await asyncpg.connect(cfg.database_url)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                f"UPDATE {cfg.audit_schema}.tree_node SET hash = sha256(hash) "
                "WHERE level = $1 AND idx = $2",
                lv,
                ix,
            )
        signed = await conn.fetchval(f"SELECT count(*) FROM {cfg.audit_schema}.checkpoint")
    finally:
        await conn.close()
    svc = build(cfg)
    async with svc.running():
        audit = svc.state["audit"]
        await asyncio.wait_for(audit.serving.wait(), 20)
        assert not audit.ready.is_set() and audit.broken and f"level {lv}" in audit.broken
        from services.audit.app import WRITER_STOPPED

        assert WRITER_STOPPED._value.get() == 1
        assert await asyncio.to_thread(main, ["audit", "verify", "--key", key]) == 1
        out = capsys.readouterr().out
        assert f"node — stored tree node (level {lv}, index {ix})" in out, out
        assert "the writer refused to start" in out
    conn = await asyncpg.connect(cfg.database_url)
    try:
        assert await conn.fetchval(f"SELECT count(*) FROM {cfg.audit_schema}.checkpoint") == signed
    finally:
        await conn.close()
