"""Tests of daemon.log: output formats, level filtering, and masking of personal data in every line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from daemon.log import RepeatFilter, configure_logging, mask_value

# A resident ID with a valid check digit (the GB 11643 textbook example) and a mobile number.
RESIDENT_ID = "11010519491231002X"
MOBILE = "13812345678"


class _Terminal(io.StringIO):
    """A stream that says it is a TTY, to exercise format=auto."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Each test leaves structlog and the root logger as it found them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _assert_no_personal_info(text: str) -> None:
    assert RESIDENT_ID not in text
    assert RESIDENT_ID[:17] not in text
    assert MOBILE not in text


def test_json_format_writes_one_object_per_line() -> None:
    """format=json renders each event as a JSON object with event, level and an ISO timestamp."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    structlog.get_logger("t").info("checkpoint_done", records=20000, 耗时="1s")
    (line,) = _json_lines(stream)
    assert line["event"] == "checkpoint_done"
    assert line["level"] == "info"
    assert line["records"] == 20000
    assert line["耗时"] == "1s"
    assert str(line["timestamp"]).endswith("Z")


def test_auto_format_is_json_off_a_terminal_and_console_on_one() -> None:
    """format=auto picks JSON for pipes and files and the console renderer for a TTY."""
    pipe = io.StringIO()
    configure_logging("INFO", "auto", stream=pipe)
    structlog.get_logger().info("hello", n=1)
    assert json.loads(pipe.getvalue())["event"] == "hello"

    terminal = _Terminal()
    configure_logging("INFO", "auto", stream=terminal)
    structlog.get_logger().info("hello", n=1)
    output = terminal.getvalue()
    assert "hello" in output
    with pytest.raises(json.JSONDecodeError):
        json.loads(output)


def test_level_filters_lower_events() -> None:
    """Events below the configured level are not written; the level name is case-insensitive."""
    stream = io.StringIO()
    configure_logging("warning", "json", stream=stream)
    logger = structlog.get_logger()
    logger.info("quiet")
    logger.warning("loud")
    assert [line["event"] for line in _json_lines(stream)] == ["loud"]


def test_personal_info_is_masked_everywhere_in_a_json_line() -> None:
    """Resident IDs and mobile numbers are masked in the message, values, nested values and keys."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    structlog.get_logger().info(
        f"record from {MOBILE}",
        party_id=RESIDENT_ID,
        nested={"contacts": [MOBILE, {"id": RESIDENT_ID}]},
        error=ValueError(f"bad id {RESIDENT_ID}"),
        **{f"k{MOBILE}": "v"},
    )
    text = stream.getvalue()
    _assert_no_personal_info(text)
    (line,) = _json_lines(stream)
    assert str(line["event"]).startswith("record from 138")
    assert line["error"] == "bad id 110105********002X"


def test_exception_text_is_masked_in_json() -> None:
    """A traceback whose exception message holds personal data is masked before rendering."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        raise RuntimeError(f"cannot parse {RESIDENT_ID} / {MOBILE}")
    except RuntimeError:
        structlog.get_logger().exception("record_failed")
    text = stream.getvalue()
    _assert_no_personal_info(text)
    (line,) = _json_lines(stream)
    assert "RuntimeError: cannot parse" in str(line["exception"])


def test_exception_text_is_masked_on_the_console() -> None:
    """The console renderer prints the masked traceback, not the live exception."""
    stream = io.StringIO()
    configure_logging("INFO", "console", stream=stream)
    try:
        raise RuntimeError(f"cannot parse {RESIDENT_ID}")
    except RuntimeError:
        structlog.get_logger().exception(f"failed for {MOBILE}")
    text = stream.getvalue()
    _assert_no_personal_info(text)
    assert "RuntimeError: cannot parse" in text


def test_standard_library_logging_goes_through_the_same_chain() -> None:
    """kafka-python-style stdlib log records come out as masked JSON lines with their logger name."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    configure_logging("INFO", "json", stream=stream)  # reconfiguring must not duplicate lines
    logging.getLogger("kafka.conn").warning("peer %s sent %s", "broker-1", MOBILE)
    logging.getLogger("kafka.conn").debug("not shown")
    text = stream.getvalue()
    _assert_no_personal_info(text)
    (line,) = _json_lines(stream)
    assert line["logger"] == "kafka.conn"
    assert line["level"] == "warning"
    assert str(line["event"]).startswith("peer broker-1 sent 138")


def test_mask_value_keeps_numbers_and_rebuilds_containers() -> None:
    """Harmless scalars pass through, numbers that are phone numbers are masked, containers copied."""
    assert mask_value(20000) == 20000
    assert mask_value(13812345678) == "138****5678"
    assert mask_value(None) is None
    assert mask_value((MOBILE, 1.5, True)) == ["138****5678", 1.5, True]


@pytest.mark.parametrize(("level", "fmt"), [("LOUD", "json"), ("INFO", "xml")])
def test_bad_level_or_format_is_refused(level: str, fmt: str) -> None:
    """An unknown level or format is a ValueError, not a silently default setup."""
    with pytest.raises(ValueError, match="unknown log"):
        configure_logging(level, fmt, stream=io.StringIO())


def _record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_kafka_repeats_are_held_back_within_the_window_and_counted() -> None:
    """The same kafka-python message (any arguments) passes once a minute, then says how many it held back."""
    now = [0.0]
    repeats = RepeatFilter(window_s=60.0, clock=lambda: now[0])
    first = _record("kafka.net.connection", "%s: Connection lost: %s", "node 1", "refused")
    assert repeats.filter(first)
    for second in range(1, 40):
        now[0] = float(second)
        assert not repeats.filter(
            _record("kafka.net.connection", "%s: Connection lost: %s", f"node {second}", "x")
        )
    assert repeats.filter(_record("kafka.net.manager", "Bootstrap failed: %s", "timeout"))  # another message
    now[0] = 61.0
    later = _record("kafka.net.connection", "%s: Connection lost: %s", "node 1", "refused")
    assert repeats.filter(later)
    assert getattr(later, "held_back", 0) == 39


def test_svmon_lines_are_never_held_back() -> None:
    """Only the kafka loggers are rate-limited; svmon's own standard-library lines all pass."""
    repeats = RepeatFilter(window_s=60.0, clock=lambda: 0.0)
    assert all(repeats.filter(_record("svmon.app", "progress %s", n)) for n in range(5))


def test_held_back_repeats_are_reported_in_the_json_line() -> None:
    """A kafka line after a quiet window carries ``repeats_held_back`` with the count."""
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    for _ in range(3):
        logging.getLogger("kafka.net.manager").warning("Bootstrap failed: %s", "timeout")
    lines = _json_lines(stream)
    assert len(lines) == 1
    assert "repeats_held_back" not in lines[0]
