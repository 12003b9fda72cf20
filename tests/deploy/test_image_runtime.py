"""The image's runtime assumptions, without a cluster: every service starts and passes /readyz
as the pod runs it, against NATS and PostgreSQL set up as the manifests set them up.

- NATS: the real nats-server with the rendered `nats-config` (TLS, one user per service with
  its subject permissions, lame duck), certificates and passwords from tools/make_secrets.py.
- PostgreSQL: a fresh database with the roles and schemas the CloudNativePG `Cluster` and
  `Database` declare (no superuser, no CREATE ROLE for any service: the audit migration finds
  `audit_writer` made for it).
- Each process: the Dockerfile's user and environment, the Deployment's command, env and
  ConfigMap, its Secrets mounted where the volumes put them, a read-only root and only the
  emptyDir paths writable (tests/deploy/sandbox.py, in a mount namespace of its own).

Deviations, because there is no cluster: ports are free ones instead of 8080-8085, NATS is
reached as `localhost` (a SAN of the certificate), PostgreSQL over its Unix socket without TLS.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
from nats.errors import Error as NatsError

from cctv.devstack.embedded import free_port, nats_server_binary, wait_for_port
from cctv.devstack.stack import Proc, Stack
from cctv.plumbing.db import MIGRATOR_ROLE, SERVICE_ROLES

from .k8s import REPO, SERVICES, load_tool, one, render

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and util-linux unshare to build the pod's mount namespace",
)
SANDBOX = Path(__file__).with_name("sandbox.py")
UNSHARE = ("unshare", "--mount", "--propagation", "private", sys.executable, str(SANDBOX))
DB = "cctv_k8s_runtime"
PG_SOCKET_DIR = "/run/cctv/pg"


def dockerfile() -> tuple[int, int, dict[str, str], list[str]]:
    """USER, ENV and the declared writable paths of the Dockerfile."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    user = re.search(r"^USER (\d+):(\d+)$", text, re.M)
    assert user, "the image must run as a numeric uid:gid"
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.+)$", text, re.M):
        for pair in shlex.split(line):
            key, _, value = pair.partition("=")
            env[key] = value
    writable = re.search(r'cctv\.writable-paths="([^"]+)"', text)
    assert writable, "the image must declare the paths it writes"
    return int(user.group(1)), int(user.group(2)), env, writable.group(1).split()


@dataclass
class Made:
    secrets: dict[str, dict[str, str]]  # name -> key -> value


@pytest.fixture(scope="module")
def made() -> Made:
    tool = load_tool("make_secrets")
    args = tool.argparse.Namespace(
        namespace="campus-cctv",
        audit_key_name=tool.AUDIT_KEY_NAME,
        no_nats_tls=False,
        s3_access_key_id="",
        nic_values=None,
    )
    return Made({s["metadata"]["name"]: s["stringData"] for s in tool.build(args)})


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cctv-k8s-runtime-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nats_env(sts: dict[str, Any], made: Made) -> dict[str, str]:
    """The NATS container's environment from the Secrets it names (envFrom with a prefix)."""
    env: dict[str, str] = {}
    [c] = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "nats"]
    for src in c.get("envFrom", []):
        for key, value in made.secrets[src["secretRef"]["name"]].items():
            env[src.get("prefix", "") + key] = value
    return env


@dataclass
class K8sNats:
    port: int
    log: Path
    ca: Path
    outside_port: int  # the WebSocket listener (websocket.conf): the outside door

    def url(self, user: str, password: str) -> str:
        return f"tls://{user}:{password}@localhost:{self.port}"

    def outside(self) -> str:
        return f"wss://localhost:{self.outside_port}"

    async def door(self, user: str, password: str, **options: Any) -> nats.NATS:
        """Through the outside door as `user`, TLS checked against the cluster's CA, replies
        to the user's own inbox, no reconnecting: as a campus workstation connects."""
        return await nats.connect(
            self.outside(),
            user=user,
            password=password,
            tls=ssl.create_default_context(cafile=str(self.ca)),
            inbox_prefix=f"_INBOX.{user}",
            allow_reconnect=False,
            **options,
        )


@pytest.fixture(scope="module")
def k8s_nats(made: Made, workdir: Path) -> Iterator[K8sNats]:
    """nats-server with the base overlay's rendered configuration."""
    docs = render("base")
    [cm] = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("nats-config-")
    ]
    conf_dir, certs, data = workdir / "nats-config", workdir / "nats-certs", workdir / "nats-data"
    for d in (conf_dir, certs, data):
        d.mkdir()
    outside = free_port()
    for name, text in cm["data"].items():
        text = text.replace("/etc/nats-certs/", f"{certs}/")
        text = text.replace("store_dir: /data", f"store_dir: {data}")
        text = text.replace("/var/run/nats/nats.pid", f"{workdir}/nats.pid")
        if name == "websocket.conf":
            assert "port: 8443" in text
            text = text.replace("port: 8443", f"port: {outside}")
        (conf_dir / name).write_text(text)
    for key, value in made.secrets["nats-tls"].items():
        (certs / key).write_text(value)
    sts = one(docs, "StatefulSet", "nats")
    env = {**os.environ, "SERVER_NAME": "nats-0"}
    env.update(nats_env(sts, made))
    port, monitor = free_port(), free_port()
    log = workdir / "nats.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                nats_server_binary(),
                "-c",
                str(conf_dir / "nats.conf"),
                "-a",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                str(monitor),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port("127.0.0.1", port, 20)
        wait_for_port("127.0.0.1", outside, 20)
        yield K8sNats(port, log, certs / "ca.crt", outside)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def k8s_db(infra: Stack) -> Iterator[Path]:
    """A database laid out as CloudNativePG lays it out from the rendered Cluster/Database."""
    docs = render("base")
    cluster = one(docs, "Cluster", "cctv-db")["spec"]
    database = one(docs, "Database", "cctv")["spec"]

    async def setup() -> None:
        assert infra.database_url
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
            owner = cluster["bootstrap"]["initdb"]["owner"]
            for role in [{"name": owner, "login": True}, *cluster["managed"]["roles"]]:
                exists = await conn.fetchval(
                    "SELECT 1 FROM pg_roles WHERE rolname = $1", role["name"]
                )
                opts = "LOGIN" if role.get("login") else "NOLOGIN"
                opts += " NOINHERIT" if role.get("inherit") is False else " INHERIT"
                for power in ("superuser", "createdb", "createrole", "replication", "bypassrls"):
                    opts += f" {'' if role.get(power) else 'NO'}{power.upper()}"
                if not exists:
                    await conn.execute(f'CREATE ROLE "{role["name"]}" {opts}')
                    continue
                # made already by the session's role layout (cctv/devstack/roles.py, shared):
                # left alone, but it must be no more than the Cluster declares
                powers = await conn.fetchrow(
                    "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
                    " FROM pg_roles WHERE rolname = $1",
                    role["name"],
                )
                assert not any(powers.values()), (role["name"], dict(powers))
            await conn.execute(f'CREATE DATABASE {DB} OWNER "{database["owner"]}"')
        finally:
            await conn.close()
        conn = await asyncpg.connect(infra.database_url.replace("/postgres?", f"/{DB}?"))
        try:
            for s in database["schemas"]:
                await conn.execute(f'CREATE SCHEMA "{s["name"]}" AUTHORIZATION "{s["owner"]}"')
        finally:
            await conn.close()

    asyncio.run(setup())
    assert infra.pg is not None
    yield infra.pg.data_dir


def pod_files(
    workdir: Path, name: str, spec: dict[str, Any], made: Made, nats_: K8sNats
) -> dict[str, str]:
    """Host folders holding what each read-only volume of the pod shows, by mount path."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts: dict[str, str] = {}

    def secret_data(secret: str) -> dict[str, str]:
        if secret == "cctv-db-ca":  # made by CloudNativePG: the test's PostgreSQL has no TLS
            return {"ca.crt": made.secrets["nats-ca"]["ca.crt"]}
        data = dict(made.secrets[secret])
        for key, value in data.items():
            value = re.sub(r"@cctv-db-rw:5432/cctv\?[^\s]*", f"@/{DB}?host={PG_SOCKET_DIR}", value)
            data[key] = value.replace("@nats:4222", f"@localhost:{nats_.port}")
        return data

    def project(folder: Path, secret: str, items: list[dict[str, Any]] | None) -> None:
        data = secret_data(secret)
        chosen = items or [{"key": k, "path": k} for k in data]
        for item in chosen:
            target = folder / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[item["key"]])
            target.chmod(0o444)  # the pod's fsGroup would own it; the test's uid reads it

    for c in spec["containers"]:
        for m in c.get("volumeMounts", []):
            v = volumes[m["name"]]
            if "emptyDir" in v or "persistentVolumeClaim" in v:
                continue  # writable: a fresh folder in the sandbox (launch)
            assert m.get("readOnly"), f"{name}: {m['mountPath']} writable but not an emptyDir"
            folder = workdir / name / m["name"]
            folder.mkdir(parents=True)
            if "secret" in v:
                project(folder, v["secret"]["secretName"], v["secret"].get("items"))
            elif "configMap" in v:  # e.g. media's recorders file, as the base renders it
                cm = one(render("base"), "ConfigMap", v["configMap"]["name"])
                for key, value in cm["data"].items():
                    (folder / key).write_text(value)
                    (folder / key).chmod(0o444)
            else:
                for src in v["projected"]["sources"]:
                    if src["secret"].get("optional") and src["secret"]["name"] not in made.secrets:
                        continue  # e.g. NIC's device logins: the pod starts without them
                    project(folder, src["secret"]["name"], src["secret"].get("items"))
            mounts[m["mountPath"]] = str(folder)
    return mounts


def launch(
    workdir: Path,
    name: str,
    workload: dict[str, Any],
    made: Made,
    nats_: K8sNats,
    pg_dir: Path,
    port: int | None,
    init: str | None = None,
) -> subprocess.Popen[bytes]:
    """The pod's one container, or its init container named `init`."""
    uid, gid, image_env, image_writable = dockerfile()
    spec = workload["spec"]["template"]["spec"]
    if init is None:
        [c] = spec["containers"]
    else:
        [c] = [i for i in spec["initContainers"] if i["name"] == init]
    psc = spec["securityContext"]
    assert (psc["runAsUser"], psc["runAsGroup"]) == (uid, gid), "manifest and image disagree"
    docs = render("base")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", **image_env}
    for src in c.get("envFrom", []):
        env.update(one(docs, "ConfigMap", src["configMapRef"]["name"])["data"])
    for e in c.get("env", []):
        if "valueFrom" in e:  # a key of a Secret (the migrator's URL, init containers only)
            ref = e["valueFrom"]["secretKeyRef"]
            value = made.secrets[ref["name"]][ref["key"]]
            value = re.sub(r"@cctv-db-rw:5432/cctv\?[^\s]*", f"@/{DB}?host={PG_SOCKET_DIR}", value)
            env[e["name"]] = value
        else:
            env[e["name"]] = e["value"]
    if port is not None:
        env["HTTP_PORT"] = str(port)
    # emptyDirs, and volume claims (media's evidence store): parents before what they hold
    writable = sorted(
        m["mountPath"]
        for m in c["volumeMounts"]
        if {"emptyDir", "persistentVolumeClaim"}
        & set(next(v for v in spec["volumes"] if v["name"] == m["name"]))
    )
    for w in writable:
        assert any(Path(w).is_relative_to(i) for i in image_writable), (
            f"{name} writes {w}, where the image does not say"
        )
    mounts = pod_files(workdir, name if init is None else f"{name}-{init}", spec, made, nats_)
    # PostgreSQL's socket is bound alone into the pod's /run (its data folder is not ours)
    argv = [shutil.which(c["command"][0], path=env["PATH"]) or c["command"][0], *c["command"][1:]]
    sandbox = {
        "uid": uid,
        "gid": gid,
        "writable": writable,
        "mounts": mounts,
        "binds": {f"{PG_SOCKET_DIR}/.s.PGSQL.5432": str(pg_dir / ".s.PGSQL.5432")},
        "cwd": str(REPO),
        "env": env,
        "argv": argv,
    }
    tag = name if init is None else f"{name}-{init}"
    spec_file = workdir / f"{tag}.json"
    spec_file.write_text(json.dumps(sandbox))
    log = open(workdir / f"{tag}.log", "wb")
    return subprocess.Popen(
        [*UNSHARE, str(spec_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def pods(made: Made, workdir: Path, k8s_nats: K8sNats, k8s_db: Path) -> Iterator[dict[str, Proc]]:
    docs = render("base")
    job = launch(
        workdir, "cctv-streams", one(docs, "Job", "cctv-streams"), made, k8s_nats, k8s_db, None
    )
    assert job.wait(60) == 0, (workdir / "cctv-streams.log").read_text()
    stack = Stack(workdir / "stack")
    for name in SERVICES:
        # as the kubelet does: each init container to completion first (the migrations)
        workload = one(docs, "Deployment", name)
        for init in workload["spec"]["template"]["spec"].get("initContainers", []):
            proc = launch(workdir, name, workload, made, k8s_nats, k8s_db, None, init=init["name"])
            log = workdir / f"{name}-{init['name']}.log"
            assert proc.wait(120) == 0, log.read_text()
    for name in SERVICES:
        port = free_port()
        popen = launch(workdir, name, one(docs, "Deployment", name), made, k8s_nats, k8s_db, port)
        stack.procs[name] = Proc(name, popen, port, workdir / f"{name}.log")
    try:
        for name in SERVICES:
            stack.wait_ready(name, 90)
        yield stack.procs
    finally:
        for name in SERVICES:
            stack.stop_process(name)


def test_every_service_gets_ready_as_its_pod_would(
    pods: dict[str, Proc], k8s_nats: K8sNats
) -> None:
    assert set(pods) == set(SERVICES)
    log = k8s_nats.log.read_text()
    assert "Violation" not in log, [line for line in log.splitlines() if "Violation" in line]


async def test_services_answer_the_console_over_the_permitted_subjects(
    pods: dict[str, Proc], made: Made, k8s_nats: K8sNats
) -> None:
    ctx = ssl.create_default_context(cafile=str(k8s_nats.ca))
    nc = await nats.connect(
        k8s_nats.url("console", made.secrets["nats-users"]["CONSOLE"]),
        tls=ctx,
        inbox_prefix="_INBOX.console",  # a user's replies come to its own inbox (issue 11)
    )
    try:
        for subject in (
            "cctv.rpc.ingest.cameras",
            "cctv.rpc.health.states",
            "cctv.rpc.notify.roster",
            "cctv.rpc.workflow.list",
            "cctv.rpc.audit.checkpoint",
            "cctv.rpc.media.exports",
        ):
            reply = await nc.request(subject, b"{}", timeout=10)
            # the service answered (some answers need a signed caller: the path is the point)
            assert "ok" in json.loads(reply.data), (subject, reply.data)
    finally:
        await nc.close()


async def test_the_migrator_owns_the_schemas_and_each_role_reaches_only_its_own(
    pods: dict[str, Proc], infra: Stack
) -> None:
    assert infra.database_url
    conn = await asyncpg.connect(infra.database_url.replace("/postgres?", f"/{DB}?"))
    try:
        owners = dict(
            await conn.fetch(
                "SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'schema_migrations'"
            )
        )
        assert owners == {s: MIGRATOR_ROLE for s in SERVICES}
        table = "SELECT has_table_privilege($1, $2, $3)"
        assert await conn.fetchval(table, "audit_writer", "audit.entry", "INSERT")
        assert not await conn.fetchval(table, "audit_writer", "audit.entry", "DELETE")
        assert await conn.fetchval(table, "cctv_ingest", "ingest.outbox", "INSERT")
        assert not await conn.fetchval(table, "cctv_ingest", "ingest.outbox", "TRUNCATE")
        schema = "SELECT has_schema_privilege($1, $2, 'USAGE')"
        for svc, role in SERVICE_ROLES.items():
            for other in SERVICES:
                assert await conn.fetchval(schema, role, other) == (other == svc), (role, other)
        assert await conn.fetchval("SELECT count(*) FROM audit.log_key") == 1
    finally:
        await conn.close()


# --- NATS permissions -----------------------------------------------------------------------


@pytest.fixture
async def connect(made: Made, k8s_nats: K8sNats) -> AsyncIterator[Any]:
    conns: list[Any] = []

    async def go(user: str) -> tuple[Any, asyncio.Queue[Exception]]:
        errors: asyncio.Queue[Exception] = asyncio.Queue()

        async def on_error(e: Exception) -> None:
            errors.put_nowait(e)

        ctx = ssl.create_default_context(cafile=str(k8s_nats.ca))
        nc = await nats.connect(
            k8s_nats.url(user, made.secrets["nats-users"][user.upper()]),
            tls=ctx,
            inbox_prefix=f"_INBOX.{user}",
            error_cb=on_error,
            allow_reconnect=False,
        )
        conns.append(nc)
        return nc, errors

    yield go
    for nc in conns:
        await nc.close()


@pytest.mark.parametrize(
    ("user", "subject"),
    [
        ("ingest", "cctv.camera.state.OFF-001"),  # camera state is health's
        ("health", "cctv.telemetry.sample.OFF-001"),  # samples are ingest's
        ("console", "cctv.workflow.access.approved.1"),  # only workflow moves a request
        ("notify", "cctv.fault.opened"),  # only health opens faults
        ("workflow", "cctv.audit.checkpoint"),  # only audit signs checkpoints
        ("audit", "cctv.access.recorded"),
        ("media", "cctv.workflow.access.approved.1"),  # media follows grants, never makes one
        ("workflow", "cctv.access.exported.1"),  # only media copies footage out
        ("media", "cctv.camera.state.OFF-001"),
        ("ingest", "$JS.API.STREAM.DELETE.CCTV_AUDIT"),  # only the bootstrap Job
    ],
)
async def test_a_service_is_refused_what_it_may_not_publish(
    connect: Any, user: str, subject: str
) -> None:
    nc, errors = await connect(user)
    await nc.publish(subject, b"{}")
    await nc.flush()
    err = await asyncio.wait_for(errors.get(), 5)
    assert f'permissions violation for publish to "{subject.lower()}"' in str(err).lower()


async def test_the_owner_publishes_into_its_stream(pods: dict[str, Proc], connect: Any) -> None:
    nc, _ = await connect("workflow")
    ack = await nc.jetstream().publish("cctv.workflow.k8s.test.1", b"{}")
    assert ack.stream == "CCTV_WORKFLOW"


async def test_a_service_may_not_listen_to_another_services_requests(connect: Any) -> None:
    nc, errors = await connect("health")
    await nc.subscribe("cctv.rpc.ingest.>")
    await nc.flush()
    err = await asyncio.wait_for(errors.get(), 5)
    assert "permissions violation" in str(err).lower()


async def test_no_anonymous_or_plaintext_clients(made: Made, k8s_nats: K8sNats) -> None:
    ctx = ssl.create_default_context(cafile=str(k8s_nats.ca))
    with pytest.raises((NatsError, OSError)):
        await nats.connect(
            f"tls://localhost:{k8s_nats.port}",
            tls=ctx,
            allow_reconnect=False,
            max_reconnect_attempts=0,
        )
    with pytest.raises((NatsError, OSError)):
        await nats.connect(k8s_nats.url("ingest", "wrong-password"), tls=ctx, allow_reconnect=False)
    with pytest.raises((NatsError, OSError, ssl.SSLError)):
        await nats.connect(
            f"nats://ingest:{made.secrets['nats-users']['INGEST']}@127.0.0.1:{k8s_nats.port}",
            allow_reconnect=False,
        )


def test_the_sandbox_leaves_only_the_declared_paths_writable(workdir: Path) -> None:
    """What the services ran under: a write anywhere else fails, as in the pod."""
    uid, gid, _, writable = dockerfile()
    secrets = workdir / "probe-secrets"
    secrets.mkdir()
    (secrets / "database_url").write_text("x")
    probe = (
        "import os, sys, json\n"
        "out = {}\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        open(os.path.join(p, 'probe'), 'w').close(); out[p] = 'rw'\n"
        "    except OSError as e:\n"
        "        out[p] = e.strerror\n"
        "out['uid'] = [os.getuid(), os.getgid(), os.getgroups()]\n"
        "print(json.dumps(out))\n"
    )
    places = [*writable, "/", str(REPO), "/var/tmp", "/run/secrets", sys.prefix]
    spec = {
        "uid": uid,
        "gid": gid,
        "writable": writable,
        "mounts": {"/run/secrets": str(secrets)},
        "cwd": str(REPO),
        "env": {"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        "argv": [sys.executable, "-c", probe, *places],
    }
    spec_file = workdir / "probe.json"
    spec_file.write_text(json.dumps(spec))
    out = subprocess.run(
        [*UNSHARE, str(spec_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(out.stdout)
    assert seen.pop("uid") == [uid, gid, []]
    assert {p for p, r in seen.items() if r == "rw"} == set(writable), seen
    assert not (REPO / "probe").exists()


@pytest.mark.parametrize("overlay", ["demo", "production"])
def test_nats_server_accepts_each_overlays_configuration(
    overlay: str, made: Made, tmp_path: Path
) -> None:
    """`nats-server -t` on the rendered files: syntax, TLS files, routes, users (production's
    three-server cluster with mutual TLS included)."""
    docs = render(overlay)
    [cm] = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("nats-config-")
    ]
    certs = tmp_path / "certs"
    certs.mkdir()
    for key, value in made.secrets["nats-tls"].items():
        (certs / key).write_text(value)
    for name, text in cm["data"].items():
        text = text.replace("/etc/nats-certs/", f"{certs}/").replace(
            "store_dir: /data", f"store_dir: {tmp_path}"
        )
        (tmp_path / name).write_text(text.replace("/var/run/nats/", f"{tmp_path}/"))
    env = {**os.environ, "SERVER_NAME": "nats-0"}
    env.update(nats_env(one(docs, "StatefulSet", "nats"), made))
    out = subprocess.run(
        [nats_server_binary(), "-c", str(tmp_path / "nats.conf"), "-t"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr


async def test_a_big_request_travels_through_the_object_store(
    pods: dict[str, Proc], made: Made, k8s_nats: K8sNats
) -> None:
    """Past the inline limit a request goes by the shared object store (cctv/plumbing/
    bigpayload.py): the console may put it there and ingest may take it out."""
    from cctv.plumbing.bigpayload import BUCKET, INLINE_LIMIT, pack, unpack

    seen = len(k8s_nats.log.read_text())  # refusals other tests provoked came before
    ctx = ssl.create_default_context(cafile=str(k8s_nats.ca))
    nc = await nats.connect(
        k8s_nats.url("console", made.secrets["nats-users"]["CONSOLE"]),
        tls=ctx,
        inbox_prefix="_INBOX.console",
    )
    try:
        js = nc.jetstream()
        body = json.dumps({"format": "csv", "content": "x" * (INLINE_LIMIT + 4096)}).encode()
        pointer = await pack(js, body)
        assert len(pointer) < 200 and BUCKET.encode() not in body
        reply = await nc.request("cctv.rpc.ingest.inventory.import", pointer, timeout=30)
        answer = json.loads(await unpack(js, reply.data))
        assert "ok" in answer, answer
    finally:
        await nc.close()
    log = k8s_nats.log.read_text()[seen:]
    assert "Violation" not in log, [line for line in log.splitlines() if "Violation" in line]


# --- the outside door: the operators' CLI and campus readers from outside the cluster -------

OUTSIDE_CAMERA = "k8s-out-001"


def cli_env(home: Path, made: Made, k8s_nats: K8sNats, **extra: str) -> dict[str, str]:
    """A NIC workstation's settings (cctv/cli/common.py): the outside door's URL, the `cli`
    user, its password in a file, the cluster's NATS CA; nothing of the test's own stack."""
    home.mkdir(parents=True, exist_ok=True)
    password = home / "nats-password"
    password.write_text(made.secrets["nats-users"]["CLI"] + "\n")
    password.chmod(0o600)
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "CCTV_HOME": str(home),
        "NATS_URL": k8s_nats.outside(),
        "NATS_USER": "cli",
        "NATS_PASSWORD_FILE": str(password),
        "NATS_TLS_CA_FILE": str(k8s_nats.ca),
        **extra,
    }


def cctv(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "cctv")
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=60)


async def test_the_cli_from_outside_imports_and_lists_cameras_as_cli(
    pods: dict[str, Proc], made: Made, k8s_nats: K8sNats, tmp_path: Path
) -> None:
    """`cctv` on a NIC workstation: through the outside door (WebSocket, TLS checked against
    the cluster's CA) as `cli`, acting for a signed-on system administrator; a campus system
    reading as `reader` sees the inventory change through the same door."""
    from cctv.plumbing.identity import Identity, Signer

    reader = await k8s_nats.door("reader", made.secrets["nats-users"]["READER"])
    try:
        seen = await reader.subscribe(f"cctv.camera.*.{OUTSIDE_CAMERA}")
        await reader.flush()
        admin = Identity(account="nic-admin", name="NIC 管理员", roles=("sysadmin",), via="cli")
        token = Signer(made.secrets["cctv-console"]["identity_signing_key"]).sign(admin, 300)
        env = cli_env(tmp_path / "ws", made, k8s_nats, CCTV_TOKEN=token)
        csv = tmp_path / "cams.csv"
        fixture = REPO / "tests/ingest/devices/fixtures/inventory_ok.csv"
        header, row = fixture.read_text(encoding="utf-8").splitlines()[:2]
        csv.write_text(f"{header}\n{OUTSIDE_CAMERA}{row[row.index(',') :]}\n", encoding="utf-8")
        out = cctv(env, "cameras", "import", str(csv))
        assert out.returncode == 0, out.stdout + out.stderr
        msg = await seen.next_msg(timeout=20)
        assert json.loads(msg.data)["data"]["camera"]["camera_id"] == OUTSIDE_CAMERA
        out = cctv(env, "cameras", "list", "--json")
        assert out.returncode == 0, out.stderr
        assert OUTSIDE_CAMERA in [c["camera_id"] for c in json.loads(out.stdout)]
    finally:
        await reader.close()


async def test_the_cli_user_cannot_publish_events_through_the_outside_door(
    made: Made, k8s_nats: K8sNats
) -> None:
    errors: asyncio.Queue[Exception] = asyncio.Queue()

    async def on_error(e: Exception) -> None:
        errors.put_nowait(e)

    nc = await k8s_nats.door("cli", made.secrets["nats-users"]["CLI"], error_cb=on_error)
    try:
        for subject in (f"cctv.camera.added.{OUTSIDE_CAMERA}", "cctv.audit.checkpoint"):
            await nc.publish(subject, b"{}")
            await nc.flush()
            err = await asyncio.wait_for(errors.get(), 5)
            assert f'permissions violation for publish to "{subject}"' in str(err).lower()
    finally:
        await nc.close()


@pytest.mark.parametrize("user", ["ingest", "console", "admin"])
async def test_only_cli_and_reader_may_use_the_outside_door(
    made: Made, k8s_nats: K8sNats, user: str
) -> None:
    """A service's (or the admin's) password opens nothing from outside the cluster."""
    with pytest.raises((NatsError, OSError)) as refused:
        await k8s_nats.door(
            user,
            made.secrets["nats-users"][user.upper()],
            max_reconnect_attempts=0,
            connect_timeout=5,
        )
    assert "authorization" in str(refused.value).lower()


def test_the_outside_door_is_tls_checked_against_the_clusters_ca(
    made: Made, k8s_nats: K8sNats, tmp_path: Path
) -> None:
    """Without the cluster's CA the CLI refuses the server (no silent plaintext or trust)."""
    env = cli_env(tmp_path / "no-ca", made, k8s_nats)
    del env["NATS_TLS_CA_FILE"]
    out = cctv(env, "cameras", "list")
    assert out.returncode != 0
    assert "certificate verify failed" in out.stderr.lower(), out.stderr
    assert "Traceback" not in out.stderr
