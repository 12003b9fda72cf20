"""Duty logbook and shift handover (Art. 13-14).

The logbook is append-only: an entry is never edited; closing it appends a closure. A handover
carries every open alert, fault and log item at the moment it is offered; the outgoing operator
cannot leave one out, and it counts only once the incoming operator has confirmed each item
(交接班无遗漏、无差错). If something new opened meanwhile, confirmation is refused until the
handover is offered again with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from cctv.contract.workflow import KIND_ZH, EntryKind

from . import refusals as r
from .org import Actor, Role
from .transitions import Transition, aware

LOG_PROCESS = "dutylog"
HANDOVER_PROCESS = "handover"


__all__ = ["KIND_ZH", "DutyLog", "EntryKind", "ShiftHandover"]  # kinds live in the contract


class LogEntry(BaseModel):
    entry_id: str
    at: datetime
    operator: str
    operator_name: str
    kind: EntryKind
    text: str = Field(min_length=1)
    cameras: list[str] = Field(default_factory=list)
    location: str = ""
    reported_to: str = ""  # superior informed (Art. 13) / repair ticket for a fault (Art. 4)
    closed_at: datetime | None = None
    closed_by: str | None = None
    resolution: str = ""

    @property
    def open(self) -> bool:
        return self.closed_at is None and self.kind is not EntryKind.NOTE


def _operator(actor: Actor) -> None:
    if not actor.has(Role.OPERATOR):
        raise r.not_operator()


class DutyLog(BaseModel):
    entries: list[LogEntry] = Field(default_factory=list)

    def record(
        self,
        actor: Actor,
        now: datetime,
        entry_id: str,
        kind: EntryKind,
        text: str,
        *,
        cameras: Iterable[str] = (),
        location: str = "",
        reported_to: str = "",
    ) -> tuple[LogEntry, list[Transition]]:
        now = aware(now)
        _operator(actor)
        if not text.strip():
            raise r.missing_field("text", "情况记录", "Art. 14(2)")
        if kind is EntryKind.FAULT and not reported_to.strip():
            raise r.missing_field("reported_to", "故障报修去向（一卡通报修单号）", "Art. 14(4)")
        e = LogEntry(
            entry_id=entry_id,
            at=now,
            operator=actor.person_id,
            operator_name=actor.display,
            kind=kind,
            text=text.strip(),
            cameras=list(cameras),
            location=location,
            reported_to=reported_to,
        )
        self.entries.append(e)
        t = Transition(
            process=LOG_PROCESS,
            name="recorded",
            key=entry_id,
            actor=actor.person_id,
            time=now,
            data=e.model_dump(mode="json"),
        )
        return e, [t]

    def close(
        self, actor: Actor, now: datetime, entry_id: str, resolution: str
    ) -> list[Transition]:
        now = aware(now)
        _operator(actor)
        if not resolution.strip():
            raise r.missing_field("resolution", "处理结果", "Art. 14")
        for i, e in enumerate(self.entries):
            if e.entry_id == entry_id:
                if not e.open:
                    raise r.entry_closed()
                self.entries[i] = e.model_copy(
                    update={
                        "closed_at": now,
                        "closed_by": actor.person_id,
                        "resolution": resolution,
                    }
                )
                return [
                    Transition(
                        process=LOG_PROCESS,
                        name="closed",
                        key=entry_id,
                        actor=actor.person_id,
                        time=now,
                        data={"entry_id": entry_id, "resolution": resolution},
                    )
                ]
        raise r.entry_not_found(entry_id)

    def open_items(self) -> list[OpenItem]:
        return [
            OpenItem(kind="log", ref=e.entry_id, summary=f"{KIND_ZH[e.kind]}：{e.text}")
            for e in self.entries
            if e.open
        ]


class OpenItem(BaseModel):
    """Something the next shift must carry on: an alert, a fault or a log entry."""

    kind: str  # alert | fault | log
    ref: str
    summary: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"


class HandoverState(StrEnum):
    OFFERED = "offered"  # 待接班确认
    CONFIRMED = "confirmed"  # 已交接
    SUPERSEDED = "superseded"  # re-offered with new items


class ShiftHandover(BaseModel):
    handover_id: str
    outgoing: str
    outgoing_name: str
    incoming: str
    offered_at: datetime
    items: list[OpenItem]
    notes: str = ""
    state: HandoverState = HandoverState.OFFERED
    confirmed_at: datetime | None = None

    @classmethod
    def offer(
        cls,
        handover_id: str,
        outgoing: Actor,
        incoming_id: str,
        now: datetime,
        open_now: Iterable[OpenItem],
        notes: str = "",
    ) -> tuple[ShiftHandover, list[Transition]]:
        """Build the handover from *everything* open now: nothing can be left out by hand."""
        now = aware(now)
        _operator(outgoing)
        if incoming_id == outgoing.person_id:
            raise r.self_handover()
        items = sorted({i.key: i for i in open_now}.values(), key=lambda i: i.key)
        h = cls(
            handover_id=handover_id,
            outgoing=outgoing.person_id,
            outgoing_name=outgoing.display,
            incoming=incoming_id,
            offered_at=now,
            items=items,
            notes=notes,
        )
        return h, [h._t("offered", outgoing, now)]

    def _t(self, name: str, actor: Actor, now: datetime) -> Transition:
        return Transition(
            process=HANDOVER_PROCESS,
            name=name,
            key=self.handover_id,
            actor=actor.person_id,
            time=now,
            data=self.model_dump(mode="json"),
        )

    def _must_be_offered(self) -> None:
        if self.state is not HandoverState.OFFERED:
            raise r.handover_done()

    def supersede(self, actor: Actor, now: datetime, by: str) -> list[Transition]:
        """The outgoing operator offered again (something new opened): this offer lapses."""
        now = aware(now)
        self._must_be_offered()
        self.state = HandoverState.SUPERSEDED
        t = self._t("superseded", actor, now)
        t.data["superseded_by"] = by
        return [t]

    def confirm(
        self,
        actor: Actor,
        now: datetime,
        acknowledged: Iterable[str],
        open_now: Iterable[OpenItem],
    ) -> list[Transition]:
        """The incoming operator confirms each carried item; new open items force a re-offer."""
        now = aware(now)
        _operator(actor)
        self._must_be_offered()
        if actor.person_id != self.incoming:
            raise r.not_incoming()
        carried = {i.key for i in self.items}
        new = sorted({i.key for i in open_now} - carried)
        if new:
            raise r.handover_incomplete(new)
        missing = sorted(carried - set(acknowledged))
        if missing:
            raise r.not_acknowledged(missing)
        self.state = HandoverState.CONFIRMED
        self.confirmed_at = now
        return [self._t("confirmed", actor, now)]
