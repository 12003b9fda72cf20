from cctv.plumbing.settings import ServiceSettings


class HealthSettings(ServiceSettings):
    http_port: int = 8082
    down_after: int = 3
    up_after: int = 2
    repair_url: str = "http://127.0.0.1:8091"
    repair_timeout_s: float = 5.0
    ticket_poll_s: float = 1.0
    # Art. 12: a recorder not armed this long after its schedule's arming time is a fault
    arming_grace_s: float = 120.0
    clock_drift_max_s: float = 30.0  # a recorder's clock further off misdates evidence
    # a sample dated further ahead of its arrival is taken as of its arrival (issue 17 item 3)
    sample_future_tolerance_s: float = 5.0
    # one outage, one fault (issue 9): a recorder with at least this many cameras, this share
    # of them failing at once, is the fault; a share of all cameras failing across buildings,
    # or of one ingest replica's, is suspected ours or the network's first
    recorder_min_cameras: int = 3
    recorder_down_share: float = 0.5
    mass_min_cameras: int = 10
    mass_down_share: float = 0.3
    shard_down_share: float = 0.8
