from cctv.plumbing.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    http_port: int = 8080
    session_secret: str = "change-me-in-production"  # mounted secret `session_secret` in k8s
    seed_demo: bool = False
    refresh_s: float = 3.0
