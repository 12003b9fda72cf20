"""The viewer in real Chromium (ADR 0022): console, workflow and media on the session's NATS and
PostgreSQL, the ONVIF replay recorder, and a grant approved through workflow's chain. The
grantee plays the granted camera and decoded frames arrive (counted by the page, and one
read back from a canvas: the recorder's stamp says which camera and which time); a seek
outside the window is refused on the page and recorded; someone without the grant gets
nothing; revoking the grant stops the stream in the browser."""

from __future__ import annotations

import base64
import io
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import numpy as np
import pytest
import uvicorn
from PIL import Image

from demo.campus import DEMO_PASSWORD
from demo.simulator.replay import ReplayServer, camera_tag, read_stamp
from demo.simulator.rtsp_server import RtspServer
from services.console.app import build as build_console
from services.console.settings import ConsoleSettings
from services.media.app import build as build_media
from services.media.settings import MediaSettings
from services.workflow import rpc
from services.workflow.app import build as build_workflow
from services.workflow.settings import WorkflowSettings
from tests.media.conftest import announce_cameras, approve_access, own_request_numbers
from tests.support.events import EventLog
from tests.support.stun import StunServer
from tests.support.waiting import eventually, table_changes
from tests.workflow.test_workflow_service import LEADER, Client, access_form, record
from tests.workflow.test_workflow_service import seed_cameras as seed

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)"),
]
# the applicant views for themselves: the demo directory's 刘洋 (logistics head)
APPLICANT = {"person_id": "logistics_head", "name": "刘洋", "department": "logistics",
             "roles": ["head"]}  # fmt: skip
WINDOW_S = 60
TURN_SECRET = "browser-turn-secret"


@dataclass
class Site:
    url: str
    client: Client
    rid: str
    camera: str
    start: datetime
    end: datetime
    live_camera: str  # in the demo guard's zone (教学区), served live over RTSP
    ice: StunServer  # MEDIA_ICE_SERVERS: the STUN/TURN stand-in (ADR 0028)


def listening_socket() -> socket.socket:
    """Bound and listening before the server runs: the browser's connection waits in the
    backlog, so nothing has to poll for the server to come up."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.fixture
async def site(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    tag = uuid.uuid4().hex[:8]
    cam, live = f"b{tag}", f"l{tag}"
    wf = build_workflow(
        WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0),
        schema=f"wf_{tag}", durable_suffix=f"-{tag}",
    )  # fmt: skip
    nc = await nats.connect(nats_url)
    client = Client(nc, rpc.PREFIX)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    async with (
        ReplayServer(cameras=[cam]) as recorder, RtspServer() as rtsp, wf.running(),
        StunServer(turn_secret=TURN_SECRET) as ice,
    ):  # fmt: skip
        rtsp.add_camera(live)
        await seed(wf, client, [record(cam, "public_safety", "logistics")])
        await own_request_numbers(wf, tag)
        form = access_form([cam], method="view", viewer="刘洋", applying_unit="logistics")
        form["footage_from"] = start.isoformat()
        form["footage_until"] = (start + timedelta(seconds=WINDOW_S)).isoformat()
        rid = (await approve_access(client, form, APPLICANT))["request_id"]
        # the live camera in the inventory (as ingest announces it) before media starts
        live_rec = record(live, "public_safety", "logistics").model_copy(
            update={"zone": "教学区", "stream_url": rtsp.url_for(live)}
        )
        await announce_cameras(nats_url, live_rec)
        media = build_media(
            MediaSettings(
                nats_url=nats_url, database_url=database_url, data_dir=tmp_path,
                evidence_store=str(tmp_path / "evidence"), preserve_on_approval=False,
                replay_url_template=f"rtsp://127.0.0.1:{recorder.port}/replay/{{camera_id}}",
                webrtc_host_addresses="127.0.0.1",
                media_ice_servers=f"{ice.uri},{ice.turn_uri}", media_turn_secret=TURN_SECRET,
            ),
            schema=f"media_{tag}", durable_suffix=f"-{tag}",
        )  # fmt: skip
        console = build_console(
            ConsoleSettings(nats_url=nats_url, database_url=database_url, seed_demo=True)
        )
        sock = listening_socket()
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(console.asgi(), lifespan="off", log_level="warning"))
        async with media.running(), console.running():
            async with table_changes(database_url, f"media_{tag}.grants") as ch:

                async def known() -> Any:
                    return await media.pool.fetchval(  # type: ignore[union-attr]
                        f"SELECT 1 FROM media_{tag}.grants WHERE request_id = $1", rid
                    )

                await eventually(known, changes=ch, what="media holds the grant")
            import asyncio

            serving = asyncio.create_task(server.serve(sockets=[sock]))
            try:
                yield Site(f"http://127.0.0.1:{port}", client, rid, cam, start,
                           start + timedelta(seconds=WINDOW_S), live, ice)  # fmt: skip
            finally:
                server.should_exit = True
                await serving
    await nc.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                # WebRTC between Chromium and aiortc on loopback (shared/notes/local-peers.md)
                "--allow-loopback-in-peer-connection",
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            ],
        )  # fmt: skip
        yield b
        await b.close()


async def signed_in(browser: Any, site: Site, account: str) -> Any:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=account]", account)
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{site.url}/")
    return page


async def canvas_picture(page: Any) -> np.ndarray:
    """The frame the browser decoded, drawn on a canvas and read back."""
    data_url = await page.evaluate(
        """() => { const v = document.getElementById('viewer-video');
                   const c = document.createElement('canvas');
                   c.width = v.videoWidth; c.height = v.videoHeight;
                   c.getContext('2d').drawImage(v, 0, 0);
                   return c.toDataURL('image/png'); }"""
    )
    raw = base64.b64decode(data_url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))


async def frames(page: Any) -> int:
    return int(await page.evaluate("() => window.cctvViewer.frames"))


async def test_grantee_plays_seek_outside_is_refused_revocation_stops_it(
    site: Site, browser: Any, events: EventLog
) -> None:
    page = await signed_in(browser, site, "logistics_head")
    await page.goto(f"{site.url}/requests/{site.rid}")  # the request links to its viewer
    assert await page.get_attribute("#open-viewer", "href") == f"/viewer?request={site.rid}"
    await page.goto(f"{site.url}/viewer")  # and the viewer lists my approved requests
    await page.click(f"#viewer-mine a[href='/viewer?request={site.rid}']")
    await page.wait_for_url(f"{site.url}/viewer?request={site.rid}")
    await page.click("#viewer-play")
    await page.wait_for_function("() => window.cctvViewer.frames >= 10", timeout=30_000)
    picture = await canvas_picture(page)
    stamp = read_stamp(picture)
    assert stamp.camera_tag == camera_tag(site.camera)
    assert site.start <= stamp.at < site.end
    assert picture.shape[:2] == (240, 320)
    # nothing on the page leads to the footage outside this peer connection
    html = await page.content()
    assert "rtsp://" not in html and "/replay/" not in html
    assert await page.get_attribute("#viewer-video", "controls") is None
    # the page's peer connection has media's ICE servers, TURN with a login of the viewer's
    # own, and Chromium used them: a STUN request, and a TURN login the server accepts
    servers = await page.evaluate("() => window.cctvViewer.pc.getConfiguration().iceServers")
    assert [s["urls"] for s in servers] == [[site.ice.uri], [site.ice.turn_uri]], servers
    assert servers[1]["username"].endswith(":logistics_head")
    assert TURN_SECRET not in html
    assert any(lg.username.endswith(":logistics_head") and lg.valid for lg in site.ice.logins)
    assert len(set(site.ice.asked)) >= 2, site.ice.asked  # media's peer and the browser's

    # a seek outside the window: refused on the page, and recorded
    await page.fill("#viewer-seek-at", (site.end + timedelta(minutes=1)).isoformat())
    await page.click("#viewer-seek")
    await page.wait_for_selector("#viewer-refusal[data-code=outside_window]", timeout=15_000)
    assert "Art. 16(1)3" in await page.inner_text("#viewer-refusal")
    await events.wait_for(
        "access.viewing",
        lambda d: d["request_id"] == site.rid and d["action"] == "refused"
        and d["code"] == "outside_window",
    )  # fmt: skip
    assert await frames(page) >= 10  # still playing what is granted

    # the grant is revoked: the stream stops in the browser
    revoked = await site.client(
        rpc.ACT,
        {"request_id": site.rid, "actor": LEADER, "action": "revoke", "args": {"reason": "结案"}},
    )
    assert revoked["ok"], revoked
    await page.wait_for_selector("#viewer-status[data-state=grant_revoked]", timeout=15_000)
    assert await page.evaluate("() => window.cctvViewer.pc === null")
    await events.wait_for(
        "access.viewing",
        lambda d: d["request_id"] == site.rid and d["action"] == "stopped"
        and d["code"] == "grant_revoked" and d["duration_s"] > 0,
    )  # fmt: skip


async def test_someone_without_the_grant_gets_nothing(site: Site, browser: Any) -> None:
    page = await signed_in(browser, site, "guard")
    await page.goto(f"{site.url}/viewer?request={site.rid}")
    assert await page.locator("#viewer-video").count() == 1
    assert "不存在" in await page.inner_text("main")  # workflow does not even say it exists
    # asking media anyway, from the page's own session: refused, no answer SDP
    reply = await page.evaluate(
        """async ([rid, cam]) => {
             const csrf = document.querySelector('input[name=csrf_token]').value;
             const pc = new RTCPeerConnection({iceServers: []});
             pc.addTransceiver('video', {direction: 'recvonly'});
             await pc.setLocalDescription(await pc.createOffer());
             const r = await fetch('/api/viewer/offer', {method: 'POST',
               headers: {'content-type': 'application/json', 'x-csrf-token': csrf},
               body: JSON.stringify({kind: 'recorded', request_id: rid, camera_id: cam,
                                     sdp: pc.localDescription.sdp})});
             pc.close();
             return {status: r.status, body: await r.json()};
           }""",
        [site.rid, site.camera],
    )
    assert reply["status"] == 403
    assert reply["body"]["code"] == "not_approved" and "sdp" not in reply["body"]
    # nor the ICE servers: no TURN login for a page anyone signed in can load (ADR 0028)
    ice = await page.evaluate(
        """async ([rid, cam]) => {
             const csrf = document.querySelector('input[name=csrf_token]').value;
             const r = await fetch('/api/viewer/ice', {method: 'POST',
               headers: {'content-type': 'application/json', 'x-csrf-token': csrf},
               body: JSON.stringify({kind: 'recorded', request_id: rid, camera_id: cam})});
             return {status: r.status, body: await r.json()};
           }""",
        [site.rid, site.camera],
    )
    assert ice["status"] == 403 and ice["body"]["code"] == "not_approved", ice
    assert "ice_servers" not in ice["body"]
    assert not any(lg.username.endswith(":guard") for lg in site.ice.logins)
    # not JSON at all: a clear 400, not a crash
    bad = await page.evaluate(
        """async () => {
             const csrf = document.querySelector('input[name=csrf_token]').value;
             const r = await fetch('/api/viewer/offer', {method: 'POST',
               headers: {'content-type': 'application/json', 'x-csrf-token': csrf},
               body: '{not json'});
             return {status: r.status, body: await r.json()};
           }"""
    )
    assert bad["status"] == 400 and "JSON" in bad["body"]["error"]
    # a position without a zone: named at the door, as media and the seek box would (Art. 16(1)3)
    naive = await page.evaluate(
        """async ([rid, cam]) => {
             const csrf = document.querySelector('input[name=csrf_token]').value;
             const r = await fetch('/api/viewer/offer', {method: 'POST',
               headers: {'content-type': 'application/json', 'x-csrf-token': csrf},
               body: JSON.stringify({kind: 'recorded', request_id: rid, camera_id: cam,
                                     sdp: 'v=0', position: '2026-03-02 10:00'})});
             return {status: r.status, body: await r.json()};
           }""",
        [site.rid, site.camera],
    )
    assert naive["status"] == 422 and naive["body"]["code"] == "invalid_request", naive
    assert "needs a time zone" in naive["body"]["error"]
    assert naive["body"]["article"] == "Art. 16(1)3"


async def test_a_guard_watches_live_only_in_their_zone(site: Site, browser: Any) -> None:
    page = await signed_in(browser, site, "guard")  # 张伟, zone 教学区
    await page.goto(f"{site.url}/viewer?camera={site.live_camera}")
    assert await page.locator("#viewer-mine").count() == 0
    await page.click("#viewer-play")
    await page.wait_for_function("() => window.cctvViewer.frames >= 5", timeout=30_000)
    await page.click("#viewer-stop")
    await page.wait_for_selector("#viewer-status[data-state=stopped]")
    assert await page.is_hidden("#viewer-refusal")  # stopping oneself is no refusal
    # the duty room's own camera elsewhere: refused on the page
    await page.fill("#viewer-camera", site.camera)  # zone "office"
    await page.click("#viewer-play")
    await page.wait_for_selector("#viewer-refusal[data-code=outside_zone]", timeout=15_000)
