"""Property: no sequence of actions reaches 'approved' without every required step.

Random requests (random cameras and requesters) meet random sequences of approve / reject /
withdraw by random people (right and wrong roles, the requester, repeat approvers, explicit and
implicit step keys). Whatever happens, an approved request has exactly one approval per step of
the chain derived from the inventory, by a distinct eligible person who is not the requester,
stage by stage; a refused action changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.workflow.access import AccessApplication, AccessRequest
from services.workflow.approval import Decision
from services.workflow.base import RequestState
from services.workflow.inventory import Inventory
from services.workflow.org import Actor, Role
from services.workflow.refusals import WorkflowError
from tests.workflow.wf_campus import CAMERAS, PEOPLE

INV = Inventory(CAMERAS)
DEPTS = ["college_se", "logistics", "academic", "student", "party_admin", "nic"]
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

actors = st.one_of(
    st.sampled_from(sorted(PEOPLE.values(), key=lambda a: a.person_id)),
    st.builds(
        lambda n, d, rs: Actor(person_id=f"rand{n}", name="x", department=d, roles=frozenset(rs)),
        st.integers(0, 5),
        st.sampled_from([*DEPTS, None]),
        st.sets(st.sampled_from(list(Role)), max_size=2),
    ),
)
step_keys = st.sampled_from(
    [None] * 8
    + [
        "unit",
        "leader",
        "managing:logistics",
        "managing:academic",
        "managing:student",
        "managing:party_admin",
        "managing:nic",
        "bogus",
    ]
)
# An actor is anyone at all, the requester, or "the right signer for step number i of the
# chain" (maybe out of turn): that makes approvals common enough to exercise the property.
signers = st.integers(0, 3)
actor_specs = st.one_of(signers, signers, signers, signers, actors, st.just("requester"))
actions = st.lists(
    st.tuples(st.sampled_from(["approve"] * 6 + ["reject", "withdraw"]), actor_specs, step_keys),
    max_size=20,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cams=st.lists(
        st.sampled_from([c.camera_id for c in CAMERAS]), min_size=1, max_size=4, unique=True
    ),
    unit=st.sampled_from(DEPTS),
    seq=actions,
)
def test_no_approval_without_every_step(cams: list[str], unit: str, seq) -> None:
    requester = Actor(person_id="requester", name="r", department=unit, roles=frozenset())
    form = AccessApplication(
        body="internal",
        applying_unit=unit,
        viewer="v",
        method="view",
        reason="r",
        cameras=cams,
        footage_from=T0 - timedelta(hours=2),
        footage_until=T0,
    )
    req, _ = AccessRequest.submit("P", form, requester, INV, T0)
    expected_steps = AccessRequest.preview(form, INV)
    t = T0
    for kind, spec, key in [("approve", requester, None), *seq]:
        t += timedelta(minutes=1)
        if isinstance(spec, int):
            step = expected_steps[spec % len(expected_steps)]
            actor = _signer(step.role, step.department)
        elif spec == "requester":
            actor = requester
        else:
            actor = spec
        before = req.model_dump_json()
        try:
            if kind == "approve":
                req.approve(actor, t, "同意", step_key=key)
            elif kind == "reject":
                req.reject(actor, t, "不同意", step_key=key)
            else:
                req.withdraw(actor, t)
        except WorkflowError:
            assert req.model_dump_json() == before, "a refused action changed the request"
        req.check_invariant()
    event(f"final state: {req.state.value}")
    assert req.flow.steps == expected_steps  # the chain cannot drift from the inventory
    approvals = [o for o in req.flow.opinions if o.decision is Decision.APPROVE]
    if req.state is RequestState.APPROVED:
        assert sorted(o.step_key for o in approvals) == sorted(s.key for s in expected_steps)
        assert len({o.approver.person_id for o in approvals}) == len(approvals)
        assert "requester" not in {o.approver.person_id for o in approvals}
        stages = [req.flow.step(o.step_key).stage for o in approvals]
        assert stages == sorted(stages)
    else:
        assert req.grant is None
        assert len(approvals) < len(expected_steps) or req.state is not RequestState.PENDING


@settings(max_examples=60, deadline=None)
@given(
    cams=st.lists(
        st.sampled_from([c.camera_id for c in CAMERAS]), min_size=1, max_size=5, unique=True
    ),
    unit=st.sampled_from(DEPTS),
)
def test_right_people_in_order_always_approve(cams: list[str], unit: str) -> None:
    """The converse: the chain is always completable by the people it names."""
    requester = Actor(person_id="requester", name="r", department=unit, roles=frozenset())
    form = AccessApplication(
        body="internal",
        applying_unit=unit,
        viewer="v",
        method="view",
        reason="r",
        cameras=cams,
        footage_from=T0 - timedelta(hours=2),
        footage_until=T0,
    )
    req, _ = AccessRequest.submit("P", form, requester, INV, T0)
    for step in sorted(req.flow.steps, key=lambda s: -s.stage):  # reversed: must be refused
        if step.stage > 1:
            signer = _signer(step.role, step.department)
            try:
                req.approve(signer, T0, step_key=step.key)
                raise AssertionError("a later stage signed first")
            except WorkflowError as e:
                assert e.code == "out_of_order"
            break
    for step in sorted(req.flow.steps, key=lambda s: s.stage):
        req.approve(_signer(step.role, step.department), T0, step_key=step.key)
    assert req.state is RequestState.APPROVED


def _signer(role: Role, dept: str | None) -> Actor:
    return Actor(person_id=f"{role}-{dept}", name="s", department=dept, roles=frozenset({role}))
