"""Tests of daemon.config: defaults, env over YAML, validation messages, masking and the docs table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from daemon.cli import main
from daemon.config import (
    KafkaSettings,
    Settings,
    StoreSettings,
    load_settings,
    masked_dump,
    settings_table_markdown,
)
from daemon.exceptions import ConfigError

_DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without any SVMON_* variable from the developer's shell."""
    for name in list(os.environ):
        if name.upper().startswith("SVMON_"):
            monkeypatch.delenv(name)


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "svmon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(config_file: Path | None = None) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(config_file)
    return str(raised.value)


def test_defaults_follow_the_spec() -> None:
    """Without any configuration the settings are docs/contract.md §2, §6, §8 and §10's defaults."""
    settings = load_settings()
    assert settings.kafka.bootstrap_server_list == ["127.0.0.1:9092"]
    assert settings.kafka.topics.events == "svmon.events"
    assert settings.kafka.topics.disclosure_requests == "svmon.disclosure-requests"
    assert settings.kafka.topics.dlq == "svmon.dlq"
    assert settings.kafka.max_message_bytes == 1024 * 1024
    assert settings.store.url == "sqlite:///svmon-state.db"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 9108)
    assert settings.targets.model_dump() == {
        "event_handling_rate": 0.999,
        "event_on_time_rate": 0.95,
        "data_accuracy_rate": 0.999,
        "item_onboarding_rate": 0.95,
        "double_random_coverage_rate": 0.99,
        "mobile_enforcement_rate": 0.99,
        "disclosure_on_time_rate": 0.95,
        "disclosure_compliance_rate": 1.0,
    }
    assert settings.sla_working_days.model_dump() == {
        "risk_warning": 3,
        "collaborative": 5,
        "complaint": 7,
        "clue": 15,
    }
    assert settings.disclosure.publish_within_working_days == 7
    assert settings.disclosure.withdraw_within_working_days == 3
    assert settings.calendar.override_file is None
    assert settings.registry_file is None


def test_environment_sets_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """SVMON_SECTION__KEY (and deeper) reaches the nested setting."""
    monkeypatch.setenv("SVMON_KAFKA__GROUP_ID", "svmon-blue")
    monkeypatch.setenv("SVMON_KAFKA__TOPICS__EVENTS", "prod.events")
    monkeypatch.setenv("SVMON_SLA_WORKING_DAYS__CLUE", "20")
    settings = load_settings()
    assert settings.kafka.group_id == "svmon-blue"
    assert settings.kafka.topics.events == "prod.events"
    assert settings.kafka.topics.dlq == "svmon.dlq"
    assert settings.sla_working_days.clue == 20


def test_yaml_file_is_read_and_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment wins key by key; the file's other keys in the same section survive."""
    path = _yaml(
        tmp_path,
        "kafka:\n  group_id: from-file\n  client_id: file-client\nhttp:\n  port: 9200\n",
    )
    monkeypatch.setenv("SVMON_KAFKA__GROUP_ID", "from-env")
    settings = load_settings(path)
    assert settings.kafka.group_id == "from-env"
    assert settings.kafka.client_id == "file-client"
    assert settings.http.port == 9200


def test_svmon_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit path, $SVMON_CONFIG names the YAML file."""
    monkeypatch.setenv("SVMON_CONFIG", str(_yaml(tmp_path, "store:\n  url: sqlite:////var/lib/svmon.db\n")))
    assert load_settings().store.url == "sqlite:////var/lib/svmon.db"


def test_empty_yaml_file_means_defaults(tmp_path: Path) -> None:
    """An empty file (or only comments) is valid and changes nothing."""
    assert load_settings(_yaml(tmp_path, "# nothing yet\n")) == load_settings()


def test_settings_are_frozen() -> None:
    """Settings cannot be mutated after start-up."""
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.http.port = 1  # type: ignore[misc]


def test_every_bad_field_is_listed_with_path_and_env_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """All problems are reported at once, each with its dotted path and variable name, no traceback."""
    monkeypatch.setenv("SVMON_KAFKA__SESSION_TIMEOUT_MS", "soon")
    monkeypatch.setenv("SVMON_TARGETS__EVENT_HANDLING_RATE", "99.9")
    monkeypatch.setenv("SVMON_SLA_WORKING_DAYS__RISK_WARNING", "0")
    message = _config_error()
    lines = message.splitlines()
    assert lines[0] == "invalid configuration (environment):"
    assert len(lines) == 4
    assert any(
        "kafka.session_timeout_ms (env SVMON_KAFKA__SESSION_TIMEOUT_MS): " in line and "'soon'" in line
        for line in lines
    )
    assert any("targets.event_handling_rate" in line and "less than or equal to 1" in line for line in lines)
    assert any("sla_working_days.risk_warning" in line and "greater than or equal" in line for line in lines)
    assert "Traceback" not in message
    assert "errors.pydantic.dev" not in message


def test_unknown_keys_are_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in the YAML file or in a nested variable name surfaces instead of being ignored."""
    monkeypatch.setenv("SVMON_KAFKA__GROUPID", "x")
    message = _config_error(_yaml(tmp_path, "stor:\n  url: sqlite:///x.db\n"))
    assert "stor (env SVMON_STOR): Extra inputs are not permitted" in message
    assert "kafka.groupid" in message


def test_unrelated_svmon_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Process-level variables such as SVMON_DEBUG are not settings and are not errors."""
    monkeypatch.setenv("SVMON_DEBUG", "1")
    assert load_settings().http.port == 9108


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kafka: [unclosed\n", "invalid YAML at line 2"),
        ("- just\n- a list\n", "the top level must be a mapping, got list"),
    ],
)
def test_unreadable_yaml_is_a_config_error(tmp_path: Path, text: str, expected: str) -> None:
    """YAML syntax errors and a non-mapping document are reported with the file name."""
    path = _yaml(tmp_path, text)
    message = _config_error(path)
    assert str(path) in message
    assert expected in message


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is reported, not a FileNotFoundError."""
    assert "not found" in _config_error(tmp_path / "absent.yaml")


def test_section_given_as_bad_json_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole section in one variable must be JSON; otherwise the message says how to fix it."""
    monkeypatch.setenv("SVMON_KAFKA__TOPICS", "events=x")
    message = _config_error()
    assert "must be JSON" in message
    assert "SVMON_KAFKA__GROUP_ID" in message


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///svmon-state.db", "sqlite"),
        ("sqlite:////var/lib/svmon/state.db", "sqlite"),
        ("postgresql://svmon@db.example:5432/svmon", "postgresql"),
        ("postgres://svmon:pw@db.example/svmon", "postgresql"),
    ],
)
def test_supported_store_urls(url: str, kind: str) -> None:
    """sqlite:///PATH and postgresql:// URLs are accepted and classified."""
    assert StoreSettings(url=url).kind == kind


def test_sqlite_path_is_relative_or_absolute() -> None:
    """Three slashes give a relative path, four an absolute one."""
    assert StoreSettings(url="sqlite:///state.db").sqlite_path == Path("state.db")
    assert StoreSettings(url="sqlite:////var/svmon.db").sqlite_path == Path("/var/svmon.db")
    with pytest.raises(ValueError, match="not a sqlite URL"):
        _ = StoreSettings(url="postgresql://h/db").sqlite_path


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root:hunter2@db/svmon", "unsupported store URL (scheme 'mysql')"),
        ("sqlite://state.db", "three slashes"),
        ("sqlite:///", "needs a path"),
        ("state.db", "no scheme"),
    ],
)
def test_unsupported_store_urls_are_readable_errors(
    monkeypatch: pytest.MonkeyPatch, url: str, expected: str
) -> None:
    """Any other store URL is refused with a message that says what is accepted, password masked."""
    monkeypatch.setenv("SVMON_STORE__URL", url)
    message = _config_error()
    assert "store.url (env SVMON_STORE__URL)" in message
    assert expected in message
    assert "hunter2" not in message


def test_sasl_requires_mechanism_and_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """SASL_SSL without mechanism, user and password is refused, naming what is missing."""
    monkeypatch.setenv("SVMON_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    message = _config_error()
    assert "needs sasl_mechanism, sasl_username, sasl_password" in message


def test_client_kwargs_carry_sasl_and_ssl(tmp_path: Path) -> None:
    """kafka-python receives the SASL credentials and CA file, spelled its way."""
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    kafka = KafkaSettings.model_validate(
        {
            "bootstrap_servers": "k1:9093, k2:9093",
            "security_protocol": "sasl_ssl",  # case-insensitive, as operators write it
            "sasl_mechanism": "scram-sha-512",
            "sasl_username": "svmon",
            "sasl_password": "s3cret",
            "ssl_cafile": str(ca),
        }
    )
    kwargs = kafka.client_kwargs()
    assert kwargs == {
        "bootstrap_servers": ["k1:9093", "k2:9093"],
        "client_id": "svmon",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svmon",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": str(ca),
    }


def test_plaintext_client_kwargs_have_no_security_options() -> None:
    """PLAINTEXT passes no SASL/SSL options, even if some are set."""
    kafka = KafkaSettings(sasl_username="ignored")
    assert set(kafka.client_kwargs()) == {"bootstrap_servers", "client_id", "security_protocol"}


def test_consumer_never_auto_commits() -> None:
    """Offsets are stored with state, so the consumer's auto-commit is always off."""
    kwargs = KafkaSettings(max_poll_records=500).consumer_kwargs()
    assert kwargs["enable_auto_commit"] is False
    assert kwargs["group_id"] == "svmon"
    assert kwargs["max_poll_records"] == 500
    assert KafkaSettings().producer_kwargs()["acks"] == "all"


def test_heartbeat_must_be_below_session_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A heartbeat interval at or above the session timeout would evict the member; it is refused."""
    monkeypatch.setenv("SVMON_KAFKA__SESSION_TIMEOUT_MS", "3000")
    monkeypatch.setenv("SVMON_KAFKA__HEARTBEAT_INTERVAL_MS", "3000")
    assert "must be below session_timeout_ms" in _config_error()


@pytest.mark.parametrize("servers", ["", "k1", "k1:0", "k1:9092,k2", "k1:99999"])
def test_bad_bootstrap_servers_are_refused(servers: str) -> None:
    """Each bootstrap entry must be host:port with a real port."""
    with pytest.raises(ValidationError):
        KafkaSettings(bootstrap_servers=servers)


def test_files_named_by_the_settings_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing registry, calendar override or CA file is reported at load time."""
    monkeypatch.setenv("SVMON_REGISTRY_FILE", str(tmp_path / "nope.yaml"))
    monkeypatch.setenv("SVMON_CALENDAR__OVERRIDE_FILE", str(tmp_path / "nope2.yaml"))
    message = _config_error()
    assert "registry_file (env SVMON_REGISTRY_FILE): Path does not point to a file" in message
    assert "calendar.override_file" in message


def test_masked_dump_hides_secrets() -> None:
    """The SASL password and a store URL password never appear in the dump."""
    settings = Settings.model_validate(
        {
            "kafka": {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "svmon",
                "sasl_password": "kafka-pass",
            },
            "store": {"url": "postgresql://svmon:db-pass@db:5432/svmon"},
        }
    )
    dump = masked_dump(settings)
    text = yaml.safe_dump(dump)
    assert "kafka-pass" not in text
    assert "db-pass" not in text
    assert dump["kafka"]["sasl_password"] == "*" * 10
    assert dump["store"]["url"] == "postgresql://svmon:**********@db:5432/svmon"
    assert dump["kafka"]["sasl_username"] == "svmon"


def test_sla_for_kind() -> None:
    """The deadline rule for an event kind is looked up by its name (contract §6); unknown kinds fail."""
    sla = load_settings().sla_working_days
    assert sla.for_kind("complaint") == 7
    with pytest.raises(KeyError):
        sla.for_kind("for_kind")


def test_table_has_one_row_per_setting() -> None:
    """The generated table names every leaf setting by env var and YAML key, with its default."""
    table = settings_table_markdown()
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| `")]
    yaml_keys = [row[1].strip("`") for row in rows]

    def leaves(data: dict[str, object], prefix: str = "") -> list[str]:
        keys: list[str] = []
        for key, value in data.items():
            if isinstance(value, dict):
                keys += leaves(value, f"{prefix}{key}.")
            else:
                keys.append(prefix + key)
        return keys

    assert yaml_keys == leaves(masked_dump(load_settings()))
    assert len(rows) == 48
    assert "| `SVMON_KAFKA__TOPICS__DLQ` | `kafka.topics.dlq` | string | `svmon.dlq` |" in table
    assert "| `SVMON_STORE__URL` | `store.url` |" in table
    assert "`SVMON_KAFKA__SASL_PASSWORD`" in table


def test_committed_docs_contain_the_generated_table() -> None:
    """docs/configuration.md carries the table generated from the code, so docs match the settings."""
    assert settings_table_markdown() in _DOC.read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# http.web_config_file and http.probes_open (docs/configuration.md "Access").

_WRONG_HASH = "$2b$04$" + "x" * 52  # one character short of a bcrypt hash


def test_access_defaults_are_open_with_open_probes() -> None:
    """Without a web config file the server is open, and the probes are open either way by default."""
    http = load_settings().http
    assert http.web_config_file is None
    assert http.probes_open is True


def test_access_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """SVMON_HTTP__WEB_CONFIG_FILE names the file; SVMON_HTTP__PROBES_OPEN=false closes the probes."""
    web_config = tmp_path / "web-config.yml"
    web_config.write_text("", encoding="utf-8")
    monkeypatch.setenv("SVMON_HTTP__WEB_CONFIG_FILE", str(web_config))
    monkeypatch.setenv("SVMON_HTTP__PROBES_OPEN", "false")
    http = load_settings().http
    assert (http.web_config_file, http.probes_open) == (web_config, False)


def test_missing_web_config_file_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A web config file that does not exist is refused with the setting's name, not ignored."""
    monkeypatch.setenv("SVMON_HTTP__WEB_CONFIG_FILE", str(tmp_path / "nowhere.yml"))
    assert "http.web_config_file (env SVMON_HTTP__WEB_CONFIG_FILE)" in _config_error()


def _bad_web_config(tmp_path: Path) -> Path:
    path = tmp_path / "web-config.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: {_WRONG_HASH}\n", encoding="utf-8")
    return path


def test_check_config_loads_the_web_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`svmon check-config` fails a bad web config file with exit 2, the problem named, the hash hidden."""
    monkeypatch.setenv("SVMON_HTTP__WEB_CONFIG_FILE", str(_bad_web_config(tmp_path)))
    assert main(["check-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(
        f"svmon: error: invalid web configuration file {tmp_path / 'web-config.yml'}"
    )
    assert "basic_auth_users.prometheus: not a bcrypt hash" in captured.err
    assert _WRONG_HASH not in captured.err
    assert "Traceback" not in captured.err


def test_check_config_accepts_a_good_web_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid web config file passes check-config, which prints its path among the settings."""
    web_config = tmp_path / "web-config.yml"
    web_config.write_text("http_server_config:\n  headers:\n    X-Frame-Options: deny\n", encoding="utf-8")
    monkeypatch.setenv("SVMON_HTTP__WEB_CONFIG_FILE", str(web_config))
    assert main(["check-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["http"]["web_config_file"] == str(web_config)


def test_run_refuses_a_bad_web_config_file_with_exit_2(tmp_path: Path) -> None:
    """`svmon run` with a bad web config file exits 2 at start with the problem and no traceback."""
    environment = {key: value for key, value in os.environ.items() if not key.upper().startswith("SVMON_")}
    environment |= {
        "SVMON_HTTP__WEB_CONFIG_FILE": str(_bad_web_config(tmp_path)),
        "SVMON_HTTP__PORT": "0",
        "SVMON_STORE__URL": f"sqlite:///{tmp_path / 'state.db'}",
        "SVMON_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9",  # never reached: the file is read first
    }
    completed = subprocess.run(
        [sys.executable, "-m", "daemon", "run"],
        env=environment,
        cwd=_DOC.parents[1],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 2
    assert "svmon: error: invalid web configuration file" in completed.stderr
    assert "basic_auth_users.prometheus: not a bcrypt hash" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "state.db").exists()  # nothing was started
