from cctv.plumbing.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    http_port: int = 8081
    sample_interval_s: float = 5.0
    probe_timeout_s: float = 2.0
    probe_concurrency: int = 64
    seed_demo: bool = False
    sim_address: str = "127.0.0.1:8090"
