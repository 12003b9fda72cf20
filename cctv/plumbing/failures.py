"""Telling an outage from a bad message.

A message that fails because PostgreSQL or NATS is unreachable is not a bad message: it
must wait for the infrastructure and then be handled, however long the outage lasts. Only
what fails with the infrastructure up is retried a few times and then dead-lettered.
"""

from __future__ import annotations

import errno

import asyncpg
import nats.errors
import nats.js.errors

_INFRA_TYPES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # connection lost, refused, closed mid-query
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a replica that is not promoted yet
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.NoRespondersError,
    ConnectionError,
    TimeoutError,  # also nats.errors.TimeoutError and asyncio's
)


_SOCKET_ERRNOS = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
    errno.ETIMEDOUT,
    errno.EPIPE,
}


def is_infrastructure(exc: BaseException) -> bool:
    """True if `exc` (or what caused it) says the database or the broker is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _INFRA_TYPES):
            return True
        if isinstance(current, OSError) and (
            current.errno in _SOCKET_ERRNOS or ".s.PGSQL" in str(current)
        ):
            return True  # network unreachable, or PostgreSQL's Unix socket is gone
        if isinstance(current, asyncpg.InterfaceError) and (
            "closed" in str(current) or "closing" in str(current)
        ):
            return True
        current = current.__cause__ or current.__context__
    return False
