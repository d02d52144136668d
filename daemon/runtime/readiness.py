"""Why svmon is not ready: one problem per owner, each set and cleared only by its owner.

The consumer loop, the rebalance hooks (kafka-python's I/O thread) and the probe thread all report
here, and the HTTP thread reads it for /readyz, so every access holds one lock. Each part of the
daemon that can find a problem owns exactly one :class:`Owner`, so a part that recovers clears its
own problem and never another's (the probe seeing the store answer does not clear a restore that is
still failing).
"""

from __future__ import annotations

import threading
from enum import Enum

import structlog

__all__ = ["Owner", "Readiness"]

log = structlog.get_logger("svmon.readiness")


class Owner(Enum):
    """Who reports a problem; the value names it in logs."""

    STARTUP = "startup"  # opening the store, connecting to Kafka (the lifecycle)
    POLL = "poll"  # the consumer loop's poll
    CHECKPOINT = "checkpoint"  # the checkpointer: writes failing, intake paused
    RESTORE = "restore"  # restoring assigned partitions from the store
    STORE = "store"  # the probe thread: the store answers a ping
    BROKER = "broker"  # the probe thread: a bootstrap broker answers the way svmon is configured
    BROKERS = "brokers"  # the probe thread: every broker of the cluster's metadata answers


class Readiness:
    """The problems standing between svmon and ``/readyz`` 200, and the partitions still restoring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[Owner, str] = {Owner.STARTUP: "starting"}
        self._assigned_once = False
        self._restoring = 0

    def report(self, owner: Owner, reason: str | None) -> None:
        """Set (``reason``) or clear (None) the problem of ``owner``; logs changes, not repeats."""
        with self._lock:
            previous = self._problems.get(owner)
            if reason:
                self._problems[owner] = reason
            else:
                self._problems.pop(owner, None)
        if reason and previous != reason:
            log.warning("not ready", component=owner.value, reason=reason)
        elif not reason and previous is not None:
            log.info("recovered", component=owner.value)

    def restoring(self, partitions: int) -> None:
        """Partitions were assigned (at least once); ``partitions`` of them wait to be restored."""
        with self._lock:
            self._assigned_once = True
            self._restoring = partitions

    def problem(self, owner: Owner) -> str | None:
        with self._lock:
            return self._problems.get(owner)

    def reasons(self) -> list[str]:
        """Why svmon is not ready, in words for /readyz; empty when it is ready."""
        with self._lock:
            reasons = [
                reason
                if owner in (Owner.STARTUP, Owner.POLL, Owner.CHECKPOINT)
                else f"{owner.value}: {reason}"
                for owner, reason in self._problems.items()
            ]
            if not self._assigned_once and Owner.STARTUP not in self._problems:
                reasons.append("waiting for partition assignment")
            if self._restoring:
                reasons.append(f"restoring state of {self._restoring} partitions")
        return reasons
