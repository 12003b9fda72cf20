"""Who may say what on the bus: the one permission table (issue 11).

Every NATS user, what it may publish and subscribe to, and which service is the only
legitimate `source` of each event type live here. The nats-server configuration for
`make run`, the test session and deployment is rendered from this table
(`render_nats_conf`), and consumers check each envelope's `source` against `publisher_of`,
so a forged event is refused by the server and, should one get through, ignored.

Replies go to a per-user inbox (`_INBOX.<user>.…`, `inbox_prefix`), so a request's answer
reaches only its caller; responders answer through `allow_responses`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .streams import STREAMS

SERVICES = ("ingest", "health", "notify", "workflow", "audit", "console", "media")

# event TYPE prefix -> the service that may publish it; the longest prefix wins. A registered
# access (Art. 15) is recorded by whoever performed it: workflow (retrievals) or media.
EVENT_PUBLISHERS: dict[str, str | tuple[str, ...]] = {
    "telemetry.": "ingest",
    "camera.": "ingest",
    "camera.state": "health",
    "recording.": "ingest",
    "fault.": "health",
    "alert.": "notify",
    "workflow.": "workflow",
    "access.": "workflow",
    "access.recorded": ("workflow", "media"),
    "access.exported": "media",
    "access.preserved": "media",
    "access.preservation_check": "media",
    "access.viewing": "media",  # viewing sessions: start, seek, refusal, stop (ADR 0022)
    "audit.": "audit",
    "people.": "console",
}
DEAD_LETTER_TYPE = "dlq.dead_letter"  # any service, keyed by its own name
REPLAYED_TYPE = "ops.dlq_replayed"  # any service, keyed by its own name: a replay it served

# request-reply subjects a user may call (its own responders are subscribed, not listed)
RPC_CALLS: dict[str, tuple[str, ...]] = {
    "health": ("cctv.rpc.ingest.cameras",),
    "console": ("cctv.rpc.>",),
    "workflow": ("cctv.rpc.console.people.>",),
    "notify": ("cctv.rpc.console.people.>",),
    "ingest": (),
    "audit": (),
    # the viewer asks workflow for the grant as the viewer (their signed identity, ADR 0022)
    "media": ("cctv.rpc.workflow.get",),
}

# what other campus systems may read: state, faults and alerts, never people or requests
READER_SUBJECTS = (
    "cctv.camera.>",
    "cctv.fault.>",
    "cctv.alert.>",
    "cctv.recording.>",
    "cctv.audit.>",
    "cctv.workflow.stopmove.approved.>",
)
READER_STREAMS = ("CCTV_CAMERA", "CCTV_FAULT", "CCTV_ALERT", "CCTV_RECORDING", "CCTV_AUDIT")

INGEST_KV = "cctv_ingest_members"
PAYLOADS = "CCTV_PAYLOADS"  # big request/reply bodies (cctv.plumbing.bigpayload)


def _owners(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def publishers_of(event_type: str) -> tuple[str, ...] | None:
    """The services allowed to publish `event_type`, or None for dead letters (any service)."""
    if event_type in (DEAD_LETTER_TYPE, REPLAYED_TYPE):
        return None
    best = ""
    for prefix in EVENT_PUBLISHERS:
        if event_type.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    if not best:
        raise KeyError(f"no service may publish event type {event_type!r}")
    return _owners(EVENT_PUBLISHERS[best])


def publisher_of(event_type: str) -> str | None:
    """The services allowed to publish `event_type`, joined by " or "; None for dead letters."""
    owners = publishers_of(event_type)
    return None if owners is None else " or ".join(owners)


def source_allowed(event_type: str, source: str, key: str | None) -> bool:
    """Whether an envelope's `source` may publish its type (dead letters: keyed by source)."""
    try:
        owners = publishers_of(event_type)
    except KeyError:
        return False
    if owners is None:
        return key == source
    return source in owners


def inbox_prefix(user: str) -> str:
    """The inbox a user's replies and JetStream deliveries arrive on; only it may read them."""
    return f"_INBOX.{user}"


def _event_subjects(service: str) -> list[str]:
    subjects: list[str] = []
    for prefix, owner in EVENT_PUBLISHERS.items():
        if service not in _owners(owner):
            continue
        base = f"cctv.{prefix.rstrip('.')}"
        subjects += [f"{base}.>"] if prefix.endswith(".") else [base, f"{base}.>"]
    return subjects


def _denied_to(service: str) -> list[str]:
    """Narrower subjects inside this service's prefixes that belong to another service."""
    denied: list[str] = []
    mine = [p for p, o in EVENT_PUBLISHERS.items() if service in _owners(o)]
    for prefix, owner in EVENT_PUBLISHERS.items():
        if service not in _owners(owner) and any(
            prefix.startswith(m) and prefix != m for m in mine
        ):
            base = f"cctv.{prefix.rstrip('.')}"
            denied += [base, f"{base}.>"]
    return denied


# the JetStream API minus what would let a service rewrite or erase the record
# (of the record's streams: the payload object store's own stream is purged as objects are read)
_JS_DESTRUCTIVE = [
    *[
        f"$JS.API.STREAM.{op}.{s.name}"
        for s in STREAMS
        for op in ("DELETE", "PURGE", "MSG.DELETE", "UPDATE", "CREATE")
    ],
]


@dataclass(frozen=True)
class NatsUser:
    name: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny_publish: tuple[str, ...] = ()
    deny_subscribe: tuple[str, ...] = ()
    allow_responses: bool = False
    description: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    def permissions(self) -> dict[str, object]:
        perms: dict[str, object] = {
            "publish": {"allow": list(self.publish), "deny": list(self.deny_publish)},
            "subscribe": {"allow": list(self.subscribe), "deny": list(self.deny_subscribe)},
        }
        if self.allow_responses:
            perms["allow_responses"] = True
        return perms


def _service_user(name: str) -> NatsUser:
    publish = [
        *_event_subjects(name),
        f"cctv.dlq.dead_letter.{name}",
        f"cctv.ops.dlq_replayed.{name}",
        *RPC_CALLS.get(name, ()),
        "$JS.API.>",
        "$JS.ACK.>",
        "$JS.FC.>",
        f"$O.{PAYLOADS}.>",
    ]
    if name == "ingest":
        publish.append(f"$KV.{INGEST_KV}.>")
    return NatsUser(
        name=name,
        publish=tuple(publish),
        subscribe=(f"cctv.rpc.{name}.>", f"{inbox_prefix(name)}.>"),
        deny_publish=(*_denied_to(name), *_JS_DESTRUCTIVE),
        allow_responses=True,
        description=f"the {name} service",
    )


def nats_users() -> tuple[NatsUser, ...]:
    """Every user of the system account: admin, one per service, the CLI and the reader."""
    return (
        NatsUser("admin", (">",), (">",), description="bootstrap: streams, operators' repairs"),
        *(_service_user(s) for s in SERVICES),
        NatsUser(
            "cli",
            ("cctv.rpc.>", "$JS.API.>", "$JS.ACK.>", "$JS.FC.>", f"$O.{PAYLOADS}.>"),
            (f"{inbox_prefix('cli')}.>",),
            deny_publish=tuple(_JS_DESTRUCTIVE),
            description="the operators' `cctv` command; acts for a person only with a token",
        ),
        NatsUser(
            "reader",
            (
                "$JS.API.INFO",
                "$JS.API.STREAM.NAMES",  # which stream holds a subject
                *[f"$JS.API.STREAM.INFO.{s}" for s in READER_STREAMS],
                *[f"$JS.API.CONSUMER.CREATE.{s}.>" for s in READER_STREAMS],
                *[f"$JS.API.CONSUMER.CREATE.{s}" for s in READER_STREAMS],
                *[f"$JS.API.CONSUMER.DURABLE.CREATE.{s}.>" for s in READER_STREAMS],
                *[f"$JS.API.CONSUMER.INFO.{s}.>" for s in READER_STREAMS],
                *[f"$JS.API.CONSUMER.MSG.NEXT.{s}.>" for s in READER_STREAMS],
                *[f"$JS.ACK.{s}.>" for s in READER_STREAMS],
                "$JS.FC.>",  # flow control of its push consumers
            ),
            (*READER_SUBJECTS, f"{inbox_prefix('reader')}.>"),
            description="other campus systems: read-only state, faults and alerts",
        ),
    )


def render_nats_conf(
    passwords: dict[str, str] | None = None,
    *,
    account: str = "CCTV",
    env_prefix: str = "",
    connection_types: Callable[[str], list[str]] | None = None,
) -> str:
    """A nats-server config block with one JetStream account holding every user.

    `passwords` maps each user to its password (plain or a bcrypt hash, which nats-server
    accepts as is); or, with `env_prefix` (e.g. "NATS_PASSWORD_"), each password is the
    server's environment variable `<env_prefix><USER>` (Kubernetes fills it from a Secret).
    Missing passwords are an error, never an open door. `connection_types` gives a user's
    `allowed_connection_types` (deploy/k8s: who may use the WebSocket door); without it, any.
    """
    users = []
    for user in nats_users():
        if env_prefix:
            password = f"@@{env_prefix}{user.name.upper()}@@"
        elif passwords and passwords.get(user.name):
            password = passwords[user.name]
        else:
            raise ValueError(f"no NATS password for user {user.name!r}")
        entry = {"user": user.name, "password": password, "permissions": user.permissions()}
        if connection_types is not None:
            entry["allowed_connection_types"] = connection_types(user.name)
        users.append(entry)
    body = {"jetstream": "enabled", "users": users}
    # nats-server's config language accepts JSON; variables must stay unquoted
    text = "accounts: " + json.dumps({account: body}, indent=2) + "\n"
    return re.sub(r'"@@([A-Z0-9_]+)@@"', r"$\1", text)
