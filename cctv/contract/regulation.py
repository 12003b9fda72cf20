"""The regulation's numbers and assignments, once, each cited by its article.

Services read these instead of restating them, so a change of the regulation is one edit here
(and a new schema version where the event contract depends on it).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TypeVar

from .orgs import ACADEMIC, LOGISTICS, STUDENT

RETENTION = timedelta(days=30)
"""Art. 7 (and Art. 3): footage is kept at least 30 days; none deleted or overwritten before."""

PRESERVATION_YEARS = 1
"""Art. 18: footage that was retrieved (调取) is preserved for one year from the retrieval."""

CATEGORY_MANAGER: dict[str, str] = {
    "public_safety": LOGISTICS,
    "teaching_exam": ACADEMIC,
    "dormitory": STUDENT,
}
"""Art. 4 and Art. 16(1)1: the department that manages (and approves access to) each public
category. A department's own subsystem and a confidential room are managed by their owner."""

D = TypeVar("D", date, datetime)


def managing_department(category: str, owner: str) -> str:
    """Who manages a camera of ``category`` owned by ``owner`` (Art. 4, Art. 16(1)1).

    The regulation has the last word for the public categories; a possibly stale
    ``managing_department`` cell in an inventory file does not override it."""
    return CATEGORY_MANAGER.get(category, owner)


def preserved_until(since: D) -> D:
    """The end of the one-year preservation (Art. 18) of footage retrieved at ``since``.

    Calendar years, so 29 February preserves to 28 February of the next year."""
    try:
        return since.replace(year=since.year + PRESERVATION_YEARS)
    except ValueError:  # 29 February
        return since.replace(year=since.year + PRESERVATION_YEARS, day=28)


def retention_ends(recorded_at: datetime) -> datetime:
    """The first moment footage recorded at ``recorded_at`` may be deleted (Art. 7)."""
    return recorded_at + RETENTION
