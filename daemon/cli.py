"""The ``svmon`` command line (docs/contract.md §10): parse, load settings, dispatch, map errors.

The command modules (`daemon.runtime.app`, `daemon.tools.demo`, `daemon.reports.report`,
`daemon.tools.loader`) are imported inside their handlers, so that ``svmon check-config`` and
``svmon --help`` work (and stay fast) even where a command's heavier dependencies are missing or broken.

Options that override a setting (``--store``, ``--bootstrap``, ``--port``) are applied to the
`Settings` handed to the command, validated like any other setting; the raw values stay on ``args``.
"""

from __future__ import annotations

# Command modules are imported inside their handlers on purpose (see the docstring above).
# ruff: noqa: PLC0415
import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, TextIO, TypeAlias

import yaml
from pydantic import ValidationError

from daemon import __version__
from daemon.config import Settings, describe_validation_error, load_settings, masked_dump
from daemon.exceptions import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
    SvmonError,
    exit_code_for,
)
from schemas.identifiers import mask_personal_info

__all__ = ["build_parser", "main"]

_PROG = "svmon"
_DEBUG_ENV = "SVMON_DEBUG"


def _speed(value: str) -> str | float:
    if value in ("fast", "realtime"):
        return value
    try:
        return _positive_float(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{value!r} is not fast, realtime or a positive number") from None


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="YAML configuration file (default: $SVMON_CONFIG); SVMON_* environment variables override it",
    )


# The object `add_subparsers` returns; argparse names its type privately.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``svmon`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Exact, durable indicators for the Internet + Supervision (互联网+监管) platform.",
    )
    parser.add_argument("--version", action="version", version=f"{_PROG} {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show tracebacks of errors (also: {_DEBUG_ENV}=1)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (
        _add_run,
        _add_demo,
        _add_report,
        _add_list,
        _add_notice,
        _add_load,
        _add_feed,
        _add_incident,
        _add_schemas,
        _add_check_config,
    ):
        add(commands)
    return parser


def _add_run(commands: Commands) -> None:
    run = commands.add_parser("run", help="run the daemon", description="Consume, checkpoint, serve metrics.")
    _add_config_option(run)
    run.set_defaults(handler=_run)


def _add_demo(commands: Commands) -> None:
    demo = commands.add_parser(
        "demo",
        help="run everything on this machine with a generated year",
        description=(
            "Start a local Kafka-compatible broker (Tansu), produce a generated year 2023 for Ningbo, "
            "run the daemon against it and show a live summary of its indicators. "
            "Ctrl-C (or SIGTERM) stops the daemon, then the broker, and exits 0."
        ),
        epilog=(
            "On a terminal the demo runs until Ctrl-C. Without one on stdin (a pipe, CI) it exits by "
            "itself once every message is consumed, unless --keep-running is given. The store and the "
            "logs stay in the work directory it prints, for `svmon report`."
        ),
    )
    demo.add_argument(
        "--speed",
        type=_speed,
        default="fast",
        help=(
            "fast: produce everything at once (default); realtime: send each message when its "
            "ingestion time comes, keeping the year's gaps (a year takes a year); a factor N: the "
            "same N times faster, e.g. 3600 (an hour per second) or 86400 (a day per second)"
        ),
    )
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="keep the broker and the daemon serving after everything is consumed until Ctrl-C/SIGTERM, "
        "even without a terminal (on a terminal the demo always does)",
    )
    demo.add_argument(
        "--store",
        metavar="URL",
        help="an empty store to use (default: a new SQLite file in the work directory)",
    )
    demo.add_argument("--port", type=_port, metavar="N", help="HTTP port of the daemon (default: a free one)")
    demo.add_argument("--seed", type=int, default=None, metavar="N", help="scenario seed (default: 2023)")
    demo.add_argument(
        "--scale",
        type=_positive_float,
        default=None,
        metavar="F",
        help="scale the volumes by F (default: 1.0)",
    )
    _add_live_options(demo)
    demo.add_argument(
        "--live",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the generated year, go on producing current traffic at the real time, with the "
        "working-day rhythm of Asia/Shanghai (default: on at a terminal); implies --keep-running",
    )
    demo.add_argument(
        "--prometheus",
        action="store_true",
        help="also run Debian's Prometheus and Alertmanager on loopback with alerts/rules and the "
        "example routing (nothing is sent anywhere); the summary lists the firing alerts",
    )
    _add_config_option(demo)
    demo.set_defaults(handler=_demo)


def _add_live_options(parser: argparse.ArgumentParser, *, control_port: int | None = None) -> None:
    """The live generator's options, shared by ``svmon demo --live`` and ``svmon feed``."""
    from daemon.tools.incidents import NAMES

    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=None,
        metavar="N",
        help="live: created events in a busy office hour of a working day (default: 120); the other "
        "streams follow in proportion, nights and holidays are quieter but never silent",
    )
    parser.add_argument(
        "--incident",
        action="append",
        choices=NAMES,
        metavar="NAME",
        help=f"live: start an incident that makes its alert fire ({', '.join(NAMES)}); repeatable. "
        "At run time: POST (start) or DELETE (stop) <control URL>/NAME",
    )
    parser.add_argument(
        "--control-port",
        type=_port,
        default=control_port,
        metavar="N",
        help="live: loopback port of the incident control API (default: "
        + ("a free one" if control_port is None else str(control_port))
        + "); `svmon incident` talks to it",
    )


def _add_feed(commands: Commands) -> None:
    feed = commands.add_parser(
        "feed",
        help="produce live demo traffic to the configured Kafka",
        description=(
            "Produce current, generated supervision traffic (the demo's live phase) to the topics of the "
            "configuration until SIGINT/SIGTERM: a staging host's dashboards fill at once. "
            "Never point it at a production cluster."
        ),
    )
    feed.add_argument("--seed", type=int, default=2023, metavar="N", help="generator seed (default: 2023)")
    feed.add_argument("--bootstrap", metavar="HOST:PORT", help="brokers (default: from the configuration)")
    _add_live_options(feed, control_port=9110)
    _add_config_option(feed)
    feed.set_defaults(handler=_feed)


def _add_incident(commands: Commands) -> None:
    from daemon.tools.incidents import NAMES

    incident = commands.add_parser(
        "incident",
        help="list, start or stop the live demo's incidents",
        description="Start or stop an incident of a running `svmon feed` or `svmon demo --live`, "
        "or list them.",
        epilog=f"Incidents: {', '.join(NAMES)}. Each makes one alert fire and later resolve.",
    )
    incident.add_argument("action", choices=("list", "start", "stop"), help="what to do")
    incident.add_argument("name", nargs="?", choices=NAMES, metavar="NAME", help="the incident (start, stop)")
    incident.add_argument(
        "--control",
        default="http://127.0.0.1:9110/incidents",
        metavar="URL",
        help="the control URL (default: svmon feed's, http://127.0.0.1:9110/incidents; the demo prints "
        "its own)",
    )
    incident.set_defaults(handler=_incident)


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    """--store and --config, for the commands that read the store (report, list, notice)."""
    parser.add_argument("--store", metavar="URL", help="store URL (default: from the configuration)")
    _add_config_option(parser)


def _add_report(commands: Commands) -> None:
    report = commands.add_parser(
        "report",
        help="print the indicators of a period from the store",
        description="Print indicators for a period, read from the store.",
    )
    report.add_argument(
        "--period",
        required=True,
        metavar="P",
        help="2023 | 2023Q4 | 2023-10 | 2023-10-08 | 2023-01-01..2023-06-30",
    )
    report.add_argument("--by", choices=("department", "division"), default="department")
    report.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    _add_store_options(report)
    report.set_defaults(handler=_report)


def _add_list(commands: Commands) -> None:
    listing = commands.add_parser(
        "list",
        help="list the entities behind a count: overdue events, violations, errors, ...",
        description=(
            "List what a count is made of, read from the store, worst first: overdue (open events past "
            "their deadline), open (every open event), violations (published penalty results with a "
            "violation), requests (open withdraw/modify applications), errors (records still erroneous, "
            "with their Kafka coordinates). Filters combine; totals agree with `svmon report`."
        ),
    )
    listing.add_argument(
        "what",
        choices=("overdue", "open", "violations", "requests", "errors"),
        metavar="WHAT",
        help="overdue | open | violations | requests | errors",
    )
    listing.add_argument("--department", metavar="CODE", help="a registered department code")
    listing.add_argument("--division", metavar="CODE", help="a division code, e.g. 330212")
    listing.add_argument(
        "--kind", metavar="K", help="event kind (overdue, open), request kind, or record type (errors)"
    )
    listing.add_argument("--violation", metavar="V", help="one violation code (violations only)")
    listing.add_argument("--period", metavar="P", help="as in `svmon report`: 2023 | 2023Q4 | 2023-10 | ...")
    listing.add_argument("--limit", type=_positive_int, metavar="N", help="at most N items (default: all)")
    listing.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    _add_store_options(listing)
    listing.set_defaults(handler=_list)


def _add_notice(commands: Commands) -> None:
    notice = commands.add_parser(
        "notice",
        help="write a notice (通报) per department or division for a period",
        description=(
            "Write one document per unit (its eight indicators against target and the city, its rank, "
            "the change since the previous period, its lists, charts) and an index, read from the store."
        ),
    )
    notice.add_argument("--period", required=True, metavar="P", help="as in `svmon report`")
    notice.add_argument("--by", choices=("department", "division"), default="department")
    notice.add_argument("--only", metavar="CODE", help="only this unit (and the index)")
    notice.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write into")
    notice.add_argument("--format", choices=("markdown", "html"), default="markdown")
    _add_store_options(notice)
    notice.set_defaults(handler=_notice)


def _add_load(commands: Commands) -> None:
    load = commands.add_parser(
        "load", help="produce a JSONL file to a topic", description="Produce each line of FILE to a topic."
    )
    load.add_argument("file", type=Path, metavar="FILE", help="JSON Lines file, one record per line")
    load.add_argument("--topic", required=True, metavar="T", help="topic to produce to")
    load.add_argument("--bootstrap", metavar="HOST:PORT", help="brokers (default: from the configuration)")
    _add_config_option(load)
    load.set_defaults(handler=_load)


def _add_schemas(commands: Commands) -> None:
    schemas = commands.add_parser(
        "schemas", help="export the JSON Schemas of every record type", description="Write JSON Schema files."
    )
    schemas.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write to")
    schemas.set_defaults(handler=_schemas)


def _add_check_config(commands: Commands) -> None:
    check = commands.add_parser(
        "check-config",
        help="validate and print the effective configuration (secrets masked)",
        description="Validate the configuration and the files it names; print it as YAML, secrets masked.",
    )
    _add_config_option(check)
    check.set_defaults(handler=_check_config)


def _settings(args: argparse.Namespace, **overrides: dict[str, Any]) -> Settings:
    """Load settings and apply command-line overrides (section -> {key: value}), validated."""
    settings = load_settings(getattr(args, "config", None))
    changed = {section: values for section, values in overrides.items() if values}
    if not changed:
        return settings
    data = settings.model_dump()
    for section, values in changed.items():
        data[section] = {**data[section], **values}
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        message = describe_validation_error(exc, "invalid command-line option", env_names=False)
        raise ConfigError(message) from None


def _configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    from daemon.log import configure_logging

    configure_logging(settings.log.level, settings.log.format, stream=stream)


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _configure_logging(settings)
    from daemon.runtime.app import run

    return run(settings)


def _demo(args: argparse.Namespace) -> int:
    overrides: dict[str, dict[str, Any]] = {
        "store": {"url": args.store} if args.store is not None else {},
        "http": {"port": args.port} if args.port is not None else {},
    }
    settings = _settings(args, **overrides)
    _configure_logging(settings, sys.stderr)  # stdout carries the live summary
    from daemon.tools.demo import demo_command

    return demo_command(settings, args)


def _feed(args: argparse.Namespace) -> int:
    overrides = {"bootstrap_servers": args.bootstrap} if args.bootstrap is not None else {}
    settings = _settings(args, kafka=overrides)
    _configure_logging(settings, sys.stderr)  # stdout carries the progress lines
    from daemon.tools.feed import DEFAULT_RATE, feed_command

    if args.rate is None:
        args.rate = DEFAULT_RATE
    return feed_command(settings, args)


def _incident(args: argparse.Namespace) -> int:
    from daemon.tools.feed import incident_command

    return incident_command(args)


def _report(args: argparse.Namespace) -> int:
    settings = _settings(args, store={"url": args.store} if args.store is not None else {})
    _configure_logging(settings, sys.stderr)  # stdout carries the report (JSON, CSV): logs stay out of it
    from daemon.reports.report import report_command

    return report_command(settings, args)


def _list(args: argparse.Namespace) -> int:
    settings = _settings(args, store={"url": args.store} if args.store is not None else {})
    _configure_logging(settings, sys.stderr)  # stdout carries the list
    from daemon.reports.lists import list_command

    return list_command(settings, args)


def _notice(args: argparse.Namespace) -> int:
    settings = _settings(args, store={"url": args.store} if args.store is not None else {})
    _configure_logging(settings, sys.stderr)
    from daemon.reports.notices import notice_command

    return notice_command(settings, args)


def _load(args: argparse.Namespace) -> int:
    overrides = {"bootstrap_servers": args.bootstrap} if args.bootstrap is not None else {}
    settings = _settings(args, kafka=overrides)
    _configure_logging(settings)
    from daemon.tools.loader import load_command

    return load_command(settings, args)


def _schemas(args: argparse.Namespace) -> int:
    from schemas.export import export_json_schemas

    try:
        written = export_json_schemas(args.out)
    except OSError as exc:
        raise ConfigError(f"cannot write schemas to {args.out}: {exc}") from None
    for path in written:
        print(path)
    return EXIT_OK


def _check_referenced_files(settings: Settings) -> None:
    """Load the files the settings name, so their errors surface now rather than at start-up."""
    from daemon.core.calendar import WorkingCalendar
    from schemas.registry import RegistryError, load_registry

    WorkingCalendar(settings.calendar.override_file)
    try:
        load_registry(settings.registry_file)
    except RegistryError as exc:
        raise ConfigError(str(exc)) from None
    if settings.http.web_config_file is not None:
        from daemon.exposition.webconfig import load_web_config

        load_web_config(settings.http.web_config_file)  # with the certificate and key files it names


def _check_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _check_referenced_files(settings)
    sys.stdout.write(yaml.safe_dump(masked_dump(settings), sort_keys=False, allow_unicode=True))
    return EXIT_OK


def _debug_enabled(args: argparse.Namespace | None) -> bool:
    if args is not None and getattr(args, "debug", False):
        return True
    return os.environ.get(_DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _report_error(error: BaseException, *, debug: bool, stream: TextIO) -> None:
    # Error text can quote input data (a record, a URL); it passes the same PII masking as the logs.
    if debug:
        text = "".join(traceback.format_exception(error))
        stream.write(mask_personal_info(text))
    message = str(error) if str(error) else type(error).__name__
    if not isinstance(error, SvmonError | OSError):
        message = f"unexpected {type(error).__name__}: {message}"
        if not debug:
            message += f" (run with --debug or {_DEBUG_ENV}=1 for the traceback)"
    stream.write(mask_personal_info(f"{_PROG}: error: {message}") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``svmon`` with *argv* (default: the process arguments); return the exit code."""
    parser = build_parser()
    args: argparse.Namespace | None = None
    try:
        args = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        status = handler(args)
        sys.stdout.flush()  # here, where a closed pipe is still handled below
        return status
    except BrokenPipeError:
        # The reader went away (`svmon report … | head`): that is not an error. Point stdout at
        # /dev/null so the interpreter's final flush does not raise again on the way out.
        with suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return EXIT_OK
    except SystemExit as exc:
        # argparse exits for --help, --version and usage errors; in-process callers want the code.
        code = exc.code
        if code is None:
            return EXIT_OK
        return code if isinstance(code, int) else EXIT_CONFIG
    except KeyboardInterrupt:
        sys.stderr.write(f"{_PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except Exception as exc:
        _report_error(exc, debug=_debug_enabled(args), stream=sys.stderr)
        code = exit_code_for(exc)
        return code if code != EXIT_OK else EXIT_FAILURE
