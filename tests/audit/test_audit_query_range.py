"""An audit query with an out-of-range `after_seq` or `limit` is refused by the request model
with the field named (the one error shape, issue 8) instead of an exception that left the
caller waiting (issue 17)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cctv.contract.rpcmodels import AuditQueryRequest, invalid_request
from services.audit.api import parse_query


@pytest.mark.parametrize("value", [10**30, -5, "x", 1.5, "99999999999999999999"])
@pytest.mark.parametrize("name", ["after_seq", "limit"])
def test_out_of_range_after_seq_is_a_clear_error(name: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        AuditQueryRequest.model_validate({name: value})
    reply = invalid_request(AuditQueryRequest, caught.value)
    assert reply["code"] == "invalid_request" and reply["field"] == name
    assert reply["text_zh"] == f"请求有误：{name}" and name in reply["text_en"]


def test_in_range_values_still_query() -> None:
    q = parse_query(AuditQueryRequest.model_validate({"after_seq": 2**63 - 1, "limit": "20"}))
    assert q.after_seq == 2**63 - 1 and q.limit == 20
