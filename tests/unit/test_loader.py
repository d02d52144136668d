"""Unit tests of `daemon.tools.loader`: keys, line reading, the progress display and the produce loop."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaError

from daemon.config import Settings
from daemon.exceptions import ConfigError, SourceError
from daemon.tools import loader
from daemon.tools.loader import ProgressBar, load_command, message_key, produce_messages, read_lines
from tests.services import free_port


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (b'{"schema":"event/v1","event_id":"EV1","action":"created"}', b"EV1"),
        (b'{"schema":"inspection/v1","record_id":"R1","item_code":"JG1"}', b"JG1"),
        (b'{"schema":"item/v1","item_code":"JG2"}', b"JG2"),
        (b'{"schema":"disclosure/v1","disclosure_id":"CF1"}', b"CF1"),
        (b'{"schema":"disclosure-request/v1","request_id":"SQ1","disclosure_id":"CF2"}', b"CF2"),
        ('{"schema":"item/v1","item_code":"监管1"}'.encode(), "监管1".encode()),
    ],
)
def test_message_key_follows_the_record_type(line: bytes, key: bytes) -> None:
    """Each schema is keyed by its docs/contract.md §2 entity field."""
    assert message_key(line) == key


@pytest.mark.parametrize(
    "line",
    [
        b'{"schema":"event/v1","event_id":"EV1"',  # truncated
        '{"schema":"item/v1","item_code":"JG1","name":"监管"}'.encode("gbk"),  # not UTF-8
        b'[{"schema":"event/v1","event_id":"EV1"}]',  # not an object
        b'{"schema":"order/v1","event_id":"EV1"}',  # unknown schema
        b'{"schema":"event/v1","event_id":42}',  # key field not a string
        b'{"schema":"event/v1"}',  # key field missing
        b'{"event_id":"EV1"}',  # no schema
    ],
)
def test_message_key_is_none_for_lines_that_are_not_keyable_records(line: bytes) -> None:
    """A line that is not a JSON object with a known schema and a string key field gets no key."""
    assert message_key(line) is None


def test_read_lines_keeps_values_byte_for_byte_without_terminators() -> None:
    """Only the LF or CRLF terminator is removed; inner bytes, malformed lines and the last line survive."""
    malformed = '{"name":"监管"}'.encode("gbk")
    data = (
        b'{"schema":"item/v1","item_code":"A"}\r\n'
        + malformed
        + b'\n\n  \n{"schema":"item/v1","item_code":"B"} '
    )
    assert list(read_lines(io.BytesIO(data))) == [
        (b"A", b'{"schema":"item/v1","item_code":"A"}'),
        (None, malformed),
        (b"B", b'{"schema":"item/v1","item_code":"B"} '),
    ]


class _Future:
    def __init__(self, error: BaseException | None) -> None:
        self._error = error

    def add_errback(self, callback: Any) -> None:
        if self._error is not None:
            callback(self._error)


class _FakeProducer:
    """Records sends; optionally fails the delivery of the n-th message (1-based)."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, int | None]] = []
        self.flushed = 0
        self._fail_at = fail_at

    def send(self, topic: str, *, key: bytes | None, value: bytes, timestamp_ms: int | None) -> _Future:
        self.sent.append((topic, key, value, timestamp_ms))
        failed = self._fail_at is not None and len(self.sent) == self._fail_at
        return _Future(KafkaError("record too large") if failed else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed += 1


def test_produce_messages_sends_in_order_flushes_and_counts() -> None:
    """Every message goes to the topic in input order, with its timestamp when given, then one flush."""
    producer = _FakeProducer()
    progress = ProgressBar("t", stream=io.StringIO(), is_tty=False, clock=lambda: 0.0)
    count = produce_messages(
        producer, "topic-a", [(b"k1", b"v1"), (None, b"v22"), (b"k3", b"v333", 1_700_000_000_000)], progress
    )
    assert count == 3
    assert producer.sent == [
        ("topic-a", b"k1", b"v1", None),
        ("topic-a", None, b"v22", None),
        ("topic-a", b"k3", b"v333", 1_700_000_000_000),
    ]
    assert producer.flushed == 1
    assert (progress.records, progress.bytes) == (3, 9)


def test_produce_messages_raises_source_error_when_a_delivery_fails() -> None:
    """A delivery the broker refuses stops the load with a SourceError instead of being dropped."""
    producer = _FakeProducer(fail_at=2)
    with pytest.raises(SourceError, match="refused"):
        produce_messages(producer, "topic-a", [(None, b"a"), (None, b"b"), (None, b"c")])
    assert producer.flushed == 1


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_prints_plain_periodic_lines_when_not_a_terminal() -> None:
    """Off a terminal, a full line is printed at most every five seconds, with the share of bytes done."""
    out, clock = io.StringIO(), _Clock()
    bar = ProgressBar("file → topic", 1000, stream=out, is_tty=False, clock=clock)
    bar.advance(1, 100)
    clock.now = 5.0
    bar.advance(1, 400)
    clock.now = 6.0
    bar.advance(1, 100)
    clock.now = 10.0
    bar.advance(2, 0)
    assert out.getvalue() == (
        "file → topic: 2 records  500 B  0 records/s (50%)\n"
        "file → topic: 5 records  600 B  0 records/s (60%)\n"
    )


def test_progress_redraws_a_bar_in_place_on_a_terminal() -> None:
    """On a terminal the bar is redrawn with a carriage return and shows the percentage."""
    out, clock = io.StringIO(), _Clock()
    bar = ProgressBar("f", 200, stream=out, is_tty=True, clock=clock)
    clock.now = 1.0
    bar.advance(10, 100)
    text = out.getvalue()
    assert text.startswith("\rf [" + "#" * 15 + "." * 15 + "]  50.0%")
    assert "10 records" in text
    assert "\n" not in text


def test_progress_summary_reports_records_bytes_and_rate() -> None:
    """The final line gives the record count, the size and the rate over the elapsed time."""
    out, clock = io.StringIO(), _Clock()
    bar = ProgressBar("f", None, stream=out, is_tty=False, clock=clock)
    bar.advance(4000, 3 * 1024 * 1024)
    clock.now = 2.0
    summary = bar.finish()
    assert summary == "f: produced 4,000 records, 3.0 MiB in 2.0 s (2,000 records/s)"
    assert out.getvalue().endswith(summary + "\n")


def test_load_of_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A file that does not exist is a usage error naming the path, before any broker is contacted."""
    args = argparse.Namespace(file=tmp_path / "nope.jsonl", topic="t", bootstrap="127.0.0.1:1")
    with pytest.raises(ConfigError, match=r"nope\.jsonl: no such file"):
        load_command(Settings(), args)


def test_load_to_an_unreachable_broker_is_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no broker answers at the bootstrap address the load fails with a SourceError naming it."""
    monkeypatch.setattr(loader, "BOOTSTRAP_TIMEOUT_MS", 500)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"schema":"event/v1","event_id":"EV1"}\n')
    address = f"127.0.0.1:{free_port()}"
    args = argparse.Namespace(file=path, topic="t", bootstrap=address)
    with pytest.raises(SourceError, match=f"cannot reach Kafka at {address}"):
        load_command(Settings(), args)
