"""Calling notify's responders as the signed-on person the request names (issue 11): the
services take who acts from the verified identity, so tests sign for that person."""

from __future__ import annotations

from typing import Any

from cctv.plumbing.identity import calling_as
from tests.support.identity import claims_of, identity


async def direct(notify: Any, request: dict[str, Any]) -> dict[str, Any]:
    with calling_as(claims_of(identity(request["sender"]))):
        reply: dict[str, Any] = await notify.issue_directive(request)
        return reply


async def ack(notify: Any, request: dict[str, Any]) -> dict[str, Any]:
    with calling_as(claims_of(identity(request["account"]))):
        reply: dict[str, Any] = await notify.acknowledge(request)
        return reply
