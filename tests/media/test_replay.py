"""The demo recorder's ONVIF replay and the media service's replay client, over real sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import av
import pytest

from demo.simulator.replay import ReplayServer, camera_tag, read_stamp
from services.media import replay


def decode_stamps(frames: list[replay.RecordedFrame]) -> list:
    dec = av.CodecContext.create("h264", "r")
    out = []
    for f in frames:
        for p in dec.parse(f.annexb):
            out += [read_stamp(x.to_ndarray(format="rgb24")) for x in dec.decode(p)]
    for p in dec.parse(None):
        out += [read_stamp(x.to_ndarray(format="rgb24")) for x in dec.decode(p)]
    return out


async def test_replay_serves_exactly_the_clock_range(recorder: ReplayServer) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    end = start + timedelta(seconds=2)
    frames = [f async for f in replay.fetch(recorder.url_for("OFF-002"), start, end)]
    assert len(frames) == 10  # 5 fps
    assert frames[0].at == start and frames[-1].at == end - timedelta(milliseconds=200)
    assert frames[0].clean_point  # the range starts on an IDR a decoder can use
    stamps = decode_stamps(frames)
    # what the pictures say matches what the replay extension said, frame by frame
    assert [s.at for s in stamps] == [f.at for f in frames]
    assert {s.camera_tag for s in stamps} == {camera_tag("OFF-002")}
    assert recorder.stats.ranges == [("OFF-002", start, end)]


async def test_replay_without_require_tag_is_refused(recorder: ReplayServer) -> None:
    async with replay.ReplayClient(recorder.url_for("OFF-001")) as c:
        with pytest.raises(replay.ReplayError, match="answered 551"):
            await c.request("DESCRIBE", c.url, {"Require": "www.onvif.org/ver20/backchannel"})


async def test_range_older_than_the_recorder_keeps_is_refused(recorder: ReplayServer) -> None:
    start = datetime.now(UTC) - timedelta(days=31)  # Art. 7: the recorder keeps 30 days
    with pytest.raises(replay.ReplayError, match=r"PLAY .* 457"):
        [f async for f in replay.fetch(recorder.url_for("OFF-001"), start, start + timedelta(1))]


async def test_unknown_camera_is_not_found(recorder: ReplayServer) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(replay.ReplayError, match=r"DESCRIBE .* 404"):
        [f async for f in replay.fetch(recorder.url_for("NOPE-9"), start, start + timedelta(1))]


async def test_unreachable_recorder_names_the_address() -> None:
    srv = await ReplayServer().start()
    port = srv.port
    await srv.stop()
    start = datetime.now(UTC) - timedelta(hours=1)
    url = f"rtsp://127.0.0.1:{port}/replay/OFF-001"
    with pytest.raises(replay.ReplayError, match=rf"127\.0\.0\.1:{port} unreachable"):
        await asyncio.wait_for(anext(replay.fetch(url, start, start + timedelta(seconds=1))), 15)


async def test_recorder_asks_for_digest_credentials() -> None:
    async with ReplayServer(cameras=["OFF-001"], username="admin", password="s3cret") as srv:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        end = start + timedelta(seconds=1)
        url = srv.url_for("OFF-001")
        got = [f async for f in replay.fetch(url, start, end, username="admin", password="s3cret")]
        assert len(got) == 5
        with pytest.raises(replay.ReplayError, match=r"refused our credentials \(401\)"):
            [f async for f in replay.fetch(url, start, end, username="admin", password="nope")]
        with pytest.raises(replay.ReplayError, match="answered 401"):
            [f async for f in replay.fetch(url, start, end)]
