"""Footage access (调阅, Art. 15-18, Annex 4) as an explicit state machine.

    pending ──approve (every step, stage by stage)──▶ approved ──retrieve──▶ retrieved
       │ └─reject (with reason)──▶ rejected
       └─withdraw (requester, before decision)──▶ withdrawn

Approval issues a :class:`Grant` (view: which cameras, which footage range, valid until when;
copy: also an export). A system administrator retrieves exactly what was granted and records
it (:class:`RetrievalRecord`, Art. 16(1)3); the retrieved footage is kept by NIC under a
:class:`PreservationHold` of one year, longer when the judiciary asks (Art. 18).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from cctv.contract import regulation
from cctv.contract.campustime import parse_instant
from cctv.contract.events import GrantRecord

from . import refusals as r
from .approval import Step
from .base import ApprovalRequest, RequestState
from .inventory import Inventory
from .org import NIC, Actor, BodyKind, Role
from .routing import METHOD_ZH, Method, derive_access_chain
from .transitions import Transition, aware

PROCESS = "access"
GRANT_VALID_DAYS = 7  # a view grant that is not used within a week lapses (Decision)
PRESERVATION_YEARS = regulation.PRESERVATION_YEARS  # Art. 18


class AccessApplication(BaseModel):
    """Annex 4 as the requester fills it in. No approver fields: those are derived."""

    body: BodyKind
    applying_unit: str = Field(min_length=1)  # department key, or the outside body's name
    viewer: str = Field(min_length=1)  # 调阅人
    viewer_id_document: str | None = None  # outside bodies: ID shown (Art. 16(2)2)
    method: Method
    reason: str = Field(min_length=1)  # 调阅理由: content and purpose
    cameras: list[str] = Field(min_length=1)
    footage_from: datetime
    footage_until: datetime
    letter_ref: str | None = None  # 公函 reference, outside bodies
    id_checked: bool = False
    case_number: str | None = None
    judicial_hold_until: date | None = None  # judiciary asks for longer preservation
    notes: str = ""

    @field_validator("footage_from", "footage_until")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return aware(v, "footage time")

    @model_validator(mode="after")
    def _range(self) -> AccessApplication:
        if self.footage_from >= self.footage_until:
            raise ValueError("footage_from must be before footage_until (调阅时间段有误)")
        return self


class Grant(GrantRecord):
    """What the approval allows, and nothing more (Art. 17): the contract's record, the
    method typed."""

    method: Method

    def covers(self, cameras: list[str], start: datetime, end: datetime) -> bool:
        """Only the approved cameras, within the approved time range (Art. 16(1)3)."""
        return (
            set(cameras) <= set(self.cameras)
            and self.footage_from <= start
            and end <= self.footage_until
        )


class RetrievalRecord(BaseModel):
    """调阅记录 (Art. 16(1)3): who retrieved, when, why, where it went, which footage."""

    retrieved_by: str
    retrieved_by_name: str
    retrieved_at: datetime
    purpose: str
    destination: str
    cameras: list[str]
    footage_from: datetime
    footage_until: datetime
    export_sha256: str | None = None  # copies: the manifest's hash, computed by media (issue 12)
    export_id: str | None = None  # the media service's export that this records
    export_store: str | None = None  # where the files are kept (evidence store)
    export_manifest: str | None = None  # the manifest's object key there


class PreservationHold(BaseModel):
    """The retrieved footage is kept by NIC and may not be deleted until ``until`` (Art. 18)."""

    hold_id: str
    request_id: str
    custodian: str = NIC
    cameras: list[str]
    footage_from: datetime
    footage_until: datetime
    since: datetime
    until: date
    basis: str  # "Art. 18" or the judicial authority's reference


def add_years(d: date, years: int) -> date:
    """Calendar years, 29 February -> 28 February (the rule of cctv.contract.regulation)."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


class AccessRequest(ApprovalRequest):
    PROCESS = PROCESS

    form: AccessApplication
    grant: Grant | None = None
    retrievals: list[RetrievalRecord] = Field(default_factory=list)
    holds: list[PreservationHold] = Field(default_factory=list)

    def visible_to(self, actor: Actor) -> bool:
        """Also the viewer an approved grant names (Annex 4 调阅人) within the applying unit:
        they open the grant to watch it in the media service's viewer (Art. 16-17, ADR 0022),
        even when someone else of their unit filled in the form."""
        if super().visible_to(actor):
            return True
        g = self.grant
        return (
            g is not None
            and bool(actor.name)
            and actor.name == g.grantee
            and actor.department == self.form.applying_unit
        )

    @staticmethod
    def preview(form: AccessApplication, inventory: Inventory) -> list[Step]:
        """The chain the requester will see before submitting (or the refusal)."""
        return derive_access_chain(
            inventory,
            body=form.body,
            applying_unit=form.applying_unit,
            method=form.method,
            camera_ids=form.cameras,
            letter_ref=form.letter_ref,
            id_checked=form.id_checked,
            case_number=form.case_number,
        )

    @classmethod
    def submit(
        cls,
        request_id: str,
        form: AccessApplication,
        requester: Actor,
        inventory: Inventory,
        now: datetime,
    ) -> tuple[AccessRequest, list[Transition]]:
        now = aware(now)
        if form.body is BodyKind.INTERNAL and requester.department != form.applying_unit:
            raise r.access_not_your_unit(form.applying_unit)
        return cls._open(request_id, form, requester, now, cls.preview(form, inventory))

    def _data(self) -> dict[str, Any]:
        d = super()._data()
        d.update(
            body=self.form.body.value,
            applying_unit=self.form.applying_unit,
            method=self.form.method.value,
            cameras=list(self.form.cameras),
        )
        return d

    def _on_approved(self, actor: Actor, now: datetime, **kw: Any) -> list[Transition]:
        self.grant = self._make_grant(now)
        return [self._t("approved", actor, now, grant=self.grant.model_dump(mode="json"))]

    def _make_grant(self, now: datetime) -> Grant:
        f = self.form
        return Grant(
            grant_id=f"{self.request_id}-G",
            request_id=self.request_id,
            grantee=f.viewer,
            method=f.method,
            cameras=list(f.cameras),
            footage_from=f.footage_from,
            footage_until=f.footage_until,
            valid_until=now + timedelta(days=GRANT_VALID_DAYS),
            export=f.method is Method.COPY,
            watermark=f"{f.viewer} · {self.request_id} · 仅限审批范围内{METHOD_ZH[f.method]}",
        )

    # ---- after approval ----

    def retrieve(
        self,
        actor: Actor,
        now: datetime,
        *,
        purpose: str,
        destination: str,
        cameras: list[str] | None = None,
        footage_from: datetime | None = None,
        footage_until: datetime | None = None,
        export_sha256: str | None = None,
    ) -> list[Transition]:
        """A system administrator retrieves exactly what the grant allows, and records it."""
        now = aware(now)
        g = self._approved_grant()
        if not actor.has(Role.SYSADMIN):
            raise r.not_sysadmin()
        if actor.person_id == self.requester.person_id:
            raise r.own_request()
        if not purpose.strip():
            raise r.missing_field("purpose", "调取用途", "Art. 16(1)3")
        if not destination.strip():
            raise r.missing_field("destination", "去向", "Art. 16(1)3")
        if g.revoked_at is not None:
            raise r.grant_revoked()
        if now > g.valid_until:
            raise r.grant_expired(g.valid_until.isoformat())
        cams = cameras if cameras is not None else list(g.cameras)
        f_from = aware(footage_from, "footage_from") if footage_from else g.footage_from
        f_until = aware(footage_until, "footage_until") if footage_until else g.footage_until
        if not g.covers(cams, f_from, f_until):
            raise r.beyond_grant()
        if f_from >= f_until or not cams:
            raise r.empty_retrieval()
        if g.export:
            raise r.export_by_system()
        if export_sha256:
            raise r.copy_not_granted()
        rec = RetrievalRecord(
            retrieved_by=actor.person_id,
            retrieved_by_name=actor.display,
            retrieved_at=now,
            purpose=purpose.strip(),
            destination=destination.strip(),
            cameras=cams,
            footage_from=f_from,
            footage_until=f_until,
            export_sha256=export_sha256,
        )
        return self._retrieved(rec, actor, now)

    def revoke(self, actor: Actor, now: datetime, reason: str) -> list[Transition]:
        """Withdraw a grant before it runs out (issue 12): whoever approved it, or the school
        leader. The media service stops exporting and showing it from this event on; what was
        already retrieved stays recorded and held (Art. 18)."""
        now = aware(now)
        g = self.grant
        if g is None or self.state not in (RequestState.APPROVED, RequestState.RETRIEVED):
            raise r.nothing_to_revoke()
        if g.revoked_at is not None:
            raise r.already_revoked()
        approvers = {
            o.approver.person_id for o in self.flow.opinions if o.decision.value == "approve"
        }
        if actor.person_id not in approvers and not actor.has(Role.LEADER):
            raise r.not_approver()
        if not reason.strip():
            raise r.missing_field("reason", "撤销理由", "Art. 16")
        self.grant = g.model_copy(
            update={"revoked_at": now, "revoked_by": actor.person_id, "revoke_reason": reason}
        )
        return [self._t("revoked", actor, now, grant=self.grant.model_dump(mode="json"))]

    def record_export(self, now: datetime, export: dict[str, Any]) -> list[Transition]:
        """Record the retrieval the media service carried out (an `access.exported` event):
        from what it actually fetched and hashed, never from typed-in values (issue 12).
        Recording the same export twice changes nothing."""
        now = aware(now)
        if any(x.export_id == export["export_id"] for x in self.retrievals):
            return []
        g = self._approved_grant()
        if not g.export:
            raise r.copy_not_granted()
        cams = list(export["camera_ids"])
        f_from = parse_instant(export["footage_from"], "footage_from")
        f_until = parse_instant(export["footage_until"], "footage_until")
        if not g.covers(cams, f_from, f_until):
            raise r.beyond_grant()
        rec = RetrievalRecord(
            retrieved_by=str(export["requested_by"]),
            retrieved_by_name=str(export.get("requested_by_name") or export["requested_by"]),
            retrieved_at=parse_instant(export["exported_at"], "exported_at"),
            purpose=str(export["purpose"]),
            destination=str(export["destination"]),
            cameras=cams,
            footage_from=f_from,
            footage_until=f_until,
            export_sha256=str(export["manifest_sha256"]),
            export_id=str(export["export_id"]),
            export_store=str(export.get("store", "")),
            export_manifest=str(export.get("manifest_key", "")),
        )
        return self._retrieved(rec, None, now)

    def _approved_grant(self) -> Grant:
        """The grant footage is retrieved under: only an approved request has one (Art. 15)."""
        if self.state not in (RequestState.APPROVED, RequestState.RETRIEVED) or self.grant is None:
            raise r.not_approved()
        return self.grant

    def _retrieved(
        self, rec: RetrievalRecord, actor: Actor | None, now: datetime
    ) -> list[Transition]:
        """Footage retrieved (by hand, or by media's export: no actor) is recorded and held
        for a year (Art. 18)."""
        self.retrievals.append(rec)
        self.state = RequestState.RETRIEVED
        hold = self._make_hold(rec, len(self.holds) + 1)
        self.holds.append(hold)
        return [
            self._t("retrieved", actor, now, retrieval=rec.model_dump(mode="json")),
            self._t("held", actor, now, hold=hold.model_dump(mode="json")),
        ]

    def _make_hold(self, rec: RetrievalRecord, n: int) -> PreservationHold:
        until = regulation.preserved_until(rec.retrieved_at.date())
        basis = "Art. 18"
        asked = self.form.judicial_hold_until
        if self.form.body is BodyKind.JUDICIARY and asked and asked > until:
            ref = self.form.case_number or self.form.letter_ref
            until, basis = asked, f"Art. 18 司法机关要求 / judicial requirement ({ref})"
        return PreservationHold(
            hold_id=f"{self.request_id}-H{n}",
            request_id=self.request_id,
            cameras=rec.cameras,
            footage_from=rec.footage_from,
            footage_until=rec.footage_until,
            since=rec.retrieved_at,
            until=until,
            basis=basis,
        )

    def extend_hold(
        self, actor: Actor, now: datetime, hold_id: str, until: date, authority_ref: str
    ) -> list[Transition]:
        """A judicial authority requires longer preservation; holds never shrink (Art. 18)."""
        now = aware(now)
        if not actor.has(Role.SYSADMIN, NIC):
            raise r.not_custodian()
        if not authority_ref.strip():
            raise r.missing_field("authority_ref", "司法机关文书编号", "Art. 18")
        for i, h in enumerate(self.holds):
            if h.hold_id == hold_id:
                if until <= h.until:
                    raise r.hold_shortened(h.until.isoformat())
                self.holds[i] = h.model_copy(
                    update={"until": until, "basis": f"{h.basis}; {authority_ref.strip()}"}
                )
                return [
                    self._t("hold_extended", actor, now, hold=self.holds[i].model_dump(mode="json"))
                ]
        raise r.hold_not_found(hold_id)

    def held_on(self, camera_id: str, at: datetime, day: date) -> bool:
        """Is footage of this camera at ``at`` under a hold on ``day``? (for retention checks)"""
        return any(
            camera_id in h.cameras and h.footage_from <= at <= h.footage_until and day <= h.until
            for h in self.holds
        )
