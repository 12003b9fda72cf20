"""One real path through everything (issue 2): break -> fault -> one ticket -> alert to the
zone's guard (console + webhook) -> acknowledged -> audited; mend -> resolved, closed, all clear."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import httpx
import nats
import pytest

from cctv.devstack.stack import Stack
from demo.campus import DEMO_PASSWORD
from tests.e2e.dead_letters import (
    every_consumer_dead_letters_bad_input,
    every_responder_refuses_bad_requests,
)
from tests.e2e.helpers import audited, cameras, cctv, login, repairs_for
from tests.support.console import sign_in
from tests.support.events import EventLog
from tests.support.waiting import eventually, table_changes

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, Playwright

CAMERA = "OFF-001"


async def test_bad_input_goes_to_dead_letter(system: Stack, bus: EventLog) -> None:
    """First, so that the path below runs on services that have just taken bad input."""
    await every_consumer_dead_letters_bad_input(
        system, bus
    )  # 综合楼, zone 教学区: the demo guard `guard` is on duty there


async def test_bad_requests_get_an_error_reply(system: Stack) -> None:
    await every_responder_refuses_bad_requests(system)


async def test_a_campus_nobody_touched_raises_no_fault(system: Stack, bus: EventLog) -> None:
    """Issues 9 and 16: every camera of the demo campus comes up, and none of them, read over
    its own protocol at its own address, opens a fault (58 exam-room cameras once did, when
    their ONVIF streams were looked for on the wrong channel)."""

    def real(d: dict) -> bool:  # not the malformed copies the dead-letter test published
        return isinstance(d.get("camera_id"), str)

    async def up() -> set[str]:
        ups = bus.matching("camera.state", lambda d: real(d) and d.get("state") == "up")
        return {e["data"]["camera_id"] for e in ups}

    await eventually(up, lambda c: len(c) >= 322, changes=bus.changes, timeout=120,
                     what="every camera up")  # fmt: skip
    faults = [f for f in bus.matching("fault.opened", real) if not f["id"].startswith("dlq-")]
    assert faults == [], [(f["data"]["camera_id"], f["data"].get("detail")) for f in faults][:5]


async def test_break_to_ack_to_mend(system: Stack, bus: EventLog, http: httpx.AsyncClient) -> None:
    def mine(d: dict) -> bool:
        return d.get("camera_id") == CAMERA

    await bus.wait_for("camera.state", lambda d: mine(d) and d["state"] == "up")

    out = cctv(system, "sim", "break", CAMERA)
    assert out.returncode == 0, out.stderr
    assert "offline" in out.stdout

    [down] = await bus.wait_for("camera.state", lambda d: mine(d) and d["state"] == "down")
    [fault] = await bus.wait_for("fault.opened", mine)
    fault_id = fault["data"]["fault_id"]
    assert fault["data"]["zone"] == "教学区"
    [ticket] = await bus.wait_for("fault.ticket_opened", lambda d: d["fault_id"] == fault_id)
    tickets = await repairs_for(http, system, fault_id)
    assert [t["repair_no"] for t in tickets] == [ticket["data"]["ticket_no"]]
    assert tickets[0]["status"] == "待受理"

    [alert] = await bus.wait_for("alert.raised", lambda d: d.get("fault_id") == fault_id)
    assert alert["data"]["recipient"] == "guard"
    alert_id = alert["data"]["alert_id"]
    delivered = await bus.wait_for("alert.delivered", lambda d: d["alert_id"] == alert_id, count=2)
    assert {d["data"]["channel"] for d in delivered} == {"console", "webhook"}
    robot = (await http.get(f"{system.url('webhook')}/received")).json()
    assert any(CAMERA in r["body"]["markdown"]["content"] for r in robot)

    # the guard sees it in the console and acknowledges it there
    await login(http, system, "guard")
    page = await http.get(f"{system.url('console')}/")
    assert page.status_code == 200
    assert f'data-alert-id="{alert_id}"' in page.text
    assert "确认" in page.text
    assert "摄像机离线 <small>camera offline</small>" in page.text  # the open fault, by kind
    resp = await http.post(
        f"{system.url('console')}/alerts/{alert_id}/ack", headers={"accept": "application/json"}
    )
    assert resp.status_code == 200, resp.text
    [ack] = await bus.wait_for("alert.acknowledged", lambda d: d["alert_id"] == alert_id)
    assert ack["actor"] == "guard"
    # a second acknowledgement is refused, not double-counted
    again = await http.post(
        f"{system.url('console')}/alerts/{alert_id}/ack", headers={"accept": "application/json"}
    )
    assert again.status_code == 409

    out = cctv(system, "sim", "mend", CAMERA)
    assert out.returncode == 0, out.stderr
    [resolved] = await bus.wait_for("fault.resolved", lambda d: d["fault_id"] == fault_id)
    [closed] = await bus.wait_for("fault.ticket_closed", lambda d: d["fault_id"] == fault_id)
    assert closed["data"]["ticket_no"] == ticket["data"]["ticket_no"]
    assert (await repairs_for(http, system, fault_id))[0]["status"] == "已完成"
    [clear] = await bus.wait_for("alert.allclear", lambda d: d["alert_id"] == alert_id)
    assert clear["data"]["recipient"] == "guard"
    await bus.wait_for("camera.state", lambda d: mine(d) and d["state"] == "up", count=2)
    # every step of the path carries one correlation id from the first down sample onwards
    assert fault["correlation_id"] == down["correlation_id"]

    # audit holds every event of the path exactly once, and the chain verifies
    path = [down, fault, ticket, alert, *delivered, ack, resolved, closed, clear]
    counts = await audited(system, path)
    assert counts == {e["id"]: 1 for e in path}
    out = cctv(system, "audit", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "完好 OK" in out.stdout


async def test_a_disarmed_vault_recorder_is_one_fault_and_alert(
    system: Stack, bus: EventLog
) -> None:
    """Art. 12 over real sockets: the exam-paper vault (a key place, no schedule filed: armed
    always) has its record schedule switched off on the Hikvision recorder -> one not_armed
    fault, an alert to the zone's guard; switched on again -> resolved."""
    cam = "VAULT-002"

    def mine(d: dict) -> bool:
        return d.get("camera_id") == cam and d.get("kind") == "not_armed"

    out = cctv(system, "sim", "break", cam, "--fault", "disarmed")
    assert out.returncode == 0, out.stderr
    [fault] = await bus.wait_for("fault.opened", mine, timeout=60)
    assert (fault["data"]["building"], fault["data"]["zone"]) == ("综合楼", "教学区")
    fault_id = fault["data"]["fault_id"]
    [alert] = await bus.wait_for("alert.raised", lambda d: d.get("fault_id") == fault_id)
    assert alert["data"]["recipient"] == "guard"

    out = cctv(system, "sim", "mend", cam, "--fault", "disarmed")
    assert out.returncode == 0, out.stderr
    await bus.wait_for("fault.resolved", lambda d: d["fault_id"] == fault_id, timeout=60)
    assert len(bus.matching("fault.opened", mine)) == 1  # one fault for the whole time off


async def test_console_lists_cameras_by_building(system: Stack, http: httpx.AsyncClient) -> None:
    await login(http, system, "duty")
    data = (await http.get(f"{system.url('console')}/api/overview")).json()
    buildings = {b["building"] for b in data["buildings"]}
    assert {"综合楼", "教学楼", "实训楼"} <= buildings
    assert sum(len(b["cameras"]) for b in data["buildings"]) == 322


async def test_console_refuses_wrong_password(system: Stack, http: httpx.AsyncClient) -> None:
    resp = await sign_in(http, "guard", "wrong", expect=401, base=system.url("console"))
    assert "密码错误" in resp.text
    assert (await http.get(f"{system.url('console')}/api/overview")).status_code == 401


def test_cli_lists_cameras(system: Stack) -> None:
    out = cctv(system, "cameras", "list", "--building", "实训楼")
    assert out.returncode == 0, out.stderr
    assert "LAB-001" in out.stdout
    assert "20 cameras" in out.stdout


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


PHONE = {"width": 390, "height": 844}  # the guard's phone
DESKTOP = {"width": 1280, "height": 800}


async def _browser(p: Playwright) -> Browser:
    return await p.chromium.launch(
        executable_path=CHROMIUM,
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )


async def _login_page(
    browser: Browser, system: Stack, account: str, viewport: dict[str, Any]
) -> Page:
    page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
    await page.goto(f"{system.url('console')}/")
    await page.fill("input[name=account]", account)
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("button[type=submit]")
    return page


async def _overflow(page: object) -> int:
    """How far the page is wider than the screen (0: no horizontal scrolling)."""
    return int(
        await page.evaluate(  # type: ignore[attr-defined]
            "document.documentElement.scrollWidth - window.innerWidth"
        )
    )


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
async def test_guard_acknowledges_on_a_phone(system: Stack, bus: EventLog) -> None:
    from playwright.async_api import async_playwright

    camera = "OFF-003"
    await bus.wait_for("camera.state", lambda d: d["camera_id"] == camera and d["state"] == "up")
    assert cctv(system, "sim", "break", camera).returncode == 0
    [alert] = await bus.wait_for("alert.raised", lambda d: d.get("camera_id") == camera)
    alert_id = alert["data"]["alert_id"]
    async with async_playwright() as p:
        browser = await _browser(p)
        try:
            page = await _login_page(browser, system, "guard", PHONE)
            row = page.locator(f'tr[data-alert-id="{alert_id}"]')
            await row.wait_for(timeout=15_000)
            assert "OFF-003" in await row.inner_text()
            assert await _overflow(page) <= 0, "the guard's page scrolls sideways on a phone"
            button = row.locator("button.ack")
            box = await button.bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
            assert box["height"] >= 44  # a thumb can hit it
            await button.click()
            await bus.wait_for("alert.acknowledged", lambda d: d["alert_id"] == alert_id)
            done = page.locator(f'tr[data-alert-id="{alert_id}"].alert-acknowledged')
            await done.wait_for(timeout=15_000)
            assert "guard" in await done.inner_text()  # says who acknowledged
            assert await done.locator("button.ack").count() == 0
            cam = page.locator(f'li[data-camera-id="{camera}"]')
            assert await cam.get_attribute("data-state") == "down"
        finally:
            await browser.close()
    assert cctv(system, "sim", "mend", camera).returncode == 0


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
async def test_a_directive_round_trip_from_the_duty_room_to_a_guards_phone(
    system: Stack, bus: EventLog
) -> None:
    from playwright.async_api import async_playwright

    text = "请立即前往综合楼5楼查看（演练）"
    async with async_playwright() as p:
        browser = await _browser(p)
        try:
            duty = await _login_page(browser, system, "duty", DESKTOP)
            await duty.goto(f"{system.url('console')}/duty/directives")
            await duty.select_option("select[name=zone]", "教学区")
            await duty.fill("textarea[name=text]", text)
            await duty.click("#directive-form button[type=submit]")
            [issued] = await bus.wait_for("alert.directive", lambda d: d["text"] == text)
            directive_id = issued["data"]["directive_id"]
            assert "guard" in issued["data"]["recipients"]
            [raised] = await bus.wait_for(
                "alert.raised",
                lambda d: d["recipient"] == "guard" and directive_id in d.get("body", ""),
            )

            guard = await _login_page(browser, system, "guard", PHONE)
            row = guard.locator(f'tr[data-alert-id="{raised["data"]["alert_id"]}"]')
            await row.wait_for(timeout=15_000)
            assert await _overflow(guard) <= 0
            await row.locator("button.ack").click()
            await bus.wait_for(
                "alert.acknowledged", lambda d: d["alert_id"] == raised["data"]["alert_id"]
            )

            await duty.goto(f"{system.url('console')}/duty/directives")
            mine = duty.locator(f'tr[data-directive-id="{directive_id}"] li[data-account="guard"]')
            assert await mine.get_attribute("data-status") == "acknowledged"
        finally:
            await browser.close()


async def test_nic_admin_edits_the_inventory_in_the_console(
    system: Stack, bus: EventLog, http: httpx.AsyncClient
) -> None:
    console = system.url("console")
    await login(http, system, "nic_admin")
    page = await http.get(f"{console}/inventory", params={"building": "实训楼"})
    assert page.status_code == 200
    assert 'data-camera-id="LAB-002"' in page.text
    assert 'data-camera-id="OFF-001"' not in page.text
    form = await http.get(f"{console}/inventory/LAB-002")
    assert form.status_code == 200
    camera = (await cameras(system, "LAB-002"))[0]
    fields = {k: ("" if v is None else str(v)) for k, v in camera.items()}
    fields["sensitivity"] = ",".join(camera["sensitivity"])

    bad = await http.post(f"{console}/inventory/LAB-002", data={**fields, "category": "garden"})
    assert bad.status_code == 422
    assert "category" in bad.text  # names the column that is wrong

    moved = {**fields, "position": "三楼走廊东 3F east corridor"}
    saved = await http.post(f"{console}/inventory/LAB-002", data=moved)
    assert saved.status_code == 303, saved.text
    [event] = await bus.wait_for(
        "camera.upserted",
        lambda d: d["camera"]["camera_id"] == "LAB-002" and "三楼" in d["camera"]["position"],
    )
    assert event["data"]["camera"] == {**camera, "position": "三楼走廊东 3F east corridor"}
    assert event["actor"] == "nic_admin"
    export = await http.get(f"{console}/inventory/export.csv")
    assert export.status_code == 200
    assert "三楼走廊东 3F east corridor" in export.text

    await login(http, system, "guard")
    refused = await http.post(f"{console}/inventory/LAB-002", data=moved)
    assert refused.status_code == 403


async def test_workflow_outcomes_reach_the_inventory(
    system: Stack, bus: EventLog, http: httpx.AsyncClient
) -> None:
    """A new point carried out by NIC enters the inventory (Art. 6); a camera moved under an
    approved stop/move request gets its new position once the work is done (Art. 8)."""
    from datetime import UTC, datetime

    from cctv.contract import wrap
    from cctv.contract.events import CameraRecord, NewPointImplemented, StopMoveCompleted

    [template] = await cameras(system, "LAB-003")
    new = CameraRecord.model_validate({**template, "camera_id": "LAB-NEW-1", "name": "新增点位"})
    events: list[NewPointImplemented | StopMoveCompleted] = [
        NewPointImplemented(request_id="NP-E2E", cameras=[new]),
        StopMoveCompleted(
            request_id="SM-E2E", process="stopmove", transition="completed", state="completed",
            at=datetime.now(UTC),
            summary={"moved": [{"camera_id": "LAB-004", "position": "5楼东"}]},
        ),
    ]  # fmt: skip
    assert system.nats_url
    nc = await nats.connect(system.nats_url)
    try:
        for event in events:
            env = wrap(event, source="workflow", key=event.request_id)
            await nc.jetstream().publish(
                f"cctv.{event.TYPE}.{event.request_id}",
                env.to_bytes(),
                headers={"Nats-Msg-Id": env.id},
            )
    finally:
        await nc.close()
    [added] = await bus.wait_for(
        "camera.upserted", lambda d: d["camera"]["camera_id"] == "LAB-NEW-1"
    )
    assert added["actor"] == "workflow:NP-E2E"
    [moved] = await bus.wait_for(
        "camera.upserted",
        lambda d: d["camera"]["camera_id"] == "LAB-004" and d["camera"]["position"] == "5楼东",
    )
    assert moved["actor"] == "workflow:SM-E2E"
    assert (await cameras(system, "LAB-NEW-1"))[0]["name"] == "新增点位"

    # and the NIC administrator removes it again in the console, with a reason
    await login(http, system, "nic_admin")
    console = system.url("console")
    no_reason = await http.post(f"{console}/inventory/LAB-NEW-1/remove", data={"reason": ""})
    assert no_reason.status_code == 422
    gone = await http.post(f"{console}/inventory/LAB-NEW-1/remove", data={"reason": "试点结束"})
    assert gone.status_code == 303, gone.text
    [removed] = await bus.wait_for("camera.removed", lambda d: d["camera_id"] == "LAB-NEW-1")
    assert removed["actor"] == "nic_admin" and removed["data"]["reason"] == "试点结束"
    assert await cameras(system, "LAB-NEW-1") == []


async def test_a_changed_responsible_person_reaches_logistics_and_nic_by_robot(
    system: Stack, bus: EventLog, http: httpx.AsyncClient
) -> None:
    """Art. 9: the change is filed in workflow and told at once to 后勤处 and NIC."""
    signed = cctv(system, "login", "--account", "academic_head", "--password-stdin",
                  stdin="cctv-demo\n")  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    out = cctv(
        system, "requests", "responsible", "A1-07", "--department", "academic",
        "--person-id", "t_li", "--name", "李老师", "--phone", "13800000000",
        "--reason", "人员调动",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    [changed] = await bus.wait_for("workflow.responsible.changed", lambda d: d["name"] == "李老师")
    assert changed["data"]["system_id"] == "A1-07"

    async def robot() -> list[dict]:
        got: list[dict] = (await http.get(f"{system.url('webhook')}/received")).json()
        return [r for r in got if "A1-07" in r["body"]["markdown"]["content"]]

    assert system.database_url
    # notify marks each delivery sent once the robot took it: re-read the sink then
    async with table_changes(system.database_url, "notify.deliveries") as sent:
        told = await eventually(
            robot, lambda r: len(r) == 2, changes=sent, what="two robot notices"
        )
    recipients = sorted(r["body"]["markdown"]["content"].rsplit(" ", 1)[-1] for r in told)
    assert recipients == ["dept:logistics", "dept:nic"]
