from cctv.plumbing.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    http_port: int = 8083
    webhook_url: str = ""  # a WeCom/DingTalk group robot; empty = console only
    webhook_timeout_s: float = 5.0
    delivery_poll_s: float = 0.5
    seed_demo: bool = False
