"""The event contract: envelope, subjects, one model per event, streams. The public interface."""

from . import people, rpc
from .codec import ContractError, decode, subject_for, wrap
from .envelope import SCHEMA_VERSION, Envelope
from .events import REGISTRY, CameraRecord, Event
from .streams import AUDITED_STREAMS, STREAMS, StreamSpec, ensure_streams

__all__ = [
    "AUDITED_STREAMS",
    "REGISTRY",
    "SCHEMA_VERSION",
    "STREAMS",
    "CameraRecord",
    "ContractError",
    "Envelope",
    "Event",
    "StreamSpec",
    "decode",
    "ensure_streams",
    "people",
    "rpc",
    "subject_for",
    "wrap",
]
