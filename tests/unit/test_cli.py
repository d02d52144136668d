"""Tests of daemon.cli: subcommands, dispatch with settings, check-config, and errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from daemon import __version__
from daemon.cli import main
from daemon.config import Settings, load_settings, masked_dump
from daemon.exceptions import ConfigError, DlqError, SourceError, StoreVersionError
from daemon.tools import demo

_REPO = Path(__file__).resolve().parents[2]
_SVMON = _REPO / ".venv" / "bin" / "svmon"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SVMON_* variable leaks in, and logging set up by a command is undone afterwards."""
    for name in list(os.environ):
        if name.upper().startswith("SVMON_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


Calls = list[tuple[Settings, argparse.Namespace | None]]


def _fake_command(
    monkeypatch: pytest.MonkeyPatch, module: str, function: str, behaviour: Callable[[], int] = lambda: 0
) -> Calls:
    """Install a stand-in for a command module and record what the CLI hands it."""
    calls: Calls = []

    def command(settings: Settings, args: argparse.Namespace | None = None) -> int:
        calls.append((settings, args))
        return behaviour()

    fake = types.ModuleType(module)
    setattr(fake, function, command)
    monkeypatch.setitem(sys.modules, module, fake)
    return calls


def _raise(error: BaseException) -> Callable[[], int]:
    def behaviour() -> int:
        raise error

    return behaviour


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the program name and version and exits 0."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"svmon {__version__}"


@pytest.mark.parametrize("speed", ["0", "-3", "inf", "slow"])
def test_a_demo_speed_must_be_fast_realtime_or_a_positive_factor(
    speed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --speed is a usage error (exit 2) that names the accepted forms."""
    assert main(["demo", "--speed", speed]) == 2
    assert "is not fast, realtime or a positive number" in capsys.readouterr().err


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a subcommand, usage goes to stderr and the exit code is 2."""
    assert main([]) == 2
    assert "usage: svmon" in capsys.readouterr().err


def test_check_config_prints_effective_config_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """check-config prints the merged settings as YAML with secrets masked, and exits 0."""
    config = tmp_path / "svmon.yaml"
    config.write_text("http:\n  port: 9200\nstore:\n  url: postgresql://svmon:db-pass@db/svmon\n", "utf-8")
    monkeypatch.setenv("SVMON_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("SVMON_KAFKA__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("SVMON_KAFKA__SASL_USERNAME", "svmon")
    monkeypatch.setenv("SVMON_KAFKA__SASL_PASSWORD", "kafka-pass")
    assert main(["check-config", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    printed = yaml.safe_load(out)
    assert printed == masked_dump(load_settings(config))
    assert printed["http"]["port"] == 9200
    assert "kafka-pass" not in out
    assert "db-pass" not in out


def test_check_config_reports_bad_settings_with_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad variable gives exit 2 and a readable message on stderr, nothing on stdout."""
    monkeypatch.setenv("SVMON_HTTP__PORT", "eighty")
    assert main(["check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("svmon: error: invalid configuration (environment):\n")
    assert "http.port (env SVMON_HTTP__PORT)" in captured.err
    assert "Traceback" not in captured.err


def test_check_config_checks_the_calendar_override_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An invalid calendar override file named by the settings fails check-config."""
    override = tmp_path / "calendar.yaml"
    override.write_text("2027:\n  holidays: [2026-12-31]\n", "utf-8")
    monkeypatch.setenv("SVMON_CALENDAR__OVERRIDE_FILE", str(override))
    assert main(["check-config"]) == 2
    assert "2026-12-31 is not in 2027" in capsys.readouterr().err


def test_check_config_checks_the_registry_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An unreadable registry named by the settings fails check-config with exit 2."""
    registry = tmp_path / "registry.yaml"
    registry.write_text("departments: [unclosed\n", "utf-8")
    monkeypatch.setenv("SVMON_REGISTRY_FILE", str(registry))
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("svmon: error: ")
    assert str(registry) in err


def test_run_dispatches_with_loaded_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """run loads settings from --config and returns what daemon.runtime.app.run returns."""
    config = tmp_path / "svmon.yaml"
    config.write_text("kafka:\n  group_id: from-file\nlog:\n  format: json\n", "utf-8")
    calls = _fake_command(monkeypatch, "daemon.runtime.app", "run", lambda: 0)
    assert main(["run", "--config", str(config)]) == 0
    ((settings, _),) = calls
    assert settings.kafka.group_id == "from-file"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SourceError("broker 127.0.0.1:9092 unreachable"), 1),
        (StoreVersionError("store schema 3 is newer than this build (2)"), 1),
        (DlqError("cannot write svmon.dlq"), 1),
        (ConfigError("topic svmon.events does not exist"), 2),
    ],
)
def test_svmon_errors_become_exit_codes_and_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, error: Exception, code: int
) -> None:
    """Each svmon error maps to its exit code with one `svmon: error:` line and no traceback."""
    _fake_command(monkeypatch, "daemon.runtime.app", "run", _raise(error))
    assert main(["run"]) == code
    err = capsys.readouterr().err
    assert err == f"svmon: error: {error}\n"


def test_debug_flag_and_variable_show_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--debug, or SVMON_DEBUG=1, adds the traceback before the one-line message."""
    _fake_command(monkeypatch, "daemon.runtime.app", "run", _raise(SourceError("broker down")))
    assert main(["--debug", "run"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("svmon: error: broker down\n")

    monkeypatch.setenv("SVMON_DEBUG", "1")
    assert main(["run"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_unexpected_errors_exit_1_with_a_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (not an svmon error) exits 1 naming the exception type and how to see the traceback."""
    _fake_command(monkeypatch, "daemon.runtime.app", "run", _raise(ZeroDivisionError("division by zero")))
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("svmon: error: unexpected ZeroDivisionError: division by zero (run with --debug")
    assert "Traceback" not in err


def test_error_messages_are_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Personal data quoted in an error message does not reach stderr."""
    _fake_command(
        monkeypatch, "daemon.runtime.app", "run", _raise(DlqError("cannot park record of 13812345678"))
    )
    assert main(["--debug", "run"]) == 1
    assert "13812345678" not in capsys.readouterr().err


def test_keyboard_interrupt_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C ends the command with status 130 and no traceback."""
    _fake_command(monkeypatch, "daemon.runtime.app", "run", _raise(KeyboardInterrupt()))
    assert main(["run"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_demo_options_reach_the_command_and_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """demo parses its options and applies --store and --port to the settings it passes on."""
    calls = _fake_command(monkeypatch, "daemon.tools.demo", "demo_command")
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    argv = ["demo", "--speed", "3600", "--keep-running", "--store", store, "--port", "0"]
    assert main([*argv, "--seed", "7", "--scale", "0.1"]) == 0
    ((settings, args),) = calls
    assert args is not None
    assert (args.speed, args.keep_running, args.seed, args.scale) == (3600.0, True, 7, 0.1)
    assert settings.store.url == store
    assert settings.http.port == 0


def test_demo_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without options, demo runs fast with the configured store and port."""
    calls = _fake_command(monkeypatch, "daemon.tools.demo", "demo_command")
    assert main(["demo", "--speed", "realtime"]) == 0
    ((settings, args),) = calls
    assert args is not None
    assert args.speed == "realtime"
    assert args.keep_running is False
    assert settings.store.url == "sqlite:///svmon-state.db"


@pytest.mark.parametrize("speed", ["slow", "0", "-2", "inf"])
def test_demo_rejects_bad_speed(capsys: pytest.CaptureFixture[str], speed: str) -> None:
    """--speed takes fast, realtime or a positive factor; anything else is a usage error."""
    assert main(["demo", "--speed", speed]) == 2
    assert "--speed" in capsys.readouterr().err


def test_demo_refuses_a_web_config_from_the_config_file_before_starting_anything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo reads its own daemon over plain HTTP: a config file's web config is a usage error
    named in words (exit 2), and one in the environment is left out of the daemon's environment."""
    web_config = tmp_path / "web.yml"
    web_config.write_text("basic_auth_users: {}\n", encoding="utf-8")
    config = tmp_path / "svmon.yml"
    config.write_text(yaml.safe_dump({"http": {"web_config_file": str(web_config)}}), encoding="utf-8")
    monkeypatch.setattr(demo, "TansuBroker", None)  # starting a broker would fail the test loudly
    assert main(["demo", "--config", str(config)]) == 2
    assert "the demo serves plain HTTP" in capsys.readouterr().err
    monkeypatch.setenv("SVMON_HTTP__WEB_CONFIG_FILE", str(web_config))
    settings = load_settings(None)
    environment = demo._daemon_environment(settings, argparse.Namespace(), "127.0.0.1:1", "sqlite:///x", 1)
    assert "SVMON_HTTP__WEB_CONFIG_FILE" not in environment


def test_invalid_store_option_is_a_config_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--store is validated like the setting it overrides."""
    calls = _fake_command(monkeypatch, "daemon.reports.report", "report_command")
    assert main(["report", "--period", "2023", "--store", "mysql://db/x"]) == 2
    assert calls == []
    err = capsys.readouterr().err
    assert "invalid command-line option" in err
    assert "store.url: unsupported store URL" in err


def test_report_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """report requires --period and passes --by, --format and the --store override."""
    calls = _fake_command(monkeypatch, "daemon.reports.report", "report_command", lambda: 0)
    argv = ["report", "--period", "2023-01-01..2023-06-30", "--by", "division", "--format", "csv"]
    assert main([*argv, "--store", "postgresql://svmon@db/svmon"]) == 0
    ((settings, args),) = calls
    assert args is not None
    assert (args.period, args.by, args.format) == ("2023-01-01..2023-06-30", "division", "csv")
    assert settings.store.url == "postgresql://svmon@db/svmon"


def test_report_requires_a_period_and_known_choices(capsys: pytest.CaptureFixture[str]) -> None:
    """A missing --period or an unknown --format is a usage error (exit 2)."""
    assert main(["report"]) == 2
    assert main(["report", "--period", "2023", "--format", "xlsx"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_load_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """load takes FILE and --topic, and --bootstrap overrides the configured brokers."""
    calls = _fake_command(monkeypatch, "daemon.tools.loader", "load_command", lambda: 0)
    data = tmp_path / "events.jsonl"
    assert main(["load", str(data), "--topic", "svmon.events", "--bootstrap", "127.0.0.1:19092"]) == 0
    ((settings, args),) = calls
    assert args is not None
    assert (args.file, args.topic) == (data, "svmon.events")
    assert settings.kafka.bootstrap_server_list == ["127.0.0.1:19092"]


def test_command_exit_code_is_passed_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command's own non-zero return value becomes the exit code."""
    _fake_command(monkeypatch, "daemon.tools.loader", "load_command", lambda: 1)
    assert main(["load", "x.jsonl", "--topic", "t"]) == 1


def test_schemas_exports_to_the_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """schemas --out DIR calls the exporter and prints every file it wrote."""
    written: list[Path] = []

    def export_json_schemas(out_dir: Path) -> list[Path]:
        path = out_dir / "event.v1.schema.json"
        written.append(path)
        return [path]

    fake: Any = types.ModuleType("schemas.export")
    fake.export_json_schemas = export_json_schemas
    monkeypatch.setitem(sys.modules, "schemas.export", fake)
    assert main(["schemas", "--out", str(tmp_path)]) == 0
    assert written == [tmp_path / "event.v1.schema.json"]
    assert capsys.readouterr().out == f"{tmp_path / 'event.v1.schema.json'}\n"


def test_console_script_reports_bad_config_without_traceback(tmp_path: Path) -> None:
    """The installed `svmon` binary exits 2 with a readable stderr message on a bad variable."""
    environment = {key: value for key, value in os.environ.items() if not key.upper().startswith("SVMON_")}
    environment["SVMON_KAFKA__MAX_POLL_RECORDS"] = "lots"
    completed = subprocess.run(
        [str(_SVMON), "check-config"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "svmon: error: invalid configuration (environment):" in completed.stderr
    assert "kafka.max_poll_records (env SVMON_KAFKA__MAX_POLL_RECORDS)" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_reader_that_went_away_is_not_an_error(tmp_path: Path) -> None:
    """`svmon check-config | head -0`: output into a pipe nobody reads ends quietly with 0."""
    environment = {key: value for key, value in os.environ.items() if not key.upper().startswith("SVMON_")}
    read_end, write_end = os.pipe()
    os.close(read_end)  # before the start: the first write is certain to find no reader
    try:
        completed = subprocess.run(
            [str(_SVMON), "check-config"],
            env=environment,
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert completed.stderr == ""
    assert completed.returncode == 0


def test_python_dash_m_daemon_is_the_same_cli(tmp_path: Path) -> None:
    """`python -m daemon --version` runs the same entry point."""
    completed = subprocess.run(
        [sys.executable, "-m", "daemon", "--version"],
        cwd=_REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"svmon {__version__}"
