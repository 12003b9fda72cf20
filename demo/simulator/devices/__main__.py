"""Run N simulated devices: `python -m demo.simulator.devices --count 5000 --layout ip`.

Prints one JSON line when ready: {"port": P, "devices": [[id, vendor, host, port], ...]} (the
device list only with --list), then serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from cctv.devstack.embedded import free_port

from .model import SimDevice
from .server import DeviceServer, loopback_hosts


def fleet(count: int, layout: str, vendors: list[str], channels: int, port: int) -> list[SimDevice]:
    if layout == "ip":
        hosts = loopback_hosts(count)
        return [
            SimDevice(
                f"sim-{i:05d}",
                vendors[i % len(vendors)],  # type: ignore[arg-type]
                hosts[i],
                port,
                channels=channels,
            )
            for i in range(count)
        ]
    return [
        SimDevice(
            f"sim-{i:05d}",
            vendors[i % len(vendors)],  # type: ignore[arg-type]
            "127.0.0.1",
            0,
            channels=channels,
        )
        for i in range(count)
    ]


async def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=100)
    p.add_argument(
        "--layout",
        choices=["ip", "port"],
        default="ip",
        help="ip: one loopback address per device, one shared port; "
        "port: 127.0.0.1 with one free port per device",
    )
    p.add_argument("--port", type=int, default=0, help="shared port for --layout ip (0: free)")
    p.add_argument("--vendors", default="hikvision,dahua")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--list", action="store_true")
    args = p.parse_args(argv)
    port = args.port or free_port("127.0.0.2")
    devices = fleet(args.count, args.layout, args.vendors.split(","), args.channels, port)
    server = DeviceServer(devices)
    await server.start()
    ready: dict[str, object] = {"port": port, "count": len(devices)}
    if args.list:
        ready["devices"] = [[d.device_id, d.vendor, d.host, d.port] for d in devices]
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
