"""The evidence pack of a copy grant (Art. 16(2)3, 17): the exported files, media's manifest
and the audit log's own record of the grant and the export, checkable offline.

Why: footage that leaves the campus must carry proof of what it is — which approved request
and grant it was copied under, which cameras and window, and that not a byte changed since.
The pack binds the three together without trusting whoever hands it over:

    file bytes --SHA-256--> manifest.json --SHA-256--> the audited `access.exported` entry
    --inclusion proof--> a checkpoint signed by the audit log's published key;
    the manifest's cameras and window --inside--> the audited approval that made the grant.

Format `cctv-footage-pack/v1` (docs/footage-pack.md): a zip (or the same tree unpacked) with
`pack.json` (an index), `manifest.json` (exactly the bytes media stored), `audit.json` (an
audit bundle, docs/audit-bundle.md) and `files/<camera>.mp4`. `check_pack` is what
`cctv audit check PACK` and `cctv footage verify PACK` run.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cctv.contract.campustime import TimeError, parse_instant
from cctv.evidence import bundle
from cctv.evidence.entry import utc_now

FORMAT = "cctv-footage-pack/v1"
INDEX, MANIFEST, AUDIT = "pack.json", "manifest.json", "audit.json"
APPROVED = "workflow.access.approved"
EXPORTED = "access.exported"
MAX_MEMBERS = 1000


class PackError(ValueError):
    """The pack is malformed or does not verify; the message names the failing part."""


@dataclass
class Pack:
    index: dict[str, Any]
    manifest: bytes
    audit: dict[str, Any]
    files: dict[str, bytes]  # member name (files/...) -> bytes


@dataclass
class PackReport:
    bundle: bundle.CheckReport
    anchored: bool  # checked against a trusted key, not the one the pack carries
    export_id: str
    request_id: str
    grant_id: str
    cameras: list[str]
    footage_from: str
    footage_until: str
    files: list[tuple[str, str]] = field(default_factory=list)  # (member, sha256)
    exported_entry: int = -1
    grant_entry: int = -1


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def member_name(camera_id: str) -> str:
    return f"files/{camera_id}.mp4"


def build_pack(
    *,
    export_id: str,
    manifest: bytes,
    files: Mapping[str, bytes],
    audit_bundle: Mapping[str, Any],
    description: str = "",
) -> bytes:
    """The zip of a pack: `files` maps each camera id to its exported file's bytes."""
    doc = json.loads(manifest)
    index = {
        "format": FORMAT,
        "description": description
        or "视频复制证据包 evidence pack of a copy grant: files, manifest, audit entries",
        "created_at": utc_now(),
        "export_id": export_id,
        "request_id": doc.get("request_id"),
        "grant_id": doc.get("grant_id"),
        "manifest": MANIFEST,
        "manifest_sha256": _sha(manifest),
        "audit": AUDIT,
        "files": [
            {"name": member_name(cam), "camera_id": cam, "sha256": _sha(data), "bytes": len(data)}
            for cam, data in files.items()
        ],
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(INDEX, json.dumps(index, ensure_ascii=False, indent=1))
        z.writestr(MANIFEST, manifest)
        z.writestr(AUDIT, bundle.dumps(audit_bundle))
        for cam, data in files.items():
            z.writestr(zipfile.ZipInfo(member_name(cam)), data, zipfile.ZIP_STORED)
    return out.getvalue()


def _safe(name: str) -> str:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name or not name:
        raise PackError(f"pack member {name!r} has an unsafe path")
    return str(p)


def read_pack(path: Path) -> Pack:
    """A pack from a zip file or an unpacked directory."""
    members: dict[str, bytes] = {}
    if path.is_dir():
        for f in sorted(path.rglob("*")):
            if f.is_file():
                members[_safe(f.relative_to(path).as_posix())] = f.read_bytes()
    else:
        try:
            with zipfile.ZipFile(path) as z:
                infos = z.infolist()
                if len(infos) > MAX_MEMBERS:
                    raise PackError(f"pack has {len(infos)} members, more than {MAX_MEMBERS}")
                for info in infos:
                    if info.is_dir():
                        continue
                    name = _safe(info.filename)
                    if name in members:
                        raise PackError(f"pack member {name} appears twice")
                    members[name] = z.read(info)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackError(f"{path} is not a readable zip: {exc}") from exc
    for need in (INDEX, MANIFEST, AUDIT):
        if need not in members:
            raise PackError(f"pack lacks {need}")
    try:
        index = json.loads(members.pop(INDEX))
    except ValueError as exc:
        raise PackError(f"{INDEX} is not JSON: {exc}") from exc
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        got = index.get("format") if isinstance(index, dict) else None
        raise PackError(f"{INDEX}: format is {got!r}, need {FORMAT}")
    try:
        audit = bundle.loads(members.pop(AUDIT).decode("utf-8"))
    except (ValueError, bundle.BundleError) as exc:
        raise PackError(f"{AUDIT}: {exc}") from exc
    manifest = members.pop(MANIFEST)
    for name in members:
        if not name.startswith("files/"):
            raise PackError(f"pack member {name} is not part of the format")
    return Pack(index, manifest, audit, members)


def _events(rep: bundle.CheckReport) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    for e in rep.entries:
        if e.entry.kind != "event":
            continue
        try:
            env = json.loads(e.entry.payload)
        except ValueError:
            continue
        if isinstance(env, dict) and isinstance(env.get("data"), dict):
            out.append((e.index, env))
    return out


def _time(value: Any, what: str) -> datetime:
    try:
        return parse_instant(value, what)
    except TimeError as exc:
        raise PackError(str(exc)) from exc


def check_pack(pack: Pack, trusted_key: str | None = None) -> PackReport:
    """Verify a pack with nothing but itself and the audit log's published key.

    Raises PackError naming the first thing that fails."""
    # 1. the audit entries, their inclusion proofs and the signed checkpoint
    try:
        rep = bundle.check_bundle(pack.audit, trusted_key)
    except bundle.BundleError as exc:
        raise PackError(f"{AUDIT}: {exc}") from exc
    events = _events(rep)
    export_id = str(pack.index.get("export_id", ""))
    # 2. the audited export and the audited grant
    exported = [
        (i, env)
        for i, env in events
        if env.get("type") == EXPORTED and env["data"].get("export_id") == export_id
    ]
    if len(exported) != 1:
        raise PackError(
            f"{AUDIT}: {len(exported)} audited access.exported entries for export "
            f"{export_id!r}, need exactly one"
        )
    ex_index, ex_env = exported[0]
    ex = ex_env["data"]
    grant_id = str(ex.get("grant_id", ""))
    grants = [
        (i, env["data"]["summary"]["grant"])
        for i, env in events
        if env.get("type") == APPROVED
        and isinstance(env["data"].get("summary"), dict)
        and isinstance(env["data"]["summary"].get("grant"), dict)
        and env["data"]["summary"]["grant"].get("grant_id") == grant_id
    ]
    if not grants:
        raise PackError(f"{AUDIT}: no audited approval ({APPROVED}) made grant {grant_id!r}")
    g_index, grant = grants[-1]
    # 3. the manifest is the one the audited export names
    m_sha = _sha(pack.manifest)
    if m_sha != ex.get("manifest_sha256"):
        raise PackError(
            f"{MANIFEST}: SHA-256 {m_sha} is not the audited export's manifest_sha256 "
            f"{ex.get('manifest_sha256')} (audit entry #{ex_index}): the manifest was changed"
        )
    try:
        manifest = json.loads(pack.manifest)
    except ValueError as exc:
        raise PackError(f"{MANIFEST} is not JSON: {exc}") from exc
    # (the hash binds the bytes; these say the audited event and the manifest agree)
    for key, want in (
        ("export_id", ex.get("export_id")),
        ("request_id", ex.get("request_id")),
        ("grant_id", grant_id),
        ("cameras", ex.get("camera_ids")),
    ):
        if manifest.get(key) != want:
            raise PackError(
                f"{MANIFEST}: {key} {manifest.get(key)!r} differs from the audited export's "
                f"{want!r} (audit entry #{ex_index})"
            )
    f_from = _time(manifest.get("footage_from"), f"{MANIFEST} footage_from")
    f_until = _time(manifest.get("footage_until"), f"{MANIFEST} footage_until")
    if (f_from, f_until) != (
        _time(ex.get("footage_from"), "access.exported footage_from"),
        _time(ex.get("footage_until"), "access.exported footage_until"),
    ):
        raise PackError(
            f"{MANIFEST}: footage window differs from the audited export (entry #{ex_index})"
        )
    m_files = manifest.get("files")
    if (
        not isinstance(m_files, list)
        or not all(isinstance(f, dict) and isinstance(f.get("camera_id"), str) for f in m_files)
        or [(f["camera_id"], f.get("sha256")) for f in m_files]
        != [(f.get("camera_id"), f.get("sha256")) for f in ex.get("files", [])]
    ):
        raise PackError(
            f"{MANIFEST}: files differ from the audited export's (audit entry #{ex_index})"
        )
    # 4. exactly what was approved: the grant's cameras and window
    outside = [c for c in manifest["cameras"] if c not in grant.get("cameras", [])]
    if outside:
        raise PackError(
            f"{MANIFEST}: camera(s) {', '.join(outside)} are not in grant {grant_id} "
            f"(audit entry #{g_index}; Art. 16(1)3)"
        )
    g_from = _time(grant.get("footage_from"), "grant footage_from")
    g_until = _time(grant.get("footage_until"), "grant footage_until")
    if f_from < g_from or f_until > g_until:
        raise PackError(
            f"{MANIFEST}: footage {f_from.isoformat()} – {f_until.isoformat()} is outside "
            f"grant {grant_id}'s {g_from.isoformat()} – {g_until.isoformat()} "
            f"(audit entry #{g_index}; Art. 16(1)3)"
        )
    if not grant.get("export"):
        raise PackError(
            f"grant {grant_id} allows viewing only, no copy (entry #{g_index}; Art. 17)"
        )
    # 5. every file is the one the manifest lists, byte for byte
    listed: dict[str, str] = {member_name(f["camera_id"]): f["sha256"] for f in m_files}
    for name in pack.files:
        if name not in listed:
            raise PackError(f"{name} is in the pack but not in {MANIFEST}")
    checked: list[tuple[str, str]] = []
    for name, want in listed.items():
        if name not in pack.files:
            raise PackError(f"{name}, listed in {MANIFEST}, is missing from the pack")
        got = _sha(pack.files[name])
        if got != want:
            raise PackError(
                f"{name}: SHA-256 {got} is not the manifest's {want}: the file was changed"
            )
        checked.append((name, got))
    for key in ("request_id", "grant_id"):
        if pack.index.get(key) not in (None, manifest.get(key)):
            raise PackError(f"{INDEX}: {key} {pack.index.get(key)!r} differs from {MANIFEST}")
    return PackReport(
        bundle=rep,
        anchored=trusted_key is not None,
        export_id=export_id,
        request_id=str(manifest.get("request_id")),
        grant_id=grant_id,
        cameras=list(manifest["cameras"]),
        footage_from=f_from.isoformat(),
        footage_until=f_until.isoformat(),
        files=checked,
        exported_entry=ex_index,
        grant_entry=g_index,
    )


def is_pack(path: Path) -> bool:
    """A footage pack (zip or unpacked tree) rather than a bare audit bundle."""
    if path.is_dir():
        return (path / INDEX).is_file()
    return zipfile.is_zipfile(path)
