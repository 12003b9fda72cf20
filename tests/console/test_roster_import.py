"""Rosters with time come through the people import (issue 10): shifts and zones are checked
row by row, and a bad row names its line and column; nothing is imported then."""

from __future__ import annotations

import pytest

from services.console.people import PeopleRejected, plan_import

HEADER = "账号,姓名,部门,角色,区域,班次\n"


def test_shifts_import_and_a_bad_shift_or_missing_zone_is_a_row_error() -> None:
    good = plan_import(
        "roster.csv",
        HEADER + "g1,张伟,logistics,guard,教学区,08:00-20:00\n"
        "g2,李强,logistics,guard,教学区,20:00-08:00\n"
        "d1,陈静,logistics,duty_operator,,08:00-20:00\n",
    )
    assert [(p.account, p.shift) for p in good.people] == [
        ("g1", "08:00-20:00"), ("g2", "20:00-08:00"), ("d1", "08:00-20:00"),
    ]  # fmt: skip
    with pytest.raises(PeopleRejected) as bad:
        plan_import(
            "roster.csv",
            HEADER + "g1,张伟,logistics,guard,教学区,25:00-08:00\n"
            "g2,李强,logistics,guard,,20:00-08:00\n"
            "d1,陈静,logistics,duty_operator,,8-20\n",
        )
    where = {(e.row, e.column) for e in bad.value.errors}
    assert (2, "shift") in where and (4, "shift") in where
    assert any(e.row == 3 and "zone" in e.reason for e in bad.value.errors)
    assert "第2行" in str(bad.value) and "HH:MM-HH:MM" in str(bad.value)
