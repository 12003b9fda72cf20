"""Bench: the WebRTC viewer (ADR 0022) — time to first frame, CPU per stream, viewers per replica.

    .venv/bin/python bench/bench_viewer.py [--viewers 4] [--seconds 20] [--frames 60]

Full size (what the figures in the report are for): `--viewers 40 --seconds 120 --frames 250`.

1. Pipeline, per frame, no network: H.264 decode (the recorder's stream) + watermark burned
   in (Pillow) + VP8 encode (aiortc's encoder, the codec Chromium negotiates), at the demo's
   320x240 and at 1080p. CPU per frame x frame rate = one stream's share of a core; 2 cores
   divided by it = the streams one replica can carry on this machine (an estimate: it leaves
   out RTP/SRTP, which part 2 includes at the demo's size).
2. End to end at the demo's size: NATS and PostgreSQL embedded, the demo recorder (ONVIF
   replay) in a subprocess, workflow and media in this process, a view grant approved
   through workflow's chain, and N viewers (aiortc, in a second subprocess so their decoding
   is not counted) that each post an offer and wait for the first decoded frame. Prints time
   to first frame p50/p99 and this process's CPU (media, plus an idle workflow) per stream
   while all N play.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import describe  # noqa: E402
from bench.stats import pct  # noqa: E402

# ---- 1. the pipeline --------------------------------------------------------------------


def pipeline(width: int, height: int, n: int) -> float:
    """CPU seconds per frame for decode + watermark + VP8 encode at width x height."""
    import av
    import numpy as np
    from aiortc.codecs.vpx import MAX_BITRATE, Vp8Encoder

    from services.media.footage import burn_watermark, load_font

    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.options = {"preset": "ultrafast", "tune": "zerolatency"}
    yy, xx = np.mgrid[0:height, 0:width]
    packets = []
    for i in range(n):
        rgb = np.stack(
            [(xx + i * 7) % 256, (yy + i * 3) % 256, ((xx + yy) // 4) % 256], axis=-1
        ).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += [bytes(p) for p in enc.encode(frame)]
    packets += [bytes(p) for p in enc.encode(None)]
    font = load_font("", 14 if width <= 640 else 32)
    dec = av.CodecContext.create("h264", "r")
    vp8 = Vp8Encoder()
    vp8.target_bitrate = MAX_BITRATE if width > 640 else 500_000
    lines = ["李老师 · DY-2026-00001", "查看 viewed 2026-12-01 10:00:00 (UTC+8)"]
    t0 = time.process_time()
    done = 0
    for data in packets:
        for decoded in dec.decode(av.Packet(data)):
            marked = burn_watermark(decoded.to_ndarray(format="rgb24"), lines, font)
            out = av.VideoFrame.from_ndarray(marked, format="rgb24")
            out.pts, out.time_base = done * 3600, Fraction(1, 90_000)
            vp8.encode(out)
            done += 1
    return (time.process_time() - t0) / max(done, 1)


# ---- 2. end to end ----------------------------------------------------------------------


async def clients(args: argparse.Namespace) -> None:
    """The viewers' side (its own process): N offers at once, first frame each, then keep
    receiving for --seconds; prints one JSON line."""
    import nats

    from cctv.contract import rpc as crpc
    from services.media.ice import configure_ice
    from tests.support.identity import headers_as, identity
    from tests.support.webrtc import PyViewer

    configure_ice("127.0.0.1")
    nc = await nats.connect(args.nats)
    who = identity("t_staff", name="李老师", department="college_se")  # the applicant

    async def one() -> tuple[PyViewer, float | None, str]:
        v = PyViewer()
        v.keep_pictures = False
        sdp = await v.offer()
        msg = await nc.request(
            crpc.MEDIA_VIEW,
            json.dumps(
                {"kind": "recorded", "request_id": args.rid, "camera_id": args.camera, "sdp": sdp}
            ).encode(),
            60,
            headers=headers_as(who),
        )
        reply = json.loads(msg.data)
        if not reply.get("ok"):
            return v, None, str(reply.get("error"))
        await v.accept(reply["sdp"])
        await v.wait_frames(1, timeout=60)
        return v, v.first_frame_s, ""

    results = await asyncio.gather(*(one() for _ in range(args.viewers)))
    print(json.dumps({"phase": "playing"}), flush=True)
    frames0 = sum(v.frames for v, _, _ in results)
    t0 = time.perf_counter()
    await asyncio.sleep(args.seconds)  # a bench holding the streams open, not a test
    fps = (sum(v.frames for v, _, _ in results) - frames0) / (time.perf_counter() - t0)
    errors = [e for _, _, e in results if e]
    print(json.dumps({"ttff": [t for _, t, _ in results if t is not None], "errors": errors,
                      "fps": fps}), flush=True)  # fmt: skip
    for v, _, _ in results:
        await v.close()
    await nc.close()


async def end_to_end(args: argparse.Namespace) -> None:
    import nats

    from cctv.contract import ensure_streams
    from cctv.devstack.embedded import EmbeddedNats, EmbeddedPostgres, free_port
    from cctv.plumbing.identity import new_keypair

    os.environ["IDENTITY_SIGNING_KEY"], os.environ["IDENTITY_PUBLIC_KEY"] = new_keypair()
    from services.media.app import build as build_media
    from services.media.settings import MediaSettings
    from services.workflow import rpc
    from services.workflow.app import build as build_workflow
    from services.workflow.settings import WorkflowSettings
    from tests.media.conftest import approve_access
    from tests.workflow.test_workflow_service import (
        Client,
        access_form,
        actor,
        record,
        seed_cameras,
    )

    home = Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    os.chmod(home, 0o755)  # the pgserver OS user enters it
    nats_srv = EmbeddedNats(home / "nats", free_port()).start()
    pg = EmbeddedPostgres(home / "pg").start()
    port = free_port()
    recorder = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "demo.simulator.replay", "--port", str(port), cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert recorder.stdout is not None
    await recorder.stdout.readline()  # "recorder: ONVIF replay on …": it listens
    nc = await nats.connect(nats_srv.url)
    try:
        await ensure_streams(nc.jetstream())
        cam = f"BENCH-{uuid.uuid4().hex[:6]}"
        wf = build_workflow(WorkflowSettings(nats_url=nats_srv.url, database_url=pg.url,
                                             remind_poll_s=3600.0))  # fmt: skip
        media = build_media(
            MediaSettings(
                nats_url=nats_srv.url, database_url=pg.url, data_dir=home,
                evidence_store=str(home / "evidence"), preserve_on_approval=False,
                replay_url_template=f"rtsp://127.0.0.1:{port}/replay/{{camera_id}}",
                webrtc_host_addresses="127.0.0.1", max_viewers=max(40, args.viewers),
                http_port=free_port(),
            )
        )  # fmt: skip

        async with wf.running(), media.running():
            client = Client(nc, rpc.PREFIX)
            await seed_cameras(wf, client, [record(cam, "public_safety", "logistics")])
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
            form = access_form([cam], method="view")
            form["footage_from"] = start.isoformat()
            form["footage_until"] = (start + timedelta(minutes=30)).isoformat()
            staff = {**actor("t_staff", "college_se", "staff"), "name": "李老师"}
            rid = (await approve_access(client, form, staff))["request_id"]
            env_c = {**os.environ, "PYTHONPATH": str(REPO)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--client", "--nats", nats_srv.url, "--rid", rid,
                "--camera", cam, "--viewers", str(args.viewers), "--seconds", str(args.seconds),
                stdout=asyncio.subprocess.PIPE, env=env_c, cwd=REPO,
            )  # fmt: skip
            assert proc.stdout is not None
            first = json.loads(await proc.stdout.readline())
            assert first.get("phase") == "playing", first
            c0, t0 = time.process_time(), time.perf_counter()
            last = json.loads(await proc.stdout.readline())
            cpu = (time.process_time() - c0) / (time.perf_counter() - t0)
            await proc.wait()
        ttff = last["ttff"]
        print(f"2. end to end, {args.viewers} viewers at once, demo 320x240 @5 fps")
        if last["errors"]:
            print(f"   refused/failed: {last['errors'][:3]}")
        if ttff:
            p50, p99 = pct(ttff, 0.5), pct(ttff, 0.99)
            print(f"   time to first frame: p50 {p50:.2f} s, p99 {p99:.2f} s "
                  f"(offer → grant checked with workflow → ICE → first decoded frame)")  # fmt: skip
        each = last["fps"] / max(len(ttff), 1)
        print(f"   frames received: {last['fps']:.1f}/s in all ({each:.1f} per viewer)")
        print(f"   media process CPU while playing: {cpu * 100:.1f}% of a core, "
              f"{cpu * 100 / max(len(ttff), 1):.1f}% per stream "
              f"→ ~{int(2 / max(cpu / max(len(ttff), 1), 1e-6))} streams on 2 cores")  # fmt: skip
    finally:
        await nc.close()
        recorder.terminate()
        await recorder.wait()
        pg.stop()
        nats_srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--viewers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--nats", help=argparse.SUPPRESS)
    ap.add_argument("--rid", help=argparse.SUPPRESS)
    ap.add_argument("--camera", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        asyncio.run(clients(args))
        return
    print(f"machine: {describe()}")
    print("1. pipeline per frame (H.264 decode + watermark + VP8 encode), CPU")
    for (w, h), rates in (((320, 240), (5,)), ((1920, 1080), (5, 25))):
        per = pipeline(w, h, args.frames)
        for fps in rates:
            share = per * fps
            print(f"   {w}x{h} @{fps} fps: {per * 1000:.1f} ms/frame → {share * 100:.1f}% of a "
                  f"core per stream → ~{int(2 / share)} streams on 2 cores")  # fmt: skip
    asyncio.run(end_to_end(args))


if __name__ == "__main__":
    main()
