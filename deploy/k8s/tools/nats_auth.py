"""Writes base/nats/auth.conf: one NATS user per service, each allowed only its own subjects.

Where cctv/contract/permissions.py exists (issue 11: the one permission table, which `make
run` and the tests use too), the file is rendered from it; until then from the table below,
which has the same intent: only ingest publishes telemetry and inventory, only health state
and faults, only workflow workflow transitions, only audit checkpoints. Passwords are never
here: nats.conf reads them from the environment (`$NATS_PASSWORD_<USER>`), which the
StatefulSet fills from the `nats-users` Secret (one key per user, upper case).

    python deploy/k8s/tools/nats_auth.py          # rewrite the file
    python deploy/k8s/tools/nats_auth.py --check  # exit 1 when the file is stale (tests do)
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import generated

OUT = Path(__file__).resolve().parents[1] / "base" / "nats" / "auth.conf"
ENV_PREFIX = "NATS_PASSWORD_"
PAYLOADS = "CCTV_PAYLOADS"  # cctv.plumbing.bigpayload.BUCKET

try:  # the contract's table, once issue 11 has landed
    from cctv.contract import permissions as contract  # type: ignore[attr-defined]
except ImportError:
    contract = None
ACCOUNT = "CCTV"


@dataclass(frozen=True)
class User:
    name: str
    publishes: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()  # carved out of `publishes`
    consumes: tuple[str, ...] = ()  # streams it reads with durable consumers
    requests: tuple[str, ...] = ()  # request-reply subjects it asks
    responds: tuple[str, ...] = ()  # request-reply subjects it answers (queue groups)
    kv: tuple[str, ...] = ()  # key-value buckets it keeps (and makes when missing)
    extra_publish: tuple[str, ...] = field(default=())
    why: str = ""


def rpc(service: str) -> str:
    return f"cctv.rpc.{service}.>"


USERS: tuple[User, ...] = (
    User(
        "ingest",
        publishes=("cctv.telemetry.>", "cctv.camera.>", "cctv.recording.>"),
        denied=("cctv.camera.state.>",),  # camera state is health's word
        consumes=("CCTV_WORKFLOW",),
        responds=(rpc("ingest"),),
        kv=("cctv_ingest_members",),  # replicas' membership: the fleet is sharded over them
        why="the only service that talks to cameras: samples, inventory, recordings, tamper",
    ),
    User(
        "health",
        publishes=("cctv.camera.state.>", "cctv.fault.>"),
        consumes=("CCTV_TELEMETRY", "CCTV_CAMERA", "CCTV_WORKFLOW", "CCTV_RECORDING"),
        requests=("cctv.rpc.ingest.cameras",),
        responds=(rpc("health"),),
        why="state and faults from samples",
    ),
    User(
        "notify",
        publishes=("cctv.alert.>",),
        consumes=("CCTV_FAULT", "CCTV_WORKFLOW"),
        responds=(rpc("notify"),),
        why="alerts to the people on duty",
    ),
    User(
        "workflow",
        publishes=("cctv.workflow.>", "cctv.access.>"),
        consumes=("CCTV_CAMERA", "CCTV_FAULT", "CCTV_ALERT"),
        responds=(rpc("workflow"),),
        why="every regulated process and the access records of retrievals",
    ),
    User(
        "audit",
        publishes=("cctv.audit.>",),
        consumes=(
            "CCTV_CAMERA",
            "CCTV_RECORDING",
            "CCTV_FAULT",
            "CCTV_ALERT",
            "CCTV_WORKFLOW",
            "CCTV_ACCESS",
        ),
        responds=(rpc("audit"),),
        why="witnesses every audited stream, publishes signed checkpoints",
    ),
    User(
        "console",
        requests=(rpc("ingest"), rpc("health"), rpc("notify"), rpc("workflow"), rpc("audit")),
        responds=(rpc("console"),),  # who an account is (the CLI asks)
        why="the people's door: asks the services, publishes no events",
    ),
)

# The bootstrap Job declares the streams from the contract; nothing else may.
ADMIN = "admin" if contract else "streams"
ADMIN_PUBLISH = ("$JS.API.INFO", "$JS.API.STREAM.>")


def q(s: str) -> str:
    return f'"{s}"'


def lst(items: list[str]) -> str:
    return "[" + ", ".join(q(i) for i in items) + "]"


def env_var(user: str) -> str:
    return f"${ENV_PREFIX}{user.upper()}"


def service_block(u: User) -> str:
    pub = [*u.publishes, f"cctv.dlq.dead_letter.{u.name}"]
    pub += ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.INFO.*"]
    for stream in u.consumes:
        pub += [
            f"$JS.API.CONSUMER.CREATE.{stream}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
            f"$JS.API.CONSUMER.INFO.{stream}.*",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*",
            f"$JS.ACK.{stream}.>",
        ]
    # big requests and replies travel through the shared object store (cctv/plumbing/
    # bigpayload.py): every service may put, read and remove objects there, nothing else
    b = PAYLOADS
    pub += [
        f"$JS.API.STREAM.CREATE.OBJ_{b}",
        f"$JS.API.STREAM.MSG.GET.OBJ_{b}",
        f"$JS.API.STREAM.PURGE.OBJ_{b}",
        f"$JS.API.DIRECT.GET.OBJ_{b}.>",
        f"$JS.API.CONSUMER.CREATE.OBJ_{b}",
        f"$JS.API.CONSUMER.CREATE.OBJ_{b}.>",
        f"$JS.API.CONSUMER.DELETE.OBJ_{b}.*",
        f"$JS.API.CONSUMER.INFO.OBJ_{b}.*",
        f"$JS.API.CONSUMER.MSG.NEXT.OBJ_{b}.*",
        f"$O.{b}.>",
        "$JS.FC.>",
    ]
    for bucket in u.kv:
        pub += [
            f"$JS.API.STREAM.CREATE.KV_{bucket}",
            f"$JS.API.STREAM.MSG.GET.KV_{bucket}",
            f"$JS.API.DIRECT.GET.KV_{bucket}.>",
            f"$KV.{bucket}.>",
        ]
    pub += [*u.requests, *u.extra_publish]
    sub = ["_INBOX.>", *u.responds]
    lines = [
        f"      # {u.name}: {u.why}",
        "      {",
        f"        user: {q(u.name)}",
        f"        password: {env_var(u.name)}",
        "        permissions: {",
        f"          publish: {{ allow: {lst(pub)}"
        + (f", deny: {lst(list(u.denied))}" if u.denied else "")
        + " }",
        f"          subscribe: {{ allow: {lst(sub)} }}",
        "          allow_responses: true" if u.responds else "",
        "        }",
        "      }",
    ]
    return "\n".join(line for line in lines if line)


# Who may come through the outside door (the WebSocket listener, base/nats/websocket.conf,
# opened by components/nats-external): the operators' `cctv` CLI and other campus systems'
# read-only user. Every other user connects only on the in-cluster client port, so a service's
# password is worth nothing from outside the cluster.
OUTSIDE_USERS = ("cli", "reader")


def connection_types(user: str) -> list[str]:
    """nats-server's `allowed_connection_types` for a user: STANDARD is the client port."""
    return ["STANDARD", "WEBSOCKET"] if user in OUTSIDE_USERS else ["STANDARD"]


def render() -> str:
    if contract is not None:
        return (
            "# GENERATED by deploy/k8s/tools/nats_auth.py from cctv/contract/permissions.py:\n"
            "# edit the table there, then run the tool.\n" + render_contract()
        )
    return render_local()


def render_contract() -> str:
    """The contract's users and permissions, passwords from `$NATS_PASSWORD_<USER>`, and each
    user's connection types (only `cli` and `reader` may use the outside door)."""
    users = [
        {
            "user": u.name,
            "password": f"@@{ENV_PREFIX}{u.name.upper()}@@",
            "permissions": u.permissions(),
            "allowed_connection_types": connection_types(u.name),
        }
        for u in contract.nats_users()
    ]
    body = {"jetstream": "enabled", "users": users}
    # nats-server's config language accepts JSON; the variables must stay unquoted
    text = "accounts: " + json.dumps({ACCOUNT: body}, indent=2) + "\n"
    return re.sub(r'"@@([A-Z0-9_]+)@@"', r"$\1", text)


def render_local() -> str:
    blocks = "\n".join(service_block(u) for u in USERS)
    admin = "\n".join(
        [
            "      # streams: the bootstrap Job (`cctv streams ensure`), stream admin only",
            "      {",
            f"        user: {q(ADMIN)}",
            f"        password: {env_var(ADMIN)}",
            f"        permissions: {{ publish: {{ allow: {lst(list(ADMIN_PUBLISH))} }}, "
            'subscribe: { allow: ["_INBOX.>"] } }',
            "      }",
        ]
    )
    return (
        "# GENERATED by deploy/k8s/tools/nats_auth.py: edit the table there, then run it.\n"
        "# One account with JetStream for the whole system (streams are shared), one user per\n"
        "# service; the system account carries the server's own events (monitoring only).\n"
        "accounts {\n"
        f"  {ACCOUNT} {{\n"
        "    jetstream: enabled\n"
        "    users: [\n"
        f"{blocks}\n{admin}\n"
        "    ]\n"
        "  }\n"
        "  SYS {\n"
        f'    users: [ {{ user: "sys", password: {env_var("sys")} }} ]\n'
        "  }\n"
        "}\n"
        "system_account: SYS\n"
    )


def users() -> list[str]:
    """Every NATS user name, in the order the `nats-users` Secret carries their passwords."""
    if contract is not None:
        return [u.name for u in contract.nats_users()]
    return [u.name for u in USERS] + [ADMIN, "sys"]


def main(argv: list[str] | None = None) -> int:
    return generated.main(OUT, render, __doc__, argv, tool=Path(__file__).name)


if __name__ == "__main__":
    sys.exit(main())
