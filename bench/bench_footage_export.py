"""Bench: export speed — minutes of recorded footage per second of work, for one camera.

    .venv/bin/python bench/bench_footage_export.py [--seconds 60] [--dialect onvif|hikvision|dahua]

The demo recorder (ONVIF replay, `Rate-Control: no`; or a campus NVR in the Hikvision ISAPI or
Dahua dialect, asked for `Speed: 8` as real NVRs allow) runs in a subprocess so its encoding
CPU is counted apart from the media side: fetching over RTSP, then decode + watermark +
H.264 encode into MP4 + SHA-256 (what one export job does per camera, at the demo's 320x240,
5 fps). Prints wall time and CPU of each side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from demo.campus import generate  # noqa: E402
from services.media.footage import load_font, write_watermarked_mp4  # noqa: E402
from services.media.recorders import OnvifReplay, RecorderDirectory, load_recorders  # noqa: E402


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CAMERA = {"onvif": "BENCH-1", "hikvision": "OFF-001", "dahua": "CONF-001"}


async def run(args: argparse.Namespace, port: int, server_pid: int, recorders: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    end = start + timedelta(seconds=args.seconds)
    # the adapter as media chooses it (BENCH-1 is no campus camera: the default ONVIF replay),
    # chosen before the clocks start: the campus inventory is not part of a fetch
    cams = {c.camera_id: c for c in generate()}
    default = OnvifReplay(f"rtsp://127.0.0.1:{port}/replay/{{camera_id}}", timeout=60)
    d = RecorderDirectory(load_recorders(str(recorders)), default, cams.get, timeout=60)
    recorder, footage = d.choose(CAMERA[args.dialect])
    assert recorder.brand == args.dialect, recorder
    s_cpu0, c_cpu0, t0 = cpu_of(server_pid), time.process_time(), time.perf_counter()
    frames = [f async for f in recorder.fetch(footage, start, end)]
    t1, c_cpu1, s_cpu1 = time.perf_counter(), time.process_time(), cpu_of(server_pid)
    font = load_font()
    with tempfile.TemporaryDirectory() as tmp:
        written = write_watermarked_mp4(
            frames,
            Path(tmp) / "out.mp4",
            start=start,
            end=end,
            watermark=lambda at: ["李老师 · DY-2026-00001", f"复制 copied {at:%H:%M:%S}"],
            font=font,
            clock=lambda: datetime.now(UTC),
        )
    t2, c_cpu2 = time.perf_counter(), time.process_time()
    minutes = args.seconds / 60
    print(f"machine: {describe()}")
    print(f"footage: {args.seconds} s of one camera, {len(frames)} frames, {written.bytes} B MP4")
    print(
        f"fetch ({args.dialect}): {t1 - t0:.2f} s wall; media CPU {c_cpu1 - c_cpu0:.2f} s, "
        f"recorder CPU {s_cpu1 - s_cpu0:.2f} s"
    )
    print(f"watermark + encode + hash: {t2 - t1:.2f} s wall, {c_cpu2 - c_cpu1:.2f} s CPU")
    print(
        f"export speed: {minutes / (t2 - t0):.2f} min of footage per s of wall time; "
        f"{minutes / (c_cpu2 - c_cpu0):.2f} min per media-CPU second"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--dialect", choices=sorted(CAMERA), default="onvif")
    args = p.parse_args()
    tmpdir = tempfile.TemporaryDirectory()
    recorders = Path(tmpdir.name) / "recorders.json"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "demo.simulator.replay",
            "--port",
            "0",
            "--campus-recorders",
            str(recorders),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        while "/replay" not in line and line:  # the campus NVRs' line comes first
            line = server.stdout.readline()
        m = re.search(r":(\d+)/replay", line)
        if not m:
            raise SystemExit(f"recorder did not start: {line!r}")
        asyncio.run(run(args, int(m.group(1)), server.pid, recorders))
    finally:
        server.terminate()
        server.wait()
        tmpdir.cleanup()


if __name__ == "__main__":
    main()
