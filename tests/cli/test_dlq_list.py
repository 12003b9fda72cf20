"""`cctv dlq list` reads the replay records (every `ops.dlq_replayed` in CCTV_OPS, one
request each) only when there is a dead letter to hold them against: with none it answers
at once. Against a stand-in JetStream that counts what is read (the shared test server's
DLQ is never empty)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from nats.js.errors import NotFoundError

from cctv.cli.dlq import OPS, REPLAYED, STREAM, _letters


class CountingJetStream:
    """`stream_info` and `get_msg` over in-memory streams; `reads` names every call."""

    def __init__(self, streams: dict[str, dict[int, tuple[str, dict[str, Any]]]]) -> None:
        self.streams = streams
        self.reads: list[str] = []

    async def stream_info(self, name: str) -> Any:
        self.reads.append(f"info {name}")
        msgs = self.streams[name]
        return SimpleNamespace(
            state=SimpleNamespace(
                messages=len(msgs), first_seq=min(msgs, default=0), last_seq=max(msgs, default=0)
            )
        )

    async def get_msg(self, name: str, seq: int) -> Any:
        self.reads.append(f"get {name} {seq}")
        if seq not in self.streams[name]:
            raise NotFoundError
        subject, doc = self.streams[name][seq]
        return SimpleNamespace(subject=subject, data=json.dumps(doc).encode())


def letter(service: str) -> tuple[str, dict[str, Any]]:
    data = {"service": service, "consumer": "c", "subject": "cctv.x", "reason": "r"}
    return f"cctv.dlq.dead_letter.{service}", {"time": "2026-12-01T00:00:00Z", "data": data}


def replayed(dlq_seq: int) -> tuple[str, dict[str, Any]]:
    return f"{REPLAYED}ingest", {"data": {"dlq_seq": dlq_seq, "outcome": "handled"}}


OPS_RECORDS = {1: replayed(1), 2: replayed(7), 3: replayed(8)}


async def test_no_dead_letters_answer_without_reading_the_replay_records() -> None:
    js = CountingJetStream({STREAM: {}, OPS: dict(OPS_RECORDS)})
    assert await _letters(js, None, None) == []
    assert js.reads == [f"info {STREAM}"]


async def test_no_letter_of_the_service_asked_for_reads_no_replay_record() -> None:
    js = CountingJetStream({STREAM: {1: letter("ingest"), 2: letter("notify")}, OPS: OPS_RECORDS})
    assert await _letters(js, "media", None) == []
    assert not any(OPS in r for r in js.reads), js.reads


async def test_handled_letters_still_leave_the_list() -> None:
    js = CountingJetStream({STREAM: {1: letter("ingest"), 2: letter("ingest")}, OPS: OPS_RECORDS})
    assert [d["seq"] for d in await _letters(js, None, None)] == [2]
    assert [d["seq"] for d in await _letters(js, None, None, handled_too=True)] == [1, 2]
