"""The people directory (issue 11): NIC imports and exports it all-or-nothing with row-level
errors, every change is published for audit, notify's rosters follow it, and the CLI signs
on against it."""

from __future__ import annotations

import uuid
from typing import Any

from cctv.contract import people as contract
from services.notify.app import build as build_notify
from services.notify.settings import NotifySettings
from tests.support.asking import ask
from tests.support.events import EventLog
from tests.support.identity import headers_as, identity

NIC = identity("nic_admin", "sysadmin", department="nic", name="赵敏")


def csv_file(tag: str, *extra: str) -> str:
    return "\n".join(
        [
            "账号,姓名,部门,角色,区域,电话,班次",
            f"g{tag},巡逻员甲,后勤处,巡逻人员,生活区,13900000001,",
            f"d{tag},值班员乙,logistics,duty_operator,,13900000002,20:00-08:00",
            *extra,
        ]
    )


async def test_an_import_with_one_bad_row_changes_nothing_and_names_the_row(
    console: Any, nats_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    bad = csv_file(
        tag, f"x{tag},无区域门卫,logistics,gatekeeper,,,", f"y{tag},某人,火星处,guard,a,,"
    )
    reply = await ask(
        nats_url, contract.PEOPLE_IMPORT, {"filename": "p.csv", "content": bad}, headers_as(NIC)
    )
    assert reply["ok"] and reply["imported"] is False
    rows = {(e["row"], e["column"]) for e in reply["errors"]}
    assert (4, "-") in rows or any(r == 4 for r, _ in rows)  # the gatekeeper without a zone
    assert (5, "department") in rows
    listed = await ask(nats_url, contract.PEOPLE_LIST, {})
    assert not {f"g{tag}", f"d{tag}"} & {p["account"] for p in listed["people"]}


async def test_only_nic_imports_and_plain_passwords_are_refused(
    console: Any, nats_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    guard = identity("guard", "guard", department="logistics", zone="教学区")
    refused = await ask(
        nats_url,
        contract.PEOPLE_IMPORT,
        {"filename": "p.csv", "content": csv_file(tag)},
        headers_as(guard),
    )
    assert refused["ok"] is False and "sysadmin" in refused["error"]
    anonymous = await ask(
        nats_url, contract.PEOPLE_IMPORT, {"filename": "p.csv", "content": csv_file(tag)}
    )
    assert anonymous["ok"] is False and anonymous["kind"] == "identity"
    with_password = "account,name,department,roles,password\nzz,某,nic,sysadmin,hunter2\n"
    reply = await ask(
        nats_url,
        contract.PEOPLE_IMPORT,
        {"filename": "p.csv", "content": with_password},
        headers_as(NIC),
    )
    assert reply["imported"] is False and "plain passwords" in reply["error"]


async def test_an_import_is_published_and_reaches_notify_rosters(
    console: Any, nats_url: str, database_url: str
) -> None:
    tag = uuid.uuid4().hex[:6]
    bus = await EventLog().start(nats_url, ("cctv.people.>",))
    notify = build_notify(NotifySettings(nats_url=nats_url, database_url=database_url))
    try:
        async with notify.running():
            reply = await ask(
                nats_url,
                contract.PEOPLE_IMPORT,
                {"filename": "p.csv", "content": csv_file(tag)},
                headers_as(NIC),
            )
            assert reply["imported"] is True and sorted(reply["created"]) == sorted(
                [f"g{tag}", f"d{tag}"]
            )
            [ev] = await bus.wait_for(
                "people.changed", lambda d: d["person"]["account"] == f"g{tag}"
            )
            assert ev["source"] == "console" and ev["actor"] == "nic_admin"
            assert ev["data"]["person"]["zone"] == "生活区"

            async def on_roster() -> dict[str, Any]:
                got = await ask(nats_url, "cctv.rpc.notify.roster", {})
                return {e["account"]: e for e in got["roster"]}

            from tests.support.waiting import eventually, table_changes

            async with table_changes(database_url, "notify.roster") as changed:
                roster = await eventually(
                    on_roster,
                    lambda r: f"d{tag}" in r and f"g{tag}" in r,
                    changes=changed,
                    what="the roster from the directory",
                )
            assert roster[f"g{tag}"]["zone"] == "生活区" and roster[f"g{tag}"]["role"] == "guard"
            assert roster[f"d{tag}"]["shift_start"] == "20:00:00"
            assert roster[f"g{tag}"]["on_duty"] is True  # round the clock: holds the duty now

            # disabling takes them off the roster
            off = await ask(
                nats_url,
                contract.PEOPLE_DISABLE,
                {"account": f"g{tag}", "disabled": True, "reason": "离职"},
                headers_as(NIC),
            )
            assert off["ok"] and off["change"] == "disabled"
            async with table_changes(database_url, "notify.roster") as changed:
                await eventually(
                    on_roster, lambda r: f"g{tag}" not in r, changes=changed, what="off the roster"
                )
    finally:
        await bus.close()


async def test_export_round_trips_through_import(console: Any, nats_url: str) -> None:
    for fmt in ("csv", "yaml"):
        out = await ask(nats_url, contract.PEOPLE_EXPORT, {"format": fmt}, headers_as(NIC))
        assert "guard" in out["content"] and "password" not in out["content"]
        again = await ask(
            nats_url,
            contract.PEOPLE_IMPORT,
            {"filename": out["filename"], "content": out["content"], "dry_run": True},
            headers_as(NIC),
        )
        assert again["ok"] and again.get("dry_run") is True, again


async def test_cli_login_gets_a_token_and_logins_are_audited(console: Any, nats_url: str) -> None:
    bus = await EventLog().start(nats_url, ("cctv.people.>",))
    try:
        bad = await ask(nats_url, contract.CONSOLE_LOGIN, {"account": "duty2", "password": "x"})
        assert bad["ok"] is False
        good = await ask(
            nats_url, contract.CONSOLE_LOGIN, {"account": "duty2", "password": "cctv-demo"}
        )
        assert good["ok"] and good["roles"] == ["duty_operator"]
        from cctv.plumbing.identity import Verifier

        claims = Verifier([console.settings.identity_public_key]).verify(good["token"])
        assert claims.account == "duty2" and claims.via == "cli"
        seen = await bus.wait_for(
            "people.login", lambda d: d["account"] == "duty2" and d["via"] == "cli", count=2
        )
        assert [e["data"]["ok"] for e in seen] == [False, True]
    finally:
        await bus.close()


async def test_cctv_people_imports_lists_and_refuses_a_bad_file(
    console: Any, nats_url: str, monkeypatch: Any, tmp_path: Any, capsys: Any
) -> None:
    import asyncio

    from cctv.cli.main import main as cctv
    from cctv.plumbing.identity import HEADER

    tag = uuid.uuid4().hex[:6]
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("CCTV_HOME", str(tmp_path))
    (tmp_path / "bad.csv").write_text(csv_file(tag, f"q{tag},某,logistics,guard,,,"), "utf-8")
    (tmp_path / "ok.csv").write_text(csv_file(tag), "utf-8")
    # not signed on: refused, with the way out
    assert await asyncio.to_thread(cctv, ["people", "import", str(tmp_path / "ok.csv")]) == 2
    assert "cctv login" in capsys.readouterr().err
    monkeypatch.setenv("CCTV_TOKEN", headers_as(NIC)[HEADER])
    assert await asyncio.to_thread(cctv, ["people", "import", str(tmp_path / "bad.csv")]) == 2
    assert "第4行" in capsys.readouterr().err
    assert await asyncio.to_thread(cctv, ["people", "import", str(tmp_path / "ok.csv")]) == 0
    assert "2 created" in capsys.readouterr().out
    assert await asyncio.to_thread(cctv, ["people", "list"]) == 0
    assert f"g{tag}" in capsys.readouterr().out
