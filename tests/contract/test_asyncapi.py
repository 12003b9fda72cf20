"""The committed AsyncAPI document is what other campus systems read: it must not go stale."""

from __future__ import annotations

import json
from pathlib import Path

from cctv.contract import REGISTRY, rpc, wrap
from cctv.contract.asyncapi import document
from cctv.contract.events import CameraRemoved
from cctv.contract.rpcmodels import OPERATIONS

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def test_committed_asyncapi_matches_the_contract() -> None:
    assert COMMITTED.exists(), "run `make asyncapi` and commit docs/asyncapi.json"
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(document())), (
        "docs/asyncapi.json is stale: run `make asyncapi` and commit it"
    )


def test_every_event_and_request_subject_has_a_channel() -> None:
    channels = document()["channels"]
    requests = set(rpc.all_subjects().values())
    assert {f"cctv.{t}" for t in REGISTRY} | requests == set(channels)
    assert set(OPERATIONS) == requests  # every subject has its request and reply model


def test_request_reply_operations_carry_their_schemas() -> None:
    doc = document()
    op = doc["operations"][rpc.WORKFLOW_PRINT]
    assert op["action"] == "receive" and op["reply"]["messages"]
    reply = doc["components"]["messages"][f"{rpc.WORKFLOW_PRINT}:Reply"]["payload"]["oneOf"]
    assert {"$ref": "#/components/schemas/ErrorReply"} in reply
    error = doc["components"]["schemas"]["ErrorReply"]
    assert {"code", "text_zh", "text_en", "error"} <= set(error["required"])
    assert "format" in doc["components"]["schemas"]["PrintRequest"]["properties"]


def test_correlation_id_is_the_envelope_field_that_correlates() -> None:
    """Each message's correlationId points into the payload, at the envelope's correlation_id,
    which a consequence copies from its cause (not at a header that differs per message)."""
    doc = document()
    events = [m for k, m in doc["components"]["messages"].items() if not k.startswith("cctv.rpc")]
    assert events
    for message in events:
        assert message["correlationId"]["location"] == "$message.payload#/correlation_id"
    env = wrap(CameraRemoved(camera_id="c1", reason="r"), source="t", key="c1")
    caused = wrap(
        CameraRemoved(camera_id="c2", reason="r"), source="t", key="c2", correlation_id=env.id
    )
    pointer = doc["components"]["messages"]["cctv.camera.removed:Message"]["correlationId"]
    field = pointer["location"].rsplit("/", 1)[1]
    assert json.loads(env.to_bytes())[field] == json.loads(caused.to_bytes())[field] == env.id


def test_published_schemas_are_open_for_additive_changes() -> None:
    """A subscriber validating with the published schema accepts a message with a field added
    later in the same schema version."""
    text = json.dumps(document())
    assert '"additionalProperties": false' not in text
    schema = document()["components"]["schemas"]["CameraRemoved"]
    assert "camera_id" in schema["required"]
