"""Stopping a background task ends it even when the first cancellation was swallowed."""

from __future__ import annotations

import asyncio

import pytest

from cctv.plumbing.tasks import cancel_and_wait


async def test_a_task_that_swallowed_one_cancellation_is_still_stopped() -> None:
    """As Python 3.11's `asyncio.wait_for` does when the reply lands with the cancel: the
    heartbeat loop goes on, and a plain cancel-then-await waits for ever."""
    swallowed, beating = asyncio.Event(), asyncio.Event()

    async def heartbeat() -> None:
        first = True
        never = asyncio.Event()
        while True:
            beating.set()
            try:
                await never.wait()  # where a real loop awaits its next beat or reply
            except asyncio.CancelledError:
                if not first:
                    raise
                first = False
                swallowed.set()

    task = asyncio.create_task(heartbeat())
    await asyncio.wait_for(beating.wait(), timeout=5)
    await asyncio.wait_for(cancel_and_wait(task, retry_s=0.05), timeout=5)
    assert swallowed.is_set() and task.cancelled()


async def test_a_task_that_failed_before_stopping_does_not_fail_the_stop() -> None:
    async def crashed() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(crashed())
    await asyncio.wait({task})
    await cancel_and_wait(task, None)
    assert isinstance(task.exception(), RuntimeError)


async def test_a_finalisers_report_formats_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unobserved future's report comes from its finaliser, which may run inside another
    ast.parse; on Python 3.11 a traceback formatted there breaks every later parse."""
    import ast

    from cctv.plumbing.tasks import quiet_cancellations

    loop = asyncio.get_running_loop()
    quiet_cancellations(loop)

    parsed: list[object] = []  # logging swallows errors in handlers: record, then assert
    monkeypatch.setattr(ast, "parse", lambda *a, **_k: parsed.append(a))
    try:
        raise ValueError("lost")
    except ValueError as exc:
        failure = exc
    for message in ("Future exception was never retrieved", "Task exception was never retrieved"):
        loop.call_exception_handler({"message": message, "exception": failure})
        loop.call_exception_handler({"message": message, "exception": asyncio.CancelledError()})
    assert not parsed, "the report formatted a traceback (parsed source)"
