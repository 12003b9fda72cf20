from cctv.plumbing.settings import ServiceSettings


class HealthSettings(ServiceSettings):
    http_port: int = 8082
    down_after: int = 3
    up_after: int = 2
    repair_url: str = "http://127.0.0.1:8091"
    repair_timeout_s: float = 5.0
    ticket_poll_s: float = 1.0
    clock_drift_max_s: float = 30.0  # a recorder's clock further off misdates evidence
    # a sample dated further ahead of its arrival is taken as of its arrival (issue 17 item 3)
    sample_future_tolerance_s: float = 5.0
