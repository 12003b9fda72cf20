"""The demo campus's NVRs serve recorded footage in their makers' dialects, and media's
adapters, chosen from the inventory and the RECORDERS file they write, fetch it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from demo.campus import generate
from demo.simulator.recorders import serve_campus_recorders
from demo.simulator.replay import camera_tag
from services.media.recorders import (
    DahuaPlayback,
    HikvisionIsapi,
    OnvifReplay,
    RecorderDirectory,
    load_recorders,
)
from tests.media.test_replay import decode_stamps


async def test_campus_nvrs_serve_their_cameras_footage(tmp_path: Path) -> None:
    cameras = {c.camera_id: c for c in generate()}
    campus = await serve_campus_recorders(cameras.values())
    try:
        path = tmp_path / "recorders.json"
        campus.write(path)
        nvrs = {c.nvr_id for c in cameras.values()}
        assert {r["id"] for r in campus.config} == nvrs - {"NVR-教学楼104室-EXAM"}  # 竞业达: ONVIF
        default = OnvifReplay("rtsp://127.0.0.1:1/replay/{camera_id}")
        d = RecorderDirectory(load_recorders(str(path)), default, cameras.get)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        end = start + timedelta(seconds=1)
        picked = {}
        for cid in ("CONF-001", "OFF-007", "DORM-001", "EXAM-001"):
            recorder, footage = d.choose(cid)
            picked[cid] = type(recorder)
            if recorder is default:
                continue
            frames = [f async for f in recorder.fetch(footage, start, end)]
            stamps = decode_stamps(frames)
            assert {s.camera_tag for s in stamps} == {camera_tag(cid)}, cid
            assert stamps[0].at == start and len(stamps) == 5
        assert picked == {
            "CONF-001": DahuaPlayback,
            "OFF-007": HikvisionIsapi,
            "DORM-001": HikvisionIsapi,  # a Dahua camera on the mixed dormitory NVR
            "EXAM-001": OnvifReplay,
        }
        assert cameras["DORM-001"].brand == "dahua"
        conf = next(r for r in campus.config if r["id"] == cameras["CONF-001"].nvr_id)
        assert conf["brand"] == "dahua" and conf["http_url"].startswith("http://")
    finally:
        await campus.stop()
