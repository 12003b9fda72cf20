"""The demo campus's recorders (NVRs): one simulated recorder per `nvr_id` of the inventory,
in its maker's dialect, so `make run` fetches footage the way a real campus would.

An NVR whose cameras are all Dahua speaks Dahua playback; one with any Hikvision camera is a
Hikvision NVR (ISAPI search + track playback; it records the other makers' cameras too); the
exam rooms' standard system (竞业达) and other ONVIF devices stay on the ONVIF replay recorder
(`REPLAY_URL_TEMPLATE`). Each listens on a port of its own (0 = any free one) and the whole
set is described for media as its `RECORDERS` file.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cctv.contract import CameraRecord
from demo.simulator.dahua_cgi import DahuaFileFind
from demo.simulator.isapi import DigestHttp, IsapiSearch
from demo.simulator.replay import Brand, ReplayServer

DEMO_RECORDER_USER = "admin"
DEMO_RECORDER_PASSWORD = "cctv-demo-recorder"  # the demo's; a campus's come from its secrets


@dataclass
class CampusRecorders:
    servers: list[ReplayServer] = field(default_factory=list)
    searches: list[DigestHttp] = field(default_factory=list)
    config: list[dict[str, Any]] = field(default_factory=list)

    async def stop(self) -> None:
        for s in self.searches:
            await s.stop()
        for r in self.servers:
            await r.stop()

    def write(self, path: Path) -> None:
        """The RECORDERS file media reads (written whole, then renamed into place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.config, ensure_ascii=False, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)


def dialect(brands: set[str]) -> Brand | None:
    if brands == {"dahua"}:
        return "dahua"
    if "hikvision" in brands:
        return "hikvision"
    return None


async def serve_campus_recorders(
    cameras: Iterable[CameraRecord], host: str = "127.0.0.1"
) -> CampusRecorders:
    by_nvr: dict[str, list[CameraRecord]] = defaultdict(list)
    for cam in cameras:
        if cam.nvr_id and cam.channel is not None:
            by_nvr[cam.nvr_id].append(cam)
    out = CampusRecorders()
    for nvr, cams in sorted(by_nvr.items()):
        brand = dialect({c.brand for c in cams})
        if brand is None:
            continue
        channels = {c.channel: c.camera_id for c in cams if c.channel is not None}
        rec = await ReplayServer(
            host, 0, brand=brand, channels=channels,
            username=DEMO_RECORDER_USER, password=DEMO_RECORDER_PASSWORD,
        ).start()  # fmt: skip
        out.servers.append(rec)
        entry: dict[str, Any] = {
            "id": nvr,
            "brand": brand,
            "rtsp_url": f"rtsp://{host}:{rec.port}",
            "username": DEMO_RECORDER_USER,
            "password": DEMO_RECORDER_PASSWORD,
        }
        search = await (IsapiSearch(rec) if brand == "hikvision" else DahuaFileFind(rec)).start()
        out.searches.append(search)
        entry["http_url"] = search.url
        if brand == "hikvision":
            del entry["rtsp_url"]  # the playbackURI ISAPI answers says where
        out.config.append(entry)
    return out
