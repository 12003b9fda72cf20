"""Art. 13 directives: the duty room tells the guards of a zone (or named people) to act.

A directive is an alert with no fault behind it: every recipient must acknowledge it, and
until each has, the directive climbs the duty chain like any other alert.
"""

from __future__ import annotations

from dataclasses import dataclass

from .roster import FIELD_ROLES, RosterEntry

PREFIX = "directive:"
SENDERS = ("duty_operator", "security_head")
MAX_TEXT = 500


class DirectiveRefused(ValueError):
    """A directive that cannot go out; the text names why, with the article."""


@dataclass(frozen=True)
class Directive:
    text: str
    sender: str
    zone: str | None
    accounts: tuple[str, ...]
    severity: str = "major"


def recipients_of(
    d: Directive, roster: list[RosterEntry], holding: list[RosterEntry]
) -> list[RosterEntry]:
    """Named people, or the guards and gatekeepers of the zone who hold the duty now
    (`holding`: shifts.on_duty)."""
    sender = next((r for r in roster if r.account == d.sender), None)
    if sender is None or sender.role not in SENDERS:
        raise DirectiveRefused(
            f"只有监控值班人员可下达指令 — only the duty room may issue directives "
            f"({d.sender!r} is not a duty operator on the roster) (Art. 13)"
        )
    text = d.text.strip()
    if not text or len(text) > MAX_TEXT:
        raise DirectiveRefused(f"指令内容须为 1–{MAX_TEXT} 字 — text must be 1–{MAX_TEXT} chars")
    if d.accounts:
        known = {r.account: r for r in roster}
        unknown = [a for a in d.accounts if a not in known]
        if unknown:
            raise DirectiveRefused(f"名单中无此人 — not on the roster: {', '.join(unknown)}")
        return [known[a] for a in dict.fromkeys(d.accounts)]
    if not d.zone:
        raise DirectiveRefused("须指定区域或人员 — name a zone or people")
    field = [r for r in holding if r.role in FIELD_ROLES and r.zone == d.zone]
    if not field:
        raise DirectiveRefused(
            f"{d.zone} 当前无在岗巡逻/门卫 — nobody on duty in {d.zone} now (Art. 13)"
        )
    return field
