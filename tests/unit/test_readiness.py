"""Tests of daemon.runtime.readiness: each problem has one owner, and only that owner clears it."""

from __future__ import annotations

from daemon.runtime.readiness import Owner, Readiness


def _started() -> Readiness:
    readiness = Readiness()
    readiness.report(Owner.STARTUP, None)
    readiness.restoring(0)
    return readiness


def test_a_new_daemon_is_starting_then_waits_for_partitions() -> None:
    """Until start-up ends svmon says so; after that, until the first assignment, it waits for one."""
    readiness = Readiness()
    assert readiness.reasons() == ["starting"]
    readiness.report(Owner.STARTUP, None)
    assert readiness.reasons() == ["waiting for partition assignment"]
    readiness.restoring(3)
    assert readiness.reasons() == ["restoring state of 3 partitions"]
    readiness.restoring(0)
    assert readiness.reasons() == []


def test_an_owner_clearing_its_problem_leaves_the_others() -> None:
    """The probe seeing the store answer does not clear a restore that still fails, and vice versa."""
    readiness = _started()
    readiness.report(Owner.RESTORE, "restoring state: database is locked")
    readiness.report(Owner.STORE, "store unreachable")
    readiness.report(Owner.STORE, None)
    assert readiness.reasons() == ["restore: restoring state: database is locked"]
    assert readiness.problem(Owner.STORE) is None


def test_reasons_name_their_component() -> None:
    """Problems found by a probe or a restore are prefixed with what they concern; the loop's are not."""
    readiness = _started()
    readiness.report(Owner.BROKER, "cannot connect to 127.0.0.1:9092: connection refused")
    readiness.report(Owner.CHECKPOINT, "checkpoint failing: disk full")
    assert readiness.reasons() == [
        "broker: cannot connect to 127.0.0.1:9092: connection refused",
        "checkpoint failing: disk full",
    ]


def test_a_changed_reason_replaces_the_old_one() -> None:
    """Reporting again under the same owner replaces the reason instead of adding one."""
    readiness = _started()
    readiness.report(Owner.POLL, "polling Kafka failed: first")
    readiness.report(Owner.POLL, "polling Kafka failed: second")
    assert readiness.reasons() == ["polling Kafka failed: second"]
