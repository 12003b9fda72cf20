"""`cctv audit ...`: verify the log in the database, export bundles, prove, check offline.

`check` is what an outside auditor runs: it needs only a bundle file and the log's public
key, no database and no network. The others read the audit schema directly (operators on
the server), so they work even when the audit service is down.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from pathlib import Path
from typing import Any

from .main import CliError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("audit", help="audit log 审计日志: verify, export, check, prove")
    s = p.add_subparsers(dest="action", required=True)

    def db_args(a: argparse.ArgumentParser) -> None:
        a.add_argument("--schema", default="audit", help="audit schema (default: audit)")
        a.add_argument("--database-url", help="default: DATABASE_URL / the local stack")

    def key_args(a: argparse.ArgumentParser) -> None:
        a.add_argument("--key", help="the log's verifier key <name>+<id>+<base64>")
        a.add_argument("--key-file", type=Path, help="file holding the verifier key")

    v = s.add_parser("verify", help="recompute chain and tree from the rows 校验审计日志")
    db_args(v)
    key_args(v)
    v.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="a signed checkpoint kept elsewhere (e.g. by a witness); repeatable",
    )
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=verify)

    e = s.add_parser("export", help="write an audit bundle 导出审计包")
    db_args(e)
    g = e.add_mutually_exclusive_group()
    g.add_argument(
        "--range", nargs=2, type=int, metavar=("START", "END"), help="entries [START, END)"
    )
    g.add_argument("--request-no", help="evidence pack for an access request 调阅申请单号")
    g.add_argument("--grant-id", help="evidence pack for a copy grant 拷贝授权")
    e.add_argument("-o", "--output", type=Path, required=True)
    e.set_defaults(func=export)

    c = s.add_parser("check", help="check a bundle offline 离线核验审计包")
    c.add_argument("bundle", type=Path)
    key_args(c)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=check)

    pr = s.add_parser("prove", help="print an inclusion or consistency proof 打印证明")
    db_args(pr)
    g2 = pr.add_mutually_exclusive_group(required=True)
    g2.add_argument("--index", type=int, help="inclusion proof of this entry")
    g2.add_argument("--consistency", nargs=2, type=int, metavar=("OLD", "NEW"))
    pr.add_argument("--size", type=int, help="against the checkpoint of this size")
    pr.set_defaults(func=prove)

    k = s.add_parser("key", help="print the log's verifier key 公钥")
    db_args(k)
    k.set_defaults(func=print_key)


# --- helpers ------------------------------------------------------------------------------


def _dsn(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    from cctv.plumbing.settings import ServiceSettings

    return ServiceSettings().database_url


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _connect(args: argparse.Namespace) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(_dsn(args))
    except Exception as exc:
        raise CliError(
            f"cannot reach PostgreSQL ({exc}); is `make run` running, or DATABASE_URL set?"
        ) from exc


def _given_key(args: argparse.Namespace) -> str | None:
    if getattr(args, "key", None):
        return str(args.key).strip()
    if getattr(args, "key_file", None):
        try:
            return str(args.key_file.read_text(encoding="utf-8")).strip()
        except OSError as exc:
            raise CliError(f"cannot read key file: {exc}") from exc
    return None


async def _log_key(args: argparse.Namespace, conn: Any) -> tuple[str, str]:
    """The verifier key and where it came from: given, the service's key file, or the DB."""
    given = _given_key(args)
    if given:
        return given, "given key"
    from cctv.evidence.checkpoint import NoteError, Signer
    from services.audit.settings import AuditSettings

    keys = [
        r["vkey"]
        for r in await conn.fetch(f"SELECT vkey FROM {args.schema}.log_key ORDER BY created_at")
    ]
    path = AuditSettings().key_path()
    if path.exists():
        try:
            own = Signer.from_skey(path.read_text()).verifier.vkey()
        except NoteError:
            own = ""
        if own in keys:
            return own, f"key file {path}"
    if not keys:
        raise CliError("no verifier key: pass --key (the published key of the log)")
    return keys[-1], "key recorded in the database (pass --key to rely on a published one)"


# --- commands -----------------------------------------------------------------------------


def verify(args: argparse.Namespace) -> int:
    from cctv.evidence.checkpoint import NoteError, Verifier
    from services.audit import api

    async def go() -> int:
        conn = await _connect(args)
        try:
            vkey, source = await _log_key(args, conn)
            try:
                verifier = Verifier.from_vkey(vkey)
            except NoteError as exc:
                raise CliError(f"verifier key: {exc}") from exc
            notes = [p.read_text(encoding="utf-8") for p in args.checkpoint]
            report, problems = await api.verify(
                conn, args.schema, verifier, extra_checkpoints=notes
            )
        finally:
            await conn.close()
        if args.json:
            print(
                json.dumps(
                    {
                        "ok": report.ok and not problems,
                        "size": report.size,
                        "root": report.root.hex(),
                        "checkpoints_ok": report.checkpoints_ok,
                        "findings": [f.__dict__ for f in report.findings],
                        "problems": problems,
                        "key": source,
                    },
                    ensure_ascii=False,
                    indent=1,
                )
            )
        else:
            print(f"审计日志 audit log: {report.size} 条 entries, root {report.root.hex()}")
            print(f"公钥 key: {source}")
            print(
                f"签名检查点 signed checkpoints verified: {len(report.checkpoints_ok)}"
                + (
                    f" (latest at size {report.checkpoints_ok[-1]})"
                    if report.checkpoints_ok
                    else ""
                )
            )
            for p in problems:
                print(f"问题 problem: {p}")
            if report.first:
                print(f"篡改 TAMPERED — 第一处差异 first difference: {report.first}")
                for f in report.findings[1:]:
                    print(f"  also: {f}")
            elif not problems:
                print("完好 OK — chain, tree and checkpoints agree")
        return 0 if report.ok and not problems else 1

    return int(_run(go()))


def export(args: argparse.Namespace) -> int:
    from cctv.evidence import bundle
    from services.audit import api

    async def go() -> dict[str, Any]:
        conn = await _connect(args)
        try:
            vkey, _ = await _log_key(args, conn)
            req: dict[str, Any] = {}
            if args.request_no:
                req["request_no"] = args.request_no
            elif args.grant_id:
                req["grant_id"] = args.grant_id
            elif args.range:
                req["start"], req["end"] = args.range
            try:
                return await api.export(conn, args.schema, req, vkey)
            except api.AuditError as exc:
                raise CliError(str(exc)) from exc
        finally:
            await conn.close()

    doc = _run(go())
    args.output.write_text(bundle.dumps(doc), encoding="utf-8")
    n = len(doc["entries"])
    print(
        f"已导出 exported {n} 条 entries to {args.output} ({doc['purpose']}); "
        f"verifier key: {doc['log']['verifier_key']}"
    )
    return 0


def check(args: argparse.Namespace) -> int:
    from cctv.evidence import bundle

    try:
        doc = bundle.loads(args.bundle.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read {args.bundle}: {exc}") from exc
    try:
        rep = bundle.check_bundle(doc, _given_key(args))
    except bundle.BundleError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}, ensure_ascii=False))
        else:
            print(f"核验失败 CHECK FAILED: {exc}")
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "tree_size": rep.checkpoint.size,
                    "root": rep.checkpoint.root_hash.hex(),
                    "origin": rep.checkpoint.origin,
                    "key": rep.key_source,
                    "warnings": rep.warnings,
                    "entries": [
                        {"index": e.index, "proof": e.how, "summary": e.summary()}
                        for e in rep.entries
                    ],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    cp = rep.checkpoint
    print(
        f"核验通过 CHECK PASSED: {len(rep.entries)} 条 entries belong to {cp.origin} "
        f"at tree size {cp.size} (root {cp.root_hash.hex()})"
    )
    print(f"公钥 key: {rep.key_source}")
    for w in rep.warnings:
        print(f"注意 warning: {w}")
    for e in rep.entries:
        print(f"  {e.summary()}  [{e.how}]")
    return 0


def prove(args: argparse.Namespace) -> int:
    from cctv.evidence import merkle
    from cctv.evidence.checkpoint import Checkpoint, Verifier
    from services.audit import api

    async def go() -> tuple[dict[str, Any], str]:
        conn = await _connect(args)
        try:
            vkey, _ = await _log_key(args, conn)
            req: dict[str, Any] = {"size": args.size}
            if args.index is not None:
                req["index"] = args.index
            else:
                req["old_size"], req["new_size"] = args.consistency
                req.pop("size")
            try:
                return await api.prove(conn, args.schema, req), vkey
            except api.AuditError as exc:
                raise CliError(str(exc)) from exc
        finally:
            await conn.close()

    out, vkey = _run(go())
    cp = Checkpoint.open(out["checkpoint"], Verifier.from_vkey(vkey))
    proof = [base64.b64decode(h) for h in out["proof"]]
    if out["kind"] == "inclusion":
        merkle.verify_inclusion(
            out["index"], cp.size, base64.b64decode(out["leaf_hash"]), proof, cp.root_hash
        )
    else:
        merkle.verify_consistency(
            out["old_size"], out["new_size"], base64.b64decode(out["old_root"]), cp.root_hash, proof
        )
    out["verifier_key"] = vkey
    out["verified"] = True
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0


def print_key(args: argparse.Namespace) -> int:
    async def go() -> str:
        conn = await _connect(args)
        try:
            return (await _log_key(args, conn))[0]
        finally:
            await conn.close()

    print(_run(go()))
    return 0
