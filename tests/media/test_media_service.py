"""The media service carries out copy grants and keeps approved footage (Art. 16(2)3, 17, 18),
with real NATS, real PostgreSQL, the demo recorder over RTSP and an S3 server on a socket."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import boto3
import numpy as np
import pytest

from cctv.contract import rpc
from demo.simulator.replay import ReplayServer, camera_tag, read_stamp, render_frame
from tests.media.conftest import SYSADMIN, TEACHER, Media, request_id, start_media
from tests.support.events import EventLog


def _decode_mp4(data: bytes, tmp: Path) -> list[np.ndarray]:
    path = tmp / "check.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def exported(rid: str) -> Callable[[dict[str, Any]], bool]:
    return lambda d: d["request_id"] == rid


async def test_copy_grant_is_exported_watermarked_and_hashed_by_the_system(
    media: Media, events: EventLog, tmp_path: Path
) -> None:
    rid = request_id()
    g = await media.announce(rid)
    reply = await media.rpc(
        rpc.MEDIA_EXPORT,
        {"actor": SYSADMIN, "request_id": rid, "purpose": "案件调查", "destination": "保卫处"},
    )
    assert reply["ok"], reply
    (env,) = await events.wait_for("access.exported", exported(rid))
    ev = env["data"]
    assert ev["camera_ids"] == ["OFF-001", "OFF-002"] and ev["requested_by"] == "nic_admin"
    store = media.media.store
    start = datetime.fromisoformat(g["footage_from"])
    for f in ev["files"]:
        data = await store.read(f["object_key"])
        assert hashlib.sha256(data).hexdigest() == f["sha256"]  # the hash is of the stored file
        frames = _decode_mp4(data, tmp_path)
        assert len(frames) == f["frames"] == 20  # 4 s at 5 fps: the whole window, no more
        stamps = [read_stamp(x) for x in frames]
        # exactly the granted camera and window, frame by frame
        assert {s.camera_tag for s in stamps} == {camera_tag(f["camera_id"])}
        assert [s.at for s in stamps] == [start + timedelta(seconds=i / 5) for i in range(20)]
        # the watermark is burned in: the bottom band differs from the recorded picture
        original = render_frame(f["camera_id"], start)
        band = slice(-36, None)
        diff = np.abs(frames[0][band].astype(int) - original[band].astype(int)).mean()
        assert diff > 25, diff
    manifest = json.loads(await store.read(ev["manifest_key"]))
    assert hashlib.sha256(await store.read(ev["manifest_key"])).hexdigest() == ev["manifest_sha256"]
    assert manifest["request_id"] == rid and "李老师" in manifest["watermark"]
    assert [x["sha256"] for x in manifest["files"]] == [x["sha256"] for x in ev["files"]]
    # the audited trail says who had it done
    recs = events.matching("access.recorded", lambda d: d["request_no"] == rid)
    assert any("queued" in r["data"]["detail"] for r in recs)


@pytest.mark.parametrize(
    ("ask", "code"),
    [
        ({"cameras": ["DORM-007"]}, "camera_not_granted"),
        ({"footage_until_plus_s": 60}, "outside_window"),
        ({"actor": TEACHER}, "not_sysadmin"),
        ({"request_id": "DY-never-approved"}, "not_approved"),
    ],
)
async def test_anything_outside_the_grant_is_refused_and_audited(
    media: Media, events: EventLog, ask: dict, code: str
) -> None:
    rid = request_id()
    g = await media.announce(rid)
    req = {"actor": SYSADMIN, "request_id": rid, "purpose": "p", "destination": "d"}
    if "footage_until_plus_s" in ask:
        until = datetime.fromisoformat(g["footage_until"]) + timedelta(seconds=60)
        req["footage_until"] = until.isoformat()
    else:
        req.update(ask)
    reply = await media.rpc(rpc.MEDIA_EXPORT, req)
    assert not reply["ok"] and reply["article"], reply
    target = req["request_id"]
    await events.wait_for(
        "access.recorded",
        lambda d: d["request_no"] == target and f"[{code}]" in d["detail"],
    )
    jobs = await media.rpc(rpc.MEDIA_EXPORTS, {"request_id": target})
    assert [j for j in jobs["jobs"] if j["kind"] == "export"] == []


async def test_view_grant_allows_no_copy(media: Media, events: EventLog) -> None:
    rid = request_id()
    await media.announce(rid, export=False)
    reply = await media.rpc(
        rpc.MEDIA_EXPORT, {"actor": SYSADMIN, "request_id": rid, "purpose": "p", "destination": "d"}
    )
    assert not reply["ok"] and reply["article"] == "Art. 17"
    await events.wait_for(
        "access.recorded", lambda d: d["request_no"] == rid and "[copy_not_granted]" in d["detail"]
    )


async def test_expired_grant_is_refused(media: Media, events: EventLog) -> None:
    rid = request_id()
    await media.announce(rid, valid_until=media.now - timedelta(minutes=1))
    reply = await media.rpc(
        rpc.MEDIA_EXPORT, {"actor": SYSADMIN, "request_id": rid, "purpose": "p", "destination": "d"}
    )
    assert not reply["ok"] and "expired" in reply["error"]
    await events.wait_for(
        "access.recorded", lambda d: d["request_no"] == rid and "[grant_expired]" in d["detail"]
    )


async def test_approved_footage_is_preserved_and_not_deleted_under_hold(
    media: Media, events: EventLog
) -> None:
    rid = request_id()
    await media.announce(rid, export=False)
    (env,) = await events.wait_for("access.preserved", exported(rid))
    ev = env["data"]
    assert ev["hold_until"] == (media.now.date().replace(year=media.now.year + 1)).isoformat()
    for f in ev["files"]:
        assert await media.media.store.sha256(f["object_key"]) == f["sha256"]
        assert f["frames"] == 20
    key = ev["files"][0]["object_key"]
    reply = await media.rpc(
        rpc.MEDIA_DELETE, {"actor": SYSADMIN, "object_key": key, "reason": "清理"}
    )
    assert not reply["ok"] and reply["article"] == "Art. 18" and "hold" in reply["error"]
    assert await media.media.store.sha256(key) == ev["files"][0]["sha256"]  # still there
    await events.wait_for(
        "access.recorded", lambda d: d["request_no"] == rid and "[under_hold]" in d["detail"]
    )
    # a judicial authority extends the hold: the stored objects follow it
    await media.extend_hold(rid, "2031-12-31")
    objs = await _objects_when(media, rid, lambda o: o["hold_until"] == "2031-12-31")
    assert objs


async def test_deletion_after_the_hold_is_allowed_and_audited(
    nats_url: str,
    database_url: str,
    recorder: ReplayServer,
    tmp_path: Path,
    events: EventLog,
) -> None:
    later = datetime.now(UTC).replace(microsecond=0)
    async with start_media(nats_url, database_url, recorder, tmp_path, later) as m:
        rid = request_id()
        await m.announce(rid, export=False)
        (env,) = await events.wait_for("access.preserved", exported(rid))
        key = env["data"]["files"][0]["object_key"]
        m.media.clock = lambda: later + timedelta(days=367)  # the year has passed
        reply = await m.rpc(rpc.MEDIA_DELETE, {"actor": SYSADMIN, "object_key": key})
        assert reply["ok"], reply
        assert await m.media.store.sha256(key) is None
        await events.wait_for(
            "access.recorded", lambda d: d["request_no"] == rid and "deleted" in d["detail"]
        )


async def test_scheduled_check_finds_a_tampered_copy(media: Media, events: EventLog) -> None:
    rid = request_id()
    await media.announce(rid, export=False)
    (env,) = await events.wait_for("access.preserved", exported(rid))
    f = env["data"]["files"][0]
    path = Path(media.media.store.root) / f["object_key"]  # type: ignore[attr-defined]
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    reply = await media.rpc(rpc.MEDIA_VERIFY, {})
    assert reply["ok"] and reply["failed"] >= 1
    (bad,) = await events.wait_for(
        "access.preservation_check", lambda d: d["object_key"] == f["object_key"]
    )
    assert bad["data"]["ok"] is False and bad["data"]["expected_sha256"] == f["sha256"]


async def test_preservation_is_tried_again_after_the_recorder_was_down(
    nats_url: str, database_url: str, tmp_path: Path, events: EventLog
) -> None:
    cams = ["OFF-001", "OFF-002"]
    srv = await ReplayServer(cameras=cams).start()
    port = srv.port
    now = datetime.now(UTC).replace(microsecond=0)
    async with start_media(nats_url, database_url, srv, tmp_path, now, retry_base_s=0.5) as m:
        await srv.stop()
        rid = request_id()
        await m.announce(rid, export=False)
        (first,) = await events.wait_for(
            "access.recorded", lambda d: d["request_no"] == rid and "unreachable" in d["detail"]
        )
        assert "attempt 1, again in" in first["data"]["detail"]
        back = await ReplayServer(port=port, cameras=cams).start()
        try:
            (env,) = await events.wait_for("access.preserved", exported(rid))
        finally:
            await back.stop()
        assert [f["frames"] for f in env["data"]["files"]] == [20, 20]


@pytest.fixture
async def s3_media(
    nats_url: str,
    database_url: str,
    recorder: ReplayServer,
    tmp_path: Path,
    s3_endpoint: str,
) -> AsyncIterator[Media]:
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    s3.create_bucket(Bucket="cctv-evidence")
    now = datetime.now(UTC).replace(microsecond=0)
    async with start_media(
        nats_url, database_url, recorder, tmp_path, now,
        evidence_store="s3://cctv-evidence/footage", s3_endpoint_url=s3_endpoint,
        s3_access_key="test", s3_secret_key="test",
    ) as m:  # fmt: skip
        yield m


async def test_export_into_an_s3_store(s3_media: Media, events: EventLog, s3_endpoint: str) -> None:
    rid = request_id()
    await s3_media.announce(rid)
    reply = await s3_media.rpc(
        rpc.MEDIA_EXPORT, {"actor": SYSADMIN, "request_id": rid, "purpose": "p", "destination": "d"}
    )
    assert reply["ok"], reply
    (env,) = await events.wait_for("access.exported", exported(rid))
    assert env["data"]["store"] == "s3://cctv-evidence/footage"
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    for f in env["data"]["files"]:
        body = s3.get_object(Bucket="cctv-evidence", Key=f"footage/{f['object_key']}")["Body"]
        assert hashlib.sha256(body.read()).hexdigest() == f["sha256"]
    checked = await s3_media.rpc(rpc.MEDIA_VERIFY, {})
    assert checked["ok"] and checked["checked"] >= 3 and checked["failed"] == 0


async def _objects_when(media: Media, rid: str, pred: Callable[[Any], bool]) -> list[Any]:
    from tests.support.waiting import eventually, table_changes

    async with table_changes(media.svc.settings.database_url, f"{media.svc.schema}.objects") as ch:

        async def probe() -> list:
            got = await media.rpc(rpc.MEDIA_EXPORTS, {"request_id": rid})
            objs = got["objects"]
            return objs if objs and all(pred(o) for o in objs) else []

        return await eventually(probe, changes=ch, timeout=30, what="objects")


async def test_revoked_grant_is_refused(media: Media, events: EventLog) -> None:
    rid = request_id()
    await media.announce(rid)
    await media.revoke(rid)
    reply = await media.rpc(
        rpc.MEDIA_EXPORT, {"actor": SYSADMIN, "request_id": rid, "purpose": "p", "destination": "d"}
    )
    assert not reply["ok"] and "revoked" in reply["error"] and reply["article"] == "Art. 16"
    await events.wait_for(
        "access.recorded", lambda d: d["request_no"] == rid and "[grant_revoked]" in d["detail"]
    )


async def test_footage_outside_the_asked_range_is_never_kept(
    media: Media, recorder: ReplayServer, events: EventLog
) -> None:
    recorder.skew = timedelta(minutes=5)  # a recorder whose footage is not what was asked
    rid = request_id()
    await media.announce(rid)
    reply = await media.rpc(
        rpc.MEDIA_EXPORT, {"actor": SYSADMIN, "request_id": rid, "purpose": "p", "destination": "d"}
    )
    assert reply["ok"], reply
    (failed,) = await events.wait_for(
        "access.recorded",
        lambda d: d["request_no"] == rid and f"{reply['export_id']} failed" in d["detail"],
    )
    assert "outside" in failed["data"]["detail"] and "Art. 16(1)3" in failed["data"]["detail"]
    got = await media.rpc(rpc.MEDIA_EXPORTS, {"request_id": rid})
    assert [o for o in got["objects"] if o["kind"] == "export"] == []
    assert not events.matching("access.exported", exported(rid))


async def test_a_queued_export_checks_the_grant_again_when_it_runs(media: Media) -> None:
    """Revoked (or expired) between the request and the run: the job fetches nothing."""
    from services.media.refusal import Refused

    rid = request_id()
    g = await media.announce(rid)
    spec = {
        "cameras": g["cameras"], "footage_from": g["footage_from"],
        "footage_until": g["footage_until"], "purpose": "p", "destination": "d",
        "actor": "nic_admin",
    }  # fmt: skip
    schema = media.svc.schema
    job = await media.media.pool.fetchrow(
        f"INSERT INTO {schema}.jobs (job_id, kind, request_id, spec, status) "
        "VALUES ($1, 'export', $2, $3, 'running') RETURNING *",
        f"{rid}-E1",
        rid,
        json.dumps(spec),
    )
    await media.revoke(rid)
    with pytest.raises(Refused, match="revoked"):
        await media.media._run_export(job)
    got = await media.rpc(rpc.MEDIA_EXPORTS, {"request_id": rid})
    assert [o for o in got["objects"] if o["kind"] == "export"] == []


async def test_malformed_requests_are_answered_with_what_is_wrong(media: Media) -> None:
    no_actor = await media.rpc(rpc.MEDIA_EXPORT, {"request_id": "DY-1"})
    # who acts is the signed identity, never a name in the body (issue 11)
    assert no_actor["code"] == "identity_required" and no_actor["article"] == "Art. 16(1)3"
    rid = request_id()
    await media.announce(rid)
    naive = await media.rpc(
        rpc.MEDIA_EXPORT,
        {"actor": SYSADMIN, "request_id": rid, "footage_from": "2026-11-30T10:00:00"},
    )
    assert not naive["ok"] and "time zone" in naive["error"]
    missing = await media.rpc(rpc.MEDIA_DELETE, {"actor": SYSADMIN, "object_key": "nope/x.mp4"})
    assert not missing["ok"] and "no stored object" in missing["error"]


async def test_object_lock_bucket_keeps_exports_until_the_hold_ends(
    nats_url: str,
    database_url: str,
    recorder: ReplayServer,
    tmp_path: Path,
    s3_endpoint: str,
    events: EventLog,
) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    bucket = f"locked-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    now = datetime.now(UTC).replace(microsecond=0)
    async with start_media(
        nats_url, database_url, recorder, tmp_path, now,
        evidence_store=f"s3://{bucket}", s3_endpoint_url=s3_endpoint, s3_access_key="test",
        s3_secret_key="test", s3_object_lock=True, preserve_on_approval=False,
    ) as m:  # fmt: skip
        rid = request_id()
        await m.announce(rid)
        reply = await m.rpc(
            rpc.MEDIA_EXPORT,
            {"actor": SYSADMIN, "request_id": rid, "purpose": "p", "destination": "d"},
        )
        assert reply["ok"], reply
        (env,) = await events.wait_for("access.exported", exported(rid))
        key = env["data"]["files"][0]["object_key"]
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE"
        assert head["ObjectLockRetainUntilDate"].date() == now.date().replace(year=now.year + 1)
        with pytest.raises(Exception, match="AccessDenied"):
            s3.delete_object(Bucket=bucket, Key=key, VersionId=head["VersionId"])
