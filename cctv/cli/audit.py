"""`cctv audit ...`: verify, export, check, prove, witness — through the audit service's
request-reply subjects and the cctv.evidence library, never audit's tables.

The trust anchor is the key the operator configured — `--key`/`--key-file`, or the public key
file `AUDIT_PUBLIC_KEY_FILE` (default `<DATA_DIR>/audit/log.pub`) the service writes from its
key file — compared with the fingerprint the campus publishes. A key the service or the
database reports is never trusted by default (issue 13). `check` needs only a bundle file
and the key: no database, no network.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cctv.contract import rpc, subject_for, wrap
from cctv.contract.events import WitnessAlarm
from cctv.evidence import bundle, merkle
from cctv.evidence.checkpoint import Checkpoint, NoteError, Signer, Verifier
from cctv.plumbing.settings import ServiceSettings

from .main import CliError

VERIFY_TIMEOUT_S = 900.0
"""verify recomputes the whole log in the service: about a minute per million entries."""

EXPORT_PAGE = 500
"""Entries asked for per request when exporting a range (the service also cuts by bytes)."""

WITNESS_NOTES = 1000
"""At most this many of a witness's checkpoints go with one verify request (~200 kB)."""

EXIT_ALERT = 3
"""`cctv audit witness`: the log forked or went backwards (cron and monitoring key on it)."""


class AuditCliSettings(ServiceSettings):
    """Where the operator's configured key lives (same names as the audit service's)."""

    audit_public_key_file: Path | None = None
    audit_key_file: Path | None = None
    audit_origin: str = "hnsoftedu.edu.cn/campus-cctv/audit"
    audit_key_fingerprint: str = ""


def key_args(a: argparse.ArgumentParser) -> None:
    """The trust-anchor options every checking command shares."""
    a.add_argument("--key", help="the log's published verifier key <name>+<id>+<base64>")
    a.add_argument(
        "--key-file",
        type=Path,
        help="file holding it (default: AUDIT_PUBLIC_KEY_FILE, <DATA_DIR>/audit/log.pub)",
    )
    a.add_argument(
        "--fingerprint",
        help="the published fingerprint SHA256:<hex> the key must have "
        "(default: AUDIT_KEY_FINGERPRINT, if set)",
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("audit", help="audit log 审计日志: verify, export, check, prove, witness")
    s = p.add_subparsers(dest="action", required=True)

    v = s.add_parser("verify", help="recompute chain, tree and nodes 校验审计日志")
    key_args(v)
    v.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="a signed checkpoint kept elsewhere; repeatable",
    )
    v.add_argument("--witness", type=Path, help="a witness's state folder: all its checkpoints")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=verify)

    e = s.add_parser("export", help="write an audit bundle 导出审计包")
    key_args(e)
    g = e.add_mutually_exclusive_group(required=True)
    g.add_argument(
        "--range", nargs=2, type=int, metavar=("START", "END"), help="entries [START, END)"
    )
    g.add_argument("--request-no", help="evidence pack for an access request 调阅申请单号")
    g.add_argument("--grant-id", help="evidence pack for a copy grant 拷贝授权")
    e.add_argument("-o", "--output", type=Path, required=True)
    e.set_defaults(func=export)

    c = s.add_parser(
        "check", help="check a bundle or a footage evidence pack offline 离线核验审计包/证据包"
    )
    c.add_argument("bundle", type=Path, help="an audit bundle (.json) or a footage pack (.zip/dir)")
    key_args(c)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=check)

    pr = s.add_parser("prove", help="print a verified inclusion or consistency proof 打印证明")
    key_args(pr)
    g2 = pr.add_mutually_exclusive_group(required=True)
    g2.add_argument("--index", type=int, help="inclusion proof of this entry")
    g2.add_argument(
        "--consistency",
        nargs="*",
        type=int,
        metavar="SIZE",
        help="[OLD] [NEW]: the log at NEW (default: latest) extends the old checkpoint",
    )
    pr.add_argument("--size", type=int, help="inclusion against the checkpoint of this size")
    src = pr.add_mutually_exclusive_group()
    src.add_argument(
        "--old-checkpoint", type=Path, help="the signed checkpoint you kept (consistency)"
    )
    src.add_argument("--witness", type=Path, help="a witness's state folder (consistency)")
    pr.set_defaults(func=prove)

    k = s.add_parser("key", help="the configured verifier key and fingerprint 公钥与指纹")
    key_args(k)
    k.set_defaults(func=print_key)

    w = s.add_parser(
        "witness", help="keep every checkpoint outside the log; alert on fork or rollback 见证"
    )
    key_args(w)
    w.add_argument("--state", type=Path, required=True, help="folder the witness keeps")
    w.add_argument("--every", type=float, help="keep watching, every N seconds (default: once)")
    w.set_defaults(func=witness)


# --- the trust anchor ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedKey:
    verifier: Verifier
    source: str

    def describe(self) -> str:
        return f"{self.source}; fingerprint {self.verifier.fingerprint()}"


def _parse_key(text: str, where: str) -> Verifier:
    text = text.strip()
    try:
        if text.startswith("PRIVATE+KEY+"):
            return Signer.from_skey(text).verifier
        return Verifier.from_vkey(text)
    except NoteError as exc:
        raise CliError(f"verifier key from {where}: {exc}") from exc


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {what} {path}: {exc}") from exc


def configured_key(args: argparse.Namespace) -> TrustedKey | None:
    """The key the operator configured, or None: never one the log or its service reports.
    When a published fingerprint is given (--fingerprint, AUDIT_KEY_FINGERPRINT), the key
    must have it."""
    key = _configured_key(args)
    pinned = getattr(args, "fingerprint", None) or AuditCliSettings().audit_key_fingerprint
    if key is not None and pinned and key.verifier.fingerprint() != pinned.strip():
        raise CliError(
            f"the configured key ({key.source}) has fingerprint {key.verifier.fingerprint()}, "
            f"not the published {pinned.strip()} 公钥指纹与公布的不符"
        )
    return key


def _configured_key(args: argparse.Namespace) -> TrustedKey | None:
    if getattr(args, "key", None):
        return TrustedKey(_parse_key(args.key, "--key"), "--key")
    if getattr(args, "key_file", None):
        path = args.key_file
        return TrustedKey(_parse_key(_read(path, "key file"), str(path)), f"key file {path}")
    cfg = AuditCliSettings()
    pub = cfg.audit_public_key_file or cfg.data_dir / "audit" / "log.pub"
    if pub.exists():
        return TrustedKey(_parse_key(_read(pub, "key file"), str(pub)), f"key file {pub}")
    if cfg.audit_key_file is not None and cfg.audit_key_file.exists():
        path = cfg.audit_key_file
        return TrustedKey(_parse_key(_read(path, "key file"), str(path)), f"signing key {path}")
    return None


NO_KEY = (
    "no verifier key configured 未配置审计公钥: pass --key or --key-file with the log's "
    "published key (or set AUDIT_PUBLIC_KEY_FILE); a key the database or the service reports "
    "is not evidence, and nothing is verified without one"
)


def required_key(args: argparse.Namespace) -> TrustedKey:
    key = configured_key(args)
    if key is None:
        raise CliError(NO_KEY)
    return key


def _ask(subject: str, payload: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    from .common import request

    return request(subject, payload, timeout=timeout)


def _open(note: str, key: TrustedKey, what: str) -> Checkpoint:
    try:
        return Checkpoint.open(note, key.verifier)
    except NoteError as exc:
        raise CliError(
            f"{what} is not signed by the configured key ({key.describe()}): {exc} "
            "检查点签名与配置的公钥不符"
        ) from exc


# --- commands -----------------------------------------------------------------------------


def verify(args: argparse.Namespace) -> int:
    key = required_key(args)
    notes = [_read(p, "checkpoint") for p in args.checkpoint]
    if args.witness:
        kept = Witness(args.witness).notes()
        # one request carries them: the most recent WITNESS_NOTES are plenty to locate a
        # rewrite (the stored checkpoints are checked too)
        notes += [n for _, n in kept[-WITNESS_NOTES:]]
    out = _ask(
        rpc.AUDIT_VERIFY,
        {"key": key.verifier.vkey(), "checkpoints": notes},
        timeout=VERIFY_TIMEOUT_S,
    )
    findings, problems = out["findings"], out["problems"]
    ok = not findings and not problems and (bool(out["checkpoints_ok"]) or not out["size"])
    if not out["checkpoints_ok"] and out["size"]:
        problems = [
            *problems,
            "no checkpoint signed by the configured key covers the log: nothing vouches for it "
            "没有由配置公钥签名的检查点",
        ]
    if args.json:
        print(
            json.dumps(
                {**{k: v for k, v in out.items() if k != "ok"}, "ok": ok, "problems": problems}
                | {"key": key.source, "fingerprint": key.verifier.fingerprint()},
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0 if ok else 1
    print(f"审计日志 audit log: {out['size']} 条 entries, root {out['root']}")
    print(f"公钥 key: {key.describe()}")
    cps = out["checkpoints_ok"]
    latest = f" (latest at size {cps[-1]})" if cps else ""
    print(f"签名检查点 signed checkpoints verified: {len(cps)}{latest}")
    if out.get("signing_key") and out["signing_key"] != key.verifier.vkey():
        print(f"注意 warning: the service signs with another key: {out['signing_key']}")
    for p in problems:
        print(f"问题 problem: {p}")
    if findings:
        first = findings[0]
        print(
            f"篡改 TAMPERED — 第一处差异 first difference: entry {first['index']}: "
            f"{first['kind']} — {first['detail']}"
        )
        for f in findings[1:]:
            print(f"  also: entry {f['index']}: {f['kind']} — {f['detail']}")
    elif ok:
        print(
            "完好 OK — chain, tree, stored nodes and signed checkpoints agree, and every "
            "message the witness acknowledged is in the log"
        )
    return 0 if ok else 1


def export(args: argparse.Namespace) -> int:
    key = configured_key(args)
    if args.range:
        doc = _range_bundle(*args.range)
    else:
        req = {"request_no": args.request_no} if args.request_no else {"grant_id": args.grant_id}
        doc = _ask(rpc.AUDIT_EXPORT, req, timeout=120.0)["bundle"]
    against = key.verifier.vkey() if key else str(doc["log"]["verifier_key"])
    try:
        bundle.check_bundle(doc, against)
    except bundle.BundleError as exc:
        whose = f"the configured key ({key.describe()})" if key else "the service's key"
        raise CliError(
            f"the exported bundle does not check against {whose}: {exc} 导出的审计包核验失败"
        ) from exc
    if key is not None:
        doc["log"]["verifier_key"] = key.verifier.vkey()
    args.output.write_text(bundle.dumps(doc), encoding="utf-8")
    n = len(doc["entries"])
    print(f"已导出 exported {n} 条 entries to {args.output} ({doc['purpose']})")
    if key is None:
        print(f"注意 warning: {NO_KEY}; checked only against the key the service reports")
    else:
        print(f"核对公钥 key: {key.describe()}")
    return 0


def _range_bundle(start: int, end: int) -> dict[str, Any]:
    """A range bundle of any length: the range proof against the latest signed checkpoint in
    one request, the entries page by page (each reply stays under NATS's payload limit)."""
    head = _ask(rpc.AUDIT_PROVE, {"start": start, "end": end})
    start, end = int(head["start"]), int(head["end"])
    entries: list[tuple[int, bytes]] = []
    after = start - 1
    while after < end - 1:
        page = _ask(
            rpc.AUDIT_QUERY,
            {"after_seq": after, "limit": min(500, end - 1 - after), "compact": True},
        )
        got = [(int(e["seq"]), _b(e["entry"])) for e in page["entries"] if e["seq"] < end]
        if not got:
            break
        entries += got
        after = got[-1][0]
    if [i for i, _ in entries] != list(range(start, end)):
        raise CliError(
            f"the log does not return every entry of [{start}, {end}): run `cctv audit verify`"
        )
    cp = Checkpoint.parse_body(head["checkpoint"].split("\n\n")[0] + "\n")
    signer = _ask(rpc.AUDIT_CHECKPOINT, {})["verifier_key"]
    return bundle.make_bundle(
        origin=cp.origin,
        verifier_key=signer,
        checkpoint_note=head["checkpoint"],
        entries=entries,
        range_proof=_bs(head["proof"]),
        description=f"审计日志导出 audit log entries [{start}, {end})",
    )


def check(args: argparse.Namespace) -> int:
    from cctv.evidence.pack import is_pack

    if args.bundle.exists() and is_pack(args.bundle):
        from .footage import check_pack_file

        return check_pack_file(args.bundle, configured_key(args), as_json=args.json)
    text = _read(args.bundle, "bundle")
    key = configured_key(args)
    try:
        doc = bundle.loads(text)
        rep = bundle.check_bundle(doc, key.verifier.vkey() if key else None)
    except bundle.BundleError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}, ensure_ascii=False))
        else:
            print(f"核验失败 CHECK FAILED: {exc}")
        return 1
    anchored = key is not None
    if args.json:
        print(
            json.dumps(
                {
                    "ok": anchored,
                    "anchored": anchored,
                    "tree_size": rep.checkpoint.size,
                    "root": rep.checkpoint.root_hash.hex(),
                    "origin": rep.checkpoint.origin,
                    "key": key.describe() if key else rep.key_source,
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
        return 0 if anchored else 1
    cp = rep.checkpoint
    if anchored:
        assert key is not None
        print(
            f"核验通过 CHECK PASSED: {len(rep.entries)} 条 entries belong to {cp.origin} "
            f"at tree size {cp.size} (root {cp.root_hash.hex()})"
        )
        print(f"公钥 key: {key.describe()}")
    else:
        inner = Verifier.from_vkey(str(doc["log"]["verifier_key"]))
        print(
            "核验未完成 CHECK INCOMPLETE: the bundle is consistent with the key it carries, "
            f"{inner.vkey()} (fingerprint {inner.fingerprint()}), but {NO_KEY}"
        )
    for w in rep.warnings:
        print(f"注意 warning: {w}")
    for e in rep.entries:
        print(f"  {e.summary()}  [{e.how}]")
    return 0 if anchored else 1


def prove(args: argparse.Namespace) -> int:
    key = required_key(args)
    if args.index is not None:
        out = _ask(rpc.AUDIT_PROVE, {"index": args.index, "size": args.size})
        cp = _open(out["checkpoint"], key, "the checkpoint the service sent")
        try:
            merkle.verify_inclusion(
                out["index"], cp.size, _b(out["leaf_hash"]), _bs(out["proof"]), cp.root_hash
            )
        except merkle.ProofError as exc:
            raise CliError(f"inclusion proof does not verify: {exc} 包含证明校验失败") from exc
        out["verified"] = True
        out["verified_against"] = f"signed checkpoint of size {cp.size} ({key.describe()})"
        return _dump(out)
    sizes = list(args.consistency)
    if len(sizes) > 2:
        raise CliError("--consistency takes at most OLD and NEW")
    old_cp, where = _old_checkpoint(args, key, sizes[0] if sizes else None)
    req = {"old_size": old_cp.size, **({"new_size": sizes[1]} if len(sizes) == 2 else {})}
    out = _ask(rpc.AUDIT_PROVE, req)
    new_cp = _open(out["checkpoint"], key, "the checkpoint the service sent")
    try:
        merkle.verify_consistency(
            old_cp.size, new_cp.size, old_cp.root_hash, new_cp.root_hash, _bs(out["proof"])
        )
    except merkle.ProofError as exc:
        raise CliError(
            f"the log at size {new_cp.size} does not extend {where}: {exc} — the log forked or "
            "was rewritten 日志不一致"
        ) from exc
    out["old_root"] = base64.b64encode(old_cp.root_hash).decode()
    out["new_size"] = new_cp.size
    out["verified"] = True
    out["verified_against"] = where
    return _dump(out)


def _old_checkpoint(
    args: argparse.Namespace, key: TrustedKey, size: int | None
) -> tuple[Checkpoint, str]:
    """The old checkpoint comes from the caller or a witness, never from the log itself: an
    old root computed from the same database would vouch for whatever is in it now."""
    if args.old_checkpoint:
        cp = _open(_read(args.old_checkpoint, "checkpoint"), key, str(args.old_checkpoint))
        where = f"the signed checkpoint in {args.old_checkpoint} (size {cp.size})"
    elif args.witness:
        kept = Witness(args.witness).notes()
        if size is not None:
            kept = [(s, n) for s, n in kept if s == size]
        if not kept:
            raise CliError(
                f"the witness in {args.witness} holds no checkpoint"
                + (f" of size {size}" if size is not None else "")
            )
        cp = _open(kept[-1][1], key, f"the witness's checkpoint of size {kept[-1][0]}")
        where = f"the checkpoint of size {cp.size} kept by the witness in {args.witness}"
    else:
        raise CliError(
            "a consistency proof needs an old checkpoint you hold: pass --old-checkpoint FILE "
            "or --witness DIR; an old root from the log itself would prove nothing "
            "请提供自行保存的检查点"
        )
    if size is not None and cp.size != size:
        raise CliError(f"the old checkpoint is of size {cp.size}, not {size}")
    return cp, where


def print_key(args: argparse.Namespace) -> int:
    key = required_key(args)
    print(key.verifier.vkey())
    print(f"fingerprint {key.verifier.fingerprint()}  ({key.source})", file=sys.stderr)
    return 0


# --- the witness --------------------------------------------------------------------------


class Witness:
    """Checkpoints kept outside the audit database, one file per size (`<size>.note`), plus
    `ALERT` when the log forked or went backwards. Append-only by convention: nothing here
    rewrites a kept note."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def notes(self) -> list[tuple[int, str]]:
        if not self.folder.is_dir():
            return []
        out = []
        for p in self.folder.glob("*.note"):
            if p.stem.isdigit():
                out.append((int(p.stem), p.read_text(encoding="utf-8")))
        return sorted(out)

    def keep(self, cp: Checkpoint, note: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{cp.size:012d}.note"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(note, encoding="utf-8")
            tmp.replace(path)
        return path

    def alert(self, text: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with (self.folder / "ALERT").open("a", encoding="utf-8") as f:
            f.write(f"{stamp} {text}\n")


@dataclass(frozen=True)
class Round:
    """What one witness round found; ``alarm`` is set on a fork or a rollback."""

    what: str
    alarm: WitnessAlarm | None = None


def _alarm(kind: str, kept: Checkpoint, seen: Checkpoint, what: str, w: Witness) -> Round:
    return Round(
        what,
        WitnessAlarm(
            kind=kind,  # type: ignore[arg-type]
            origin=kept.origin,
            kept_size=kept.size,
            kept_root=kept.root_hash.hex(),
            seen_size=seen.size,
            seen_root=seen.root_hash.hex(),
            detail=what,
            witness=f"{socket.gethostname()}:{w.folder.resolve()}",
        ),
    )


def witness_once(w: Witness, key: TrustedKey) -> Round:
    """One round: fetch the latest checkpoint, check it extends the last one kept, keep it."""
    latest = _ask(rpc.AUDIT_CHECKPOINT, {})
    note = latest.get("checkpoint")
    if not note:
        return Round("the log has no checkpoint yet")
    new = _open(note, key, "the latest checkpoint")
    kept = w.notes()
    if not kept:
        w.keep(new, note)
        return Round(f"first checkpoint kept: size {new.size}, root {new.root_hash.hex()}")
    last_size, last_note = kept[-1]
    last = _open(last_note, key, f"the kept checkpoint of size {last_size}")
    same = dict(kept).get(new.size)
    if same is not None:
        twin = _open(same, key, "a kept checkpoint")
        if twin.root_hash != new.root_hash:
            return _alarm(
                "fork",
                twin,
                new,
                f"FORK 分叉: two signed checkpoints for size {new.size} with different roots "
                f"({twin.root_hash.hex()} kept, {new.root_hash.hex()} now)",
                w,
            )
    if new.origin != last.origin:
        return _alarm(
            "fork",
            last,
            new,
            f"FORK 分叉: the log now calls itself {new.origin!r}, the kept checkpoints "
            f"{last.origin!r}",
            w,
        )
    if new.size < last.size:
        return _alarm(
            "rollback",
            last,
            new,
            f"ROLLBACK 回退: the log went back from size {last.size} to {new.size} "
            "(the kept checkpoint is signed: entries were removed)",
            w,
        )
    if new.size == last.size:
        return Round(f"no new entries (size {new.size})")
    proof = _ask(rpc.AUDIT_PROVE, {"old_size": last.size, "new_size": new.size})
    got = _open(proof["checkpoint"], key, "the checkpoint the proof is against")
    try:
        merkle.verify_consistency(
            last.size, got.size, last.root_hash, got.root_hash, _bs(proof["proof"])
        )
    except merkle.ProofError as exc:
        return _alarm(
            "fork",
            last,
            got,
            f"FORK 分叉: the log at size {got.size} does not extend the kept checkpoint of "
            f"size {last.size}: {exc}",
            w,
        )
    w.keep(new, note)
    if got.size != new.size:
        w.keep(got, proof["checkpoint"])
    return Round(f"consistent: size {last.size} -> {new.size}, root {new.root_hash.hex()}")


def _announce(alarm: WitnessAlarm) -> str | None:
    """Publish the alarm on cctv.audit.witness_alarm.<tree size seen> (JetStream, kept), the
    address the contract declares; None or why not."""
    import asyncio

    from .common import nats_connection

    async def go() -> None:
        async with nats_connection("publishing the witness alarm") as nc:
            key = str(alarm.seen_size)
            env = wrap(alarm, source="audit-witness", key=key)
            await nc.jetstream().publish(
                subject_for(alarm, key), env.to_bytes(), headers={"Nats-Msg-Id": env.id}
            )

    try:
        asyncio.run(go())
    except CliError as exc:  # the exit status and the ALERT file still say it
        return str(exc)
    except Exception as exc:  # anything else: the alarm must still end in EXIT_ALERT
        return repr(exc)
    return None


def witness(args: argparse.Namespace) -> int:
    key = required_key(args)
    w = Witness(args.state)
    while True:
        r = witness_once(w, key)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if r.alarm is not None:
            w.alert(r.what)
            print(f"{stamp} 告警 ALERT: {r.what}", file=sys.stderr)
            failed = _announce(r.alarm)
            if failed:
                print(f"{stamp} the alarm event was not published: {failed}", file=sys.stderr)
            return EXIT_ALERT
        print(f"{stamp} {r.what}")
        if args.every is None:
            return 0
        time.sleep(args.every)


# --- helpers ------------------------------------------------------------------------------


def _b(s: str) -> bytes:
    return base64.b64decode(s)


def _bs(items: list[str]) -> list[bytes]:
    return [base64.b64decode(h) for h in items]


def _dump(out: dict[str, Any]) -> int:
    out.pop("ok", None)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return 0
