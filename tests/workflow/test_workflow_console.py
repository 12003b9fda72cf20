"""The console pages for the forms, against a real console, workflow, NATS and PostgreSQL:
fill in, see the chain before submitting, approve with an opinion, track, print."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import nats
import pytest

from cctv.plumbing.identity import HEADER
from services.console.app import build as build_console
from services.console.settings import ConsoleSettings
from services.workflow import rpc
from services.workflow.app import build as build_workflow
from services.workflow.forms import cjk_font
from services.workflow.settings import WorkflowSettings
from services.workflow.workcalendar import CAMPUS_TZ
from tests.support.console import sign_in
from tests.support.identity import headers_as, identity
from tests.workflow.test_workflow_service import Client, record, seed_cameras
from tests.workflow.wf_cli import run_cctv
from tests.workflow.wf_pdf import pdf_text


@pytest.fixture
async def site(nats_url: str, database_url: str) -> AsyncIterator[tuple[Any, str]]:
    tag = uuid.uuid4().hex[:8]
    wf = build_workflow(
        WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0),
        schema=f"wfc_{tag}",
        durable_suffix=f"-c{tag}",
    )
    console = build_console(
        ConsoleSettings(nats_url=nats_url, database_url=database_url, seed_demo=True)
    )
    nc = await nats.connect(nats_url)
    async with wf.running(), console.running():
        await seed_cameras(
            wf,
            Client(nc, rpc.PREFIX),
            [
                record(f"d{tag}", "dormitory", "student"),
                record(f"p{tag}", "public_safety", "logistics"),
            ],
        )
        yield console.asgi(), tag
    await nc.close()


def access_fields(
    cameras: list[str],
    reason: str,
    *,
    start: datetime | None = None,
    span: timedelta = timedelta(hours=2),
    **more: str,
) -> dict[str, Any]:
    """The access form as the browser posts it: 陈静 of 后勤处 asks to view `span` of footage
    from `start` (yesterday by default), in the datetime-local fields' campus time."""
    t = start or datetime.now(CAMPUS_TZ) - timedelta(days=1)
    return {
        "body": "internal",
        "viewer": "陈静",
        "method": "view",
        "reason": reason,
        "cameras": cameras,
        "footage_from": t.strftime("%Y-%m-%dT%H:%M"),
        "footage_until": (t + span).strftime("%Y-%m-%dT%H:%M"),
        **more,
    }


async def login(app: Any, account: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")
    await sign_in(client, account)
    return client


async def test_fill_preview_submit_approve_print(site) -> None:
    app, tag = site
    fields = access_fields([f"d{tag}", f"p{tag}"], "宿舍区失窃，查看入口")
    duty = await login(app, "duty")
    page = await duty.get("/requests/new/access")
    assert page.status_code == 200 and f"d{tag}" in page.text and "调阅理由" in page.text
    preview = await duty.post("/requests/new/access", data={**fields, "preview": "1"})
    assert preview.status_code == 200
    chain = preview.text[preview.text.index('id="chain"') :]
    assert chain.index("后勤处部门主要负责人") < chain.index("学生处部门主要负责人")
    assert "提交申请" in preview.text

    chain_key = re.search(r'name="chain_key" value="([^"]*)"', preview.text)
    assert chain_key is not None and "2:managing:student" in chain_key.group(1)
    sub = await duty.post(
        "/requests/new/access", data={**fields, "chain_key": chain_key.group(1), "submit": "1"}
    )
    assert sub.status_code == 303
    rid = sub.headers["location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"DY-\d{4}-\d{5}", rid)

    head = await login(app, "logistics_head")
    inbox = await head.get("/requests")
    assert rid in inbox.text.split("待我审批")[1].split("我的申请")[0]
    ok = await head.post(f"/requests/{rid}/approve", data={"text": "同意，仅限入口"})
    assert ok.status_code == 303 and "?m=" in ok.headers["location"]
    again = await head.post(f"/requests/{rid}/approve", data={"text": "再批"})
    assert "?e=" in again.headers["location"]  # nobody approves twice

    student = await login(app, "student_head")
    assert (await student.post(f"/requests/{rid}/approve", data={"text": ""})).status_code == 303
    detail = await student.get(f"/requests/{rid}")
    assert "已批准" in detail.text and "同意，仅限入口" in detail.text

    printed = await duty.get(f"/requests/{rid}/print")
    assert printed.status_code == 200
    assert "视频监控资料调阅审批单" in printed.text and "刘洋（签字）" in printed.text

    # The system administrator retrieves and records it (Art. 16(1)3); NIC keeps it (Art. 18).
    admin = await login(app, "nic_admin")
    r = await admin.post(
        f"/requests/{rid}/retrieve", data={"purpose": "核查", "destination": "保卫科"}
    )
    assert "?m=" in r.headers["location"], r.headers["location"]
    shown = (await admin.get(f"/requests/{rid}")).text
    assert "调取记录" in shown and "延长保存期限" in shown
    hold = re.search(r'<option value="([^"]+)">', shown)
    assert hold is not None
    short = await admin.post(
        f"/requests/{rid}/extend_hold",
        data={"hold_id": hold.group(1), "until": "2020-01-01", "authority_ref": "文书"},
    )
    assert "Art.%2018" in short.headers["location"]  # never shortened
    longer = await admin.post(
        f"/requests/{rid}/extend_hold",
        data={"hold_id": hold.group(1), "until": "2035-12-31", "authority_ref": "(2026)琼刑1号"},
    )
    assert "?m=" in longer.headers["location"]
    assert (
        "保存至 <small>held until</small> 2035-12-31" in (await admin.get(f"/requests/{rid}")).text
    )
    for c in (duty, head, student, admin):
        await c.aclose()


async def test_new_point_pages_to_the_inventory(site, events) -> None:
    """Art. 6 urgent single point through the console: proposal, leader, NIC's plan, the
    department's stamped Annex 2, NIC installs, the new camera goes out for the inventory."""
    app, tag = site
    duty = await login(app, "duty")
    r = await duty.post(
        "/requests/new/newpoint",
        data={
            "need": "北门停车场盗窃",
            "urgent": "1",
            "positions": "北门停车场 朝南",
            "submit": "1",
        },
    )
    assert r.status_code == 303, r.text
    rid = r.headers["location"].rsplit("/", 1)[1]
    leader, admin, head = (
        await login(app, "leader"),
        await login(app, "nic_admin"),
        await login(app, "logistics_head"),
    )
    assert (
        "?m="
        in (await leader.post(f"/requests/{rid}/approve", data={"text": "同意"})).headers[
            "location"
        ]
    )
    wrong = await head.post(f"/requests/{rid}/plan", data={"text": "x", "points": "1"})
    assert "Art.%206" in wrong.headers["location"]  # the plan is NIC's
    r = await admin.post(
        f"/requests/{rid}/plan", data={"text": "立杆一根，光纤接入", "points": "1"}
    )
    assert "?m=" in r.headers["location"]
    bad = await head.post(f"/requests/{rid}/survey", data={"rows": "北门停车场 朝南|两|是"})
    assert "?e=" in bad.headers["location"]  # 「两」 is not a number: said so, nothing saved
    r = await head.post(
        f"/requests/{rid}/survey", data={"rows": "北门停车场 朝南|1|是|120|否|0|1|夜间补光"}
    )
    assert "?m=" in r.headers["location"], r.headers["location"]
    page = (await admin.get(f"/requests/{rid}")).text
    assert "录入设备清单" in page
    r = await admin.post(
        f"/requests/{rid}/implement",
        data={
            "system_id": "A1-06",
            "category": "public_safety",
            "building": "北门停车场",
            "zone": "gate",
            "cameras": f"n{tag}|北门停车场1|朝南|hikvision|isapi|10.0.0.9:80",
        },
    )
    assert "?m=" in r.headers["location"], r.headers["location"]
    ev = await events.wait_for(
        "workflow.newpoint.implemented",
        lambda d: d.get("request_id") == rid and d["cameras"][0]["camera_id"] == f"n{tag}",
    )
    cam = ev[0]["data"]["cameras"][0]
    assert cam["camera_id"] == f"n{tag}" and cam["managing_department"] == "logistics"
    printed = (await duty.get(f"/requests/{rid}/print")).text
    assert "视频监控系统工勘记录表" in printed and "夜间补光" in printed
    for c in (duty, leader, admin, head):
        await c.aclose()


async def test_print_pdf_in_chinese(site) -> None:
    """The paper form as PDF with the Simplified Chinese face of Noto CJK (.ci/run installs
    fonts-noto-cjk); without the font the console falls back to the HTML page."""
    app, tag = site
    duty = await login(app, "duty")
    fields = access_fields([f"d{tag}"], "宿舍区失窃取证", method="copy", submit="1")
    sub = await duty.post("/requests/new/access", data=fields)
    rid = sub.headers["location"].rsplit("/", 1)[1]
    pdf = await duty.get(f"/requests/{rid}/print.pdf")
    await duty.aclose()
    if cjk_font() is None:  # the console falls back to the HTML page
        assert pdf.status_code == 303 and pdf.headers["location"].endswith("/print")
        return
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    # face 2 of the collection, Simplified Chinese (face 0 would be NotoSansCJKJP)
    assert re.search(rb"/BaseFont /[A-Z]{6}\+NotoSansCJKSC", pdf.content)
    text = pdf_text(pdf.content)
    for want in (
        "附件4",
        "视频监控资料调阅审批单",
        "申请单位",
        "后勤处",
        "拷贝 ■",
        "宿舍区失窃取证",
    ):
        assert want in text, (want, text)


async def test_refusal_shown_with_article(site) -> None:
    app, tag = site
    duty = await login(app, "duty")
    fields = access_fields(
        [f"p{tag}"],
        "私事",
        span=timedelta(hours=1),
        body="personal",
        applying_unit="张三",
        viewer="张三",
        submit="1",
    )
    r = await duty.post("/requests/new/access", data=fields)
    assert r.status_code == 422
    assert "个人身份调阅不予受理 — personal-capacity access is not allowed (Art. 16)" in r.text
    assert re.search(r"不予受理 No\. DY-\d{4}-\d{5}", r.text)  # the number to quote (issue 15)
    await duty.aclose()


async def test_cli_submit_approve_show(site, nats_url: str, tmp_path) -> None:
    import json
    import os

    _app, tag = site
    env = {**os.environ, "NATS_URL": nats_url, "CCTV_HOME": str(tmp_path)}

    async def cctv(
        *argv: str, stdin: str | None = None, ok: bool = True, group: str = "requests",
        token: str | None = None,
    ) -> str:  # fmt: skip
        run_env = {**env, "CCTV_TOKEN": token} if token else env
        return await run_cctv(run_env, *([group] if group else []), *argv, stdin=stdin, ok=ok)

    async def sign_on(account: str) -> None:
        out = await cctv("login", "--account", account, "--password-stdin", group="",
                         stdin="cctv-demo\n")  # fmt: skip
        assert f"signed on as {account}" in out

    t = datetime.now(CAMPUS_TZ) - timedelta(days=2)
    form = json.dumps(
        {
            "body": "internal",
            "applying_unit": "logistics",
            "viewer": "陈静",
            "method": "view",
            "reason": "核查夜间巡逻",
            "cameras": [f"p{tag}"],
            "footage_from": t.isoformat(),
            "footage_until": (t + timedelta(hours=1)).isoformat(),
        }
    )
    # without signing on, the CLI acts for no one (issue 11: `--as` is gone)
    refused = await cctv("submit", "access", "-", stdin=form, ok=False)
    assert "cctv login" in refused
    await sign_on("duty")
    rid = (await cctv("submit", "access", "-", stdin=form)).strip()
    await sign_on("logistics_head")
    out = await cctv("approve", rid, "--text", "同意")
    assert "approved" in out  # the unit's head is also the managing department's
    shown = await cctv("show", rid)
    assert "workflow.access.approved" in shown and "刘洋" in shown
    # the footage and the grant, in campus time as in the form (issue 15)
    assert f"视频时段 footage: {t:%Y-%m-%d %H:%M} (UTC+8)" in shown
    assert "授权有效至 grant valid until: " in shown
    history = shown.split("history:")[1].splitlines()[1:]
    assert history and all(
        re.match(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(UTC\+8\)  ", h) for h in history
    )

    # Duty logbook and handover from the command line (Art. 14).
    # two operators with service credentials (CCTV_TOKEN) instead of a password sign-on
    op1 = headers_as(identity(f"op1{tag}", "duty_operator", department="logistics"))
    op2 = headers_as(identity(f"op2{tag}", "duty_operator", department="logistics"))
    t1, t2 = op1[HEADER], op2[HEADER]
    entry = await cctv(
        "log", "suspicious", f"北门有人徘徊{tag}", "--reported-to", "保卫科", token=t1
    )
    entry = entry.strip()
    offered = await cctv("handover", "--to", f"op2{tag}", token=t1)
    hid = offered.split(":", 1)[0]
    keys = [ln.split()[0] for ln in offered.splitlines()[1:] if ln.startswith("  ")]
    assert f"log:{entry}" in keys
    short = await cctv(
        "confirm", hid, *[a for k in keys[:-1] for a in ("--ack", k)], token=t2, ok=False
    )
    assert "Art. 14(3)" in short
    done = await cctv("confirm", hid, *[a for k in keys for a in ("--ack", k)], token=t2)
    assert "confirmed" in done
    bad = await cctv("schedule", "A1-06", "--period", "每周 18:00", ok=False)
    assert "Art. 9" in bad


async def test_responsible_person_and_duty_log_pages(site, events) -> None:
    app, tag = site
    head = await login(app, "logistics_head")
    r = await head.post(
        "/systems",
        data={
            "system_id": f"S{tag}",
            "department": "logistics",
            "person_id": "wang",
            "name": "王工",
            "phone": "0898-1234",
            "reason": "人员调动",
        },
    )
    assert r.status_code == 200 and "已通报后勤处、网络信息中心" in r.text and "王工" in r.text
    ev = await events.wait_for(
        "workflow.responsible.changed", lambda d: d.get("system_id") == f"S{tag}"
    )
    assert ev[0]["data"]["notify_departments"] == ["logistics", "nic"]
    for account in ("logistics_head", "nic_admin"):  # both offices see it at once
        viewer = head if account == "logistics_head" else await login(app, account)
        box = (await viewer.get("/requests")).text
        assert 'id="notices"' in box and f"S{tag}" in box and "王工" in box, account
        if viewer is not head:
            await viewer.aclose()
    student = await login(app, "student_head")
    assert f"S{tag}" not in (await student.get("/requests")).text
    await student.aclose()
    bad = await head.post(
        "/systems",
        data={"what": "schedule", "system_id": f"S{tag}", "schedule": "每周 18:00-08:00"},
    )
    assert bad.status_code == 422 and "Art. 9" in bad.text
    ok = await head.post(
        "/systems",
        data={
            "what": "schedule",
            "system_id": f"S{tag}",
            "department": "logistics",
            "schedule": "工作日 18:00-08:00\n节假日 00:00-23:59",
        },
    )
    assert ok.status_code == 200 and "workday 18:00–08:00" in ok.text
    ev = await events.wait_for(
        "workflow.responsible.schedule_set", lambda d: d.get("request_id") == f"S{tag}"
    )
    assert ev[0]["data"]["summary"]["notify_departments"] == ["logistics", "nic"]
    refused = await head.post("/duty", data={"what": "log", "kind": "suspicious", "text": "x"})
    assert refused.status_code == 422 and "only duty operators" in refused.text

    duty = await login(app, "duty")
    r = await duty.post(
        "/duty",
        data={
            "what": "log",
            "kind": "suspicious",
            "text": f"南门可疑人员{tag}",
            "reported_to": "保卫科",
        },
    )
    assert r.status_code == 303
    page = await duty.get("/duty")
    assert f"南门可疑人员{tag}" in page.text and "log:RZ-" in page.text
    for c in (head, duty):
        await c.aclose()


async def test_times_are_campus_time_on_page_and_print(site) -> None:
    """Issue 15: a person reads campus time with the zone marked; page and paper agree."""
    import html

    from cctv.contract.campustime import campus_time

    app, tag = site
    before = datetime.now(CAMPUS_TZ)
    t = (before - timedelta(days=1)).replace(hour=21, minute=5)
    fields = access_fields(
        [f"p{tag}"], "核查夜间巡逻", start=t, span=timedelta(minutes=50), submit="1"
    )
    duty = await login(app, "duty")
    sub = await duty.post("/requests/new/access", data=fields)
    assert sub.status_code == 303, sub.text
    rid = sub.headers["location"].rsplit("/", 1)[1]
    head = await login(app, "logistics_head")
    assert (await head.post(f"/requests/{rid}/approve", data={"text": "同意"})).status_code == 303

    # 21:05 campus time is 13:05 UTC: the page must not show the UTC clock.
    want = f"{t:%Y-%m-%d} 21:05 (UTC+8) — {t:%Y-%m-%d} 21:55 (UTC+8)"
    page = html.unescape((await duty.get(f"/requests/{rid}")).text)
    assert want in page, page
    assert " UTC<" not in page and "UTC</" not in page
    printed = html.unescape((await duty.get(f"/requests/{rid}/print")).text)
    assert f"{t:%Y-%m-%d} 21:05 (UTC+8) 至 {t:%Y-%m-%d} 21:55 (UTC+8)" in printed
    # The history (submitted, opinion, approved) is in campus time too, to the second.
    after = datetime.now(CAMPUS_TZ)
    reply = await head.get(f"/requests/{rid}")
    hist_at = re.findall(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(UTC\+8\)", reply.text)
    assert len(hist_at) >= 3
    assert all(h[:13] in (campus_time(before)[:13], campus_time(after)[:13]) for h in hist_at)
    for c in (duty, head):
        await c.aclose()
