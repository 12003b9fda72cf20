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

from services.console.app import build as build_console
from services.console.settings import ConsoleSettings
from services.workflow import rpc
from services.workflow.app import build as build_workflow
from services.workflow.forms import cjk_font
from services.workflow.settings import WorkflowSettings
from services.workflow.workcalendar import CAMPUS_TZ
from tests.workflow.test_workflow_service import Client, record, seed_cameras


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
            nats_url,
            Client(nc, rpc.PREFIX),
            [
                record(f"d{tag}", "dormitory", "student"),
                record(f"p{tag}", "public_safety", "logistics"),
            ],
        )
        yield console.asgi(), tag
    await nc.close()


async def login(app: Any, account: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console")
    r = await client.post("/login", data={"account": account, "password": "cctv-demo"})
    assert r.status_code == 303, r.text
    return client


async def test_fill_preview_submit_approve_print(site) -> None:
    app, tag = site
    t = datetime.now(CAMPUS_TZ) - timedelta(days=1)
    fields = {
        "body": "internal",
        "viewer": "陈静",
        "method": "view",
        "reason": "宿舍区失窃，查看入口",
        "cameras": [f"d{tag}", f"p{tag}"],
        "footage_from": t.strftime("%Y-%m-%dT%H:%M"),
        "footage_until": (t + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
    }
    duty = await login(app, "duty")
    page = await duty.get("/requests/new/access")
    assert page.status_code == 200 and f"d{tag}" in page.text and "调阅理由" in page.text
    preview = await duty.post("/requests/new/access", data={**fields, "preview": "1"})
    assert preview.status_code == 200
    chain = preview.text[preview.text.index('id="chain"') :]
    assert chain.index("后勤处部门主要负责人") < chain.index("学生处部门主要负责人")
    assert "提交申请" in preview.text

    sub = await duty.post("/requests/new/access", data={**fields, "submit": "1"})
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
    pdf = await duty.get(f"/requests/{rid}/print.pdf")
    if cjk_font() is None:
        assert pdf.status_code == 303
    else:
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
    for c in (duty, head, student):
        await c.aclose()


async def test_refusal_shown_with_article(site) -> None:
    app, tag = site
    duty = await login(app, "duty")
    t = datetime.now(CAMPUS_TZ) - timedelta(days=1)
    r = await duty.post(
        "/requests/new/access",
        data={
            "body": "personal",
            "applying_unit": "张三",
            "viewer": "张三",
            "method": "view",
            "reason": "私事",
            "cameras": [f"p{tag}"],
            "footage_from": t.strftime("%Y-%m-%dT%H:%M"),
            "footage_until": (t + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "submit": "1",
        },
    )
    assert r.status_code == 422
    assert "个人身份调阅不予受理 — personal-capacity access is not allowed (Art. 16)" in r.text
    await duty.aclose()


async def test_cli_submit_approve_show(site, nats_url: str, tmp_path) -> None:
    import asyncio
    import json
    import os
    import sys

    _app, tag = site
    env = {**os.environ, "NATS_URL": nats_url, "CCTV_HOME": str(tmp_path)}

    async def cctv(*argv: str, stdin: str | None = None) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cctv.cli.main",
            "requests",
            *argv,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin.encode() if stdin else None)
        assert proc.returncode == 0, err.decode()
        return out.decode()

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
    rid = (await cctv("submit", "access", "-", "--as", "duty", stdin=form)).strip()
    out = await cctv("approve", rid, "--as", "logistics_head", "--text", "同意")
    assert "approved" in out  # the unit's head is also the managing department's
    shown = await cctv("show", rid)
    assert "workflow.access.approved" in shown and "刘洋" in shown


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
