"""The DLQ producer: every rejected message, with its errors, to the dead-letter topic (docs/contract.md §5).

Writes are sent as they happen and acknowledged before each checkpoint (``flush``): offsets past a
rejected message only become durable once its DLQ copy is. A write that fails keeps the checkpoint
from happening, and is sent again at the next attempt, so nothing is skipped.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from daemon.exceptions import DlqError
from daemon.runtime.source import BOOTSTRAP_TIMEOUT_MS

__all__ = ["DlqProducer"]


class DlqProducer:
    """Writes rejected messages to the DLQ; ``flush`` raises unless every write was acknowledged."""

    def __init__(self, producer_kwargs: dict[str, Any], topic: str) -> None:
        self.topic = topic
        try:
            self._producer = KafkaProducer(
                **producer_kwargs, linger_ms=20, retries=5, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS
            )
        except KafkaError as exc:
            raise DlqError(f"cannot start the DLQ producer: {exc}") from exc
        self._pending: list[tuple[Any, bytes | None, bytes]] = []

    def send(self, key: bytes | None, payload: bytes) -> None:
        self._pending.append((self._producer.send(self.topic, key=key, value=payload), key, payload))

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for every pending write; resend failures once; raise ``DlqError`` if any still fails."""
        if not self._pending:
            return 0
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise DlqError(f"DLQ {self.topic} not writable: {exc}") from exc
        failed = [(key, payload) for future, key, payload in self._pending if not future.succeeded()]
        if failed:
            self._pending = [(self._producer.send(self.topic, key=k, value=v), k, v) for k, v in failed]
            raise DlqError(f"DLQ {self.topic} not writable: {len(failed)} writes failed")
        written = len(self._pending)
        self._pending = []
        return written

    def close(self) -> None:
        with suppress(Exception):
            self._producer.close(timeout=5)
