"""The console's audit pages against a real console, audit service, NATS and PostgreSQL:
query by camera, actor, request number, event type and time range, page through, open an
entry with its inclusion proof (checked by the page and again here), download it as a bundle
that the offline checker accepts. Only roles that may read the log get in."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from cctv.contract import subject_for, wrap
from cctv.contract.events import AccessRecorded
from cctv.evidence import bundle, merkle
from cctv.evidence.checkpoint import Checkpoint, Verifier
from services.console.app import build as build_console
from services.console.settings import ConsoleSettings
from tests.support.audit import progress, running, settings, until
from tests.support.console import sign_in


def access(i: int, tag: str, hour: int) -> tuple[str, bytes, str]:
    cam = f"{tag}-cam-{i % 2}"
    ev = AccessRecorded(
        action="playback" if i % 3 else "view",
        actor=f"{tag}-u{i % 2}",
        camera_ids=[cam],
        footage_from=f"2026-11-24T{hour:02d}:00:00+08:00",  # type: ignore[arg-type]
        footage_to=f"2026-11-24T{hour:02d}:30:00+08:00",  # type: ignore[arg-type]
        request_no=f"DY-{tag}-{i % 3}",
        detail="查阅 view",
    )
    env = wrap(ev, source="console", key=cam, actor=f"{tag}-u{i % 2}")
    return subject_for(ev, cam), env.to_bytes(), env.id


@pytest.fixture
async def site(
    nats_url: str, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Any, str, Any]]:
    tag = uuid.uuid4().hex[:6]
    cfg = settings(nats_url, database_url, f"audit_{tag}", tmp_path)
    console = build_console(
        ConsoleSettings(nats_url=nats_url, database_url=database_url, seed_demo=True)
    )
    async with running(cfg) as audit, console.running(), progress(cfg) as changes:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for i in range(9):
            subject, data, eid = access(i, tag, 8 + i)
            await js.publish(subject, data, headers={"Nats-Msg-Id": eid})
        await nc.close()
        assert audit.pool is not None
        pool = audit.pool

        async def all_in() -> bool:
            n = await pool.fetchval(
                f"SELECT count(*) FROM {audit.schema}.entry WHERE actor LIKE $1", f"{tag}-%"
            )
            return bool(n == 9)

        await until(all_in, changes, what="the nine access records in the log")
        yield console.asgi(), tag, audit


async def login(app: Any, account: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")
    await sign_in(client, account)
    return client


def seqs(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'href="/audit/entries/(\d+)"', html)]


async def test_query_page_and_entry_with_verified_proof(site) -> None:  # type: ignore[no-untyped-def]
    app, tag, audit = site
    admin = await login(app, "nic_admin")
    try:
        # by camera: entries 0, 2, 4, 6, 8 of the nine are on cam-0
        page = await admin.get("/audit", params={"camera_id": f"{tag}-cam-0"})
        assert page.status_code == 200
        assert "审计日志" in page.text and "Audit log" in page.text
        on_cam0 = seqs(page.text)
        assert len(on_cam0) == 5

        # actor + request number together; the request number links to its own search
        page = await admin.get("/audit", params={"actor": f"{tag}-u1", "request_no": f"DY-{tag}-1"})
        assert len(seqs(page.text)) == 2  # i = 1, 7
        assert f"/audit?request_no=DY-{tag}-1" in page.text

        # event type and time range (event time = publish time, so a window around now)
        page = await admin.get(
            "/audit",
            params={
                "event_type": "access.recorded",
                "camera_id": f"{tag}-cam-1",
                "since": "2000-01-01T00:00",
                "until": "2999-01-01T00:00",
            },
        )
        assert len(seqs(page.text)) == 4
        page = await admin.get(
            "/audit",
            params={"camera_id": f"{tag}-cam-1", "until": "2000-01-01T00:00"},
        )
        assert seqs(page.text) == [] and "没有符合条件的记录" in page.text

        # paginated: 2 per page through cam-0's five entries
        got: list[int] = []
        url: str | None = f"/audit?camera_id={tag}-cam-0&limit=2"
        pages = 0
        while url:
            page = await admin.get(url.replace("&amp;", "&"))
            got += seqs(page.text)
            m = re.search(r'href="([^"]+)" id="next-page"', page.text)
            url = m.group(1) if m else None
            pages += 1
        assert got == on_cam0 and pages == 3

        # one entry with its inclusion proof, verified by the page ...
        seq = on_cam0[2]
        detail = await admin.get(f"/audit/entries/{seq}")
        assert detail.status_code == 200
        assert 'class="ok" id="proof-status">已验证' in detail.text
        assert f"{tag}-cam-0" in detail.text
        proof = re.findall(r"<li><code>([A-Za-z0-9+/=]+)</code></li>", detail.text)
        note = re.search(r'<pre id="checkpoint">(.*?)</pre>', detail.text, re.S)
        assert note is not None
        # the key's published fingerprint is on the page to compare
        assert f'<code id="fingerprint">{audit.signer.verifier.fingerprint()}</code>' in detail.text
        # ... and independently here, from what the page shows
        cp = Checkpoint.open(note.group(1).replace("&#43;", "+"), Verifier.from_vkey(audit.vkey))
        leaf = bytes.fromhex(
            re.search(r'<code id="leaf-hash">([0-9a-f]{64})</code>', detail.text).group(1)  # type: ignore[union-attr]
        )
        merkle.verify_inclusion(
            seq, cp.size, leaf, [base64.b64decode(p) for p in proof], cp.root_hash
        )

        # the same entry as a bundle the offline checker accepts with the published key
        b = await admin.get(f"/audit/entries/{seq}/bundle.json")
        assert b.status_code == 200
        rep = bundle.check_bundle(bundle.loads(b.text), audit.vkey)
        assert [(e.index, e.how) for e in rep.entries] == [(seq, "inclusion proof")]

        # JSON API, with proofs
        j = await admin.get(
            "/api/audit/entries", params={"camera_id": f"{tag}-cam-1", "proof": "1"}
        )
        body = j.json()
        assert body["ok"] and len(body["entries"]) == 4
        assert all("inclusion_proof" in e for e in body["entries"])

        # a bad time names the problem
        bad = await admin.get("/audit", params={"since": "yesterday-ish"})
        assert bad.status_code == 422 and "ISO 8601" in bad.text
        missing = await admin.get("/audit/entries/99999999")
        assert missing.status_code == 404 and "99999999" in missing.text
    finally:
        await admin.aclose()


async def test_only_roles_that_may_read_the_log_get_in(site) -> None:  # type: ignore[no-untyped-def]
    app, _tag, _audit = site
    for account in ("guard", "duty"):
        c = await login(app, account)
        r = await c.get("/audit")
        assert r.status_code == 403 and "无权查看审计日志" in r.text
        assert (await c.get("/api/audit/entries")).status_code == 403
        await c.aclose()
    for account in ("leader", "logistics_head"):
        c = await login(app, account)
        assert (await c.get("/audit")).status_code == 200
        await c.aclose()
    anon = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")
    r = await anon.get("/audit")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    await anon.aclose()
