"""Storms reach a person as one message: what is due for one person on one channel goes out
together, and after a message a person gets at most one more per window (like Alertmanager's
group_interval); a critical alert never waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

FULL_LINES = 10
MAX_BYTES = 3500  # WeCom takes 4096 bytes of markdown; room for title and recipient


def batches(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Due deliveries per (channel, recipient), in the order they were queued."""
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault((row["channel"], row["recipient"]), []).append(row)
    return list(out.values())


def hold_until(
    rows: Sequence[Mapping[str, Any]],
    last_sent: datetime | None,
    now: datetime,
    window: timedelta,
) -> datetime | None:
    """When a batch may go, if not now: the person heard from us less than a window ago."""
    if not window or last_sent is None or any(r["severity"] == "critical" for r in rows):
        return None
    ready = last_sent + window
    return ready if ready > now else None


def still_arriving(
    rows: Sequence[Mapping[str, Any]], now: datetime, group_wait: timedelta
) -> datetime | None:
    """A fresh storm still coming in waits until it pauses (a quarter of the group wait), but
    never longer than one and a half group waits from its first alert: one message, not two,
    and the first still within two seconds at the default one-second wait."""
    if not group_wait or any(r["attempts"] or r["severity"] == "critical" for r in rows):
        return None
    newest = max(r["queued_at"] for r in rows)
    oldest = min(r["queued_at"] for r in rows)
    settle = group_wait / 4
    cap = oldest + group_wait * 1.5
    if now - newest < settle and now < cap:
        return min(newest + settle, cap)
    return None


def combined(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """One message for a batch: the row itself, or a summary that names every camera — the
    first few in full, the rest by id, within what a robot message may carry."""
    if len(rows) == 1:
        return rows[0]["title"], rows[0]["body"]
    alarms = sum(1 for r in rows if r["kind"] != "allclear")
    clears = len(rows) - alarms
    parts = []
    if alarms:
        parts.append(f"{alarms} 条告警 alerts")
    if clears:
        parts.append(f"{clears} 条恢复 all clear")
    title = f"【汇总 summary】{' · '.join(parts)}"
    lines = [f"{i}. {r['title']}" for i, r in enumerate(rows[:FULL_LINES], 1)]
    rest = [r.get("camera_id") or r["title"] for r in rows[FULL_LINES:]]
    body = "\n".join(lines)
    if rest:
        named: list[str] = []
        for item in rest:
            if len((body + ", ".join([*named, item])).encode()) > MAX_BYTES:
                break
            named.append(item)
        body += f"\n其余 also: {', '.join(named)}"
        if len(named) < len(rest):
            left = len(rest) - len(named)
            body += f" …另 {left} 条 and {left} more"
    return title, body
