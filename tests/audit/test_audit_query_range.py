"""An audit query with an out-of-range `after_seq` or `limit` is answered with a clear error
instead of an exception that left the caller waiting (issue 17)."""

from __future__ import annotations

import pytest

from services.audit.api import AuditError, parse_query


@pytest.mark.parametrize("value", [10**30, -5, "x", 1.5, "99999999999999999999"])
def test_out_of_range_after_seq_is_a_clear_error(value: object) -> None:
    with pytest.raises(AuditError, match="after_seq must be an integer from -1 to"):
        parse_query({"after_seq": value})


def test_in_range_values_still_query() -> None:
    q = parse_query({"after_seq": 2**63 - 1, "limit": "20"})
    assert q.after_seq == 2**63 - 1 and q.limit == 20
