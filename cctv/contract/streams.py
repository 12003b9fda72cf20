"""JetStream stream definitions: one stream per domain (`cctv.<domain>.>`), declared once,
here, by whoever bootstraps the system.

Services subscribe with `declare=False` so that no service overwrites another's settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

DAY = 86_400.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_days: float
    audited: bool
    description: str

    def config(self, replicas: int = 1) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=list(self.subjects),
            description=self.description,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_days * DAY,
            duplicate_window=600.0,
            num_replicas=replicas,
        )


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(
        "CCTV_TELEMETRY",
        ("cctv.telemetry.>",),
        1,
        False,
        "Health samples: telemetry, kept one day; health turns them into state and faults.",
    ),
    StreamSpec(
        "CCTV_CAMERA",
        ("cctv.camera.>",),
        400,
        True,
        "Inventory changes, camera state changes, tamper findings (Art. 3, 12).",
    ),
    StreamSpec(
        "CCTV_RECORDING",
        ("cctv.recording.>",),
        400,
        True,
        "Recording segments with SHA-256, retention and deletions (Art. 7).",
    ),
    StreamSpec("CCTV_FAULT", ("cctv.fault.>",), 400, True, "Faults and repair tickets (Art. 4)."),
    StreamSpec("CCTV_ALERT", ("cctv.alert.>",), 400, True, "Alerts, delivery, acks (Art. 13)."),
    StreamSpec(
        "CCTV_WORKFLOW", ("cctv.workflow.>",), 400, True, "Every workflow transition (Art. 6-16)."
    ),
    StreamSpec("CCTV_ACCESS", ("cctv.access.>",), 400, True, "Access to footage (Art. 15, 16)."),
    StreamSpec(
        "CCTV_PEOPLE",
        ("cctv.people.>",),
        400,
        True,
        "The people directory's changes and every sign-on (issue 11).",
    ),
    StreamSpec("CCTV_AUDIT", ("cctv.audit.>",), 400, False, "Signed audit checkpoints."),
    StreamSpec("CCTV_DLQ", ("cctv.dlq.>",), 30, False, "Dead letters with their reasons."),
    StreamSpec(
        "CCTV_OPS",
        ("cctv.ops.>",),
        400,
        True,
        "Operators' repairs of the system's own record: dead letters replayed (ADR 0025).",
    ),
)

STREAM_BY_NAME = {s.name: s for s in STREAMS}
AUDITED_STREAMS = tuple(s for s in STREAMS if s.audited)


async def ensure_streams(js: object, replicas: int = 1) -> None:
    """Create or update every stream; idempotent, so `make run` and tests can both call it."""
    from nats.js.errors import NotFoundError

    for spec in STREAMS:
        cfg = spec.config(replicas)
        try:
            await js.find_stream_name_by_subject(spec.subjects[0])  # type: ignore[attr-defined]
            await js.update_stream(cfg)  # type: ignore[attr-defined]
        except NotFoundError:
            await js.add_stream(cfg)  # type: ignore[attr-defined]
