"""Every fault kind has its label, Chinese first with English beside it (console, notify)."""

from __future__ import annotations

import re
from typing import get_args

from cctv.contract.events import FaultKind
from cctv.contract.orgs import FAULT_KINDS


def test_every_fault_kind_is_labelled_in_both_languages() -> None:
    assert set(get_args(FaultKind)) == set(FAULT_KINDS)
    for kind, (zh, en) in FAULT_KINDS.items():
        assert re.search(r"[\u4e00-\u9fff]", zh), kind
        assert en and en.isascii(), kind
    assert FAULT_KINDS["not_armed"] == ("未按计划布防", "not armed on schedule")
