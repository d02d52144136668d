"""`svmon load FILE --topic T`: produce a JSON Lines file to a topic, byte for byte, keyed per contract §2.

Each line is one message value, sent unchanged (only its ``\\n`` or ``\\r\\n`` terminator is removed;
blank lines are skipped), so deliberately malformed lines reach the daemon as they are and end up in
the DLQ.  The key is derived from the line's own ``schema``: ``event`` → ``event_id``,
``inspection``/``item`` → ``item_code``, ``disclosure``/``disclosure-request`` → ``disclosure_id``;
a line that is not a JSON object with a known schema and a string key field is sent with no key.

Progress goes to stderr: a redrawn bar on a terminal, a plain line every few seconds otherwise (CI
logs, pipes), and one summary line at the end (records, bytes, rate).  `produce_messages` is the
reusable core; `svmon demo` feeds it generated messages directly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError

from daemon import streams
from daemon.exceptions import ConfigError, SourceError

if TYPE_CHECKING:
    from daemon.config import Settings

__all__ = [
    "Progress",
    "ProgressBar",
    "load_command",
    "message_key",
    "produce_messages",
    "producer_for",
    "read_lines",
]

#: The field that keys each record type's messages (docs/contract.md §2), by `schema` before the slash.
_KEY_FIELDS = {stream.schema.split("/", 1)[0]: stream.record.MESSAGE_KEY_FIELD for stream in streams.STREAMS}
# Batches of ~256 KiB with a 20 ms linger keep a bulk load near the client's throughput ceiling
# without holding a record back noticeably when the file is small.
_BATCH_SIZE = 256 * 1024
_LINGER_MS = 20
# `send` blocks this long for topic metadata; a missing topic should fail fast, not after a minute.
_MAX_BLOCK_MS = 15_000
_FLUSH_TIMEOUT_S = 120.0
#: How long to try the bootstrap servers before "unreachable" (kafka-python's default is 30 s).
BOOTSTRAP_TIMEOUT_MS = 10_000
# How often the bar is redrawn on a terminal, and how often a plain line is printed elsewhere.
_TTY_INTERVAL_S = 0.1
_PLAIN_INTERVAL_S = 5.0
_BAR_WIDTH = 30

#: A message to produce: (key, value) or (key, value, Kafka timestamp in ms).
Outgoing = tuple[bytes | None, bytes] | tuple[bytes | None, bytes, int | None]


def message_key(value: bytes) -> bytes | None:
    """The message key (contract §2) of a raw record, or None when the value is not a keyable record."""
    try:
        parsed = json.loads(value)
    except ValueError:  # includes UnicodeDecodeError: the line is not UTF-8 JSON
        return None
    if not isinstance(parsed, dict):
        return None
    schema = parsed.get("schema")
    if not isinstance(schema, str):
        return None
    field = _KEY_FIELDS.get(schema.split("/", 1)[0])
    key = parsed.get(field) if field is not None else None
    return key.encode() if isinstance(key, str) and key else None


def read_lines(handle: IO[bytes]) -> Iterator[tuple[bytes | None, bytes]]:
    """`(key, value)` per non-blank line of a binary file, the value without its line terminator."""
    for raw in handle:
        value = raw[:-1] if raw.endswith(b"\n") else raw
        if value.endswith(b"\r"):
            value = value[:-1]
        if not value.strip():
            continue
        yield message_key(value), value


# --- progress ------------------------------------------------------------------------------------


class Progress(Protocol):
    """Told about every message handed to the producer."""

    def advance(self, records: int, nbytes: int) -> None: ...


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:,.0f} {unit}" if unit == "B" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """A small progress display for stderr: a bar on a terminal, periodic plain lines elsewhere.

    `total_bytes` (when known) gives the percentage; `clock` is injectable so tests need no sleeps.
    """

    def __init__(
        self,
        label: str,
        total_bytes: int | None = None,
        *,
        stream: IO[str] | None = None,
        is_tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._total = total_bytes
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty() if is_tty is None else is_tty
        self._clock = clock
        self._started = clock()
        self._interval = _TTY_INTERVAL_S if self._tty else _PLAIN_INTERVAL_S
        self._next_draw = self._started + self._interval
        self.records = 0
        self.bytes = 0

    def advance(self, records: int, nbytes: int) -> None:
        """Count `records` more messages of `nbytes` bytes; redraw when the interval has passed."""
        self.records += records
        self.bytes += nbytes
        now = self._clock()
        if now >= self._next_draw:
            self._next_draw = now + self._interval
            self._draw(now)

    def _rate(self, now: float) -> float:
        elapsed = now - self._started
        return self.records / elapsed if elapsed > 0 else 0.0

    def _percent(self) -> float | None:
        if not self._total:
            return None
        return min(100.0, 100.0 * self.bytes / self._total)

    def _draw(self, now: float) -> None:
        percent = self._percent()
        counts = f"{self.records:,} records  {_size(self.bytes)}  {self._rate(now):,.0f} records/s"
        if self._tty:
            if percent is None:
                line = f"\r{self._label}  {counts}"
            else:
                filled = round(_BAR_WIDTH * percent / 100)
                bar = "#" * filled + "." * (_BAR_WIDTH - filled)
                line = f"\r{self._label} [{bar}] {percent:5.1f}%  {counts}"
            self._stream.write(line + "\x1b[K")
        else:
            share = "" if percent is None else f" ({percent:.0f}%)"
            self._stream.write(f"{self._label}: {counts}{share}\n")
        self._stream.flush()

    def finish(self) -> str:
        """Print and return the summary line: records, bytes, elapsed time and rate."""
        now = self._clock()
        elapsed = now - self._started
        summary = (
            f"{self._label}: produced {self.records:,} records, {_size(self.bytes)} "
            f"in {elapsed:.1f} s ({self._rate(now):,.0f} records/s)"
        )
        prefix = "\r\x1b[K" if self._tty else ""
        self._stream.write(prefix + summary + "\n")
        self._stream.flush()
        return summary


# --- producing -----------------------------------------------------------------------------------


def produce_messages(
    producer: Any,
    topic: str,
    messages: Iterable[Outgoing],
    progress: Progress | None = None,
) -> int:
    """Send every `(key, value[, timestamp_ms])` to `topic` in order, flush, and return how many.

    `producer` is a kafka-python `KafkaProducer` (or anything with its `send`/`flush`).  A delivery
    the broker refuses raises `SourceError` naming the first failure; nothing is silently dropped.
    """
    failures: list[BaseException] = []
    count = 0
    for message in messages:
        key, value = message[0], message[1]
        timestamp_ms = message[2] if len(message) > 2 else None  # the optional third element
        try:
            future = producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)
        except KafkaError as exc:
            raise SourceError(f"cannot produce message {count + 1} to topic {topic!r}: {exc}") from exc
        future.add_errback(failures.append)
        count += 1
        if progress is not None:
            progress.advance(1, len(value))
        if failures:
            break
    try:
        producer.flush(timeout=_FLUSH_TIMEOUT_S)
    except KafkaError as exc:
        raise SourceError(
            f"topic {topic!r}: messages not acknowledged within {_FLUSH_TIMEOUT_S:.0f} s: {exc}"
        ) from exc
    if failures:
        raise SourceError(f"topic {topic!r}: the broker refused a message: {failures[0]}")
    return count


def producer_for(bootstrap: list[str], client_kwargs: dict[str, Any]) -> Any:
    """A batching producer with every acknowledgement awaited (``acks=all``), security from
    ``client_kwargs`` (`daemon.config.KafkaSettings.client_kwargs`); unreachable is a `SourceError`."""
    try:
        return KafkaProducer(
            **{**client_kwargs, "bootstrap_servers": bootstrap},
            acks="all",
            linger_ms=_LINGER_MS,
            batch_size=_BATCH_SIZE,
            max_block_ms=_MAX_BLOCK_MS,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
        )
    except KafkaError as exc:  # NoBrokersAvailable and kin
        raise SourceError(f"cannot reach Kafka at {','.join(bootstrap)}: {exc}") from exc


def load_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `svmon load`: `args.file`, `args.topic`, optional `args.bootstrap` (else the config's)."""
    path = Path(args.file)
    topic = str(args.topic)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    bootstrap = (
        [server.strip() for server in str(args.bootstrap).split(",") if server.strip()]
        if getattr(args, "bootstrap", None)
        else settings.kafka.bootstrap_server_list
    )
    producer = producer_for(bootstrap, settings.kafka.client_kwargs())
    bar = ProgressBar(f"{path.name} → {topic}", path.stat().st_size)
    try:
        with path.open("rb") as handle:
            produce_messages(producer, topic, read_lines(handle), progress=bar)
    finally:
        producer.close(timeout=10)
    bar.finish()
    return 0
