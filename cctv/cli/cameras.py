"""`cctv cameras ...`: the inventory as ingest knows it, and edits to it.

Every edit goes through ingest's inventory import (one camera as a one-row file), so the
command line, the console and a file import validate alike (row, column, reason) and every
change is a `camera.upserted` / `camera.removed` event. Passwords are never fields here:
device logins come from mounted secrets or the encrypted vault.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from cctv.contract import rpc

from .common import request
from .main import CliError

OPTIONAL = ("nvr_id", "channel", "monitoring_level", "stream_url")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in a container: still say where it came from
        return "cli"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("cameras", help="camera inventory 摄像机清单")
    s = p.add_subparsers(dest="action", required=True)
    ls = s.add_parser("list", help="list cameras")
    ls.add_argument("--building", help="only this building, e.g. 综合楼")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=list_cameras)
    show = s.add_parser(
        "show", help="one camera: record, state, last sample, last frame check, open faults"
    )
    show.add_argument("camera")
    show.set_defaults(
        func=lambda a: print(yaml.safe_dump(show_camera(a.camera), allow_unicode=True))
    )
    reread = s.add_parser(
        "reload-secrets", help="ingest reads the device secrets again now 立即重读设备密钥"
    )
    reread.set_defaults(func=lambda _a: print(reload_secrets()) or 0)
    add = s.add_parser("add", help="add a camera: camera_id=… name=… (all required columns)")
    add.add_argument("values", nargs="+", metavar="FIELD=VALUE")
    add.add_argument("--actor", default=None, help="who makes the change (audited)")
    add.set_defaults(func=lambda a: print(add_camera(parse_fields(a.values), a.actor)) or 0)
    st = s.add_parser("set", help="change fields of a camera, e.g. position=3楼走廊东 channel=4")
    st.add_argument("camera")
    st.add_argument("values", nargs="+", metavar="FIELD=VALUE", help="empty VALUE clears")
    st.add_argument("--actor", default=None, help="who makes the change (audited)")
    st.set_defaults(func=lambda a: print(set_fields(a.camera, parse_fields(a.values), a.actor)))
    rm = s.add_parser("remove", help="remove a camera from the inventory")
    rm.add_argument("camera")
    rm.add_argument("--reason", required=True, help="why, e.g. the approved removal request")
    rm.add_argument("--actor", default=None, help="who makes the change (audited)")
    rm.set_defaults(func=lambda a: print(remove(a.camera, a.reason, a.actor)) or 0)
    add_file_commands(s)


def add_file_commands(s: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`import FILE` and `export`: under `cctv cameras` and again under `cctv inventory`."""
    imp = s.add_parser("import", help="import a .csv / .yaml file (all or nothing)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true", help="remove cameras not in the file")
    imp.add_argument("--dry-run", action="store_true", help="validate and show the changes only")
    imp.add_argument("--actor", default=None)
    imp.set_defaults(func=do_import)
    exp = s.add_parser("export", help="print the inventory as CSV or YAML")
    exp.add_argument("--format", choices=["csv", "yaml"], default="csv")
    exp.set_defaults(func=do_export)


def list_cameras(args: argparse.Namespace) -> int:
    payload = {"building": args.building} if args.building else {}
    cams = request(rpc.INGEST_CAMERAS, payload)["cameras"]
    try:
        states = {s["camera_id"]: s["state"] for s in request(rpc.HEALTH_STATES, {})["states"]}
    except CliError:  # health not running: the inventory alone is still worth showing
        states = {}
    if args.json:
        print(
            json.dumps(
                [{**c, "state": states.get(c["camera_id"], "unknown")} for c in cams],
                ensure_ascii=False,
                indent=1,
            )
        )
        return 0
    for c in cams:
        print(
            f"{c['camera_id']:<10} {states.get(c['camera_id'], 'unknown'):<11} "
            f"{c['building']:<10} {c['position']:<16} {c['category']:<14} "
            f"{','.join(c['sensitivity']) or '-'}"
        )
    print(f"{len(cams)} cameras")
    return 0


def parse_fields(values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise CliError(f"expected FIELD=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def get(camera_id: str) -> dict[str, Any]:
    found = request(rpc.INGEST_CAMERAS, {"camera_id": camera_id})["cameras"]
    if not found:
        raise CliError(f"无此摄像机 no camera {camera_id!r} in the inventory")
    return dict(found[0])


def show_camera(camera_id: str) -> dict[str, Any]:
    """The inventory record, and what health and ingest know of the camera now."""
    try:
        status = request(rpc.INGEST_CAMERA_STATUS, {"camera_id": camera_id})
    except CliError:  # an ingest without the status reply: the record alone, as before
        status = {"camera": get(camera_id)}
    out: dict[str, Any] = {"camera": status["camera"]}
    try:
        states = request(rpc.HEALTH_STATES, {})["states"]
        mine = [s for s in states if s["camera_id"] == camera_id]
        out["state"] = mine[0] if mine else {"state": "unknown"}
        faults = request(rpc.HEALTH_FAULTS, {})["faults"]
        out["open_faults"] = [
            f for f in faults if f.get("camera_id") == camera_id and f.get("status") == "open"
        ]
    except CliError as exc:  # health not running: say so, show the rest
        out["state"] = {"state": "unknown", "why": str(exc)}
    out["stream_url"] = status.get("stream_url")
    out["last_sample"] = status.get("last_sample")
    out["last_frame_check"] = status.get("last_frame_check")
    return out


def reload_secrets() -> str:
    request(rpc.INGEST_SECRETS_RELOAD, {})
    return "设备密钥已重读 device secrets read again"


def _save(camera: dict[str, Any], actor: str | None) -> dict[str, Any]:
    for k in OPTIONAL:
        if camera.get(k) == "":
            camera[k] = None
    if isinstance(camera.get("sensitivity"), str):
        tags = camera["sensitivity"].replace("，", ",").split(",")
        camera["sensitivity"] = [t.strip() for t in tags if t.strip()]
    content = yaml.safe_dump({"cameras": [camera]}, allow_unicode=True, sort_keys=False)
    return request(
        rpc.INGEST_INVENTORY_IMPORT,
        {"filename": "cli.yaml", "content": content, "actor": actor or _actor()},
        timeout=30,
    )


def add_camera(fields: dict[str, Any], actor: str | None = None) -> str:
    cid = str(fields.get("camera_id", ""))
    if cid and request(rpc.INGEST_CAMERAS, {"camera_id": cid})["cameras"]:
        raise CliError(f"{cid} is already in the inventory; use `cctv cameras set`")
    _save(dict(fields), actor)
    return f"{cid}: 已添加 added"


def set_fields(camera_id: str, fields: dict[str, Any], actor: str | None = None) -> str:
    if "camera_id" in fields and fields["camera_id"] != camera_id:
        raise CliError("camera_id cannot change; add the new id and remove the old one")
    camera = {**get(camera_id), **fields}
    reply = _save(camera, actor)
    if not reply["upserted"]:
        return f"{camera_id}: 无变化 unchanged"
    return f"{camera_id}: 已修改 changed {', '.join(sorted(fields))}"


def remove(camera_id: str, reason: str, actor: str | None = None) -> str:
    request(
        rpc.INGEST_INVENTORY_REMOVE,
        {"camera_id": camera_id, "reason": reason, "actor": actor or _actor()},
    )
    return f"{camera_id}: 已移除 removed"


def do_import(args: argparse.Namespace) -> int:
    from cctv.plumbing.uploads import UploadRejected, decode_text, too_large

    try:
        if refusal := too_large(args.file.stat().st_size):
            raise CliError(f"{args.file}: {refusal}")
        content, _encoding = decode_text(args.file.read_bytes(), args.file.name)
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror}") from exc
    except UploadRejected as exc:  # GBK is read as GBK; anything else is named, not guessed
        raise CliError(str(exc)) from exc
    reply = request(
        rpc.INGEST_INVENTORY_IMPORT,
        {
            "filename": args.file.name,
            "content": content,
            "replace": args.replace,
            "dry_run": args.dry_run,
            "actor": args.actor or _actor(),
        },
        timeout=60,
    )
    verb = "已导入 imported" if reply["applied"] else "校验通过 valid (dry run)"
    print(
        f"{verb}: {len(reply['upserted'])} added/changed, {reply['unchanged']} unchanged, "
        f"{len(reply['removed'])} removed"
    )
    for cid in reply["upserted"][:50]:
        print(f"  + {cid}")
    for cid in reply["removed"][:50]:
        print(f"  - {cid}")
    return 0


def do_export(args: argparse.Namespace) -> int:
    reply = request(rpc.INGEST_INVENTORY_EXPORT, {"format": args.format})
    sys.stdout.write(reply["content"])
    return 0
