"""Logging: structlog, JSON lines for machines, a console renderer for people, and no personal data.

Every log line, from svmon's own structlog loggers and from standard-library loggers (kafka-python
logs through `logging`), goes through one processor chain that ends in `mask_personal_info_processor`
just before rendering, so that no resident ID number or mobile number reaches a log line (contract §9.6),
whatever code logged it and in whichever field (message, key, value, nested value, traceback).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from schemas.identifiers import mask_personal_info

__all__ = [
    "KAFKA_REPEAT_WINDOW_S",
    "RepeatFilter",
    "configure_logging",
    "mask_personal_info_processor",
    "mask_value",
]

#: kafka-python logs every failed reconnect, several lines each, many times a second while a broker is
#: away or refuses svmon; svmon says what is wrong once per backoff step itself. Each of kafka-python's
#: messages (by its format string) is therefore let through once per window.
KAFKA_REPEAT_WINDOW_S = 60.0

LogFormat = Literal["auto", "json", "console"]

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
# Kept so that reconfiguring (tests, `svmon demo` after option parsing) replaces our handler only.
_bridge_handler: logging.Handler | None = None


def mask_value(value: object) -> object:
    """*value* with personal data masked in every string inside it.

    Containers are rebuilt; any other object is rendered with `str` first, because renderers would
    otherwise call `str`/`repr` on it after masking had run and let its text through.
    """
    if isinstance(value, str):
        return mask_personal_info(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        # A mobile number or an all-digit resident ID can arrive as an int; it renders as digits too.
        digits = str(value)
        masked = mask_personal_info(digits)
        return value if masked == digits else masked
    if isinstance(value, Mapping):
        return {mask_value(key): mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(item) for item in value]
    return mask_personal_info(str(value))


def mask_personal_info_processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask personal data in every key and value, the event message included.

    Must run after `format_exc_info`, so that exception text is a string by then and is masked too.
    """
    return {str(mask_value(key)): mask_value(value) for key, value in event_dict.items()}


def _resolve_format(fmt: str, stream: TextIO) -> Literal["json", "console"]:
    if fmt == "json":
        return "json"
    if fmt == "console":
        return "console"
    if fmt != "auto":
        raise ValueError(f"unknown log format {fmt!r}: use auto, json or console")
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


class RepeatFilter(logging.Filter):
    """Lets each message of the ``kafka`` loggers through once per window, then says how many it held back.

    Messages are told apart by logger and format string (``record.msg``), so the same complaint about
    another port or another backoff is the same message.
    """

    def __init__(
        self, window_s: float = KAFKA_REPEAT_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # (logger, format) -> (shown at, held back)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("kafka"):
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        shown = self._last.get(key)
        if shown is not None and now - shown[0] < self._window_s:
            self._last[key] = (shown[0], shown[1] + 1)
            return False
        self._last[key] = (now, 0)
        if shown is not None and shown[1]:
            record.held_back = shown[1]
        return True


class _StdlibBridge(logging.Handler):
    """Sends standard-library log records through the structlog chain (and so through masking)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            logger = structlog.get_logger(record.name)
            kwargs: dict[str, Any] = {"logger": record.name}
            held_back = getattr(record, "held_back", 0)
            if held_back:
                kwargs["repeats_held_back"] = held_back
            if record.exc_info:
                kwargs["exc_info"] = record.exc_info
            logger.log(record.levelno, record.getMessage(), **kwargs)
        except Exception:
            self.handleError(record)


def configure_logging(level: str = "INFO", fmt: str = "auto", *, stream: TextIO | None = None) -> None:
    """Configure structlog (and route the standard `logging` module into it).

    *fmt* ``json`` writes one JSON object per line; ``console`` writes coloured key=value lines;
    ``auto`` picks console when *stream* (default stdout) is a TTY, else JSON.
    """
    global _bridge_handler  # noqa: PLW0603 - one process-wide logging setup, replaced on reconfigure
    numeric_level = _LEVELS.get(level.upper())
    if numeric_level is None:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(_LEVELS)}")
    output = stream if stream is not None else sys.stdout
    renderer_kind = _resolve_format(fmt, output)

    renderer: Processor
    if renderer_kind == "json":
        renderer = structlog.processors.JSONRenderer(ensure_ascii=False, sort_keys=False)
    else:
        # plain_traceback prints the already-formatted (and masked) "exception" string; the pretty
        # formatters would re-render the live exception object and bypass masking.
        renderer = structlog.dev.ConsoleRenderer(
            colors=getattr(output, "isatty", lambda: False)(),
            exception_formatter=structlog.dev.plain_traceback,
        )

    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        mask_personal_info_processor,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=output),
        # Not cached: a logger obtained at import time must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )

    root = logging.getLogger()
    if _bridge_handler is not None:
        root.removeHandler(_bridge_handler)
    _bridge_handler = _StdlibBridge(level=numeric_level)
    _bridge_handler.addFilter(RepeatFilter())
    root.addHandler(_bridge_handler)
    root.setLevel(numeric_level)
    # kafka-python narrates every connection and rebalance at INFO; an operator needs its warnings.
    logging.getLogger("kafka").setLevel(max(numeric_level, logging.WARNING))
