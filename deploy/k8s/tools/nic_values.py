"""Checks NIC's site values (overlays/production/nic-values.yaml) before `kubectl apply`.

Every value is read by the production overlay's replacements; a wrong one would surface
later as a refused object, a pod that cannot pull or a service that cannot reach its peer.
This names each value that is missing, unknown, still CHANGE-ME or malformed, and exits 1
(with the project's venv: `recorders` is checked with media's own model):

    .venv/bin/python deploy/k8s/tools/nic_values.py deploy/k8s/overlays/production/nic-values.yaml
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from cctv.plumbing.urls import without_login
from services.media.ice_servers import SETTING as ICE_SETTING
from services.media.ice_servers import IceSettingError, parse_servers
from services.media.recorders import RecorderConfig, template_problem  # media's own rules

PLACEHOLDER = "CHANGE-ME"
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
# repo[:port]/path:x.y.z[-variant] or …@sha256:<64 hex>: exact versions only
IMAGE = re.compile(
    r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+(:\d+\.\d+\.\d+(-[\w.-]+)?|@sha256:[0-9a-f]{64})$"
)


def cidr(v: str) -> str | None:
    try:
        ipaddress.ip_network(v, strict=True)
    except ValueError as exc:
        return f"not a network in CIDR notation ({exc})"
    return None


def host(v: str) -> str | None:
    return None if DNS_NAME.match(v) else "not a lower-case DNS name"


def optional_host(v: str) -> str | None:
    return None if v == "" else host(v)


def url(*schemes: str, optional: bool = False) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        if optional and v == "":
            return None
        parts = urlsplit(v)
        if parts.scheme not in schemes or not parts.netloc:
            return f"not a {'/'.join(schemes)} URL"
        return None

    return check


def replay(v: str) -> str | None:
    """media's REPLAY_URL_TEMPLATE, by media's own check; the cameras of no listed recorder
    come from it, and they need not have a channel: `{camera_id}` it must hold."""
    why = template_problem(v)
    if why:
        return f"a template that {why}"
    return None if "{camera_id}" in v else "does not hold {camera_id}"


def s3_path(v: str) -> str | None:
    parts = urlsplit(v)
    if parts.scheme != "s3" or not parts.netloc:
        return "not s3://bucket/prefix"
    return None


def ice(v: str) -> str | None:
    """media's own parser (MEDIA_ICE_SERVERS, ADR 0028): the entry and why. The TURN login is
    in the Secret cctv-media, not here: media refuses at start a TURN URI without one."""
    try:
        parse_servers(v)
    except IceSettingError as exc:
        return str(exc).removeprefix(f"{ICE_SETTING}: ")
    return None


# media's RECORDERS entries (RecorderConfig) less `password`: this file is committed, a
# recorder's password lives in a Secret
RECORDER_FIELDS = tuple(f for f in RecorderConfig.model_fields if f != "password")
CREDENTIALS = "cctv-recorder-credentials"
PASSWORD_FILE = re.compile(r"^/run/secrets/(recorder-[-._a-zA-Z0-9]+)$")


def media_refusal(exc: ValidationError) -> str:
    """The first thing media's loader would refuse the entry for, the field and value named."""
    first = exc.errors()[0]
    ctx = first.get("ctx") or {}
    why = str(ctx["error"]) if first["type"] == "value_error" and "error" in ctx else first["msg"]
    if not first["loc"]:
        return why
    where = ".".join(map(str, first["loc"]))
    if first["type"] == "value_error":  # media's own check: its message shows the value
        return f"{where}: {why}"
    value = first["input"]
    shown = without_login(value) if isinstance(value, str) else value
    return f"{where} {shown!r}: {why}"


def recorder(row: object) -> str | None:
    """What is wrong with one RECORDERS entry, or None: this file's own rules (no inline
    password, password_file a key of the Secret), then media's (its loader, RecorderConfig,
    refuses at start what it refuses here). The password file is only on media's pods: it is
    named here, not read."""
    if not isinstance(row, dict):
        return "not an object"
    if "password" in row:
        return (
            "holds a password: this file is committed — put it in the Secret "
            f"{CREDENTIALS} and name it with password_file"
        )
    unknown = sorted(set(row) - set(RECORDER_FIELDS))
    if unknown:
        return f"unknown field(s) {', '.join(unknown)} (known: {', '.join(RECORDER_FIELDS)})"
    if not isinstance(row.get("id"), str) or not row["id"]:
        return "has no id (the inventory's nvr_id)"
    try:
        RecorderConfig.model_validate({k: v for k, v in row.items() if k != "password_file"})
    except ValidationError as exc:
        return media_refusal(exc)
    secret = row.get("password_file")
    if secret is not None and not PASSWORD_FILE.match(str(secret)):
        return (
            f"password_file {secret!r} is not /run/secrets/recorder-<name> (a key of the "
            f"Secret {CREDENTIALS})"
        )
    return None


def recorders(v: str) -> str | None:
    try:
        rows = json.loads(v)
    except ValueError as exc:
        return f"not JSON ({exc})"
    if not isinstance(rows, list):
        return "not a JSON list of recorders ([] for none)"
    seen: set[str] = set()
    for i, row in enumerate(rows):
        why = recorder(row)
        name = row.get("id") if isinstance(row, dict) else None
        where = f"entry {i}" + (f" ({name})" if name else "")
        if why:
            return f"{where} {why}"
        if name in seen:
            return f"{where}: recorder listed twice"
        seen.add(str(name))
    return None


def image(v: str) -> str | None:
    return None if IMAGE.match(v) else "not pinned: registry/repo:x.y.z or repo@sha256:…"


def storage_class(v: str) -> str | None:
    return None if DNS_NAME.match(v) else "not a StorageClass name"


KEYS: dict[str, Callable[[str], str | None]] = {
    "image": image,
    "camera-network-cidr": cidr,
    "object-store-cidr": cidr,
    "repair-system-cidr": cidr,
    "mail-sms-cidr": cidr,
    "nic-admin-cidr": cidr,
    "campus-client-cidr": cidr,
    "ice-servers-cidr": cidr,
    "console-host": host,
    "nats-external-host": host,
    "repair-system-url": url("http", "https"),
    "smtp-host": optional_host,
    "sms-gateway-url": url("http", "https", optional=True),
    "recorder-replay-url": replay,
    "recorders": recorders,
    "ice-servers": ice,
    "backup-s3-path": s3_path,
    "backup-s3-endpoint": url("http", "https"),
    "evidence-store": s3_path,
    "evidence-s3-endpoint": url("http", "https"),
    "storage-class": storage_class,
}


def load(path: Path) -> dict[str, str]:
    """The `data` of the nic-values ConfigMap; a SystemExit naming what is wrong otherwise."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SystemExit(f"{path}: cannot read: {exc}") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not a ConfigMap with `data` (see the committed file)")
    return {str(k): "" if v is None else str(v) for k, v in data.items()}


def problems(values: dict[str, str]) -> list[str]:
    out = [f"{k}: missing" for k in KEYS if k not in values]
    out += [f"{k}: unknown value (a typo?)" for k in values if k not in KEYS]
    for key, check in KEYS.items():
        if key not in values:
            continue
        v = values[key]
        if PLACEHOLDER in v:
            out.append(f"{key}: still {PLACEHOLDER}")
            continue
        why = check(v)
        if why and key in ("recorders", "ice-servers"):  # a list: name the entry, not all
            out.append(f"{key}: {why}")
        elif why:
            out.append(f"{key}: {without_login(v)!r} is {why}")  # never a login in the log
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(args[0])
    values = load(path)
    found = problems(values)
    for p in found:
        print(f"{path.name}: {p}", file=sys.stderr)
    if found:
        return 1
    print(f"{path.name}: {len(values)} values OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
