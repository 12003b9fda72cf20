"""`Refused`: the one refusal of media, for exports, deletions and viewing alike.

Its own module so that `app` and `viewer` both import it without importing each other.
"""

from __future__ import annotations

from cctv.plumbing.service import RpcError


class Refused(RpcError):
    """A request outside the grant, the zone or the rules: refused, counted and recorded —
    a type of its own so handlers tell it from other errors and record it (Art. 17)."""

    def __init__(self, code: str, zh: str, en: str, article: str) -> None:
        super().__init__(f"{zh} — {en}", article, code=code, zh=zh, en=en)
