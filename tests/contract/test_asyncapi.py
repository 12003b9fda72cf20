"""The committed AsyncAPI document is what other campus systems read: it must not go stale."""

from __future__ import annotations

import json
from pathlib import Path

from cctv.contract import REGISTRY
from cctv.contract.asyncapi import document

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_committed_asyncapi_matches_the_contract() -> None:
    assert COMMITTED.exists(), "run `make asyncapi` and commit docs/asyncapi.json"
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(document())), (
        "docs/asyncapi.json is stale: run `make asyncapi` and commit it"
    )


def test_every_event_has_a_channel() -> None:
    channels = document()["channels"]
    assert {f"cctv.{t}" for t in REGISTRY} == set(channels)
