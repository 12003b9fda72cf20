"""`cctv footage export | show | verify`: have the system copy a grant's footage, see what
media did for a request, and get — or check — the export's evidence pack (Art. 16(2)3, 17).

The pack is made here, from two services over request-reply, acting for whoever signed on
(`cctv login`): media hands over the export's files and manifest exactly as it stored them
(`cctv.rpc.media.files`, recorded), the audit log its entries for the grant and the export
with inclusion proofs and a signed checkpoint (`cctv.rpc.audit.export`). The pack is checked
against the configured key before it is written (docs/footage-pack.md).
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from pathlib import Path
from typing import Any

from cctv.contract import rpc
from cctv.contract.campustime import TimeError, parse_instant
from cctv.evidence.pack import Pack, PackError, build_pack, check_pack, read_pack

from .audit import NO_KEY, TrustedKey, configured_key, key_args
from .common import request
from .main import CliError

POLL_S = 1.0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("footage", help="footage 视频调取: export a copy grant, evidence packs")
    s = p.add_subparsers(dest="action", required=True)

    e = s.add_parser(
        "export", help="have the system copy a granted window; -o writes its evidence pack"
    )
    e.add_argument("request_id", help="the approved access request, e.g. DY-2026-00001")
    e.add_argument("--purpose", help="调取用途 (required for a new export)")
    e.add_argument("--destination", help="去向 (required for a new export)")
    e.add_argument("--camera", action="append", help="only these granted cameras (repeatable)")
    e.add_argument("--from", dest="footage_from", help="start, ISO 8601 with time zone")
    e.add_argument("--until", dest="footage_until", help="end, ISO 8601 with time zone")
    e.add_argument("--export-id", help="an existing export: fetch its pack, copy nothing new")
    e.add_argument("-o", "--output", type=Path, help="write the evidence pack (.zip) here")
    e.add_argument("--wait", type=float, default=600.0, help="seconds to wait for the export")
    key_args(e)
    e.set_defaults(func=export)

    sh = s.add_parser("show", help="exports and kept footage of a request 查看导出")
    sh.add_argument("request_id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=show)

    v = s.add_parser("verify", help="check an evidence pack offline 离线核验证据包")
    v.add_argument("pack", type=Path, help="the pack (.zip, or its unpacked directory)")
    key_args(v)
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=verify)


def _time(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return parse_instant(value, f"--{what}").isoformat()
    except TimeError as exc:
        raise CliError(f"{exc} (Art. 16(1)3)") from exc


def _job(request_id: str, export_id: str) -> dict[str, Any] | None:
    jobs = request(rpc.MEDIA_EXPORTS, {"request_id": request_id})["jobs"]
    return next((j for j in jobs if j["job_id"] == export_id), None)


def export(args: argparse.Namespace) -> int:
    key = configured_key(args)
    if args.output is not None and key is None:
        raise CliError(NO_KEY)
    export_id = args.export_id
    if export_id is None:
        if not args.purpose or not args.destination:
            raise CliError("a new export needs --purpose and --destination (Art. 16(1)3)")
        payload: dict[str, Any] = {
            "request_id": args.request_id,
            "purpose": args.purpose,
            "destination": args.destination,
        }
        if args.camera:
            payload["cameras"] = args.camera
        for name in ("footage_from", "footage_until"):
            value = _time(getattr(args, name), name.replace("footage_", ""))
            if value is not None:
                payload[name] = value
        export_id = request(rpc.MEDIA_EXPORT, payload)["export_id"]
        print(f"导出已受理 export {export_id} queued")
    if args.output is None:
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        job = _job(args.request_id, export_id)
        if job is None:
            raise CliError(f"request {args.request_id} has no export {export_id}")
        if job["status"] == "failed":
            raise CliError(f"export {export_id} failed: {job.get('error')}")
        if job["status"] == "done":
            break
        if time.monotonic() > deadline:
            raise CliError(f"export {export_id} is still {job['status']} after {args.wait:.0f} s")
        time.sleep(POLL_S)  # an operator's command waiting for a job, not a test
    assert key is not None
    data = make_pack(export_id, key, deadline)
    args.output.write_bytes(data)
    rep = check_pack(read_pack(args.output), key.verifier.vkey())
    print(
        f"证据包 evidence pack {args.output}: export {export_id}, {len(rep.files)} file(s), "
        f"audit entries #{rep.grant_entry} (grant) and #{rep.exported_entry} (export) at tree "
        f"size {rep.bundle.checkpoint.size}, checked against {key.describe()}"
    )
    return 0


def make_pack(export_id: str, key: TrustedKey, deadline: float) -> bytes:
    """Media's stored bytes + the audit log's evidence for the grant, as one checked pack."""
    got = request(rpc.MEDIA_FILES, {"export_id": export_id}, timeout=120.0)
    manifest = base64.b64decode(got["manifest"])
    files = {f["camera_id"]: base64.b64decode(f["data"]) for f in got["files"]}
    last = ""
    while True:
        # the audit log witnesses media's `access.exported` a moment after it is published
        reply = request(rpc.AUDIT_EXPORT, {"grant_id": got["grant_id"]}, timeout=60.0, check=False)
        if reply.get("ok"):
            data = build_pack(
                export_id=export_id, manifest=manifest, files=files, audit_bundle=reply["bundle"]
            )
            try:
                check_pack(_unzipped(data), key.verifier.vkey())
                return data
            except PackError as exc:
                last = str(exc)
        else:
            last = str(reply.get("error"))
            if reply.get("code") not in ("not_found", "no_checkpoint"):
                raise CliError(
                    f"the audit log gave no evidence for grant {got['grant_id']}: {last}"
                )
        if time.monotonic() > deadline:
            raise CliError(f"no checkable evidence pack for export {export_id}: {last}")
        time.sleep(POLL_S)  # waiting for the audit log to witness the export


def _unzipped(data: bytes) -> Pack:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pack.zip"
        path.write_bytes(data)
        return read_pack(path)


def show(args: argparse.Namespace) -> int:
    out = request(rpc.MEDIA_EXPORTS, {"request_id": args.request_id})
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return 0
    for j in out["jobs"]:
        error = f"  {j['error']}" if j.get("error") else ""
        print(f"{j['job_id']:<22} {j['kind']:<9} {j['status']:<8} {j['created_at']}{error}")
    for o in out["objects"]:
        gone = "  deleted" if o.get("deleted_at") else ""
        print(f"  {o['object_key']}  {o['sha256'][:16]}…  保存至 hold {o['hold_until']}{gone}")
    print(f"{len(out['jobs'])} job(s), {len(out['objects'])} object(s)")
    return 0


def verify(args: argparse.Namespace) -> int:
    return check_pack_file(args.pack, configured_key(args), as_json=args.json)


def check_pack_file(path: Path, key: TrustedKey | None, *, as_json: bool = False) -> int:
    """Exit 0 only when the pack verifies against a configured key (else 1)."""
    try:
        rep = check_pack(read_pack(path), key.verifier.vkey() if key else None)
    except PackError as exc:
        if as_json:
            print(json.dumps({"ok": False, "error": str(exc)}, ensure_ascii=False))
        else:
            print(f"核验失败 CHECK FAILED: {exc}")
        return 1
    if as_json:
        doc = {
            "ok": rep.anchored,
            "anchored": rep.anchored,
            "export_id": rep.export_id,
            "request_id": rep.request_id,
            "grant_id": rep.grant_id,
            "cameras": rep.cameras,
            "footage_from": rep.footage_from,
            "footage_until": rep.footage_until,
            "files": [{"name": n, "sha256": h} for n, h in rep.files],
            "tree_size": rep.bundle.checkpoint.size,
            "warnings": rep.bundle.warnings,
        }
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0 if rep.anchored else 1
    head = "核验通过 CHECK PASSED" if rep.anchored else "核验未完成 CHECK INCOMPLETE"
    print(
        f"{head}: export {rep.export_id} of request {rep.request_id} under grant "
        f"{rep.grant_id}: cameras {', '.join(rep.cameras)}, {rep.footage_from} – "
        f"{rep.footage_until}"
    )
    for name, sha in rep.files:
        print(f"  {name}  sha256 {sha}")
    cp = rep.bundle.checkpoint
    print(
        f"  manifest = audit entry #{rep.exported_entry} (access.exported), grant = entry "
        f"#{rep.grant_entry}, proven in {cp.origin} at tree size {cp.size}"
    )
    if key is not None:
        print(f"公钥 key: {key.describe()}")
    else:
        print(f"注意 warning: {NO_KEY}")
    for w in rep.bundle.warnings:
        print(f"注意 warning: {w}")
    return 0 if rep.anchored else 1
