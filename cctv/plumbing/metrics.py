"""Metrics every service exposes; service-specific ones live beside their service."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "cctv_messages_total", "Messages consumed, by outcome", ["service", "consumer", "outcome"]
)
DEAD_LETTERS = Counter(
    "cctv_dead_letters_total", "Messages sent to dead-letter, by reason", ["service", "reason"]
)
HANDLE_SECONDS = Histogram(
    "cctv_handle_seconds", "Time to handle one message", ["service", "consumer"]
)
OUTBOX_PUBLISHED = Counter("cctv_outbox_published_total", "Outbox rows published", ["service"])
INFRA_WAITING = Gauge(
    "cctv_infra_waiting_messages",
    "Messages held while PostgreSQL or NATS is unreachable (consumption paused)",
    ["service", "consumer"],
)
OUTBOX_PENDING = Gauge(
    "cctv_outbox_pending", "Outbox rows committed but not yet published", ["service"]
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "cctv_outbox_oldest_seconds", "Age of the oldest unpublished outbox row (0: none)", ["service"]
)
CONSUMER_PENDING = Gauge(
    "cctv_consumer_pending",
    "Messages still waiting for a durable consumer, as of its latest delivery",
    ["service", "consumer"],
)
