"""Issue 8, "One home per rule": test-only switches leave the product settings; tests inject
their faults through services.audit.writer.Faults."""

from __future__ import annotations

import pytest

from services.audit.settings import AuditSettings
from services.audit.writer import Faults, NoFaults
from tests.support.audit_faults import Crash, CrashForTest, LoseAcks, Sigkill, main


def test_the_product_settings_have_no_test_switches() -> None:
    assert not [f for f in AuditSettings.model_fields if "test" in f or "skip" in f]


def test_faults_are_what_the_writer_calls() -> None:
    faults: list[Faults] = [NoFaults(), Crash(), LoseAcks(), Sigkill("in", 5)]
    for f in faults:  # no fault due: each returns and the commit goes on
        f.in_transaction()
        f.after_commit()
    assert NoFaults().drop_ack() is False and LoseAcks().drop_ack() is True
    crash = Crash(in_transaction_left=1, after_commit_left=1)
    with pytest.raises(CrashForTest, match="inside the transaction"):
        crash.in_transaction()
    with pytest.raises(CrashForTest, match="after commit"):
        crash.after_commit()
    crash.in_transaction()  # once each, then the service carries on
    crash.after_commit()


def test_the_sigkill_entry_point_names_a_bad_place() -> None:
    with pytest.raises(SystemExit, match="in\\|after N"):
        main(["during", "3"])
