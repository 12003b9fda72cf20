"""Makes every Secret the manifests reference, once per cluster, with fresh random values.

The kustomize tree carries no Secret, so `kubectl apply -k` never overwrites a real one.
This prints them as one YAML stream for `kubectl create -f` (create, not apply: run twice, the
second run fails on the existing Secrets instead of replacing them):

    python deploy/k8s/tools/make_secrets.py -o secrets.yaml [--s3-access-key-id ID]
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

SERVICES = ("ingest", "health", "notify", "workflow", "audit", "console")
DB_ROLES = (*SERVICES, "audit_writer")
DB_HOST = "cctv-db-rw"
DB_NAME = "cctv"
NATS_HOST = "nats"
# CloudNativePG's own CA for the cluster (the Secret `cctv-db-ca`), mounted in each pod
DB_CA = "/run/cctv/db-ca/ca.crt"
AUDIT_KEY_NAME = "hnsoftedu.edu.cn/campus-cctv/audit"


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


def nats_certificates(namespace: str) -> tuple[str, str, str]:
    """A CA and one server certificate for every NATS pod (client port and mutual-TLS routes)."""
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
    from services.audit.checkpoint import Signer  # the repo's own format, not a copy

    return Signer.generate(name).skey() + "\n"


def build(args: argparse.Namespace) -> list[dict[str, Any]]:
    nats_pw = {u: password() for u in nats_auth.users()}
    db_pw = {r: password() for r in DB_ROLES}
    ssl = f"sslmode=verify-full&sslrootcert={DB_CA}"

    def db_url(role: str) -> str:
        return f"postgresql://{role}:{db_pw[role]}@{DB_HOST}:5432/{DB_NAME}?{ssl}"

    def nats_url(user: str) -> str:
        return f"tls://{user}:{nats_pw[user]}@{NATS_HOST}:4222"

    out = [secret("nats-users", nats_pw)]
    if not args.no_nats_tls:
        crt, key, ca = nats_certificates(args.namespace)
        out.append(
            secret("nats-tls", {"tls.crt": crt, "tls.key": key, "ca.crt": ca}, type="Opaque")
        )
        out.append(secret("nats-ca", {"ca.crt": ca}))
    for role in DB_ROLES:
        out.append(
            secret(
                f"cctv-db-{role.replace('_', '-')}",
                {"username": role, "password": db_pw[role]},
                type="kubernetes.io/basic-auth",
                labels={"cnpg.io/reload": "true"},
            )
        )
    for svc in SERVICES:
        data = {"database_url": db_url(svc), "nats_url": nats_url(svc)}
        if svc == "audit":
            data["audit_writer_url"] = db_url("audit_writer")
        if svc == "console":
            data["session_secret"] = secrets.token_urlsafe(48)
        if svc == "notify":
            data["webhook_url"] = args.webhook_url
        out.append(secret(f"cctv-{svc}", data))
    out.append(secret("cctv-streams", {"nats_url": nats_url(nats_auth.ADMIN)}))
    out.append(
        secret("cctv-audit-signing-key", {"signing.key": audit_signing_key(args.audit_key_name)})
    )
    if args.s3_access_key_id:
        s3_secret = os.environ.get("S3_SECRET_ACCESS_KEY", "")
        if not s3_secret:
            raise SystemExit(
                "set S3_SECRET_ACCESS_KEY in the environment (not on the command line)"
            )
        out.append(
            secret(
                "cctv-backup-s3",
                {"ACCESS_KEY_ID": args.s3_access_key_id, "ACCESS_SECRET_KEY": s3_secret},
            )
        )
    for s in out:
        s["metadata"]["namespace"] = args.namespace
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", "--namespace", default="campus-cctv")
    p.add_argument("-o", "--out", type=Path, help="write here (mode 0600) instead of stdout")
    p.add_argument("--webhook-url", default="", help="the duty room's WeCom/DingTalk robot")
    p.add_argument("--audit-key-name", default=AUDIT_KEY_NAME, help="= AUDIT_KEY_NAME")
    p.add_argument(
        "--no-nats-tls",
        action="store_true",
        help="NIC issues nats-tls / nats-ca itself (cert-manager or the campus CA)",
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
