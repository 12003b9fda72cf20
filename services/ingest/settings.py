from pathlib import Path

from cctv.plumbing.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    http_port: int = 8081
    sample_interval_s: float = 5.0
    probe_timeout_s: float = 2.0
    probe_concurrency: int = 64
    # an inventory file (.csv / .yaml) an empty inventory is seeded from (the demo stack's)
    seed_inventory: Path | None = None
    # event-loop lag above which probes are shed and reported "not measured" (issue 9);
    # unset: a quarter of the sample interval, at most 0.5 s
    shed_loop_lag_s: float | None = None
