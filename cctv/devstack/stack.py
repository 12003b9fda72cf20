"""The whole system on one machine: infrastructure, stand-ins and every service as a process.

`make run` uses it with fixed ports and data under `.cctv/`; the test session uses it with
free ports and a temporary folder, so the two never collide.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .embedded import (
    EmbeddedNats,
    EmbeddedPostgres,
    free_port,
    identity_keys,
    nats_passwords,
    wait_for_port,
)

REPO = Path(__file__).resolve().parents[2]
SERVICE_ORDER = ("ingest", "health", "notify", "workflow", "audit", "media", "console")
# Services the local stack runs that deploy/k8s does not deploy (tests/deploy pins
# SERVICE_ORDER and cctv.plumbing.db.SERVICE_ROLES to the manifests): none since media has
# its manifests and its database role.
DEVSTACK_ONLY: tuple[str, ...] = ()
DEFAULT_PORTS = {
    "nats": 14222,
    "console": 8080,
    "ingest": 8081,
    "health": 8082,
    "notify": 8083,
    "workflow": 8084,
    "audit": 8085,
    "media": 8086,
    "simulator": 8090,
    "repair": 8091,
    "webhook": 8092,
    "recorder": 8556,  # the demo recorders' ONVIF replay (RTSP), for media (issue 12)
}


# never inherited from the caller's environment: each process gets its own, or none
_PER_PROCESS = (
    "NATS_USER",
    "NATS_PASSWORD",
    "IDENTITY_SIGNING_KEY",
    "IDENTITY_PUBLIC_KEY",
    "PEOPLE_SEED_FILE",
)


def available_services() -> list[str]:
    return [
        s
        for s in (*SERVICE_ORDER, *DEVSTACK_ONLY)
        if all((REPO / "services" / s / f).exists() for f in ("__main__.py", "app.py"))
    ]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path


@dataclass
class Restarts:
    """Backoff for one supervised process: 1, 2, 4 … 30 s between restarts; a process that
    stayed up for a minute starts again from 1 s."""

    count: int = 0
    due: float | None = None  # when the next restart is due (monotonic), if it is down
    started: float = field(default_factory=time.monotonic)

    def down(self, now: float) -> float:
        if now - self.started > 60.0:
            self.count = 0
        self.count += 1
        delay = min(2.0 ** (self.count - 1), 30.0)
        self.due = now + delay
        return delay


@dataclass
class Stack:
    home: Path
    ports: dict[str, int] = field(default_factory=dict)
    nats_url: str | None = None
    database_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    nats: EmbeddedNats | None = None
    # with the embedded server: its URL without credentials, and every user's password
    nats_endpoint: str | None = None
    nats_passwords: dict[str, str] = field(default_factory=dict)
    identity_private: str = ""
    identity_public: str = ""
    pg: EmbeddedPostgres | None = None
    restarts: dict[str, Restarts] = field(default_factory=dict)
    args: dict[str, tuple[list[str], dict[str, str] | None]] = field(default_factory=dict)

    @classmethod
    def for_tests(cls, home: Path, **env: str) -> Stack:
        names = [*DEFAULT_PORTS]
        return cls(home, ports={n: free_port() for n in names}, extra_env=env)

    @classmethod
    def for_run(cls, home: Path) -> Stack:
        return cls(
            home,
            ports=dict(DEFAULT_PORTS),
            nats_url=os.environ.get("NATS_URL"),
            database_url=os.environ.get("DATABASE_URL"),
        )

    # --- infrastructure -------------------------------------------------------------------

    def start_infra(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.identity_private, self.identity_public = identity_keys(
            self.home / "secrets" / "identity.json"
        )
        if not self.nats_url:
            self.nats_passwords = nats_passwords(self.home / "secrets" / "nats.json")
            self.nats = EmbeddedNats(
                self.home / "nats", self.ports["nats"], passwords=self.nats_passwords
            ).start()
            self.nats_endpoint = self.nats.url
            # bootstrap and the test session's own connections are the admin user
            self.nats_url = self.nats.url_for("admin")
        if not self.database_url:
            self.pg = EmbeddedPostgres(self.home / "pg").start()
            self.database_url = self.pg.url
        if self.pg is not None:
            from .roles import ensure_roles

            asyncio.run(ensure_roles(self.database_url))
        asyncio.run(self._ensure_streams())

    async def _ensure_streams(self) -> None:
        import nats

        from cctv.contract import ensure_streams

        assert self.nats_url
        nc = await nats.connect(self.nats_url)
        try:
            await ensure_streams(nc.jetstream())
        finally:
            await nc.close()

    # --- processes ------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self) -> dict[str, str]:
        assert self.nats_url and self.database_url
        env = {
            **{k: v for k, v in os.environ.items() if k not in _PER_PROCESS},
            "IDENTITY_PUBLIC_KEY": self.identity_public,
            "CCTV_HOME": str(self.home),
            "NATS_URL": self.nats_endpoint or self.nats_url,
            "DATABASE_URL": self.database_url,
            "SEED_DEMO": "true",
            "SIM_ADDRESS": f"127.0.0.1:{self.ports['simulator']}",
            "REPAIR_URL": self.url("repair"),
            "WEBHOOK_URL": f"{self.url('webhook')}/robot/duty-room",
            "SIM_CONTROL_URL": self.url("simulator"),
            "CONSOLE_URL": self.url("console"),
            "REPLAY_URL_TEMPLATE": f"rtsp://127.0.0.1:{self.ports['recorder']}/replay/{{camera_id}}",
            # the campus NVRs in their makers' dialects (written by the demo recorder at start)
            "RECORDERS": str(self.home / "demo" / "recorders.json"),
            "PYTHONUNBUFFERED": "1",
            # the simulated campus and its devices' login, as files ingest reads like any
            # site's (product code never imports the demo; see write_demo_inventory)
            "SEED_INVENTORY": str(self.home / "demo" / "inventory.yaml"),
            "DEVICE_SECRETS_DIR": str(self.home / "demo" / "secrets"),
        }
        from demo.campus import demo_size

        if demo_size() is None:
            # the 322-camera demo campus: every recorder scan whole, so `cctv sim break CAM
            # --fault deleted_segment` shows within one scan (a NIC's fleet: ADR 0031)
            env.setdefault("SEGMENT_FULL_SCAN_INTERVAL_S", "0")
        env.update(self.extra_env)
        return env

    def write_endpoints(self) -> Path:
        """So that the `cctv` CLI and a service run alone find this stack."""
        env = self.env()
        keys = (
            "NATS_URL",
            "DATABASE_URL",
            "SIM_CONTROL_URL",
            "REPAIR_URL",
            "CONSOLE_URL",
            "SIM_ADDRESS",
            "WEBHOOK_URL",
            "IDENTITY_PUBLIC_KEY",
            "REPLAY_URL_TEMPLATE",
        )
        lines = [f"{k}={env[k]}\n" for k in keys]
        if self.nats_passwords:  # the CLI's own NATS user; it acts for a person only by token
            lines += ["NATS_USER=cli\n", f"NATS_PASSWORD={self.nats_passwords['cli']}\n"]
        path = self.home / "endpoints.env"
        path.write_text("".join(lines), encoding="utf-8")
        path.chmod(0o600)
        return path

    def _console_env(self) -> dict[str, str]:
        env = {"IDENTITY_SIGNING_KEY": self.identity_private}
        if self.env().get("SEED_DEMO", "").lower() == "true":
            from .demo_people import demo_people_file

            env["PEOPLE_SEED_FILE"] = str(demo_people_file(self.home / "demo-people.yaml"))
        return env

    def nats_env(self, user: str) -> dict[str, str]:
        """A process's NATS credentials, when this stack runs its own server."""
        if not self.nats_passwords:
            return {}
        return {"NATS_USER": user, "NATS_PASSWORD": self.nats_passwords[user]}

    def spawn(
        self, name: str, args: list[str], port: int, env: dict[str, str] | None = None
    ) -> Proc:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        log = logs / f"{name}.log"
        self.args[name] = (args, env)
        popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO,
            env={**self.env(), **(env or {})},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = Proc(name, popen, port, log)
        return self.procs[name]

    def start_standins(self) -> None:
        p = self.ports
        self.spawn(
            "simulator", ["-m", "demo.simulator", "--port", str(p["simulator"])], p["simulator"]
        )
        self.spawn(
            "repair",
            [
                "-m",
                "demo.repair_system",
                "--port",
                str(p["repair"]),
                "--db",
                str(self.home / "repairs.sqlite"),
            ],
            p["repair"],
        )
        self.spawn(
            "webhook",
            [
                "-m",
                "demo.webhook_sink",
                "--port",
                str(p["webhook"]),
                "--log",
                str(self.home / "webhooks.jsonl"),
            ],
            p["webhook"],
        )
        self.spawn(
            "recorder",
            [
                "-m",
                "demo.simulator.replay",
                "--port",
                str(p["recorder"]),
                "--campus-recorders",
                str(self.home / "demo" / "recorders.json"),
            ],
            p["recorder"],
        )
        for name in ("simulator", "repair", "webhook", "recorder"):
            self._wait_port(name)

    def service_env(self, name: str) -> dict[str, str]:
        """A service's own settings: its port and, on the embedded PostgreSQL, the production
        role layout (its own role; migrations as the schema owner) — so tests prove it."""
        env = {
            "HTTP_PORT": str(self.ports[name]),
            **self.nats_env(name),  # its own NATS user (cctv.contract.permissions)
            # only the console signs who a request acts for
            **(self._console_env() if name == "console" else {}),
        }
        if self.pg is not None and self.database_url:
            from cctv.plumbing.db import SERVICE_ROLES

            from .roles import service_env

            if name in SERVICE_ROLES:
                env.update(service_env(self.database_url, name))
        return env

    def write_demo_inventory(self) -> None:
        """The demo campus as an inventory file: each camera at its simulated device, its
        stream at the simulator's media gateway, and the simulated devices' login as the
        default device secret."""
        import yaml

        from demo.campus import demo_size, generate
        from demo.simulator.devices.bridge import DEMO_LOGIN, rtsp_template, with_device_addresses

        sim = f"127.0.0.1:{self.ports['simulator']}"
        template = rtsp_template(sim)
        cams = with_device_addresses(
            generate(sim, cameras=demo_size()), int(self.ports["simulator"])
        )
        rows = [
            {**c.model_dump(mode="json"), "stream_url": template.format(camera_id=c.camera_id)}
            for c in cams
        ]
        folder = self.home / "demo"
        (folder / "secrets").mkdir(parents=True, exist_ok=True)
        (folder / "inventory.yaml").write_text(
            yaml.safe_dump(rows, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
        secret = folder / "secrets" / "cctv-device-default"
        secret.write_text(f"{DEMO_LOGIN[0]}:{DEMO_LOGIN[1]}\n", encoding="utf-8")
        secret.chmod(0o600)

    def start_service(self, name: str) -> Proc:
        if name == "ingest":
            self.write_demo_inventory()
        proc = self.spawn(
            name, ["-m", f"services.{name}"], self.ports[name], self.service_env(name)
        )
        return proc

    def start_services(self, names: list[str] | None = None, timeout: float = 60.0) -> None:
        for name in names or available_services():
            self.start_service(name)
        for name in names or available_services():
            self.wait_ready(name, timeout)

    def _wait_port(self, name: str, timeout: float = 30.0) -> None:
        proc = self.procs[name]
        try:
            wait_for_port("127.0.0.1", proc.port, timeout)
        except TimeoutError:
            raise RuntimeError(f"{name} did not start; see {proc.log}:\n{tail(proc.log)}") from None

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.popen.returncode}; see {proc.log}:\n{tail(proc.log)}"
                )
            try:
                resp = httpx.get(f"http://127.0.0.1:{proc.port}/readyz", timeout=2.0)
                if resp.status_code == 200:
                    return
                last = resp.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(
            f"{name} not ready after {timeout}s ({last}); see {proc.log}:\n{tail(proc.log)}"
        )

    def stop_process(self, name: str, timeout: float = 30.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.popen.poll() is not None:
            return
        proc.popen.terminate()
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()

    def kill_process(self, name: str) -> None:
        """Crash a process (SIGKILL): no graceful shutdown, for restart tests."""
        proc = self.procs.pop(name)
        proc.popen.kill()
        proc.popen.wait()

    # --- supervision ----------------------------------------------------------------------

    def supervise(self, now: float | None = None) -> list[str]:
        """One round: notice what died (services, stand-ins, NATS, PostgreSQL) and restart it
        once its backoff has passed. Returns what happened, for the operator."""
        now = time.monotonic() if now is None else now
        said: list[str] = []
        watched: list[tuple[str, bool, int | None]] = []
        if self.nats is not None:
            watched.append(("nats", self.nats.alive(), self.nats.exit_code()))
        if self.pg is not None:
            watched.append(("postgres", self.pg.alive(), None))
        for name, proc in self.procs.items():
            watched.append((name, proc.popen.poll() is None, proc.popen.poll()))
        for name, alive, code in watched:
            r = self.restarts.setdefault(name, Restarts())
            if alive:
                continue
            if r.due is None:
                delay = r.down(now)
                where = f"; see {self.procs[name].log}" if name in self.procs else ""
                said.append(f"!! {name} exited ({code}); restarting in {delay:.0f}s "
                            f"(restart {r.count}){where}")  # fmt: skip
                continue
            if now < r.due:
                continue
            try:
                self.restart(name)
            except Exception as exc:  # try again later, with a longer pause
                delay = r.down(now)
                said.append(f"!! {name} did not restart ({exc}); next try in {delay:.0f}s")
                continue
            r.due, r.started = None, now
            said.append(f"-> {name} restarted (restart {r.count})")
        return said

    def restart(self, name: str) -> None:
        if name == "nats":
            assert self.nats is not None
            self.nats.restart()
        elif name == "postgres":
            assert self.pg is not None
            self.pg.restart()
        else:
            proc = self.procs[name]
            args, env = self.args[name]
            self.spawn(name, args, proc.port, env)

    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            self.stop_process(name)
        if self.pg:
            self.pg.stop()
        if self.nats:
            self.nats.stop()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
