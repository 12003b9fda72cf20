from cctv.plumbing.settings import ServiceSettings


class WorkflowSettings(ServiceSettings):
    http_port: int = 8084
    remind_poll_s: float = 60.0
    remind_after_h: float = 4.0  # working hours before the approver is reminded
    escalate_after_h: float = 8.0  # working hours before it goes up a level
