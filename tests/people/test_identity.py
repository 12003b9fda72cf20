"""Who a request acts for is a signed, short-lived identity, verified by the service that
answers — never a name the caller typed (issue 11)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cctv.plumbing.identity import HEADER, IdentityError, Signer, Verifier, new_keypair
from cctv.plumbing.identity import caller as current_caller
from cctv.plumbing.service import Service
from cctv.plumbing.settings import ServiceSettings
from services.workflow import rpc as wf_rpc
from services.workflow.app import build as build_workflow
from services.workflow.settings import WorkflowSettings
from tests.support.asking import ask
from tests.support.identity import headers_as, identity, signer

LEADER = identity("t_leader", "school_leader", name="王校长")
GUARD = identity("t_guard", "guard", department="logistics", zone="教学区")


def test_a_token_verifies_and_names_the_person() -> None:
    private, public = new_keypair()
    claims = Verifier([public]).verify(Signer(private).sign(GUARD))
    assert (claims.account, claims.roles, claims.zone) == ("t_guard", ("guard",), "教学区")


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda t, _k: t.rsplit(".", 1)[0] + "." + t.rsplit(".", 1)[1][::-1], "signature"),
        (lambda _t, k: Signer(k).sign(LEADER), "signature"),  # a key of one's own
        (lambda t, _k: t.replace("v1.", "v0.", 1), "v1"),
        (lambda _t, _k: "anyone", "v1"),
        (
            lambda t, _k: ".".join([t.split(".")[0], t.split(".")[1][:-4], t.split(".")[2]]),
            "signature",
        ),
    ],
)
def test_a_forged_or_altered_token_is_refused(tamper: Any, reason: str) -> None:
    private, public = new_keypair()
    other_private, _ = new_keypair()
    token = Signer(private).sign(GUARD)
    with pytest.raises(IdentityError, match=reason):
        Verifier([public]).verify(tamper(token, other_private))


def test_an_expired_token_is_refused() -> None:
    private, public = new_keypair()
    token = Signer(private).sign(GUARD, ttl_s=60, now=time.time() - 3600)
    with pytest.raises(IdentityError, match="expired"):
        Verifier([public]).verify(token)


def test_a_service_without_the_public_key_cannot_be_told_who() -> None:
    with pytest.raises(IdentityError, match="IDENTITY_PUBLIC_KEY"):
        Verifier([]).verify(signer().sign(GUARD))


@pytest.fixture
async def echo(nats_url: str, database_url: str) -> AsyncIterator[str]:
    """A responder that answers with the caller the plumbing verified."""
    subject = f"test.identity.{uuid.uuid4().hex[:8]}"
    svc = Service(
        "ingest",
        ServiceSettings(nats_url=nats_url, database_url=database_url),
        schema=f"id_{uuid.uuid4().hex[:8]}",
    )

    async def who(_req: dict[str, Any]) -> dict[str, Any]:
        c = current_caller()
        return {"caller": c.account if c else None}

    svc.respond(subject, who)
    async with svc.running():
        yield subject


async def test_the_responder_sees_the_signed_caller_and_only_it(echo: str, nats_url: str) -> None:
    assert (await ask(nats_url, echo, {}, headers_as(GUARD)))["caller"] == "t_guard"
    assert (await ask(nats_url, echo, {"actor": "t_leader"}))["caller"] is None
    forged = {HEADER: Signer(new_keypair()[0]).sign(LEADER)}
    reply = await ask(nats_url, echo, {}, forged)
    assert reply["ok"] is False and reply["kind"] == "identity"
    assert "signature does not verify" in reply["error"]


@pytest.fixture
async def workflow(nats_url: str, database_url: str) -> AsyncIterator[str]:
    tag = uuid.uuid4().hex[:8]
    svc = build_workflow(
        WorkflowSettings(nats_url=nats_url, database_url=database_url, remind_poll_s=3600.0),
        schema=f"wf_id_{tag}",
        durable_suffix=f"-{tag}",
        rpc_prefix=f"test.wfid.{tag}",
    )
    async with svc.running():
        yield f"test.wfid.{tag}"


async def test_approving_as_a_typed_name_is_refused(workflow: str, nats_url: str) -> None:
    """The attack: `cctv.rpc.workflow.approve` with a made-up approver in the body."""
    made_up = {"person_id": "t_leader", "name": "王校长", "department": None, "roles": ["leader"]}
    subject = workflow + wf_rpc.APPROVE.removeprefix(wf_rpc.PREFIX)
    reply = await ask(nats_url, subject, {"request_id": "XZ-2026-000001", "actor": made_up})
    assert reply["ok"] is False and reply["code"] == "identity_required"
    assert reply["article"] == "Art. 15"


# an urgent new camera point any staff member of a department may ask for (Art. 6)
PARKING = {
    "department": "college_se",
    "need": "新建停车场无监控",
    "urgent": True,
    "positions": ["北门停车场 朝南"],
}


async def test_the_body_cannot_change_who_acts(workflow: str, nats_url: str) -> None:
    """A staff member's token with a leader in the body submits as the staff member."""
    subject = workflow + wf_rpc.SUBMIT.removeprefix(wf_rpc.PREFIX)
    made_up = {"person_id": "t_leader", "name": "王校长", "department": None, "roles": ["leader"]}
    form = PARKING
    staff = identity("t_staff", department="college_se", name="李老师")
    reply = await ask(
        nats_url,
        subject,
        {"process": "newpoint", "form": form, "actor": made_up},
        headers_as(staff),
    )
    assert reply["ok"] is True, reply
    assert reply["request"]["requester"]["person_id"] == "t_staff"
    assert reply["request"]["requester"]["name"] == "李老师"


async def test_a_request_is_visible_to_its_people_not_to_every_guard(
    workflow: str, nats_url: str
) -> None:
    """The attack: a guard read (and printed) anyone's footage request."""
    submit = workflow + wf_rpc.SUBMIT.removeprefix(wf_rpc.PREFIX)
    get = workflow + wf_rpc.GET.removeprefix(wf_rpc.PREFIX)
    listing = workflow + wf_rpc.LIST.removeprefix(wf_rpc.PREFIX)
    form = PARKING
    staff = identity("t_staff2", department="college_se", name="李老师")
    made = await ask(nats_url, submit, {"process": "newpoint", "form": form}, headers_as(staff))
    rid = made["request"]["request_id"]
    guard = identity("t_guard9", "guard", department="logistics", zone="教学区")
    refused = await ask(nats_url, get, {"request_id": rid}, headers_as(guard))
    assert refused["ok"] is False and refused["code"] == "not_found"
    listed = await ask(nats_url, listing, {}, headers_as(guard))
    assert rid not in {x["request_id"] for x in listed["requests"]}
    for who in (staff, identity("t_nic9", "sysadmin", department="nic")):
        seen = await ask(nats_url, get, {"request_id": rid}, headers_as(who))
        assert seen["ok"] is True and seen["request"]["request_id"] == rid
    anonymous = await ask(nats_url, get, {"request_id": rid})
    assert anonymous["ok"] is False and anonymous["code"] == "identity_required"
