"""media's FastStream wiring: the system itself copies and keeps approved footage (issue 12).

Consumes workflow's access transitions (grants, holds), answers `cctv.rpc.media.*`, and runs
two loops: the job runner (exports a system administrator asked for, preservation copies of
approved footage) and the scheduled re-hash of every stored object (Art. 18). It talks to the
other services only through the contract: events and request-reply.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter, Gauge, Histogram

from cctv.contract import Envelope, Event, rpc
from cctv.contract import rpcmodels as m
from cctv.contract.campustime import campus_time, parse_instant
from cctv.contract.events import (
    AccessApproved,
    AccessHeld,
    AccessHoldExtended,
    AccessRecorded,
    ExportedFile,
    FootageExported,
    FootagePreserved,
    GrantRecord,
    PreservationCheck,
    WorkflowTransition,
)
from cctv.contract.orgs import Actor, Role
from cctv.plumbing.identity import caller_actor
from cctv.plumbing.inventory import InventoryView
from cctv.plumbing.outbox import stage
from cctv.plumbing.service import RpcError, Service

from . import replay, store
from .evidence_store import EvidenceStore, StoreError, open_store
from .footage import OutsideWindow, load_font, write_as_recorded, write_watermarked_mp4
from .recorders import OnvifReplay, RecorderDirectory
from .refusal import Refused
from .settings import MediaSettings

SCHEMA = store.SCHEMA  # one home: store.py
PRESERVATION_YEARS = 1  # Art. 18
Clock = Callable[[], datetime]
log = structlog.get_logger()

REFUSED = Counter("cctv_media_refusals_total", "Export/delete requests refused", ["code"])
JOBS = Counter("cctv_media_jobs_total", "Jobs finished", ["kind", "outcome"])
EXPORT_SECONDS = Histogram("cctv_media_job_seconds", "Time to carry out a job", ["kind"])
CHECK_FAILED = Gauge(
    "cctv_media_objects_failing_check", "Stored objects whose hash no longer matches (Art. 18)"
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _aware(v: datetime | None, what: str) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise RpcError.bilingual(
            "invalid_request", f"{what} 须带时区", f"{what} needs a time zone", "Art. 16(1)3"
        )
    return v


def _dt(v: Any, what: str) -> datetime:
    try:
        return parse_instant(v, what)
    except ValueError as exc:
        raise RpcError(str(exc)) from exc


class MediaService:
    def __init__(self, svc: Service, settings: MediaSettings, *, clock: Clock = _utcnow) -> None:
        self.svc = svc
        self.settings = settings
        self.clock = clock
        self.schema = svc.schema
        self.store: EvidenceStore = open_store(
            settings.evidence_store,
            default_dir=settings.data_dir / "evidence",
            endpoint_url=settings.s3_endpoint_url,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
            object_lock=settings.s3_object_lock,
        )
        self.font = load_font(settings.watermark_font)
        self._wake = asyncio.Event()
        # told of each revocation this replica takes (the viewer stops its sessions at once;
        # the other replicas' viewers hear the NOTIFY sent with it)
        self.on_revoked: list[Callable[[str], Awaitable[None]]] = []
        # where each camera's footage lives: the inventory (nvr_id, channel, brand) and RECORDERS
        self.inventory = InventoryView()
        self.recorders = RecorderDirectory.from_setting(
            settings.recorders,
            OnvifReplay(
                settings.replay_url_template,
                settings.replay_username or None,
                settings.replay_password or None,
                settings.replay_timeout_s,
            ),
            self.inventory.get,
            username=settings.replay_username,
            password=settings.replay_password,
            timeout=settings.replay_timeout_s,
        )

    async def start_inventory(self) -> None:
        await self.inventory.start(self.svc.broker.connection)

    async def stop_inventory(self) -> None:
        await self.inventory.stop()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.svc.pool is not None
        return self.svc.pool

    # ---- grants and holds, from workflow's events ---------------------------------------

    async def on_access(self, _env: Envelope, event: Event) -> None:
        if not isinstance(event, WorkflowTransition) or event.process != "access":
            return
        if isinstance(event, AccessApproved) and event.grant is not None:
            await self._grant(event.grant)
        elif isinstance(event, AccessHeld | AccessHoldExtended) and event.hold is not None:
            await store.extend_holds(self.pool, self.schema, event.request_id, event.hold.until)
        elif event.transition == "revoked":
            async with self.pool.acquire() as conn, conn.transaction():
                await store.revoke_grant(conn, self.schema, event.request_id, event.at)
                # every replica hears it, only once it is committed (ADR 0030)
                await store.announce_revoked(conn, self.schema, event.request_id)
            for listener in self.on_revoked:
                await listener(event.request_id)

    async def _grant(self, g: GrantRecord) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await store.save_grant(conn, self.schema, g)
            if self.settings.preserve_on_approval:
                spec = {
                    "cameras": list(g.cameras),
                    "footage_from": g.footage_from.isoformat(),
                    "footage_until": g.footage_until.isoformat(),
                }
                await store.queue_preservation(
                    conn, self.schema, f"{g.request_id}-P", g.request_id, spec
                )
        self._wake.set()

    # ---- request-reply -----------------------------------------------------------------

    async def _refuse(
        self, conn: asyncpg.Connection | None, actor: str, request_id: str, exc: Refused, **kw: Any
    ) -> None:
        """Record the refusal (audited stream) before answering it."""
        REFUSED.labels(exc.code).inc()
        event = AccessRecorded(
            action="export",
            actor=actor or "unknown",
            camera_ids=list(kw.get("cameras") or []),
            footage_from=kw.get("footage_from"),
            footage_to=kw.get("footage_until"),
            grant_id=kw.get("grant_id"),
            request_no=request_id or None,
            detail=f"拒绝 refused [{exc.code}] {exc} ({exc.article})",
        )
        await self._record(conn, event, request_id, actor)

    async def _record(
        self,
        conn: asyncpg.Connection | None,
        event: AccessRecorded,
        request_id: str | None,
        actor: str,
    ) -> None:
        """Stage a registered access (audited), in the caller's transaction if it has one."""
        if conn is None:
            async with self.pool.acquire() as c:
                await self._record(c, event, request_id, actor)
            return
        await stage(conn, self.schema, event, source="media", key=request_id or None,
                    actor=actor or "unknown")  # fmt: skip

    @staticmethod
    def _deletion(who: str, row: asyncpg.Record, detail: str) -> AccessRecorded:
        return AccessRecorded(
            action="admin",
            actor=who,
            camera_ids=[row["camera_id"]] if row["camera_id"] else [],
            request_no=row["request_id"],
            detail=detail,
        )

    async def export(self, q: m.MediaExportRequest, _call: Any = None) -> dict[str, Any]:
        """A system administrator has the system carry out a copy grant (Art. 16(2)3, 17)."""
        actor = _signed_actor()
        who = actor.person_id
        rid = q.request_id.strip()
        ctx: dict[str, Any] = {}
        try:
            if Role.SYSADMIN not in actor.roles:
                raise Refused(
                    "not_sysadmin",
                    "视频调取须由系统管理人员进行",
                    "footage is retrieved by a system administrator",
                    "Art. 16(1)3",
                )
            row = await store.grant(self.pool, self.schema, rid)
            if row is None:
                raise Refused(
                    "not_approved",
                    f"申请 {rid} 未经批准，不得调取",
                    f"request {rid!r} has no approved grant: nothing may be retrieved",
                    "Art. 15",
                )
            cams = list(q.cameras) if q.cameras else list(row["cameras"])
            f_from = _aware(q.footage_from, "footage_from") or row["footage_from"]
            f_until = _aware(q.footage_until, "footage_until") or row["footage_until"]
            ctx = {
                "cameras": cams,
                "footage_from": f_from,
                "footage_until": f_until,
                "grant_id": row["grant_id"],
            }
            self._check_grant(row, cams, f_from, f_until)
            purpose = q.purpose.strip()
            destination = q.destination.strip()
            if not purpose:
                raise Refused(
                    "missing_purpose", "须填写调取用途", "purpose is required", "Art. 16(1)3"
                )
            if not destination:
                raise Refused(
                    "missing_destination", "须填写去向", "destination is required", "Art. 16(1)3"
                )
        except Refused as exc:
            await self._refuse(None, who, rid, exc, **ctx)
            raise
        async with self.pool.acquire() as conn, conn.transaction():
            n = await store.count_exports(conn, self.schema, rid)
            job_id = f"{rid}-E{n + 1}"
            spec = {
                "cameras": cams,
                "footage_from": f_from.isoformat(),
                "footage_until": f_until.isoformat(),
                "purpose": purpose,
                "destination": destination,
                "actor": who,
                "actor_name": actor.name,
            }
            await store.queue_export(conn, self.schema, job_id, rid, spec)
            await stage(
                conn,
                self.schema,
                AccessRecorded(
                    action="export",
                    actor=who,
                    camera_ids=cams,
                    footage_from=f_from,
                    footage_to=f_until,
                    grant_id=row["grant_id"],
                    request_no=rid,
                    detail=f"导出已受理 export {job_id} queued: {purpose} → {destination}",
                ),
                source="media",
                key=rid,
                actor=who,
            )
        self._wake.set()
        return {"export_id": job_id, "status": "queued"}

    def _check_grant(
        self, row: asyncpg.Record, cams: list[str], f_from: datetime, f_until: datetime
    ) -> None:
        """Exactly what was approved, while it is valid (Art. 16(1)3, 17)."""
        if row["revoked_at"] is not None:
            raise Refused(
                "grant_revoked", "调阅授权已撤销", "the grant has been revoked", "Art. 16"
            )
        if self.clock() > row["valid_until"]:
            raise Refused(
                "grant_expired",
                f"调阅授权已于 {campus_time(row['valid_until'])} 过期，请重新申请",
                f"the grant expired at {row['valid_until'].isoformat()}; apply again",
                "Art. 16",
            )
        if not row["export"]:
            raise Refused(
                "copy_not_granted",
                "未经许可严禁复制、拷贝：该授权仅限查看",
                "this grant allows viewing only: no copy or export",
                "Art. 17",
            )
        other = [c for c in cams if c not in row["cameras"]]
        if other or not cams:
            raise Refused(
                "camera_not_granted",
                f"摄像机 {', '.join(other) or '（空）'} 不在批准范围内",
                f"camera(s) {', '.join(other) or '(none)'} not in the grant "
                f"({', '.join(row['cameras'])})",
                "Art. 16(1)3",
            )
        if f_from < row["footage_from"] or f_until > row["footage_until"] or f_from >= f_until:
            raise Refused(
                "outside_window",
                f"调取时间段须在批准范围 {campus_time(row['footage_from'], seconds=True)} – "
                f"{campus_time(row['footage_until'], seconds=True)} 之内",
                f"the footage window must lie inside the granted "
                f"{row['footage_from'].isoformat()} – {row['footage_until'].isoformat()}",
                "Art. 16(1)3",
            )

    async def exports(self, q: m.MediaExportsRequest, _call: Any = None) -> dict[str, Any]:
        rid = q.request_id
        jobs = await store.jobs(self.pool, self.schema, rid)
        objs = await store.objects(self.pool, self.schema, rid)
        return {
            "jobs": [_jsonable(dict(j)) for j in jobs],
            "objects": [_jsonable(dict(o)) for o in objs],
        }

    async def delete(self, q: m.MediaDeleteRequest, _call: Any = None) -> dict[str, Any]:
        """Deleting kept footage: refused while its hold lasts (Art. 18)."""
        actor = _signed_actor()
        who = actor.person_id
        key = q.object_key
        row = await store.stored_object(self.pool, self.schema, key)
        if row is None:
            raise RpcError(f"没有对象 {key} — no stored object {key!r}", "Art. 18")
        today = self.clock().date()
        try:
            if Role.SYSADMIN not in actor.roles:
                raise Refused(
                    "not_custodian",
                    "保存的视频由网络信息中心系统管理人员管理",
                    "kept footage is in the custody of NIC's system administrators",
                    "Art. 18",
                )
            if row["deleted_at"] is not None:
                raise RpcError(f"对象已删除 — {key!r} was already deleted", "Art. 18")
            if today <= row["hold_until"]:
                raise Refused(
                    "under_hold",
                    f"保存期间严禁删除：须保存至 {row['hold_until'].isoformat()}",
                    f"footage under a preservation hold until {row['hold_until'].isoformat()} "
                    "may not be deleted",
                    "Art. 18",
                )
        except Refused as exc:
            REFUSED.labels(exc.code).inc()
            detail = f"删除被拒绝 deletion refused [{exc.code}] {key}: {exc}"
            await self._record(None, self._deletion(who, row, detail), row["request_id"], who)
            raise
        await self.store.delete(key)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.mark_deleted(conn, self.schema, key, who)
            detail = f"删除 deleted {key} after its hold ended: {q.reason.strip() or '-'}"
            await self._record(conn, self._deletion(who, row, detail), row["request_id"], who)
        return {"deleted": key}

    async def files(self, q: m.MediaFilesRequest, _call: Any = None) -> dict[str, Any]:
        """An export's files and manifest exactly as stored, for its evidence pack: only for a
        system administrator, each read back and hashed, and the hand-over recorded (Art. 17)."""
        actor = _signed_actor()
        who = actor.person_id
        eid = q.export_id.strip()
        job = await store.export_job(self.pool, self.schema, eid)
        if job is None:
            raise RpcError.bilingual(
                "not_found", f"没有导出 {eid}", f"no export {eid!r}", "Art. 17"
            )
        if Role.SYSADMIN not in actor.roles:
            exc = Refused(
                "not_sysadmin",
                "视频复制件由系统管理人员交付",
                "exported footage is handed over by a system administrator",
                "Art. 17",
            )
            await self._refuse(None, who, job["request_id"], exc, grant_id=job["grant_id"])
            raise exc
        if job["status"] != "done":
            raise RpcError.bilingual(
                "not_done",
                f"导出 {eid} 尚未完成（{job['status']}）",
                f"export {eid} is {job['status']}, not done: ask again when it is",
                "Art. 17",
            )
        rows = await store.job_objects(self.pool, self.schema, eid)
        manifest: bytes | None = None
        files: list[dict[str, Any]] = []
        for row in rows:
            data = await self.store.read(row["object_key"])
            if hashlib.sha256(data).hexdigest() != row["sha256"]:
                raise RpcError.bilingual(
                    "store_mismatch",
                    f"存储的 {row['object_key']} 与写入时的哈希不符",
                    f"stored {row['object_key']} no longer matches the hash it was written with",
                    "Art. 18",
                )
            if row["kind"] == "manifest":
                manifest = data
            else:
                files.append(
                    {
                        "camera_id": row["camera_id"],
                        "object_key": row["object_key"],
                        "sha256": row["sha256"],
                        "bytes": len(data),
                        "data": base64.b64encode(data).decode("ascii"),
                    }
                )
        if manifest is None:
            raise RpcError.bilingual(
                "not_found", f"导出 {eid} 没有清单", f"export {eid} has no manifest", "Art. 17"
            )
        spec = json.loads(job["spec"])
        await self._record(
            None,
            AccessRecorded(
                action="export",
                actor=who,
                camera_ids=spec.get("cameras", []),
                grant_id=job["grant_id"],
                request_no=job["request_id"],
                detail=f"证据包交付 export {eid} files handed over for its evidence pack",
            ),
            job["request_id"],
            who,
        )
        return {
            "export_id": eid,
            "request_id": job["request_id"],
            "grant_id": job["grant_id"] or "",
            "manifest": base64.b64encode(manifest).decode("ascii"),
            "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
            "files": files,
        }

    async def verify(self, _q: m.Empty, _call: Any = None) -> dict[str, Any]:
        checked, failed = await self.verify_all()
        return {"checked": checked, "failed": failed}

    # ---- the job runner ----------------------------------------------------------------

    async def job_loop(self) -> None:
        while True:
            while await self.run_one():
                pass
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.job_poll_s)
            except TimeoutError:
                pass

    async def run_one(self) -> bool:
        """Take the oldest queued job (replicas share the queue); False when there is none."""
        async with self.pool.acquire() as conn, conn.transaction():
            job = await store.take_queued_job(conn, self.schema)
            if job is None:
                return False
        started = asyncio.get_running_loop().time()
        log.info("media job started", job_id=job["job_id"], kind=job["kind"])
        try:
            if job["kind"] == "export":
                await self._run_export(job)
            else:
                await self._run_preserve(job)
            JOBS.labels(job["kind"], "done").inc()
        except (replay.ReplayError, OutsideWindow, StoreError, Refused, OSError) as exc:
            JOBS.labels(job["kind"], "failed").inc()
            await self._fail(job, exc)
        except Exception as exc:  # a bug fails one job, not the runner
            log.exception("media job failed", job_id=job["job_id"])
            JOBS.labels(job["kind"], "failed").inc()
            await self._fail(job, exc)
        took = asyncio.get_running_loop().time() - started
        EXPORT_SECONDS.labels(job["kind"]).observe(took)
        log.info("media job finished", job_id=job["job_id"], seconds=round(took, 3))
        return True

    async def _fail(self, job: asyncpg.Record, exc: Exception) -> None:
        """An export fails for good (the administrator asks again); a preservation copy is
        tried again with growing delays until `preserve_attempts`, since the footage is
        overwritten on the recorder if nobody copies it (Art. 18)."""
        spec = json.loads(job["spec"])
        attempts = int(job["attempts"]) + 1  # this run
        retry = (
            job["kind"] == "preserve"
            and attempts < self.settings.preserve_attempts
            and not isinstance(exc, OutsideWindow)
        )
        delay = min(self.settings.retry_base_s * 2 ** (attempts - 1), 3600.0)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.fail_job(
                conn,
                self.schema,
                job["job_id"],
                str(exc)[:2000],
                "queued" if retry else "failed",
                delay,
            )
            await stage(
                conn,
                self.schema,
                AccessRecorded(
                    action="export" if job["kind"] == "export" else "admin",
                    actor=spec.get("actor", "system"),
                    camera_ids=spec.get("cameras", []),
                    request_no=job["request_id"],
                    detail=(
                        f"失败 {job['kind']} {job['job_id']} failed (attempt {attempts}"
                        f"{f', again in {delay:.0f} s' if retry else ''}): {exc}"
                    )[:2000],
                ),
                source="media",
                key=job["request_id"],
                actor=spec.get("actor", "system"),
            )

    async def _fetch(
        self, camera_id: str, start: datetime, end: datetime
    ) -> list[replay.RecordedFrame]:
        """The camera's recorded frames, from the recorder the inventory says holds them."""
        recorder, footage = self.recorders.choose(camera_id)
        return [f async for f in recorder.fetch(footage, start, end)]

    async def _run_export(self, job: asyncpg.Record) -> None:
        spec = json.loads(job["spec"])
        rid = job["request_id"]
        start = _dt(spec["footage_from"], "footage_from")
        end = _dt(spec["footage_until"], "footage_until")
        row = await store.grant(self.pool, self.schema, rid)
        if row is None:
            raise Refused("not_approved", "授权不存在", "no grant", "Art. 15")
        self._check_grant(row, spec["cameras"], start, end)  # still valid when carried out
        now = self.clock()
        grantee = row["grantee"]

        def lines(at: datetime) -> list[str]:
            return [f"{grantee} · {rid}", f"复制 copied {campus_time(at, seconds=True)}"]

        files: list[ExportedFile] = []
        with tempfile.TemporaryDirectory(prefix="cctv-media-") as tmp:
            for cam in spec["cameras"]:
                frames = await self._fetch(cam, start, end)
                out = Path(tmp) / f"{cam}.mp4"
                written = await asyncio.to_thread(
                    write_watermarked_mp4,
                    frames,
                    out,
                    start=start,
                    end=end,
                    watermark=lines,
                    font=self.font,
                    clock=self.clock,
                )
                files.append(await self._put(job, cam, written, "mp4"))
            manifest = {
                "kind": "export",
                "request_id": rid,
                "grant_id": row["grant_id"],
                "export_id": job["job_id"],
                "cameras": spec["cameras"],
                "footage_from": start.isoformat(),
                "footage_until": end.isoformat(),
                "exported_at": now.isoformat(),
                "watermark": " / ".join(lines(now)),
                "files": [f.model_dump(mode="json") for f in files],
            }
            mkey, mhash = await self._put_manifest(job, manifest, Path(tmp))
        hold = add_years(now.date(), PRESERVATION_YEARS)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._record_objects(conn, job, files, mkey, mhash, hold, "export")
            await stage(
                conn,
                self.schema,
                FootageExported(
                    export_id=job["job_id"],
                    request_id=rid,
                    grant_id=row["grant_id"],
                    requested_by=spec["actor"],
                    requested_by_name=spec.get("actor_name", ""),
                    purpose=spec["purpose"],
                    destination=spec["destination"],
                    camera_ids=spec["cameras"],
                    footage_from=start,
                    footage_until=end,
                    exported_at=now,
                    watermark=manifest["watermark"],
                    store=self.store.uri,
                    manifest_key=mkey,
                    manifest_sha256=mhash,
                    files=files,
                ),
                source="media",
                key=rid,
                actor=spec["actor"],
            )

    async def _run_preserve(self, job: asyncpg.Record) -> None:
        spec = json.loads(job["spec"])
        rid = job["request_id"]
        start = _dt(spec["footage_from"], "footage_from")
        end = _dt(spec["footage_until"], "footage_until")
        now = self.clock()
        files: list[ExportedFile] = []
        with tempfile.TemporaryDirectory(prefix="cctv-media-") as tmp:
            for cam in spec["cameras"]:
                frames = await self._fetch(cam, start, end)
                out = Path(tmp) / f"{cam}.h264"
                written = await asyncio.to_thread(
                    write_as_recorded, frames, out, start=start, end=end
                )
                files.append(await self._put(job, cam, written, "h264"))
            manifest = {
                "kind": "preservation",
                "request_id": rid,
                "cameras": spec["cameras"],
                "footage_from": start.isoformat(),
                "footage_until": end.isoformat(),
                "preserved_at": now.isoformat(),
                "files": [f.model_dump(mode="json") for f in files],
            }
            mkey, mhash = await self._put_manifest(job, manifest, Path(tmp))
        hold = add_years(now.date(), PRESERVATION_YEARS)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._record_objects(conn, job, files, mkey, mhash, hold, "preserve")
            await stage(
                conn,
                self.schema,
                FootagePreserved(
                    request_id=rid,
                    camera_ids=spec["cameras"],
                    footage_from=start,
                    footage_until=end,
                    preserved_at=now,
                    hold_until=hold.isoformat(),
                    files=files,
                ),
                source="media",
                key=rid,
            )

    async def _put(self, job: asyncpg.Record, cam: str, written: Any, ext: str) -> ExportedFile:
        key = f"{job['request_id']}/{job['job_id']}/{cam}.{ext}"
        hold = add_years(self.clock().date(), PRESERVATION_YEARS)
        await self.store.put_file(key, written.path, retain_until=hold)
        stored = await self.store.sha256(key)
        if stored != written.sha256:  # read back what the store holds, not what we sent
            raise StoreError(f"{key}: stored copy hashes {stored}, written {written.sha256}")
        return ExportedFile(
            camera_id=cam,
            object_key=key,
            sha256=written.sha256,
            bytes=written.bytes,
            frames=written.frames,
            first_frame_at=written.first_frame_at,
            last_frame_at=written.last_frame_at,
        )

    async def _put_manifest(
        self, job: asyncpg.Record, manifest: dict[str, Any], tmp: Path
    ) -> tuple[str, str]:
        data = json.dumps(manifest, sort_keys=True, ensure_ascii=False, indent=1).encode()
        path = tmp / "manifest.json"
        path.write_bytes(data)
        key = f"{job['request_id']}/{job['job_id']}/manifest.json"
        hold = add_years(self.clock().date(), PRESERVATION_YEARS)
        await self.store.put_file(key, path, retain_until=hold)
        return key, hashlib.sha256(data).hexdigest()

    async def _record_objects(
        self,
        conn: asyncpg.Connection,
        job: asyncpg.Record,
        files: list[ExportedFile],
        mkey: str,
        mhash: str,
        hold: date,
        kind: str,
    ) -> None:
        rows: list[store.ObjectRow] = [
            (
                f.object_key,
                kind,
                f.camera_id,
                f.sha256,
                f.bytes,
                f.frames,
                f.first_frame_at,
                f.last_frame_at,
            )
            for f in files
        ]
        rows.append((mkey, "manifest", None, mhash, 0, 0, None, None))
        await store.record_objects(conn, self.schema, job["job_id"], job["request_id"], rows, hold)

    # ---- scheduled verification (Art. 18) ----------------------------------------------

    async def verify_all(self) -> tuple[int, int]:
        """Re-read every kept object from the store and compare its hash with the one written."""
        rows = await store.objects_to_check(self.pool, self.schema)
        failed = 0
        for row in rows:
            actual = await self.store.sha256(row["object_key"])
            ok = actual == row["sha256"]
            failed += 0 if ok else 1
            async with self.pool.acquire() as conn, conn.transaction():
                await store.set_check(conn, self.schema, row["object_key"], self.clock(), ok)
                if not ok:
                    await stage(
                        conn,
                        self.schema,
                        PreservationCheck(
                            object_key=row["object_key"],
                            request_id=row["request_id"],
                            expected_sha256=row["sha256"],
                            actual_sha256=actual,
                            ok=False,
                            checked_at=self.clock(),
                        ),
                        source="media",
                        key=row["request_id"],
                    )
        CHECK_FAILED.set(failed)
        return len(rows), failed

    async def verify_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.verify_every_s)  # a schedule, not a sync wait
            await self.verify_all()


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        out[k] = v.isoformat() if isinstance(v, datetime | date) else v
    return out


def build(
    settings: MediaSettings | None = None,
    *,
    schema: str | None = None,
    clock: Clock = _utcnow,
    durable_suffix: str = "",
    rpc_prefix: str = "",
    workflow_rpc_prefix: str = rpc.WORKFLOW_PREFIX,
) -> Service:
    """The media service. Tests pass their own schema, clock, durable names and RPC prefixes
    (theirs, and the workflow service's they started)."""
    settings = settings or MediaSettings()
    svc = Service(
        "media", settings, migrations=Path(__file__).parent / "migrations", schema=schema or SCHEMA
    )
    media = MediaService(svc, settings, clock=clock)
    svc.state["media"] = media
    svc.consume(
        "cctv.workflow.access.>",
        stream="CCTV_WORKFLOW",
        durable=f"media-access-v1{durable_suffix}",
        handler=media.on_access,
    )
    for subject, handler in (
        (rpc.MEDIA_EXPORT, media.export),
        (rpc.MEDIA_EXPORTS, media.exports),
        (rpc.MEDIA_DELETE, media.delete),
        (rpc.MEDIA_VERIFY, media.verify),
        (rpc.MEDIA_FILES, media.files),
    ):
        svc.respond(rpc_prefix + subject, handler, request=m.OPERATIONS[subject][0])
    svc.after_start(media.start_inventory)
    svc.before_stop(media.stop_inventory)
    svc.loop("jobs", media.job_loop)
    svc.loop("verify", media.verify_loop)
    from .viewer import attach  # the WebRTC viewer (ADR 0022)

    viewer = attach(
        svc,
        settings,
        clock=clock,
        inventory=media.inventory.get,
        recorders=media.recorders.choose,
        rpc_prefix=rpc_prefix,
        workflow_get=workflow_rpc_prefix + rpc.WORKFLOW_GET.removeprefix(rpc.WORKFLOW_PREFIX),
    )
    media.on_revoked.append(viewer.revoked)
    svc.before_stop(viewer.close_all)
    return svc


def _signed_actor() -> Actor:
    """Who acts is the signed identity (Cctv-Identity), never a name in the body (issue 11)."""
    who = caller_actor()
    if who is None:
        raise RpcError.bilingual(
            "identity_required",
            "缺少已认证身份：视频调取须由登录的系统管理人员进行",
            "footage is retrieved by a signed-on system administrator: the request needs the "
            "signed identity of a console session or of `cctv login`",
            "Art. 16(1)3",
        )
    return who
