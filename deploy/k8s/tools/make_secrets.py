"""Makes every Secret the manifests reference, once per cluster, with fresh random values.

The kustomize tree carries no Secret, so `kubectl apply -k` never overwrites a real one.
This prints them as one YAML stream for `kubectl create -f` (create, not apply: run twice, the
second run fails on the existing Secrets instead of replacing them):

    WEBHOOK_URL=… SMTP_PASSWORD=… python deploy/k8s/tools/make_secrets.py -o secrets.yaml \
        [--s3-access-key-id ID]   # with S3_SECRET_ACCESS_KEY=… in the environment
    kubectl create -f secrets.yaml && shred -u secrets.yaml

Each password appears in two Secrets that must agree (a role's `cctv-db-<role>` for
CloudNativePG and the service's `database_url`; `nats-users` for the server and the service's
`nats_url`); making them together is what keeps them in step. NIC's external secret store
can hold the same keys instead (components/external-secrets).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import string
import sys
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nats_auth  # the same directory; not a package

from cctv.plumbing.db import MIGRATOR_ROLE, SERVICE_ROLES  # the role layout, not a copy

SERVICES = ("ingest", "health", "notify", "workflow", "audit", "media", "console")
DB_ROLES = (MIGRATOR_ROLE, *(SERVICE_ROLES[s] for s in SERVICES))
DB_HOST = "cctv-db-rw"
DB_NAME = "cctv"
NATS_HOST = "nats"
# CloudNativePG's own CA for the cluster (the Secret `cctv-db-ca`), mounted in each pod
DB_CA = "/run/cctv/db-ca/ca.crt"
AUDIT_KEY_NAME = "hnsoftedu.edu.cn/campus-cctv/audit"
# notify's channel credentials (services/notify/settings.py), given by NIC through the
# environment of this tool (upper case), never on its command line; empty = channel off
NOTIFY_CHANNELS = (
    "webhook_url",
    "dingtalk_url",
    "dingtalk_secret",
    "smtp_username",
    "smtp_password",
    "sms_api_key",
)
# media's outside logins (services/media/settings.py), the same way: the recorders' replay
# login, the evidence store's S3 keys in production (empty = the demo's local volume) and
# the TURN server's login for WebRTC viewing (empty = STUN only or no relay): its shared
# secret (coturn static-auth-secret: a login per viewer, ADR 0028), or else one long-term
# username/password
MEDIA_GIVEN = (
    "replay_username",
    "replay_password",
    "s3_access_key",
    "s3_secret_key",
    "media_turn_secret",
    "media_turn_username",
    "media_turn_password",
)


def password() -> str:
    """Letters and digits only (safe in URLs and in nats.conf), starting with a letter."""
    alphabet = string.ascii_letters + string.digits
    return secrets.choice(string.ascii_letters) + "".join(
        secrets.choice(alphabet) for _ in range(31)
    )


def secret(name: str, data: dict[str, str], **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/part-of": "campus-cctv"}}
    meta["labels"].update(extra.pop("labels", {}))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": extra.pop("type", "Opaque"),
        "stringData": data,
    }


def nats_certificates(namespace: str, outside: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """A CA and one server certificate for every NATS pod (client port and mutual-TLS routes),
    also valid for the names of the outside door (`nats-external-host` in nic-values)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "campus-cctv NATS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [NATS_HOST, "localhost"]
    for host in (NATS_HOST, f"*.{NATS_HOST}-headless"):
        names += [f"{host}.{namespace}", f"{host}.{namespace}.svc"]
        names += [f"{host}.{namespace}.svc.cluster.local"]
    names.append(f"*.{NATS_HOST}-headless")
    names += outside
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NATS_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in sorted(set(names))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        cert.public_bytes(pem).decode(),
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        ca.public_bytes(pem).decode(),
    )


def audit_signing_key(name: str) -> str:
    """The audit log's Ed25519 key in the signed-note format the audit service reads."""
    from cctv.evidence.checkpoint import Signer  # the repo's own format, not a copy

    return Signer.generate(name).skey() + "\n"


# --- the layout: every Secret, its keys, and where each value comes from -------------------
# A value is one of
#   ("pw", "nats"|"db", name)  a random password of a NATS user or a database role
#   ("tls", key)               the NATS certificate, its key or its CA
#   ("audit_key",)             the audit log's signing key
#   ("identity", "private"|"public")  the console's key for signed identities (and its half
#                              every service checks tokens with: cctv/plumbing/identity.py)
#   ("token", name)            a random token (the console's session secret, the metrics token)
#   ("given", option)          what NIC gives (robot webhook, S3 credentials)
#   ("lit", text)              a fixed text
#   ("tpl", text)              text with {nats:USER} / {db:ROLE} filled by those passwords
# make_secrets.py fills them here; external_secrets.py maps the same layout onto the store.

Value = tuple[str, ...]
DB_URL = (
    f"postgresql://{{role}}:{{{{db:{{role}}}}}}@{DB_HOST}:5432/{DB_NAME}"
    f"?sslmode=verify-full&sslrootcert={DB_CA}"
)


def db_url(role: str) -> Value:
    return ("tpl", DB_URL.format(role=role))


def nats_url(user: str) -> Value:
    return ("tpl", f"tls://{user}:{{nats:{user}}}@{NATS_HOST}:4222")


def layout(nats_tls: bool = True, s3: bool = True) -> list[tuple[str, str, dict[str, Value]]]:
    """(name, type, {key: value}) of every Secret the manifests read."""
    out: list[tuple[str, str, dict[str, Value]]] = [
        # keys upper case: the NATS container takes them all as NATS_PASSWORD_<KEY> (envFrom)
        ("nats-users", "Opaque", {u.upper(): ("pw", "nats", u) for u in nats_auth.users()})
    ]
    if nats_tls:
        tls: dict[str, Value] = {k: ("tls", k) for k in ("tls.crt", "tls.key", "ca.crt")}
        out.append(("nats-tls", "Opaque", tls))
        out.append(("nats-ca", "Opaque", {"ca.crt": ("tls", "ca.crt")}))
    for role in DB_ROLES:
        data = {"username": ("lit", role), "password": ("pw", "db", role)}
        out.append((db_secret(role), "kubernetes.io/basic-auth", data))
    for svc in SERVICES:
        # its own role for the work; the schema owner's URL is cctv-migrator's, read by the
        # pods' init containers only (MIGRATE=only)
        data = {
            "database_url": db_url(SERVICE_ROLES[svc]),
            "nats_url": nats_url(svc),
            # its own NATS user by name too: replies then come to that user's inbox only
            "nats_user": ("lit", svc),
            "nats_password": ("pw", "nats", svc),
            "identity_public_key": ("identity", "public"),
        }
        if svc == "console":
            data["session_secret"] = ("token", "session")
            data["metrics_token"] = ("token", "metrics")
            data["identity_signing_key"] = ("identity", "private")
        if svc == "notify":
            data.update({k: ("given", k) for k in NOTIFY_CHANNELS})
        if svc == "media":
            data.update({k: ("given", k) for k in MEDIA_GIVEN})
        out.append((f"cctv-{svc}", "Opaque", data))
    out.append(("cctv-migrator", "Opaque", {"migration_database_url": db_url(MIGRATOR_ROLE)}))
    out.append(("cctv-streams", "Opaque", {"nats_url": nats_url(nats_auth.ADMIN)}))
    out.append(("cctv-audit-signing-key", "Opaque", {"signing.key": ("audit_key",)}))
    # the same token for Prometheus (ServiceMonitor campus-cctv-console)
    out.append(("cctv-metrics-token", "Opaque", {"token": ("token", "metrics")}))
    if s3:
        s3_keys: dict[str, Value] = {
            k: ("given", k) for k in ("ACCESS_KEY_ID", "ACCESS_SECRET_KEY")
        }
        out.append(("cctv-backup-s3", "Opaque", s3_keys))
    return out


def db_secret(role: str) -> str:
    """cctv_migrator -> cctv-db-migrator, cctv_ingest -> cctv-db-ingest, audit_writer -> …"""
    return f"cctv-db-{role.removeprefix('cctv_').replace('_', '-')}"


def labels_for(type_: str) -> dict[str, str]:
    # CloudNativePG reloads a role's password when its Secret carries this label
    return {"cnpg.io/reload": "true"} if type_ == "kubernetes.io/basic-auth" else {}


def identity_keys() -> dict[str, str]:
    """Ed25519 for signed identities: raw keys in base64, as cctv/plumbing/identity.py reads."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    raw = serialization.Encoding.Raw
    return {
        "private": base64.b64encode(
            key.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        ).decode(),
        "public": base64.b64encode(
            key.public_key().public_bytes(raw, serialization.PublicFormat.Raw)
        ).decode(),
    }


def outside_names(path: Path | None) -> tuple[str, ...]:
    """The outside door's host name from NIC's values file (none without one)."""
    if path is None:
        return ()
    import nic_values  # the same directory

    name = nic_values.load(path).get("nats-external-host", "")
    if nic_values.PLACEHOLDER in name or nic_values.host(name):
        raise SystemExit(f"{path}: nats-external-host: {name!r} is not a host name to certify")
    return (name,)


def build(args: argparse.Namespace) -> list[dict[str, Any]]:
    s3 = bool(args.s3_access_key_id)
    given = {k: os.environ.get(k.upper(), "") for k in (*NOTIFY_CHANNELS, *MEDIA_GIVEN)}
    given["ACCESS_KEY_ID"] = args.s3_access_key_id
    if s3:
        given["ACCESS_SECRET_KEY"] = os.environ.get("S3_SECRET_ACCESS_KEY", "")
        if not given["ACCESS_SECRET_KEY"]:
            raise SystemExit(
                "set S3_SECRET_ACCESS_KEY in the environment (not on the command line)"
            )
    pw: dict[str, str] = {}
    tls: dict[str, str] = {}
    if not args.no_nats_tls:
        crt, key, ca = nats_certificates(args.namespace, outside_names(args.nic_values))
        tls = {"tls.crt": crt, "tls.key": key, "ca.crt": ca}
    signing_key = audit_signing_key(args.audit_key_name)
    identity = identity_keys()
    tokens: dict[str, str] = {}

    def fill(v: Value) -> str:
        kind = v[0]
        if kind == "pw":
            return pw.setdefault(f"{v[1]}:{v[2]}", password())
        if kind == "tls":
            return tls[v[1]]
        if kind == "audit_key":
            return signing_key
        if kind == "identity":
            return identity[v[1]]
        if kind == "token":
            return tokens.setdefault(v[1], secrets.token_urlsafe(48))
        if kind == "given":
            return given[v[1]]
        if kind == "lit":
            return v[1]
        return re.sub(r"\{((?:nats|db):[a-z_]+)\}", lambda m: pw.setdefault(m[1], password()), v[1])

    out = []
    for name, type_, data in layout(nats_tls=not args.no_nats_tls, s3=s3):
        s = secret(name, {k: fill(v) for k, v in data.items()}, type=type_)
        s["metadata"]["labels"].update(labels_for(type_))
        s["metadata"]["namespace"] = args.namespace
        out.append(s)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--namespace", default="campus-cctv")
    p.add_argument("-o", "--out", type=Path, help="write here (mode 0600) instead of stdout")
    p.add_argument("--audit-key-name", default=AUDIT_KEY_NAME, help="= AUDIT_KEY_NAME")
    p.add_argument(
        "--no-nats-tls",
        action="store_true",
        help="NIC issues nats-tls / nats-ca itself (cert-manager or the campus CA)",
    )
    p.add_argument(
        "--nic-values",
        type=Path,
        help="NIC's values (overlays/production/nic-values.yaml): the NATS certificate also "
        "names nats-external-host, the outside door's name",
    )
    p.add_argument(
        "--s3-access-key-id",
        default="",
        help="also make cctv-backup-s3 (production backups); the secret key from "
        "$S3_SECRET_ACCESS_KEY",
    )
    args = p.parse_args(argv)
    text = yaml.safe_dump_all(build(args), sort_keys=False, allow_unicode=True)
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
