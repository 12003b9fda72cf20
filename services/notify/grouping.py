"""Storms reach a person as one message: what is due for one person on one channel goes out
together, and after a message a person gets at most one more per window (like Alertmanager's
group_interval); a critical alert never waits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

MAX_LINES = 20


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


def combined(rows: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """One message for a batch: the row itself, or a summary that lists every row."""
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
    lines = [f"{i}. {r['title']}" for i, r in enumerate(rows[:MAX_LINES], 1)]
    if len(rows) > MAX_LINES:
        lines.append(f"…另 {len(rows) - MAX_LINES} 条 and {len(rows) - MAX_LINES} more")
    return title, "\n".join(lines)
