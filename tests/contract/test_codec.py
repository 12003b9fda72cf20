from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cctv.contract import REGISTRY, ContractError, decode, subject_for, wrap
from cctv.contract.events import FaultOpened, HealthSample

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def sample() -> HealthSample:
    return HealthSample(camera_id="OFF-001", sampled_at=NOW, reachable=False, error="HTTP 503")


def test_round_trip_keeps_every_envelope_field() -> None:
    env = wrap(sample(), source="ingest", key="OFF-001", actor="system", correlation_id="c-1")
    back, event = decode(env.to_bytes(), "cctv.telemetry.sample.OFF-001")
    assert back == env
    assert event == sample()
    assert (back.type, back.source, back.key, back.correlation_id, back.schema_version) == (
        "telemetry.sample",
        "ingest",
        "OFF-001",
        "c-1",
        1,
    )


def test_correlation_defaults_to_the_event_itself() -> None:
    env = wrap(sample(), source="ingest")
    assert env.correlation_id == env.id


def test_subject_is_domain_event_key() -> None:
    assert subject_for(sample(), "OFF-001") == "cctv.telemetry.sample.OFF-001"
    with pytest.raises(ContractError, match="may not contain"):
        subject_for(sample(), "a.b")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not JSON"),
        (b"42", "must be a JSON object"),
        (json.dumps({"type": "telemetry.sample", "data": {}}).encode(), "bad envelope"),
        (
            json.dumps({"type": "x.y", "source": "s", "correlation_id": "c", "data": {}}).encode(),
            "unknown event type 'x.y'",
        ),
        (
            json.dumps(
                {
                    "type": "telemetry.sample",
                    "source": "s",
                    "correlation_id": "c",
                    "schema_version": 99,
                    "data": {},
                }
            ).encode(),
            "newer than",
        ),
        (
            json.dumps(
                {
                    "type": "telemetry.sample",
                    "source": "s",
                    "correlation_id": "c",
                    "data": {"camera_id": "x"},
                }
            ).encode(),
            "bad telemetry.sample body",
        ),
    ],
)
def test_bad_messages_name_what_is_wrong(raw: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        decode(raw)


def test_event_on_the_wrong_subject_is_refused() -> None:
    env = wrap(sample(), source="ingest", key="OFF-001")
    with pytest.raises(ContractError, match="does not belong on subject"):
        decode(env.to_bytes(), "cctv.fault.opened.OFF-001")


def test_unknown_fields_are_refused_not_ignored() -> None:
    env = wrap(sample(), source="ingest")
    payload = json.loads(env.to_bytes())
    payload["data"]["surprise"] = 1
    with pytest.raises(ContractError, match="surprise"):
        decode(json.dumps(payload).encode())


def test_every_event_type_belongs_to_a_declared_stream() -> None:
    from cctv.contract.streams import STREAM_BY_NAME

    for type_, model in REGISTRY.items():
        spec = STREAM_BY_NAME[model.STREAM]
        assert any(f"cctv.{type_}.".startswith(p.removesuffix(">")) for p in spec.subjects), type_


def test_streams_do_not_share_subjects() -> None:
    from cctv.contract import STREAMS

    prefixes = [p.removesuffix(">") for s in STREAMS for p in s.subjects]
    for a in prefixes:
        for b in prefixes:
            assert a == b or not a.startswith(b), (a, b)


def test_fault_opened_requires_a_known_kind() -> None:
    with pytest.raises(ValueError, match="kind"):
        FaultOpened(
            fault_id="f",
            camera_id="c",
            kind="gremlins",  # type: ignore[arg-type]
            severity="major",
            detected_at=NOW,
        )
