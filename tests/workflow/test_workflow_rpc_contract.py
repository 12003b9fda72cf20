"""Printing is workflow's job (issue 8): the paper form comes over request-reply as HTML or PDF,
and the console and the CLI only pass it on. Also: arming periods are read by workflow."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from services.workflow import rpc
from services.workflow.forms import cjk_font
from tests.workflow.test_workflow_console import site  # noqa: F401 (fixture)
from tests.workflow.test_workflow_service import STAFF, wf  # noqa: F401 (fixture)
from tests.workflow.wf_cli import run_cctv

NEWPOINT = {
    "department": "college_se",
    "need": "实训楼走廊夜间失窃",
    "urgent": False,
    "positions": ["实训楼二楼走廊 朝东"],
}


async def test_print_over_request_reply(wf) -> None:  # noqa: F811
    client, _tag, _svc = wf
    sub = await client(rpc.SUBMIT, {"process": "newpoint", "form": NEWPOINT, "actor": STAFF})
    assert sub["ok"], sub
    rid = sub["request"]["request_id"]

    html = await client(rpc.PRINT, {"request_id": rid, "format": "html"})
    assert html["ok"] and html["format"] == "html", html
    assert "视频监控系统工勘记录表" in html["html"] and f"申请单号：{rid}" in html["html"]

    pdf = await client(rpc.PRINT, {"request_id": rid, "format": "pdf"})
    if cjk_font() is None:
        assert not pdf["ok"] and pdf["code"] == "no_cjk_font", pdf
    else:
        assert pdf["ok"] and base64.b64decode(pdf["pdf_base64"]).startswith(b"%PDF")
        assert pdf["filename"].endswith(".pdf")

    bad = await client(rpc.PRINT, {"request_id": rid, "format": "docx"})
    # decoded and validated once by the responder shell, in the one error shape
    assert not bad["ok"] and bad["code"] == "invalid_request" and bad["field"] == "format"
    assert bad["text_zh"] == "请求有误：format" and "'html' or 'pdf'" in bad["text_en"]
    assert bad["article"] == "Annex 2-4" and bad["error"].endswith("(Annex 2-4)")
    missing = await client(rpc.PRINT, {"request_id": "XZ-1999-00001"})
    assert not missing["ok"] and missing["code"] == "not_found"


async def test_schedule_periods_are_read_by_workflow(wf) -> None:  # noqa: F811
    """The console and CLI send 「工作日 18:00-08:00」 as typed; a bad one names Art. 9."""
    client, tag, _svc = wf
    head = {"person_id": "lg_h", "name": "刘洋", "department": "logistics", "roles": ["dept_head"]}
    bad = await client(
        rpc.SCHEDULE_SET,
        {"actor": head, "system_id": f"S{tag}", "department": "logistics", "periods": ["每周 18"]},
    )
    assert not bad["ok"] and bad["code"] == "bad_schedule" and "Art. 9" in bad["error"]
    ok = await client(
        rpc.SCHEDULE_SET,
        {
            "actor": head,
            "system_id": f"S{tag}",
            "department": "logistics",
            "periods": ["工作日 18:00-08:00", "节假日 00:00-23:59"],
        },
    )
    assert ok["ok"], ok
    assert [p["days"] for p in ok["system"]["schedule"]] == ["workday", "offday"]


async def test_cli_prints_what_workflow_renders(site, nats_url: str, tmp_path: Path) -> None:  # noqa: F811
    """`cctv requests print` writes the form workflow rendered, for the person signed on with
    `cctv login` (the console checks the password and signs who they are)."""
    _app, _tag = site
    env = {**os.environ, "NATS_URL": nats_url, "CCTV_HOME": str(tmp_path)}

    async def cctv(*argv: str, ok: bool = True) -> str:
        return await run_cctv(env, "requests", *argv, ok=ok)

    form = tmp_path / "np.json"
    form.write_text(
        '{"department": "logistics", "need": "北门停车场盗窃", "positions": ["北门 朝南"]}',
        encoding="utf-8",
    )
    unsigned = await cctv("submit", "newpoint", str(form), ok=False)
    assert "cctv login" in unsigned  # issue 11: the CLI acts for no one until signed on
    said = await run_cctv(
        env, "login", "--account", "duty", "--password-stdin", stdin="cctv-demo\n"
    )
    assert "signed on as duty" in said
    rid = (await cctv("submit", "newpoint", str(form))).strip()
    out = tmp_path / "form.html"
    assert (await cctv("print", rid, "-o", str(out))).strip() == str(out)
    assert f"申请单号：{rid}" in out.read_text(encoding="utf-8")


async def test_requests_and_action_arguments_are_typed(wf) -> None:  # noqa: F811
    """A request is validated against its contract model by the shell, an action's arguments
    against theirs: a bad field is named with its article, in the one error shape."""
    client, _tag, _svc = wf
    sub = await client(rpc.SUBMIT, {"process": "newpoint", "form": NEWPOINT, "actor": STAFF})
    rid = sub["request"]["request_id"]
    nic = {"person_id": "nic_h", "department": "nic", "roles": ["dept_head"]}
    bad = await client(
        rpc.ACT, {"request_id": rid, "actor": nic, "action": "plan", "args": {"points": "many"}}
    )
    assert not bad["ok"] and bad["code"] == "invalid_form" and bad["article"] == "Art. 6", bad
    assert "points" in bad["error"] and bad["text_zh"] and bad["text_en"]

    # who acts is the signed identity (issue 11): without one, nothing is done
    subject = client.prefix + rpc.APPROVE.removeprefix(rpc.PREFIX)
    raw = await client.nc.request(subject, json.dumps({"request_id": rid}).encode(), timeout=10)
    no_actor = json.loads(raw.data)
    assert no_actor["code"] == "identity_required"
    assert no_actor["article"] == "Art. 15"  # every action is recorded with who did it
    bad_kind = await client(rpc.LOG_RECORD, {"actor": nic, "kind": "gossip", "text": "x"})
    assert bad_kind["code"] == "invalid_request" and bad_kind["field"] == "kind"
    assert bad_kind["article"] == "Art. 14"


async def test_replies_fit_their_contract_models(wf) -> None:  # noqa: F811
    """What workflow answers validates against the reply model the AsyncAPI document
    publishes for that subject (cctv.contract.rpcmodels.OPERATIONS)."""
    from cctv.contract.rpcmodels import OPERATIONS, ErrorReply

    client, tag, _svc = wf
    nic = {"person_id": "nic_h", "department": "nic", "roles": ["dept_head"]}
    asks = [
        (rpc.PREVIEW, {"process": "newpoint", "form": NEWPOINT, "actor": STAFF}),
        (rpc.SUBMIT, {"process": "newpoint", "form": NEWPOINT, "actor": STAFF}),
        (rpc.LIST, {}),
        (rpc.INBOX, {"actor": nic}),
        (rpc.CAMERAS, {}),
        (rpc.LOG_LIST, {}),
        (rpc.OPEN_ITEMS, {}),
        (rpc.HANDOVERS, {}),
        (rpc.SYSTEMS, {}),
        (rpc.CALENDAR, {}),
        (rpc.REFUSALS, {"limit": 5}),
    ]
    for subject, body in asks:
        reply = await client(subject, body)
        assert reply["ok"], (subject, reply)
        OPERATIONS[subject][1].model_validate(reply)
    rid = (await client(rpc.LIST, {}))["requests"][0]["request_id"]
    for subject, body in ((rpc.GET, {"request_id": rid}), (rpc.PRINT, {"request_id": rid})):
        OPERATIONS[subject][1].model_validate(await client(subject, body))
    ErrorReply.model_validate(await client(rpc.GET, {"request_id": f"XZ-0000-{tag}"}))
