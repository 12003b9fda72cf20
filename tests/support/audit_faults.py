"""Faults injected into the audit service by tests (services.audit.writer.Faults): crashes
inside and after a commit, lost acks, a real SIGKILL. They live here, not in the product's
settings (issue 8, "One home per rule").

``python -m tests.support.audit_faults in|after N`` runs the audit service (configured from
the environment like ``python -m services.audit``) that SIGKILLs itself at the Nth commit."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass

from services.audit.writer import NoFaults


class CrashForTest(RuntimeError):
    """A test's stand-in for a process dying at a chosen point."""


@dataclass
class Crash(NoFaults):
    """Raise inside the next ``in_transaction`` commits' transactions, or after the next
    ``after_commit`` commits (before their messages are acked)."""

    in_transaction_left: int = 0
    after_commit_left: int = 0

    def in_transaction(self) -> None:
        if self.in_transaction_left > 0:
            self.in_transaction_left -= 1
            raise CrashForTest("crash inside the transaction")

    def after_commit(self) -> None:
        if self.after_commit_left > 0:
            self.after_commit_left -= 1
            raise CrashForTest("crash after commit, before ack")


@dataclass
class LoseAcks(NoFaults):
    """While ``losing``, no batch is acked: JetStream redelivers everything after ack_wait."""

    losing: bool = True

    def drop_ack(self) -> bool:
        return self.losing


@dataclass
class Sigkill(NoFaults):
    """SIGKILL this process inside the Nth commit's transaction (``where="in"``) or right
    after the Nth commit, before its messages are acked (``where="after"``)."""

    where: str
    at: int

    def _count(self, where: str) -> None:
        if self.where == where:
            self.at -= 1
            if self.at == 0:
                os.kill(os.getpid(), signal.SIGKILL)  # a real crash

    def in_transaction(self) -> None:
        self._count("in")

    def after_commit(self) -> None:
        self._count("after")


def main(argv: list[str]) -> None:
    from services.audit.app import build

    where, at = argv
    if where not in ("in", "after"):
        raise SystemExit(f"usage: python -m tests.support.audit_faults in|after N (got {where!r})")
    build(faults=Sigkill(where, int(at))).run()


if __name__ == "__main__":
    main(sys.argv[1:])
