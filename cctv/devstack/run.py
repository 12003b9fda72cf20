"""`make run`: the whole system on embedded NATS and PostgreSQL with the demo campus."""

from __future__ import annotations

import signal
import socket
import sys
import time

from cctv.plumbing.settings import cctv_home

from .stack import Stack, available_services


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    started = time.monotonic()
    stack = Stack.for_run(cctv_home())
    print(f"campus-cctv: data under {stack.home}", flush=True)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background
    busy = [
        f"{name} {port}"
        for name, port in stack.ports.items()
        if not (name == "nats" and stack.nats_url) and port_taken(port)
    ]
    if busy:
        print(
            f"ports in use: {', '.join(busy)} — is another `make run` running? Stop it with "
            "Ctrl-C (or point NATS_URL / DATABASE_URL at running servers).",
            file=sys.stderr,
        )
        return 1
    try:
        stack.start_infra()
        print(f"  NATS       {stack.nats_url}", flush=True)
        print(f"  PostgreSQL {stack.database_url}", flush=True)
        stack.write_endpoints()
        stack.start_standins()
        stack.start_services()
        from demo.campus import DEMO_PASSWORD, DEMO_PEOPLE

        print(
            f"\nReady in {time.monotonic() - started:.1f}s — services: "
            f"{', '.join(available_services())}"
        )
        print(f"\n  控制台 Console:  {stack.url('console')}")
        print(f"  模拟器 Simulator: {stack.url('simulator')}/control/cameras")
        print(f"  报修系统 Repair stand-in: {stack.url('repair')}/api/v1/repairs")
        print(f"  机器人 Webhook sink: {stack.url('webhook')}/received")
        print(f"  日志 Logs: {stack.home / 'logs'}")
        print(f"\n  演示账号 Demo accounts (password 密码: {DEMO_PASSWORD})")
        for p in sorted(DEMO_PEOPLE, key=lambda p: not p.shown):
            print(f"    {p.account:<16} {p.name}  {p.role:<14} {p.department:<10} {p.zone or ''}")
        print("\n  Try: .venv/bin/cctv sim break OFF-001   (then watch the console)")
        print("  Ctrl-C stops everything.", flush=True)
        while True:  # supervise: whatever dies is reported and restarted with backoff
            for line in stack.supervise():
                print(line, flush=True)
            time.sleep(1.0)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    except RuntimeError as exc:
        print(f"\nstart-up failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
