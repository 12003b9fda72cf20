"""`cctv requests ...`: the regulation's forms from the command line (same calls as the console).

The acting person is given with --as ACCOUNT (an account the console knows, or any account
with --dept and --role); approvers are never typed: the workflow derives the chain from the
inventory. Everything, printing included, is asked of workflow over request-reply: the CLI uses
only the contract (cctv.contract), like any other campus system.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from cctv.contract import rpc
from cctv.contract.campustime import campus_time
from cctv.contract.orgs import actor_for

from .common import request
from .main import CliError

PROCESSES = ("access", "stopmove", "newpoint", "exam")


def _actor(args: argparse.Namespace) -> dict[str, Any]:
    if not args.as_:
        raise CliError(
            "--as ACCOUNT is required: who is acting (Art. 15: every action is recorded)"
        )
    role, dept, name = args.role, args.dept, args.as_
    if role is None or dept is None:  # the console knows its accounts
        person = request(rpc.CONSOLE_PERSON, {"account": args.as_})["person"]
        role, dept, name = role or person["role"], dept or person["department"], person["name"]
    return actor_for(args.as_, name, role, dept).model_dump(mode="json")


def _form(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        form = json.loads(text)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the form {path}: {exc}") from exc
    if not isinstance(form, dict):
        raise CliError("the form must be a JSON object")
    return form


def _print_steps(steps: list[dict[str, Any]]) -> None:
    for s in steps:
        cams = f"  [{', '.join(s['cameras'])}]" if s.get("cameras") else ""
        print(f"  {s['stage']}. {s['who_zh']} — {s['title_zh']}{cams}")
        print(f"     {s['why']}")


def _print_rows(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        due = "、".join(d["who_zh"] for d in r.get("due", []))
        print(
            f"{r['request_id']:<15} {r['state_zh']:<8} {r['process_zh']:<10} {r['title']}"
            + (f"  → {due}" if due else "")
        )
    print(f"{len(rows)} requests")


def _print_refusals(rows: list[dict[str, Any]]) -> None:
    """不予受理: the number the desk quotes to the person turned away, and why."""
    for r in rows:
        print(f"{r['request_id']:<15} 不予受理  {campus_time(r['at'])}  {r['zh']} ({r['article']})")
    print(f"{len(rows)} refusals 不予受理")


def cmd_list(args: argparse.Namespace) -> int:
    refused_only = args.state == "refused"
    rows: list[dict[str, Any]] = []
    if not refused_only:
        rows = request(rpc.WORKFLOW_LIST, {"process": args.process, "state": args.state})[
            "requests"
        ]
    refusals: list[dict[str, Any]] = []
    if args.state in (None, "refused"):
        refusals = request(rpc.WORKFLOW_REFUSALS, {"process": args.process})["refusals"]
    if args.json:
        print(json.dumps(refusals if refused_only else rows, ensure_ascii=False, indent=1))
        return 0
    if not refused_only:
        _print_rows(rows)
    if args.state in (None, "refused"):
        _print_refusals(refusals)
    return 0


def cmd_refusals(args: argparse.Namespace) -> int:
    rows = request(rpc.WORKFLOW_REFUSALS, {"process": args.process})["refusals"]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    else:
        _print_refusals(rows)
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    reply = request(rpc.WORKFLOW_INBOX, {"actor": _actor(args)})
    if reply.get("notices"):
        print("通知 notices:")
        for n in reply["notices"]:
            print(f"  {campus_time(n['created_at'])}  {n['ref']}  {n['text_zh']}")
    print("待我审批 waiting for me:")
    _print_rows(reply["to_act"])
    print("我的申请 mine:")
    _print_rows(reply["mine"])
    return 0


def _print_times(req: dict[str, Any]) -> None:
    """The times the request is about, in campus time as on the page and the paper form."""
    f = req.get("form") or {}
    spans = [
        ("视频时段 footage", f.get("footage_from"), f.get("footage_until")),
        ("施工时段 works", f.get("window_from"), f.get("window_until")),
        ("考试时间 exam", f.get("starts_at"), f.get("ends_at")),
    ]
    w, g = req.get("window") or {}, req.get("grant") or {}
    spans.append(("批准时段 approved window", w.get("starts_at"), w.get("ends_at")))
    spans.append(("授权视频 granted footage", g.get("footage_from"), g.get("footage_until")))
    for label, a, b in spans:
        if a:
            print(f"  {label}: {campus_time(a)} — {campus_time(b)}")
    if g.get("valid_until"):
        print(f"  授权有效至 grant valid until: {campus_time(g['valid_until'])}")


def cmd_show(args: argparse.Namespace) -> int:
    reply = request(rpc.WORKFLOW_GET, {"request_id": args.request_id}, check=False)
    if not reply.get("ok") and reply.get("kind") == "not_found":
        # a refusal's number is not a request: show the refusal the desk is asked about
        refused = request(rpc.WORKFLOW_REFUSALS, {"request_id": args.request_id})["refusals"]
        if refused:
            _print_refusals(refused)
            return 0
    if not reply.get("ok"):
        raise CliError(str(reply.get("error")))
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=1))
        return 0
    s = reply["summary"]
    print(f"{s['request_id']} {s['process_zh']} {s['state_zh']} — {s['title']}")
    _print_times(reply["request"])
    _print_steps(reply["steps"])
    for o in reply["request"]["flow"]["opinions"]:
        mark = "同意" if o["decision"] == "approve" else "不同意"
        print(
            f"  意见 {o['step_key']}: {mark} {o['text']} — {o['approver']['name']} "
            f"{campus_time(o['time'])}"
        )
    print("history:")
    for h in reply["history"]:
        print(f"  {campus_time(h['at'], seconds=True)}  {h['subject']}  {h['actor']}")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    reply = request(
        rpc.WORKFLOW_PREVIEW,
        {"process": args.process, "form": _form(args.form), "actor": _actor(args)},
    )
    print("审批流程 approval chain:")
    _print_steps(reply["steps"])
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    reply = request(
        rpc.WORKFLOW_SUBMIT,
        {"process": args.process, "form": _form(args.form), "actor": _actor(args)},
        check=False,
    )
    if reply.get("ok"):
        print(reply["request"]["request_id"])
        return 0
    if reply.get("kind") == "refusal" and reply.get("request_id"):
        # 不予受理 is numbered: the desk quotes the number to the person turned away.
        raise CliError(f"不予受理 refused, No. {reply['request_id']}: {reply.get('error')}")
    art = reply.get("article")
    error = str(reply.get("error"))
    raise CliError(error + (f" ({art})" if art and str(art) not in error else ""))


def _decide(subject: str, ns: argparse.Namespace, **extra: Any) -> int:
    payload = {"request_id": ns.request_id, "actor": _actor(ns), **extra}
    reply = request(subject, payload)
    print(f"{ns.request_id}: {reply['summary']['state_zh']} ({reply['summary']['state']})")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    return _decide(rpc.WORKFLOW_APPROVE, args, text=args.text or "", step_key=args.step)


def cmd_reject(args: argparse.Namespace) -> int:
    return _decide(rpc.WORKFLOW_REJECT, args, text=args.text, step_key=args.step)


def cmd_withdraw(args: argparse.Namespace) -> int:
    return _decide(rpc.WORKFLOW_WITHDRAW, args, reason=args.reason or "")


def cmd_act(args: argparse.Namespace) -> int:
    try:
        extra = json.loads(args.args) if args.args else {}
    except ValueError as exc:
        raise CliError(f"--args must be JSON: {exc}") from exc
    return _decide(rpc.WORKFLOW_ACT, args, action=args.action, args=extra)


def cmd_print(args: argparse.Namespace) -> int:
    fmt = "pdf" if args.pdf else "html"
    reply = request(rpc.WORKFLOW_PRINT, {"request_id": args.request_id, "format": fmt}, 30.0)
    out = Path(args.output or f"{args.request_id}.{fmt}")
    if args.pdf:
        out.write_bytes(base64.b64decode(reply["pdf_base64"]))
    else:
        out.write_text(reply["html"], encoding="utf-8")
    print(out)
    return 0


def cmd_responsible(args: argparse.Namespace) -> int:
    reply = request(
        rpc.WORKFLOW_RESPONSIBLE_SET,
        {
            "actor": _actor(args),
            "system_id": args.system_id,
            "department": args.department,
            "person": {"person_id": args.person_id, "name": args.name, "phone": args.phone or ""},
            "reason": args.reason,
        },
    )
    told = (
        "已通报后勤处、网络信息中心 logistics and NIC notified" if reply["notified"] else "无变化"
    )
    print(f"{args.system_id}: {args.name} — {told}")
    return 0


def cmd_systems(_args: argparse.Namespace) -> int:
    for sf in request(rpc.WORKFLOW_SYSTEMS, {})["systems"]:
        p = sf.get("responsible") or {}
        sched = (
            "; ".join(f"{x['days']} {x['arm_at'][:5]}-{x['disarm_at'][:5]}" for x in sf["schedule"])
            or "-"
        )
        print(
            f"{sf['system_id']:<8} {sf['department']:<20} {p.get('name', '(none)'):<8} "
            f"{p.get('phone', ''):<14} {sched}"
        )
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    reply = request(
        rpc.WORKFLOW_SCHEDULE_SET,
        {
            "actor": _actor(args),
            "system_id": args.system_id,
            "department": args.department,
            "periods": args.period,  # workflow reads 「工作日 18:00-08:00」 itself (Art. 9)
        },
    )
    n = len(reply["system"].get("schedule", args.period))
    print(f"{args.system_id}: {n} 段布防计划 arming periods — 已通报后勤处、网络信息中心")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    reply = request(
        rpc.WORKFLOW_LOG_RECORD,
        {
            "actor": _actor(args),
            "kind": args.kind,
            "text": args.text,
            "location": args.location or "",
            "reported_to": args.reported_to or "",
            "cameras": args.camera or [],
        },
    )
    print(reply["entry"]["entry_id"])
    return 0


def cmd_log_close(args: argparse.Namespace) -> int:
    payload = {"actor": _actor(args), "entry_id": args.entry_id, "resolution": args.resolution}
    reply = request(rpc.WORKFLOW_LOG_CLOSE, payload)
    print(f"{reply['entry']['entry_id']}: 已处理 closed")
    return 0


def cmd_duty(_args: argparse.Namespace) -> int:
    items = request(rpc.WORKFLOW_OPEN_ITEMS, {})["items"]
    print(f"未结事项 open items ({len(items)}):")
    for i in items:
        print(f"  {i['key']:<24} {i['summary']}")
    for h in request(rpc.WORKFLOW_HANDOVERS, {})["handovers"]:
        print(f"待确认交接 handover {h['handover_id']}: {h['outgoing_name']} → {h['incoming']}")
        for i in h["items"]:
            print(f"  {i['kind']}:{i['ref']:<20} {i['summary']}")
    return 0


def cmd_handover(args: argparse.Namespace) -> int:
    payload = {"actor": _actor(args), "incoming": args.to, "notes": args.notes or ""}
    h = request(rpc.WORKFLOW_HANDOVER_OFFER, payload)["handover"]
    print(f"{h['handover_id']}: {len(h['items'])} 项移交 items carried, 待 {h['incoming']} 确认")
    for i in h["items"]:
        print(f"  {i['kind']}:{i['ref']:<20} {i['summary']}")
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    """The incoming operator names every item taken over (Art. 14(3)): --ack KEY ..."""
    payload = {"actor": _actor(args), "handover_id": args.handover_id, "acknowledged": args.ack}
    h = request(rpc.WORKFLOW_HANDOVER_CONFIRM, payload)["handover"]
    print(f"{h['handover_id']}: 已接班 confirmed, {len(h['items'])} items")
    return 0


def _notice(path: str) -> dict[str, Any]:
    """The State Council notice as NIC typed it: YAML or JSON (see services/workflow/README)."""
    import yaml

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read the notice {path}: {exc} (Art. 10)") from exc
    if not isinstance(doc, dict):
        raise CliError("the notice must be a mapping: year, source, holidays, workdays (Art. 10)")
    # YAML reads 2027-02-05 as a date; send every value as text, the service validates it.
    return json.loads(json.dumps(doc, default=str))


def cmd_calendar_import(args: argparse.Namespace) -> int:
    reply = request(
        rpc.WORKFLOW_CALENDAR_IMPORT, {"actor": _actor(args), "notice": _notice(args.file)}
    )
    n = reply["notice"]
    again = "（替换原录入 replaces the earlier entry）" if reply["replaced"] else ""
    print(
        f"{n['year']}年节假日安排已录入 holiday notice on file{again}: {n['source']} — "
        f"{len(n['holidays'])} 天放假 days off, "
        f"{len(n['workdays'])} 天调休上班 make-up working days"
    )
    return 0


def cmd_calendar_show(_args: argparse.Namespace) -> int:
    reply = request(rpc.WORKFLOW_CALENDAR, {})
    print(f"chinese-calendar 收录 carries: {reply['package_years']}")
    for n in reply["notices"]:
        print(
            f"{n['year']}  {n['source']}  放假 off {len(n['holidays'])}  调休 make-up "
            f"{len(n['workdays'])}  — {n['imported_by']} {campus_time(n['imported_at'])}"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("requests", help="申请与审批 requests and approvals (Art. 6-16)")
    s = p.add_subparsers(dest="action", required=True)

    def who(q: argparse.ArgumentParser) -> None:
        q.add_argument("--as", dest="as_", metavar="ACCOUNT", help="who is acting")
        q.add_argument("--dept", help="department key, if the console does not know ACCOUNT")
        q.add_argument(
            "--role", help="dept_head | school_leader | sysadmin | duty_operator | staff"
        )

    q = s.add_parser("list", help="list requests, then refusals (不予受理) with their numbers")
    q.add_argument("--process", choices=PROCESSES)
    q.add_argument("--state", help="pending | approved | ... | refused (refusals only)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = s.add_parser("refusals", help="不予受理 refusals with their numbers, newest first")
    q.add_argument("--process", choices=PROCESSES)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_refusals)

    q = s.add_parser("inbox", help="what waits for me, and my own requests")
    who(q)
    q.set_defaults(func=cmd_inbox)

    q = s.add_parser("show", help="a request with its chain, opinions and full history")
    q.add_argument("request_id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)

    for name, fn, text in (
        ("preview", cmd_preview, "show the approval chain, submit nothing"),
        ("submit", cmd_submit, "submit a form (JSON file, - for stdin)"),
    ):
        q = s.add_parser(name, help=text)
        q.add_argument("process", choices=PROCESSES)
        q.add_argument("form", help="the form as JSON (see services/workflow/README.md)")
        who(q)
        q.set_defaults(func=fn)

    q = s.add_parser("approve", help="同意 approve the step that waits for you")
    q.add_argument("request_id")
    q.add_argument("--text", help="意见 opinion")
    q.add_argument("--step", help="which step, if you could sign several")
    who(q)
    q.set_defaults(func=cmd_approve)

    q = s.add_parser("reject", help="不同意 reject, with the reason")
    q.add_argument("request_id")
    q.add_argument("--text", required=True, help="the reason (required)")
    q.add_argument("--step")
    who(q)
    q.set_defaults(func=cmd_reject)

    q = s.add_parser("withdraw", help="撤回 withdraw your own request before the decision")
    q.add_argument("request_id")
    q.add_argument("--reason")
    who(q)
    q.set_defaults(func=cmd_withdraw)

    q = s.add_parser("act", help="retrieve | extend_hold | complete | plan | survey | implement")
    q.add_argument("request_id")
    q.add_argument("action")
    q.add_argument("--args", help='JSON, e.g. \'{"purpose": "...", "destination": "..."}\'')
    who(q)
    q.set_defaults(func=cmd_act)

    q = s.add_parser(
        "responsible", help="布防/撤防责任人 set a system's responsible person (Art. 9)"
    )
    q.add_argument("system_id", help="Annex 1 system, e.g. A1-06")
    q.add_argument("--department", required=True, help="owning department key")
    q.add_argument("--person-id", required=True)
    q.add_argument("--name", required=True)
    q.add_argument("--phone")
    q.add_argument("--reason", required=True, help="why it changed (人员调动...)")
    who(q)
    q.set_defaults(func=cmd_responsible)

    q = s.add_parser("schedule", help="布防计划 set a system's arming schedule (Art. 9)")
    q.add_argument("system_id")
    q.add_argument("--department", help="owning department key (first filing)")
    q.add_argument(
        "--period", action="append", required=True, help="e.g. '工作日 18:00-08:00' (repeat)"
    )
    who(q)
    q.set_defaults(func=cmd_schedule)

    q = s.add_parser("log", help="值班日志 record a logbook entry (Art. 14)")
    q.add_argument("kind", choices=["suspicious", "fault", "directive", "note"])
    q.add_argument("text")
    q.add_argument("--location")
    q.add_argument("--reported-to", help="superior informed / repair ticket (faults: required)")
    q.add_argument("--camera", action="append")
    who(q)
    q.set_defaults(func=cmd_log)

    q = s.add_parser("log-close", help="close a logbook entry with its outcome")
    q.add_argument("entry_id")
    q.add_argument("--resolution", required=True)
    who(q)
    q.set_defaults(func=cmd_log_close)

    q = s.add_parser("duty", help="open alerts, faults and log items; handovers to confirm")
    q.set_defaults(func=cmd_duty)

    q = s.add_parser("handover", help="交班 hand the shift over, with everything still open")
    q.add_argument("--to", required=True, help="the incoming operator's account")
    q.add_argument("--notes")
    who(q)
    q.set_defaults(func=cmd_handover)

    q = s.add_parser("confirm", help="接班 confirm a handover, item by item (--ack KEY ...)")
    q.add_argument("handover_id")
    q.add_argument("--ack", action="append", default=[], help="an item key, e.g. fault:F-1")
    who(q)
    q.set_defaults(func=cmd_confirm)

    q = s.add_parser("systems", help="responsible persons and arming schedules on file")
    q.set_defaults(func=cmd_systems)

    q = s.add_parser("calendar", help="国务院节假日安排 the official calendar (Art. 10)")
    cal = q.add_subparsers(dest="calendar_action", required=True)
    c = cal.add_parser("show", help="the years on file: the package's, and notices NIC entered")
    c.set_defaults(func=cmd_calendar_show)
    c = cal.add_parser(
        "import", help="enter the State Council notice for a year the package lacks (NIC)"
    )
    c.add_argument("file", help="YAML or JSON: year, source, holidays, workdays (- for stdin)")
    who(c)
    c.set_defaults(func=cmd_calendar_import)

    q = s.add_parser("print", help="the paper form (Annex 2, 3, 4) as HTML or PDF")
    q.add_argument("request_id")
    q.add_argument("--pdf", action="store_true")
    q.add_argument("-o", "--output")
    q.set_defaults(func=cmd_print)
