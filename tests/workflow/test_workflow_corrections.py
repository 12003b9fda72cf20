"""Issue 15 over a real NATS and PostgreSQL, through the `cctv` command as the desk uses it:
NIC enters next year's holiday notice (Art. 10), refusals (不予受理) carry a number the desk can
quote."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import nats
import pytest

from cctv.plumbing.identity import HEADER
from services.console.app import build as build_console
from services.console.settings import ConsoleSettings
from services.workflow import rpc
from services.workflow.app import build
from services.workflow.settings import WorkflowSettings
from services.workflow.workcalendar import CAMPUS_TZ, package_years
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity
from tests.workflow.test_workflow_service import ADMIN, STAFF, Client, record, seed_cameras
from tests.workflow.wf_cli import run_cctv

LAST = int(package_years().split("-")[1])
NEXT = LAST + 1


DEMO_SIGNERS = {
    "duty": identity("duty", "duty_operator", department="logistics", name="陈静"),
    "nic_admin": identity("nic_admin", "sysadmin", department="nic", name="赵敏"),
}


class Site:
    def __init__(self, client: Client, tag: str, env: dict[str, str], now: list[datetime]) -> None:
        self.client, self.tag, self.env, self.now = client, tag, env, now

    async def cctv(
        self, *argv: str, stdin: str | None = None, ok: bool = True, as_: str = "nic_admin"
    ) -> str:
        """Run `cctv requests ...` as an operator would, signed on as the demo person `as_`
        (a CCTV_TOKEN credential, issue 11); stdout if it succeeds, else stderr."""
        token = headers_as(DEMO_SIGNERS[as_])[HEADER]
        env = {**self.env, "CCTV_TOKEN": token}
        return await run_cctv(env, "requests", *argv, stdin=stdin, ok=ok)


@pytest.fixture
async def site(nats_url: str, database_url: str, tmp_path) -> AsyncIterator[Site]:
    """Workflow on the real request-reply subjects (the CLI's), its clock in late December."""
    tag = uuid.uuid4().hex[:8]
    now = [datetime(LAST, 12, 28, 10, 0, tzinfo=CAMPUS_TZ)]
    svc = build(
        WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0),
        schema=f"wfx_{tag}",
        durable_suffix=f"-x{tag}",
        clock=lambda: now[0],
    )
    # the console answers the CLI's `--as ACCOUNT` (who the demo account is)
    console = build_console(
        ConsoleSettings(nats_url=nats_url, database_url=database_url, seed_demo=True)
    )
    nc = await nats.connect(nats_url)
    async with svc.running(), console.running():
        client = Client(nc, rpc.PREFIX)
        room = f"考场{tag}"
        cam = record(f"x{tag}", "teaching_exam", "academic", "national_exam")
        await seed_cameras(svc, client, [cam.model_copy(update={"position": f"{room} 前"})])
        env = {**os.environ, "NATS_URL": nats_url, "CCTV_HOME": str(tmp_path)}
        yield Site(client, tag, env, now)
    await nc.close()


def exam_form(tag: str, day: int) -> dict[str, Any]:
    return {
        "organiser": "college_se",
        "exam_name": "期末考试",
        "building": "综合楼",
        "rooms": [f"考场{tag}"],
        "starts_at": f"{NEXT}-01-{day:02d}T08:30:00+08:00",
        "ends_at": f"{NEXT}-01-{day:02d}T11:30:00+08:00",
    }


NOTICE_YAML = f"""\
year: {NEXT}
source: 国办发明电〔测试〕1号 (test data, not the real notice)
holidays:
  - {NEXT}-01-01
  - {NEXT}-02-05..{NEXT}-02-11
workdays: [{NEXT}-01-31, {NEXT}-02-20]
"""


async def test_nic_enters_next_years_notice_and_january_exams_can_be_filed(
    site: Site, events: EventLog, tmp_path
) -> None:
    form = {"process": "exam", "form": exam_form(site.tag, 25), "actor": STAFF}
    before = await site.client(rpc.SUBMIT, form)
    assert before["code"] == "calendar_unknown" and before["article"] == "Art. 10", before
    assert "calendar import" in before["error"]

    notice = tmp_path / "notice.yaml"
    notice.write_text(NOTICE_YAML, encoding="utf-8")
    denied = await site.cctv("calendar", "import", str(notice), as_="duty", ok=False)
    assert "Art. 10" in denied and "网络信息中心" in denied
    out = await site.cctv("calendar", "import", str(notice), as_="nic_admin")
    assert f"{NEXT}年节假日安排已录入" in out and "8 天放假" in out

    ev = await events.wait_for(
        "workflow.calendar.imported", lambda d: d.get("request_id") == f"calendar-{NEXT}"
    )
    assert ev[-1]["actor"] == "nic_admin"  # on the audited CCTV_WORKFLOW stream, with who
    assert ev[-1]["data"]["summary"]["notice"]["source"].startswith("国办发明电")
    shown = await site.cctv("calendar", "show")
    assert f"{NEXT}  国办发明电" in shown and "nic_admin" in shown and "(UTC+8)" in shown

    after = await site.client(rpc.SUBMIT, form)
    assert after["ok"], after

    # A correction replaces the year's entry, and the record says what it replaced.
    fixed = {
        "year": NEXT,
        "source": "国办发明电〔测试〕2号 (corrected)",
        "holidays": [f"{NEXT}-01-01..{NEXT}-01-03"],
    }
    again = await site.client(rpc.CALENDAR_IMPORT, {"actor": ADMIN, "notice": fixed})
    assert again["ok"] and again["replaced"] is True, again
    ev = await events.wait_for(
        "workflow.calendar.imported",
        lambda d: d.get("summary", {}).get("notice", {}).get("source", "").endswith("(corrected)"),
    )
    assert ev[-1]["data"]["summary"]["replaced"]["source"].startswith("国办发明电〔测试〕1号")
    listed = await site.client(rpc.CALENDAR, {})
    assert [n["source"] for n in listed["notices"]] == [fixed["source"]]


def personal_request(tag: str) -> dict[str, object]:
    """A request in a personal capacity: refused (Art. 16) but numbered, so a person can
    quote the refusal."""
    return {
        "body": "personal",
        "applying_unit": "张三",
        "viewer": "张三",
        "method": "view",
        "reason": "私事",
        "cameras": [f"x{tag}"],
        "footage_from": f"{LAST}-12-20T08:00:00+08:00",
        "footage_until": f"{LAST}-12-20T09:00:00+08:00",
    }


async def test_refusal_number_printed_and_listed(site: Site) -> None:
    form = json.dumps(personal_request(site.tag))
    err = await site.cctv("submit", "access", "-", as_="duty", stdin=form, ok=False)
    found = re.search(r"不予受理 refused, No\. (DY-\d{4}-\d{5})", err)
    assert found, err
    number = found.group(1)
    assert "个人身份调阅不予受理" in err and "Art. 16" in err

    listed = await site.cctv("list")
    line = next(ln for ln in listed.splitlines() if ln.startswith(number))
    assert "不予受理" in line and "(Art. 16)" in line and "(UTC+8)" in line
    only = await site.cctv("list", "--state", "refused", "--json")
    assert number in {r["request_id"] for r in json.loads(only)}
    rows = json.loads(await site.cctv("refusals", "--process", "access", "--json"))
    assert rows[0]["request_id"] == number and rows[0]["code"] == "personal_capacity"
    shown = await site.cctv("show", number)
    assert shown.startswith(number) and "不予受理" in shown and "个人身份调阅不予受理" in shown


async def test_numbers_carry_the_campus_year(site: Site) -> None:
    """00:30 on New Year's Day in Haikou is 16:30 on 31 December in UTC: the number a person
    reads carries the campus year (issue 15, campus time)."""
    from datetime import UTC

    form = {"process": "access", "actor": STAFF, "form": personal_request(site.tag)}
    site.now[0] = datetime(LAST, 12, 31, 16, 30, tzinfo=UTC)
    reply = await site.client(rpc.SUBMIT, form)
    assert reply["request_id"] == f"DY-{NEXT}-00001", reply
