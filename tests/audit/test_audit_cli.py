"""`cctv audit verify | export | check | prove` against a real PostgreSQL log."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from cctv.cli.main import main
from cctv.evidence.checkpoint import Signer
from cctv.evidence.entry import Witnessed
from cctv.evidence.merkle import leaf_hash
from cctv.plumbing.db import apply_migrations, create_pool
from services.audit.writer import AuditWriter, WriterConfig

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "audit" / "migrations"
SIGNER = Signer.generate("cli.test/audit")
VKEY = SIGNER.verifier.vkey()


def item(i: int) -> Witnessed:
    env = {
        "id": f"c{i}",
        "type": "access.recorded",
        "time": "2026-11-25T08:00:00Z",
        "source": "console",
        "actor": f"user-{i % 2}",
        "correlation_id": "-",
        "data": {
            "action": "export" if i == 7 else "view",
            "actor": f"user-{i % 2}",
            "camera_ids": ["cam-1"],
            "grant_id": "G-7" if i in (3, 7) else None,
            "request_no": "DY-9" if i in (3, 7) else None,
        },
    }
    return Witnessed.event("cctv.access.recorded.cam-1", f"c{i}", json.dumps(env).encode())


@pytest.fixture
async def schema(database_url: str) -> AsyncIterator[str]:
    name = f"audit_{uuid.uuid4().hex[:8]}"
    admin = await create_pool(database_url)
    await apply_migrations(admin, name, MIGRATIONS)
    wpool = await asyncpg.create_pool(database_url, user=f"{name}_writer", min_size=1, max_size=2)
    assert wpool is not None
    w = AuditWriter(wpool, name, SIGNER, WriterConfig("cli.test/audit", checkpoint_every=5))
    await w.start()
    await w.append([item(i) for i in range(12)])
    await w.checkpoint_if_due(force=True)
    await wpool.close()
    await admin.close()
    yield name


def cli(database_url: str, schema: str, *args: str) -> int:
    return main(["audit", *args, "--schema", schema, "--database-url", database_url])


def _forged_row(schema: str) -> list[str]:
    """SQL that slips a correctly chained forged entry in at position 6 (rows 6.. move up)."""
    return [
        f"UPDATE {schema}.entry SET seq = seq + 1000 WHERE seq >= 6",
        f"UPDATE {schema}.entry SET seq = seq - 999 WHERE seq >= 1000",
    ]


TAMPERING = {
    # kind: (SQL run by a superuser with the triggers off, the position verify must name)
    "changed": (
        [
            "UPDATE {s}.entry SET data = convert_to(replace(convert_from(data, 'UTF8'), "
            "'user-1', 'user-0'), 'UTF8') WHERE seq = 5"
        ],
        5,
    ),
    "removed": (["DELETE FROM {s}.entry WHERE seq = 4"], 4),
    "reordered": (
        [
            "UPDATE {s}.entry SET seq = 1000 WHERE seq = 2",
            "UPDATE {s}.entry SET seq = 2 WHERE seq = 8",
            "UPDATE {s}.entry SET seq = 8 WHERE seq = 1000",
        ],
        2,
    ),
    "inserted": ([], 6),
    "truncated": (["TRUNCATE {s}.entry"], 0),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_verify_names_each_kind_of_superuser_tampering(
    database_url: str, schema: str, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    assert cli(database_url, schema, "verify", "--key", VKEY) == 0
    assert "完好 OK" in capsys.readouterr().out
    import asyncio

    sql, where = TAMPERING[kind]

    async def tamper() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                if kind == "inserted":
                    prev = await conn.fetchval(
                        f"SELECT leaf_hash FROM {schema}.entry WHERE seq = 5"
                    )
                    data = item(99).at(6, bytes(prev), "2026-11-25T00:00:00.000000Z").encode()
                    for s in _forged_row(schema):
                        await conn.execute(s)
                    await conn.execute(
                        f"INSERT INTO {schema}.entry (seq, event_id, kind, subject, recorded_at, "
                        "leaf_hash, data) VALUES (6, 'forged', 'event', 'cctv.access.recorded', "
                        "now(), $1, $2)",
                        leaf_hash(data),
                        data,
                    )
                for s in sql:
                    await conn.execute(s.replace("{s}", schema))
        finally:
            await conn.close()

    asyncio.run(tamper())
    assert cli(database_url, schema, "verify", "--key", VKEY) == 1
    text = capsys.readouterr().out
    assert f"篡改 TAMPERED — 第一处差异 first difference: entry {where}: {kind}" in text, text
    assert cli(database_url, schema, "verify", "--key", VKEY, "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert not out["ok"]
    assert (out["findings"][0]["index"], out["findings"][0]["kind"]) == (where, kind)


def test_key_prints_the_verifier_key(
    database_url: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(database_url, schema, "key") == 0
    assert capsys.readouterr().out.strip() == VKEY


def test_export_then_check_offline(
    database_url: str, schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle.json"
    assert cli(database_url, schema, "export", "--range", "2", "10", "-o", str(out)) == 0
    capsys.readouterr()
    # The checker needs no database: only the file and the key.
    assert main(["audit", "check", str(out), "--key", VKEY]) == 0
    assert "核验通过 CHECK PASSED: 8 条" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    raw = base64.b64decode(doc["entries"][5]["entry"]).replace(b"user-1", b"user-0")
    doc["entries"][5]["entry"] = base64.b64encode(raw).decode()
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    assert main(["audit", "check", str(bad), "--key", VKEY]) == 1
    assert "核验失败 CHECK FAILED" in capsys.readouterr().out


def test_evidence_pack_for_a_copy_grant(
    database_url: str, schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "evidence.json"
    assert cli(database_url, schema, "export", "--grant-id", "G-7", "-o", str(out)) == 0
    capsys.readouterr()
    assert main(["audit", "check", str(out), "--key", VKEY, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [(e["index"], e["proof"]) for e in rep["entries"]] == [
        (3, "inclusion proof"),
        (7, "inclusion proof"),
    ]


def test_prove_prints_verified_proofs(
    database_url: str, schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(database_url, schema, "prove", "--index", "6") == 0
    p = json.loads(capsys.readouterr().out)
    assert p["kind"] == "inclusion" and p["verified"] and p["tree_size"] == 12
    assert cli(database_url, schema, "prove", "--consistency", "5", "12") == 0
    c = json.loads(capsys.readouterr().out)
    assert c["kind"] == "consistency" and c["verified"] and len(c["proof"]) > 0
