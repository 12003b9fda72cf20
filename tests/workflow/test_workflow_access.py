"""Footage access end to end in the domain: approvals, grant, retrieval record, hold."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.workflow.access import AccessApplication, AccessRequest
from services.workflow.base import RequestState
from services.workflow.inventory import Inventory
from services.workflow.org import Actor
from services.workflow.refusals import InvalidInput, RuleViolation

F0 = datetime(2026, 2, 27, 12, 0, tzinfo=UTC)
F1 = F0 + timedelta(hours=2)


def form(**kw) -> AccessApplication:
    base = {
        "body": "internal",
        "applying_unit": "college_se",
        "viewer": "李老师",
        "method": "view",
        "reason": "学生物品丢失，查看走廊",
        "cameras": ["ps-gate-1", "te-exam-104a"],
        "footage_from": F0,
        "footage_until": F1,
    }
    base.update(kw)
    return AccessApplication.model_validate(base)


def submitted(inventory, people, now, **kw) -> AccessRequest:
    req, ts = AccessRequest.submit("ACC-1", form(**kw), people["se_staff"], inventory, now)
    assert [t.subject for t in ts] == ["cctv.workflow.access.submitted"]
    assert len(ts[0].data["chain"]) == len(req.flow.steps)
    return req


def test_full_path_grant_retrieval_hold(inventory: Inventory, people, now) -> None:
    req = submitted(inventory, people, now)
    t = now
    names = []
    for who in ["se_head", "ac_head", "lg_head", "leader"]:
        t += timedelta(minutes=5)
        names += [x.name for x in req.approve(people[who], t, "同意")]
    assert names == ["opinion"] * 4 + ["approved"]
    assert req.state is RequestState.APPROVED
    g = req.grant
    assert g is not None and not g.export and g.cameras == ["ps-gate-1", "te-exam-104a"]
    assert g.valid_until == t + timedelta(days=7)
    assert [o.approver.person_id for o in req.flow.opinions] == [
        "se_head",
        "ac_head",
        "lg_head",
        "leader",
    ]
    ts = req.retrieve(
        people["nic_admin"],
        t + timedelta(hours=1),
        purpose="查找丢失物品",
        destination="学院保卫科",
    )
    assert [x.subject for x in ts] == [
        "cctv.workflow.access.retrieved",
        "cctv.workflow.access.held",
    ]
    rec, hold = req.retrievals[0], req.holds[0]
    assert rec.retrieved_by == "nic_admin" and rec.footage_from == F0
    assert hold.until == date(2027, 3, 2) and hold.custodian == "nic"
    assert req.state is RequestState.RETRIEVED
    req.check_invariant()


def test_sequence_rules(inventory: Inventory, people, now) -> None:
    req = submitted(inventory, people, now)
    with pytest.raises(RuleViolation, match="own request"):
        req.approve(people["se_staff"], now)
    with pytest.raises(RuleViolation) as ei:
        req.approve(people["leader"], now)
    assert ei.value.code == "out_of_order"
    with pytest.raises(RuleViolation) as ei:
        req.approve(people["lg_head"], now, step_key="managing:logistics")
    assert ei.value.code == "out_of_order"
    with pytest.raises(RuleViolation) as ei:
        req.approve(people["st_head"], now)
    assert ei.value.code == "not_your_step"
    req.approve(people["se_head"], now)
    with pytest.raises(RuleViolation) as ei:
        req.approve(people["se_head"], now)
    assert ei.value.code == "approved_twice"
    # Stage 2 parts in either order.
    req.approve(people["lg_head"], now)
    req.approve(people["ac_head"], now)
    assert req.state is RequestState.PENDING
    with pytest.raises(InvalidInput):
        req.reject(people["leader"], now, "  ")
    ts = req.reject(people["leader"], now, "理由不充分")
    assert ts[0].name == "rejected" and req.state is RequestState.REJECTED
    with pytest.raises(RuleViolation):
        req.approve(people["leader"], now)
    with pytest.raises(RuleViolation):
        req.withdraw(people["se_staff"], now)


def test_withdraw_only_by_requester_before_decision(inventory, people, now) -> None:
    req = submitted(inventory, people, now)
    with pytest.raises(RuleViolation, match="only the requester"):
        req.withdraw(people["se_head"], now)
    assert req.withdraw(people["se_staff"], now, "不再需要")[0].name == "withdrawn"
    with pytest.raises(RuleViolation):
        req.approve(people["se_head"], now)


def test_internal_request_only_for_own_unit(inventory, people, now) -> None:
    with pytest.raises(InvalidInput, match="own department"):
        AccessRequest.submit(
            "A", form(applying_unit="logistics"), people["se_staff"], inventory, now
        )


def approved_copy(inventory, people, now, **kw) -> AccessRequest:
    f = form(
        body="judiciary",
        applying_unit="海口市龙华区人民法院",
        method="copy",
        cameras=["ps-gate-1"],
        letter_ref="函(2026)1",
        id_checked=True,
        case_number="(2026)琼0106刑初9号",
        **kw,
    )
    req, _ = AccessRequest.submit("ACC-J", f, people["lg_staff"], inventory, now)
    req.approve(people["lg_head"], now)
    req.approve(people["leader"], now)
    assert req.grant is not None and req.grant.export
    return req


def exported(req: AccessRequest, at: datetime, **kw: Any) -> dict[str, Any]:
    """What the media service announces (`access.exported`) after carrying out a copy grant."""
    assert req.grant is not None
    e: dict[str, Any] = {
        "export_id": f"{req.request_id}-E1",
        "request_id": req.request_id,
        "grant_id": req.grant.grant_id,
        "requested_by": "nic_admin",
        "requested_by_name": "赵敏",
        "purpose": "取证",
        "destination": "法院刑庭",
        "camera_ids": list(req.grant.cameras),
        "footage_from": req.grant.footage_from.isoformat(),
        "footage_until": req.grant.footage_until.isoformat(),
        "exported_at": at.isoformat(),
        "store": "local:/evidence",
        "manifest_key": f"{req.request_id}/{req.request_id}-E1/manifest.json",
        "manifest_sha256": "ab" * 32,
    }
    e.update(kw)
    return e


def test_retrieval_exactly_as_approved(inventory, people, now) -> None:
    req = approved_copy(inventory, people, now)
    t = now + timedelta(hours=1)
    admin = people["nic_admin"]
    with pytest.raises(RuleViolation, match="system administrator"):
        req.retrieve(people["lg_head2"], t, purpose="p", destination="d")
    with pytest.raises(RuleViolation, match="exactly what was approved"):
        req.retrieve(admin, t, purpose="p", destination="d", cameras=["dorm-1"])
    with pytest.raises(RuleViolation, match="expired"):
        req.retrieve(admin, now + timedelta(days=8), purpose="p", destination="d")
    # a copy is made by the system, which records it; a typed-in hash is not accepted (issue 12)
    with pytest.raises(RuleViolation, match="carried out by the system") as exc:
        req.retrieve(admin, t, purpose="p", destination="d", export_sha256="ab" * 32)
    assert exc.value.article == "Art. 17"
    with pytest.raises(RuleViolation, match="exactly what was approved"):
        req.record_export(t, exported(req, t, camera_ids=["dorm-1"]))
    until = F1 + timedelta(minutes=1)
    with pytest.raises(RuleViolation, match="exactly what was approved"):
        req.record_export(t, exported(req, t, footage_until=until.isoformat()))
    ts = req.record_export(t, exported(req, t))
    assert [x.name for x in ts] == ["retrieved", "held"]
    rec = req.retrievals[0]
    assert rec.export_sha256 == "ab" * 32 and rec.retrieved_by == "nic_admin"
    assert rec.export_id == "ACC-J-E1" and rec.export_store == "local:/evidence"
    assert req.holds[0].until == date(2027, 3, 2)
    assert req.record_export(t, exported(req, t)) == []  # the same export twice: recorded once
    assert len(req.retrievals) == 1


def test_view_grant_forbids_export(inventory, people, now) -> None:
    req = submitted(inventory, people, now, cameras=["ps-gate-1"])
    req.approve(people["se_head"], now)
    req.approve(people["lg_head"], now)
    assert req.state is RequestState.APPROVED
    with pytest.raises(RuleViolation, match="viewing only"):
        req.retrieve(people["nic_admin"], now, purpose="p", destination="d", export_sha256="ab")


def test_judiciary_longer_hold_and_extension(inventory, people, now) -> None:
    req = approved_copy(inventory, people, now, judicial_hold_until=date(2029, 12, 31))
    req.record_export(now, exported(req, now))
    hold = req.holds[0]
    assert hold.until == date(2029, 12, 31) and "judicial" in hold.basis
    with pytest.raises(RuleViolation, match="never shortened"):
        req.extend_hold(people["nic_admin"], now, hold.hold_id, date(2028, 1, 1), "文书")
    with pytest.raises(RuleViolation):
        req.extend_hold(people["lg_head"], now, hold.hold_id, date(2031, 1, 1), "文书")
    ts = req.extend_hold(people["nic_admin"], now, hold.hold_id, date(2031, 1, 1), "(2029)续1号")
    assert ts[0].name == "hold_extended" and req.holds[0].until == date(2031, 1, 1)
    at = F0 + timedelta(minutes=30)
    assert req.held_on("ps-gate-1", at, date(2030, 6, 1))
    assert not req.held_on("dorm-1", at, date(2030, 6, 1))


def test_leap_day_hold() -> None:
    from services.workflow.access import add_years

    assert add_years(date(2028, 2, 29), 1) == date(2029, 2, 28)


def test_roundtrip_serialisation(inventory, people, now) -> None:
    req = submitted(inventory, people, now)
    req.approve(people["se_head"], now)
    again = AccessRequest.model_validate_json(req.model_dump_json())
    assert again == req
    assert isinstance(again.flow.opinions[0].approver, Actor)


def test_revoked_grant_allows_nothing_more(inventory, people, now) -> None:
    req = approved_copy(inventory, people, now)
    t = now + timedelta(hours=1)
    with pytest.raises(RuleViolation, match="only someone who approved it"):
        req.revoke(people["nic_admin"], t, "误批")
    with pytest.raises(InvalidInput, match="reason"):
        req.revoke(people["lg_head"], t, " ")
    (ts,) = req.revoke(people["lg_head"], t, "案件已撤销")
    assert ts.name == "revoked" and ts.data["grant"]["revoked_by"] == people["lg_head"].person_id
    assert req.grant is not None and req.grant.revoked_at == t
    with pytest.raises(RuleViolation, match="already revoked"):
        req.revoke(people["leader"], t, "again")
    view = submitted(inventory, people, now, cameras=["ps-gate-1"])
    view.approve(people["se_head"], now)
    view.approve(people["lg_head"], now)
    view.revoke(people["leader"], t, "不再需要")  # the school leader may revoke any grant
    with pytest.raises(RuleViolation, match="revoked"):
        view.retrieve(people["nic_admin"], t, purpose="p", destination="d")
