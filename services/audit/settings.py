from pathlib import Path

from cctv.plumbing.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    http_port: int = 8085
    audit_schema: str = "audit"
    # The log's identity in checkpoints (C2SP tlog-checkpoint origin) and its key name.
    audit_origin: str = "hnsoftedu.edu.cn/campus-cctv/audit"
    audit_key_name: str = "hnsoftedu.edu.cn/campus-cctv/audit"
    # Private key file (signed-note PRIVATE+KEY format); made on first start when missing.
    # In Kubernetes: a mounted secret, e.g. /run/secrets/audit_key.
    audit_key_file: Path | None = None
    # Make the key when the file is missing: a development stack only. Kubernetes sets false
    # and mounts the secret; a missing key then stops the service instead of a fresh key.
    audit_key_create: bool = True
    # The public (verifier) key, written on every start for verifiers and witnesses.
    audit_public_key_file: Path | None = None
    # The writer connects as the append-only role; empty = DATABASE_URL with that user.
    audit_writer_url: str = ""
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 10.0
    batch_size: int = 2000
    batch_wait_s: float = 0.005
    max_ack_pending: int = 20_000
    tamper_evidence: bool = True

    def key_path(self) -> Path:
        return self.audit_key_file or self.data_dir / "audit" / "log.key"

    def public_key_path(self) -> Path:
        return self.audit_public_key_file or self.data_dir / "audit" / "log.pub"
