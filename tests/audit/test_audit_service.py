"""The audit service against the session's real nats-server (JetStream) and PostgreSQL:
witnessing, exactly-once under redelivery, crashes around the commit and restarts, rejected
messages, published checkpoints and request-reply with inclusion proofs."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cctv.contract import rpc, subject_for, wrap
from cctv.contract.events import AccessRecorded
from cctv.evidence import merkle
from cctv.evidence.checkpoint import Checkpoint, Verifier
from services.audit import api
from services.audit.settings import AuditSettings
from tests.support import asking
from tests.support.audit import (
    access,
    counts,
    drained,
    durable,
    exactly_once,
    progress,
    publish,
    running,
    state_change,
    until,
    verified,
)
from tests.support.audit_faults import Crash, LoseAcks
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity
from tests.support.waiting import table_changes

REPO = Path(__file__).resolve().parents[2]


async def test_every_event_witnessed_once_despite_duplicate_publishes(
    cfg: AuditSettings, js: Any
) -> None:
    msgs = [access(i, "dup") for i in range(40)] + [state_change(i) for i in range(20)]
    async with running(cfg) as audit:
        await publish(js, msgs)
        # The same events again, with new Nats-Msg-Ids so JetStream's own dedupe lets them in.
        await publish(js, msgs[::3], fresh_ids=True)
        await exactly_once(audit, js, [m[2] for m in msgs])
        await verified(audit)


async def test_rejected_messages_are_recorded_not_dropped(
    cfg: AuditSettings, js: Any, nats_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]  # subjects of this test's own: other tests read the streams too
    state_subject = f"cctv.camera.state.cam-{tag}"
    access_subject = f"cctv.access.recorded.cam-{tag}"
    garbage = b"\x00\x01 forged frame"
    bus = await EventLog().start(nats_url, ("cctv.dlq.>",))
    unknown = json.dumps(
        {"id": "x1", "type": "camera.exploded", "source": "?", "correlation_id": "-", "data": {}}
    ).encode()
    async with running(cfg) as audit, progress(cfg) as changes:
        await js.publish(state_subject, garbage)
        await js.publish(access_subject, unknown)
        assert audit.pool is not None
        pool = audit.pool

        async def rejected() -> list[asyncpg.Record]:
            rows = await pool.fetch(
                f"SELECT subject, data FROM {audit.schema}.entry WHERE kind = 'rejected' "
                "AND subject = ANY($1::text[])",
                [state_subject, access_subject],
            )
            return rows if len(rows) >= 2 else []

        rows = await until(rejected, changes, what="rejected entries")
        heads = {r["subject"]: json.loads(bytes(r["data"]).split(b"\n", 1)[0]) for r in rows}
        assert "not JSON" in heads[state_subject]["reason"]
        assert "unknown event type" in heads[access_subject]["reason"]
        assert heads[state_subject]["raw_len"] == len(garbage)
        # A redelivered or republished forgery is still one entry (same raw bytes).
        await js.publish(state_subject, garbage)
        await until(lambda: drained(js, audit.schema), changes, what="drained")
        n = await pool.fetchval(
            f"SELECT count(*) FROM {audit.schema}.entry WHERE subject = $1 AND kind = 'rejected'",
            state_subject,
        )
        assert n == 1
        # ... and dead-lettered like every other consumer's bad input, with the reason.
        durable_prefix = cfg.audit_schema.replace("_", "-")
        dead: list[dict[str, Any]] = []
        for subject in (state_subject, access_subject):  # two streams, two consumers: any order

            def mine(d: dict[str, Any], subject: str = subject) -> bool:
                return bool(
                    d["service"] == "audit"
                    and d["consumer"].startswith(durable_prefix)
                    and d["subject"] == subject
                )

            dead += await bus.wait_for("dlq.dead_letter", mine)
        assert all(d["data"]["reason"].startswith("contract:") for d in dead)
    await bus.close()


async def test_crash_inside_the_transaction_loses_nothing(cfg: AuditSettings, js: Any) -> None:
    msgs = [access(i, "crash-in") for i in range(30)]
    crash = Crash(in_transaction_left=1)
    async with running(cfg, crash) as audit:
        await publish(js, msgs)
        await exactly_once(audit, js, [m[2] for m in msgs])
        assert crash.in_transaction_left == 0  # the crash did happen
        await verified(audit)


async def test_crash_after_commit_before_ack_adds_no_second_entry(
    cfg: AuditSettings, js: Any
) -> None:
    msgs = [access(i, "crash-ack") for i in range(30)]
    crash = Crash(after_commit_left=1)
    async with running(cfg, crash) as audit:
        await publish(js, msgs)
        await exactly_once(audit, js, [m[2] for m in msgs])
        assert crash.after_commit_left == 0
        await verified(audit)


async def test_jetstream_redelivery_adds_no_second_entry(cfg: AuditSettings, js: Any) -> None:
    """Acks lost: JetStream redelivers every message after ack_wait; the log is unchanged."""
    msgs = [access(i, "redeliver") for i in range(30)]
    ids = [m[2] for m in msgs]
    access_consumer = durable(cfg.audit_schema, "CCTV_ACCESS")
    lost = LoseAcks()
    async with running(cfg, lost) as audit, progress(cfg) as changes:
        await publish(js, msgs)
        assert audit.pool is not None
        pool = audit.pool

        async def all_there() -> bool:
            return len(await counts(pool, audit.schema, ids)) == len(ids)

        await until(all_there, changes, what="first delivery committed")
        size = audit.writer.size if audit.writer else 0

        async def redelivered() -> bool:
            return bool((await js.consumer_info("CCTV_ACCESS", access_consumer)).num_redelivered)

        await until(redelivered, changes, what="JetStream redelivering the unacked messages")
        lost.losing = False
        await exactly_once(audit, js, ids)
        assert audit.writer is not None and audit.writer.size == size
        await verified(audit)


async def test_restart_resumes_the_same_log(cfg: AuditSettings, js: Any) -> None:
    first = [access(i, "restart-a") for i in range(25)]
    second = [access(i, "restart-b") for i in range(25)]
    async with running(cfg) as audit:
        await publish(js, first)
        await exactly_once(audit, js, [m[2] for m in first])
        size_before = audit.writer.size if audit.writer else 0
    await publish(js, second)  # while the service is down
    async with running(cfg) as audit:
        assert audit.writer is not None and audit.writer.size >= size_before
        await exactly_once(audit, js, [m[2] for m in first + second])
        await verified(audit)


async def test_checkpoints_published_and_proofs_over_request_reply(
    cfg: AuditSettings, js: Any, nats_url: str
) -> None:
    msgs = [access(i, "rpc") for i in range(12)]
    bus = await EventLog().start(nats_url, ("cctv.audit.>",))
    try:
        async with running(cfg) as audit:
            await publish(js, msgs)
            await exactly_once(audit, js, [m[2] for m in msgs])
            got = await bus.wait_for("audit.checkpoint", lambda d: d["origin"] == cfg.audit_origin)
            cp = Checkpoint.open(got[0]["data"]["note"], Verifier.from_vkey(audit.vkey))
            assert cp.origin == cfg.audit_origin
            exported = cfg.public_key_path().read_text(encoding="ascii").strip()
            assert exported == audit.vkey and "PRIVATE" not in exported

            body = await asking.ask(
                nats_url,
                rpc.AUDIT_QUERY,
                {"request_no": "DY-rpc", "actor": "u1", "proof": True},
                headers_as(identity("t_nic", "sysadmin", department="nic")),
            )
            assert body["ok"], body
            key = await asking.ask(nats_url, rpc.AUDIT_CHECKPOINT, {})
            v = Verifier.from_vkey(key["verifier_key"])
            cp = Checkpoint.open(body["checkpoint"], v)
            assert [e["actor"] for e in body["entries"]] == ["u1"] * 4
            for e in body["entries"]:
                leaf = merkle.leaf_hash(base64.b64decode(e["entry"]))
                proof = [base64.b64decode(h) for h in e["inclusion_proof"]]
                merkle.verify_inclusion(e["seq"], cp.size, leaf, proof, cp.root_hash)
    finally:
        await bus.close()


@pytest.mark.parametrize("hook", ["in", "after"])
async def test_sigkill_mid_batch_then_restart_loses_and_repeats_nothing(
    cfg: AuditSettings, js: Any, tmp_path: Path, hook: str
) -> None:
    """A real process, killed (SIGKILL) inside a commit's transaction — or right after the
    commit, before the batch is acked, so JetStream redelivers committed messages — then
    started again."""
    import os
    import subprocess
    import sys

    from cctv.devstack.embedded import free_port
    from cctv.evidence.checkpoint import load_or_create_signer

    env = {
        **os.environ,
        "CCTV_HOME": str(tmp_path),
        "NATS_URL": cfg.nats_url,
        "DATABASE_URL": cfg.database_url,
        "AUDIT_SCHEMA": cfg.audit_schema,
        "AUDIT_ORIGIN": cfg.audit_origin,
        "AUDIT_KEY_NAME": cfg.audit_key_name,
        "DATA_DIR": str(tmp_path / "data"),
        "ACK_WAIT_S": "2",
        "BATCH_SIZE": "100",
        "LOG_LEVEL": "WARNING",
    }

    def start(*kill: str) -> subprocess.Popen[bytes]:
        """The real service; with ``kill`` through the test entry point that injects it."""
        entry = ["tests.support.audit_faults", *kill] if kill else ["services.audit"]
        return subprocess.Popen(
            [sys.executable, "-m", *entry],
            cwd=REPO,
            env={**env, "HTTP_PORT": str(free_port())},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    msgs = [access(i, f"sigkill-{hook}") for i in range(600)]
    ids = [m[2] for m in msgs]
    first = start(hook, "3")
    second = None
    pool = await asyncpg.create_pool(cfg.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        await publish(js, msgs)
        assert await asyncio.to_thread(first.wait, 60) == -9
        before = sum((await counts(pool, cfg.audit_schema, ids)).values())
        assert before < len(ids)  # it died before taking everything
        second = start()

        async def all_there() -> bool:
            return len(await counts(pool, cfg.audit_schema, ids)) == len(ids)

        entries = f"{cfg.audit_schema}.entry"
        async with table_changes(cfg.database_url, entries) as committed:
            await until(all_there, committed, within=60, what="every event after the restart")
        async with progress(cfg) as changes:
            await until(lambda: drained(js, cfg.audit_schema), changes, within=30, what="drained")
        assert set((await counts(pool, cfg.audit_schema, ids)).values()) == {1}
        signer = load_or_create_signer(tmp_path / "data" / "audit" / "log.key", cfg.audit_key_name)
        async with pool.acquire() as conn:
            rep, problems = await api.verify(conn, cfg.audit_schema, signer.verifier)
        assert rep.ok and not problems, (rep.findings, problems)
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(20)
        await pool.close()


async def test_evidence_pack_for_a_copy_grant_over_request_reply(
    cfg: AuditSettings, js: Any, nats_url: str
) -> None:
    """The approval that made the grant, the retrieval and the export records, each with its
    inclusion proof and the signed checkpoint — and nothing of any other request."""
    from cctv.contract.events import AccessApproved, AccessSubmitted
    from cctv.evidence import bundle

    tag = uuid.uuid4().hex[:6]
    rid, other = f"DY-{tag}-1", f"DY-{tag}-2"
    grant = f"{rid}-G"
    now = "2026-11-25T09:00:00+08:00"

    def wf(cls: Any, r: str, **summary: Any) -> tuple[str, bytes, str]:
        ev = cls(
            request_id=r,
            process="access",
            transition=cls.TYPE.rsplit(".", 1)[1],
            at=now,
            summary={"method": "copy", **summary},
        )
        env = wrap(ev, source="workflow", key=r, actor="u-head")
        return subject_for(ev, r), env.to_bytes(), env.id

    def rec(action: str, r: str, g: str) -> tuple[str, bytes, str]:
        ev = AccessRecorded(
            action=action,  # type: ignore[arg-type]
            actor="nic_admin",
            camera_ids=["cam-7"],
            footage_from=now,  # type: ignore[arg-type]
            footage_to="2026-11-25T10:00:00+08:00",  # type: ignore[arg-type]
            grant_id=g,
            request_no=r,
            detail=f"{action} for {r}",
        )
        env = wrap(ev, source="workflow", key="cam-7", actor="nic_admin")
        return subject_for(ev, "cam-7"), env.to_bytes(), env.id

    copy_grant = {
        "grant_id": grant,
        "request_id": rid,
        "grantee": "李老师",
        "method": "copy",
        "cameras": ["cam-7"],
        "footage_from": now,
        "footage_until": "2026-11-25T10:00:00+08:00",
        "valid_until": "2026-12-02T09:00:00+08:00",
        "export": True,
    }
    mine = [
        wf(AccessSubmitted, rid),
        wf(AccessApproved, rid, grant=copy_grant),
        rec("admin", rid, grant),  # the retrieval (Art. 16)
        rec("export", rid, grant),  # the copy handed over
    ]
    theirs = [wf(AccessSubmitted, other), rec("export", other, f"{other}-G")]
    async with running(cfg) as audit:
        await publish(js, mine + theirs)
        await exactly_once(audit, js, [m[2] for m in mine + theirs])
        NIC = headers_as(identity("t_nic", "sysadmin", department="nic"))
        reply = await asking.ask(nats_url, rpc.AUDIT_EXPORT, {"grant_id": grant}, NIC)
        missing = await asking.ask(nats_url, rpc.AUDIT_EXPORT, {"grant_id": "NO-SUCH-G"}, NIC)
        assert reply["ok"], reply
        doc = reply["bundle"]
        assert doc["purpose"] == "evidence"
        rep = bundle.check_bundle(bundle.loads(bundle.dumps(doc)), audit.vkey)
        ids = {json.loads(e.entry.payload)["id"] for e in rep.entries}
        assert ids == {m[2] for m in mine}
        assert {e.how for e in rep.entries} == {"inclusion proof"}
        assert not missing["ok"] and "NO-SUCH-G" in missing["error"]
        # A recipient who alters the export record is caught by the checker.
        k = next(
            n
            for n, e in enumerate(doc["entries"])
            if b'"action":"export"' in base64.b64decode(e["entry"])
        )
        raw = base64.b64decode(doc["entries"][k]["entry"]).replace(b"cam-7", b"cam-8")
        doc["entries"][k]["entry"] = base64.b64encode(raw).decode()
        with pytest.raises(bundle.BundleError, match="inclusion proof"):
            bundle.check_bundle(doc, audit.vkey)


async def test_replies_fit_their_contract_models_and_refusals_have_one_shape(
    cfg: AuditSettings, js: Any, nats_url: str
) -> None:
    """Issue 8: each audit subject's reply validates against the reply model the AsyncAPI
    document publishes (cctv.contract.rpcmodels.OPERATIONS); a malformed request is refused
    by the shell naming the field, and audit's own refusals come as code, Chinese, English."""
    from cctv.contract.rpcmodels import OPERATIONS, ErrorReply

    msgs = [access(i, "typed") for i in range(6)]
    async with running(cfg) as audit:
        await publish(js, msgs)
        await exactly_once(audit, js, [m[2] for m in msgs])
        nic = headers_as(identity("t_nic", "sysadmin", department="nic"))

        async def ask(subject: str, body: dict[str, Any]) -> dict[str, Any]:
            return await asking.ask(nats_url, subject, body, nic, timeout=20)

        asks: list[tuple[str, dict[str, Any]]] = [
            (rpc.AUDIT_QUERY, {"request_no": "DY-typed", "proof": True}),
            (rpc.AUDIT_QUERY, {"after_seq": 0, "limit": 2, "compact": True}),
            (rpc.AUDIT_PROVE, {"index": 1}),
            (rpc.AUDIT_PROVE, {"old_size": 1}),
            (rpc.AUDIT_PROVE, {"start": 1, "end": 3}),
            (rpc.AUDIT_CHECKPOINT, {}),
            (rpc.AUDIT_EXPORT, {"start": 0, "end": 3}),
            (rpc.AUDIT_EXPORT, {"request_no": "DY-typed"}),
            (rpc.AUDIT_VERIFY, {"key": audit.vkey}),
        ]
        for subject, body in asks:
            reply = await ask(subject, body)
            assert reply["ok"], (subject, reply)
            OPERATIONS[subject][1].model_validate(reply)
        inclusion = await ask(rpc.AUDIT_PROVE, {"index": 1})
        assert inclusion["kind"] == "inclusion" and "start" not in inclusion
        assert "checkpoint" not in await ask(rpc.AUDIT_QUERY, {"limit": 1})

        bad = ErrorReply.model_validate(await ask(rpc.AUDIT_QUERY, {"after_seq": 10**30}))
        assert (bad.code, bad.field, bad.article) == (  # type: ignore[attr-defined]
            "invalid_request", "after_seq", "Art. 15"
        )  # fmt: skip
        assert bad.text_zh == "请求有误：after_seq" and "after_seq" in bad.text_en
        since = ErrorReply.model_validate(await ask(rpc.AUDIT_QUERY, {"since": "yesterday"}))
        assert since.code == "invalid_request" and "since" in since.text_en

        beyond = ErrorReply.model_validate(await ask(rpc.AUDIT_PROVE, {"index": 10**6}))
        assert beyond.code == "not_found" and "is not in the checkpoint" in beyond.text_en
        assert "不在" in beyond.text_zh and beyond.error.startswith(beyond.text_zh)
        empty = ErrorReply.model_validate(await ask(rpc.AUDIT_EXPORT, {"start": 5, "end": 2}))
        assert empty.code == "bad_range" and "range [5, 2) is empty" in empty.text_en
        none = ErrorReply.model_validate(await ask(rpc.AUDIT_EXPORT, {"request_no": "NO-1"}))
        assert none.code == "not_found" and none.article == "Art. 15"
        assert "NO-1" in none.text_zh and "NO-1" in none.text_en
        nokey = ErrorReply.model_validate(await ask(rpc.AUDIT_VERIFY, {}))
        assert nokey.code == "no_key" and "no verifier key given" in nokey.text_en
        assert "未提供公钥" in nokey.text_zh
        badkey = ErrorReply.model_validate(await ask(rpc.AUDIT_VERIFY, {"key": "junk"}))
        assert badkey.code == "bad_key" and badkey.text_en.startswith("verifier key:")
        notes = ErrorReply.model_validate(await ask(rpc.AUDIT_VERIFY, {"checkpoints": "x"}))
        assert notes.code == "invalid_request" and notes.field == "checkpoints"  # type: ignore[attr-defined]
