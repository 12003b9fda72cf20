"""The adapters plugged into the demo fleet and into the ingest service (real NATS + PG)."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cctv.cli import inventory as inventory_cli
from cctv.contract import CameraRecord, rpc, wrap
from cctv.contract.events import AccessHeld, HealthSample
from cctv.plumbing.identity import HEADER
from demo.simulator.devices import DeviceServer, SimDevice, free_port
from demo.simulator.devices.bridge import DEMO_LOGIN, serve_fleet_devices, with_device_addresses
from demo.simulator.fleet import Fleet
from services.ingest import store
from services.ingest.adapters.base import Credentials
from services.ingest.adapters.credentials import CredentialResolver
from services.ingest.adapters.wiring import DeviceProbes
from services.ingest.app import IngestService
from services.ingest.inventory_io import parse_file
from services.ingest.settings import IngestSettings
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity
from tests.support.waiting import eventually, table_changes


def cli_main(argv: list[str]) -> int:
    """`cctv inventory ...` as the operator runs it (the group's own parser)."""
    parser = argparse.ArgumentParser(prog="cctv")
    inventory_cli.register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def camera(cid: str, protocol: str, address: str, channel: int = 1) -> CameraRecord:
    brand = {"isapi": "hikvision", "dahua": "dahua", "onvif": "jingyeda"}[protocol]
    return CameraRecord(
        camera_id=cid, name="综合楼东门", system_id="A1-06", department="logistics",
        managing_department="logistics", category="public_safety", building="综合楼",
        position="东门 朝东", zone="教学区", brand=brand, protocol=protocol,  # type: ignore[arg-type]
        address=address, channel=channel)  # fmt: skip


async def test_fleet_faults_reach_the_protocol_servers() -> None:
    port = free_port()
    cams = [
        camera("F-HIK", "isapi", f"127.0.0.1:{port}", 7),
        camera("F-DH", "dahua", f"127.0.0.1:{port}", 2),
        camera("F-OV", "onvif", f"127.0.0.1:{port}"),
    ]
    fleet = Fleet(cams)
    fleet.break_("F-DH", "disk_error")  # before the devices start: applied at start
    server = await serve_fleet_devices(fleet, port)
    probes = DeviceProbes(
        IngestSettings(deep_probe_every=1),
        CredentialResolver(Path("/none")),
        Credentials(*DEMO_LOGIN),
    )
    try:
        at = {c.camera_id: c for c in with_device_addresses(cams, port)}
        assert len({c.address for c in at.values()}) == 3  # one address per device
        ok = {cid: await probes.probe(c) for cid, c in at.items()}
        assert all(s.error is None for cid, s in ok.items() if cid != "F-DH"), ok
        assert ok["F-DH"].disk_state == "error" and ok["F-HIK"].recording is True
        fleet.break_("F-HIK", "offline")
        fleet.break_("F-OV", "video_loss")
        assert (await probes.probe(at["F-HIK"])).reachable is False
        assert (await probes.probe(at["F-OV"])).streaming is False
        fleet.mend("F-HIK")
        fleet.mend("F-OV")
        assert (await probes.probe(at["F-HIK"])).error is None
        assert (await probes.probe(at["F-OV"])).streaming is True
    finally:
        await probes.close()
        await server.stop()


async def test_ingest_publishes_samples_segments_and_deletions(
    nats_url: str,
    database_url: str,
    events: EventLog,
    monkeypatch: Any,
    tmp_path: Path,
    capsys: Any,
) -> None:
    tag = uuid.uuid4().hex[:6]
    hik = SimDevice(f"W-HIK-{tag}", "hikvision", "127.0.0.1", 0, channels=2)
    dh = SimDevice(f"W-DH-{tag}", "dahua", "127.0.0.1", 0)
    secrets = tmp_path / "secrets"  # the devices' login as a mounted secret, like a site's
    secrets.mkdir()
    (secrets / "cctv-device-default").write_text(f"{DEMO_LOGIN[0]}:{DEMO_LOGIN[1]}\n")
    async with DeviceServer([hik, dh]):
        cams = [
            camera(f"W-HIK-{tag}", "isapi", hik.address, 2),
            camera(f"W-DH-{tag}", "dahua", dh.address),
        ]
        settings = IngestSettings(
            nats_url=nats_url,
            database_url=database_url,
            sample_interval_s=0.5,
            segment_scan_interval_s=0.5,
            # full scans (older or held footage gone) every second; the rounds between list
            # only the recent past (ADR 0031)
            segment_full_scan_interval_s=1.0,
            shard_ttl_s=2.0,
            device_secrets_dir=secrets,
            tamper_watch=False,
        )
        schema = f"dev_{tag}"
        ingest = IngestService(settings, schema=schema)
        svc = ingest.svc
        async with svc.running():
            # the cameras as an operator's import leaves them: the service reads its store
            await store.upsert_cameras(ingest.pool, cams, actor="test", schema=schema)

            def of(cid: str):  # type: ignore[no-untyped-def]
                return lambda d: d.get("camera_id") == cid

            sample = (await events.wait_for(HealthSample.TYPE, of(cams[0].camera_id)))[0]
            assert sample["data"]["reachable"] and sample["data"]["auth_ok"]
            assert sample["data"]["shard"]
            segs = await events.wait_for("recording.segment", of(cams[1].camera_id))
            seg = segs[0]["data"]
            assert seg["sha256"] and len(seg["sha256"]) == 64
            start = datetime.fromisoformat(seg["start"])
            assert start > datetime.now(UTC) - timedelta(hours=3)  # backfill only
            ret = await events.wait_for("recording.retention", of(cams[0].camera_id))
            oldest = datetime.fromisoformat(ret[0]["data"]["oldest_retained"])
            assert oldest < datetime.now(UTC) - timedelta(days=30)

            # Art. 18: a hold, then the held footage vanishes after 30 days: still a finding
            lost_at = datetime.now(UTC) - timedelta(days=33)
            holds = f"dev_{tag}.preservation_holds"
            async with table_changes(database_url, holds) as stored:
                held = wrap(
                    AccessHeld(
                        request_id=f"AR-{tag}",
                        process="access",
                        transition="held",
                        at=datetime.now(UTC),
                        summary={
                            "hold": {
                                "hold_id": f"AR-{tag}-H1",
                                "cameras": [cams[0].camera_id],
                                "footage_from": (lost_at - timedelta(hours=2)).isoformat(),
                                "footage_until": (lost_at + timedelta(hours=2)).isoformat(),
                                "until": "2099-12-31",
                            }
                        },
                    ),
                    source="workflow",  # only the workflow may publish it (issue 11)
                    key=f"AR-{tag}",
                )
                await svc.publish_raw(f"cctv.{held.type}.AR-{tag}", held.to_bytes(), held.id)
                assert svc.pool is not None

                async def hold_stored() -> bool:
                    n = await svc.pool.fetchval(  # type: ignore[union-attr]
                        f"SELECT count(*) FROM {holds}"
                    )
                    return bool(n)

                # the consumer says nothing on the bus: watch its table
                await eventually(
                    hold_stored, timeout=10, changes=stored, what="the preservation hold stored"
                )

            def held_range(d: dict[str, Any]) -> bool:
                start = datetime.fromisoformat(d["start"])
                return d.get("camera_id") == cams[0].camera_id and start < lost_at

            await events.wait_for("recording.segment", held_range)  # the scan reaches back
            hik.apply_fault("deleted_segment", channel=2, value=3)  # inside 30 days
            hik.apply_fault("deleted_segment", channel=2, value=33)  # old, but held
            deleted = await events.wait_for(
                "recording.deleted", of(cams[0].camera_id), count=2, timeout=20
            )
            kinds = sorted(
                (e["data"]["within_retention"], e["data"]["under_hold"]) for e in deleted
            )
            assert kinds == [(False, True), (True, False)]
            assert deleted[0]["_subject"] == f"cctv.recording.deleted.{cams[0].camera_id}"

            # inventory files over request-reply and the `cctv inventory` command line
            good = (Path(__file__).parent / "fixtures" / "inventory_ok.csv").read_text("utf-8")
            bad = good.replace("10.4.0.7:80", "10.4.0.7:http")
            refused = await svc.request(
                rpc.INGEST_INVENTORY_IMPORT, {"filename": "c.csv", "content": bad}
            )
            assert not refused["ok"] and "row 4, column address" in refused["error"]
            in_file = {c.camera_id for c in parse_file("c.csv", good)}
            kept = {c.camera_id for c in await store.list_cameras(ingest.pool, schema)}
            assert not in_file & kept  # nothing half-imported
            monkeypatch.setenv("NATS_URL", nats_url)
            nic = identity("nic-zhao", "sysadmin", department="nic")
            monkeypatch.setenv("CCTV_TOKEN", headers_as(nic)[HEADER])
            (tmp_path / "c.csv").write_text(good, encoding="utf-8")
            assert (
                await asyncio.to_thread(cli_main, ["inventory", "import", str(tmp_path / "c.csv")])
                == 0
            )
            assert "3 added/changed" in capsys.readouterr().out
            await events.wait_for(
                "camera.upserted", lambda d: d["camera"]["camera_id"] == "stu-dorm-007"
            )
            assert (
                await asyncio.to_thread(cli_main, ["inventory", "export", "--format", "yaml"]) == 0
            )
            assert "学生宿舍7栋北" in capsys.readouterr().out
