from pydantic import Field

from cctv.plumbing.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    http_port: int = 8083
    webhook_url: str = ""  # a WeCom group robot; empty = none
    webhook_timeout_s: float = 5.0
    dingtalk_url: str = ""  # a DingTalk group robot (https://oapi.dingtalk.com/robot/send?...)
    dingtalk_secret: str = ""  # its 加签 secret (SEC...); empty = unsigned robot
    smtp_host: str = ""  # campus mail relay; empty = no e-mail
    smtp_port: int = 25
    smtp_sender: str = "cctv@localhost"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    sms_gateway_url: str = ""  # HTTP SMS gateway; empty = no SMS
    sms_api_key: str = ""
    # SMS and mail for non-critical alerts wait out quiet hours ("22:00-07:00", campus time);
    # critical alerts never wait, and the console and robots are never held.
    quiet_hours: str = ""
    delivery_poll_s: float = 0.5
    # after a message, what else is due for that person on that channel waits up to this long
    # and then goes out as one summary (0 = every alert its own message); critical never waits
    group_window_s: float = Field(default=30.0, ge=0)
    # a new non-critical alert waits this long so that what fails together is told together
    # (a recorder's 64 cameras: one message); critical alerts never wait
    group_wait_s: float = Field(default=1.0, ge=0)
    escalation_poll_s: float = 5.0
    # minutes an alert waits for an acknowledgement at one level of the duty chain (Art. 13)
    escalate_critical_min: float = Field(default=2.0, gt=0)
    escalate_major_min: float = Field(default=5.0, gt=0)
    escalate_warning_min: float = Field(default=15.0, gt=0)
    escalate_info_min: float = Field(default=60.0, gt=0)
    # Art. 14: a duty operator whose shift ended stays responsible until the incoming one has
    # confirmed the handover, for at most this long; then the incoming one holds the duty, the
    # outgoing one's open alerts pass to them and the duty room hears the handover is overdue
    handover_grace_min: float = Field(default=30.0, gt=0)
    # a handover confirmed up to this long before the incoming shift starts counts for it
    handover_early_min: float = Field(default=60.0, ge=0)
    seed_demo: bool = False
