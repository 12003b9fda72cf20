"""Every setting of ingest, in one class.

Each field is the environment variable of the same name, upper case. The devstack, the tests
and the deploy/k8s config maps set these names: a field is never renamed.
"""

from pathlib import Path

from cctv.plumbing.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """Sampling, device adapters, recording scans, sharding and the tamper watch."""

    http_port: int = 8081

    # --- sampling (prober.py, sampler.py) ----------------------------------------------
    sample_interval_s: float = 5.0
    probe_timeout_s: float = 2.0
    probe_concurrency: int = 64
    # an inventory file (.csv / .yaml) an empty inventory is seeded from (the demo stack's)
    seed_inventory: Path | None = None
    # event-loop lag above which probes are shed and reported "not measured" (issue 9);
    # unset: a quarter of the sample interval, at most 0.5 s
    shed_loop_lag_s: float | None = None

    # --- device adapters (adapters/) -----------------------------------------------------
    device_adapters: bool = True
    device_connect_timeout_s: float = 2.0
    device_read_timeout_s: float = 3.0
    device_max_connections: int = 256
    deep_probe_every: int = 10  # recording check every N samples of a camera
    # the device's slower facts (clock offset, disks; ONVIF clock and model) every N samples
    # of a camera; deep probes read them too. Other probes are one request (ADR 0032)
    device_facts_every: int = 3
    device_secrets_dir: Path = Path("/run/secrets")
    device_vault_key_file: Path | None = None  # Fernet key (a mounted secret)
    device_vault_file: Path | None = None  # JSON {secret name: Fernet token}

    # --- recording scans (segments.py) ---------------------------------------------------
    segment_scan_interval_s: float = 600.0
    # each camera's recorder is listed over the whole window (retention, deletions of older
    # or held footage) once per this interval, at its own phase; the rounds between list
    # only the recent past (ADR 0031). 0: every scan is full
    segment_full_scan_interval_s: float = 3600.0
    segment_concurrency: int = 8
    segment_backfill_h: float = 2.0  # on a camera's first scan, publish this much history
    segment_hash_max_bytes: int = 64 << 20

    # --- replicas (sharding.py) ----------------------------------------------------------
    shard_ttl_s: float = 10.0
    sharding: bool = True

    # --- tamper watch (tamper_watch.py) --------------------------------------------------
    tamper_watch: bool = True
    # one frame per camera per interval; unset: 300 s, or 120 s on the demo campus so that
    # `cctv sim break CAM --fault covered` shows within two minutes
    tamper_interval_s: float | None = None
    frame_concurrency: int = 4  # decoding threads (each costs ~10 ms CPU per frame)
    rtsp_timeout_s: float = 3.0
    seed_demo: bool = False

    def tamper_period_s(self) -> float:
        """The tamper watch's period: TAMPER_INTERVAL_S, else by campus."""
        if self.tamper_interval_s is not None:
            return self.tamper_interval_s
        return 120.0 if self.seed_demo else 300.0
