"""svmon's settings: environment variables ``SVMON_*`` over an optional YAML file over defaults.

Precedence, highest first: environment variables (``SVMON_KAFKA__GROUP_ID``; nested keys joined by
``__``), then the YAML file (``--config FILE`` or ``SVMON_CONFIG``; keys as in
``kafka: {group_id: …}``), then the defaults below. Every model is frozen: settings are read once at
start-up and passed down, never mutated.

`load_settings` is the only entry point the CLI uses; it turns every problem (unreadable file, YAML
syntax, unknown key, out-of-range value) into one `ConfigError` listing each bad field, so an operator
never sees a pydantic traceback.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, FilePath, SecretStr, ValidationError, field_validator
from pydantic import model_validator as _model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from daemon import streams
from daemon.exceptions import ConfigError

__all__ = [
    "CONFIG_FILE_ENV",
    "ENV_PREFIX",
    "CalendarSettings",
    "DisclosureSettings",
    "HttpSettings",
    "KafkaSettings",
    "LogSettings",
    "Settings",
    "SlaWorkingDays",
    "StoreSettings",
    "Targets",
    "Topics",
    "describe_validation_error",
    "load_settings",
    "mask_url_password",
    "masked_dump",
    "settings_table_markdown",
]

ENV_PREFIX = "SVMON_"
ENV_NESTED_DELIMITER = "__"
#: Environment variable naming the YAML file when ``--config`` is not given.
CONFIG_FILE_ENV = "SVMON_CONFIG"

_MASK = "**********"


def _topic(name: str) -> Any:
    stream = streams.BY_NAME[name]
    return Field(stream.default_topic, min_length=1, description=f"{stream.description} (`{stream.schema}`).")


class Topics(BaseModel):
    """Kafka topic names: one per stream of ``daemon.streams.STREAMS`` (same names), and the DLQ."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: str = _topic("events")
    inspections: str = _topic("inspections")
    catalog: str = _topic("catalog")
    disclosures: str = _topic("disclosures")
    disclosure_requests: str = _topic("disclosure_requests")
    dlq: str = Field(
        streams.DLQ_DEFAULT_TOPIC, min_length=1, description="Dead-letter topic for rejected records."
    )

    def of(self, stream: streams.Stream) -> str:
        """The topic of ``stream``."""
        topic: str = getattr(self, stream.name)
        return topic

    def inputs(self) -> list[str]:
        """The five input topics, in the order of ``daemon.streams.STREAMS``."""
        return [self.of(stream) for stream in streams.STREAMS]

    def streams_by_topic(self) -> dict[str, streams.Stream]:
        """Input topic -> the stream it carries."""
        return {self.of(stream): stream for stream in streams.STREAMS}


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def _upper(value: object) -> object:
    # Operators write `sasl_ssl` or `info` as often as the canonical spelling; accept both.
    return value.upper() if isinstance(value, str) else value


class KafkaSettings(BaseModel):
    """Connection to the Kafka cluster, consumer tuning and security (SASL/SSL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Comma-separated `host:port` list of brokers to bootstrap from."
    )
    group_id: str = Field("svmon", min_length=1, description="Consumer group shared by all svmon instances.")
    client_id: str = Field("svmon", min_length=1, description="Client id the brokers see (quotas, logs).")
    topics: Topics = Field(default_factory=Topics, description="Topic names.")
    security_protocol: SecurityProtocol = Field("PLAINTEXT", description="Kafka security protocol.")
    sasl_mechanism: SaslMechanism | None = Field(
        None, description="SASL mechanism; required with `SASL_PLAINTEXT`/`SASL_SSL`."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (masked in every output).")
    ssl_cafile: FilePath | None = Field(None, description="CA bundle to verify the brokers (SSL).")
    ssl_certfile: FilePath | None = Field(None, description="Client certificate for mutual TLS.")
    ssl_keyfile: FilePath | None = Field(None, description="Private key of the client certificate.")
    session_timeout_ms: int = Field(
        45000, ge=1, description="Consumer group session timeout; a silent member is evicted after it."
    )
    heartbeat_interval_ms: int = Field(
        3000, ge=1, description="Consumer heartbeat interval; must be below the session timeout."
    )
    max_poll_interval_ms: int = Field(
        300000, ge=1, description="Longest allowed gap between polls before the member is evicted."
    )
    max_poll_records: int = Field(2000, ge=1, description="Records returned by one poll at most.")
    metadata_max_age_ms: int = Field(
        300000,
        ge=100,
        description="Refresh cluster metadata at least this often: how soon added partitions are taken over.",
    )
    max_message_bytes: int = Field(
        1048576,
        ge=1,
        description="Messages larger than this are rejected as `too_large` (docs/contract.md §5).",
    )

    _normalise = field_validator("security_protocol", "sasl_mechanism", mode="before")(_upper)

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap_servers(cls, value: str) -> str:
        servers = [part.strip() for part in value.split(",") if part.strip()]
        if not servers:
            raise ValueError("needs at least one host:port")
        for server in servers:
            match = _HOST_PORT.match(server)
            if match is None or not 0 < int(match.group(2)) < 65536:
                raise ValueError(f"{server!r} is not host:port")
        return ",".join(servers)

    @_model_validator(mode="after")
    def _check_consistency(self) -> KafkaSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be below "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
        if self.security_protocol.startswith("SASL_"):
            missing = [
                name
                for name, value in (
                    ("sasl_mechanism", self.sasl_mechanism),
                    ("sasl_username", self.sasl_username),
                    ("sasl_password", self.sasl_password),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"security_protocol {self.security_protocol} needs {', '.join(missing)}")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile is set without ssl_certfile")
        return self

    @property
    def bootstrap_server_list(self) -> list[str]:
        """The bootstrap servers as a list, the form kafka-python takes."""
        return self.bootstrap_servers.split(",")

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments common to kafka-python's consumer, producer and admin client (incl. security)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_server_list,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL_"):
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password is not None else None
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            for option in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                path = getattr(self, option)
                if path is not None:
                    kwargs[option] = str(path)
        return kwargs

    def consumer_kwargs(self) -> dict[str, Any]:
        """`client_kwargs` plus the consumer group settings; offsets are never auto-committed.

        svmon stores offsets with its state (docs/contract.md §9.1); auto-commit (and `close()` by
        default) would
        commit offsets of records that were polled but not yet applied.
        """
        return {
            **self.client_kwargs(),
            "group_id": self.group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "max_poll_records": self.max_poll_records,
            "metadata_max_age_ms": self.metadata_max_age_ms,
        }

    def producer_kwargs(self) -> dict[str, Any]:
        """`client_kwargs` plus producer durability: a DLQ write counts only once all replicas have it."""
        return {**self.client_kwargs(), "acks": "all"}


_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql", "postgres")


class StoreSettings(BaseModel):
    """Where state and consumed offsets are checkpointed together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(
        "sqlite:///svmon-state.db",
        description="`sqlite:///relative/path`, `sqlite:////absolute/path` or `postgresql://user@host:port/db`.",
    )
    checkpoint_every_records: int = Field(
        20000, ge=1, description="Checkpoint after this many applied records at the latest."
    )
    checkpoint_every_ms: int = Field(1000, ge=1, description="Checkpoint after this many ms at the latest.")
    read_ahead: bool | None = Field(
        None,
        description=(
            "Read the stored state while joining the consumer group, so that a restart is ready"
            " sooner; what another member checkpointed meanwhile is read again. Unset: on for SQLite,"
            " off for PostgreSQL (where members share the work, each would read every member's state)."
        ),
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if value.startswith(_SQLITE_PREFIX):
            if not value[len(_SQLITE_PREFIX) :]:
                raise ValueError("sqlite URL needs a path: sqlite:///svmon-state.db")
            return value
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme in _POSTGRES_SCHEMES:
            return value
        if scheme == "sqlite":
            raise ValueError("sqlite URL must start with sqlite:/// (three slashes) followed by the path")
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        raise ValueError(
            f"unsupported store URL ({shown}): use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        )

    @property
    def reads_ahead(self) -> bool:
        """Whether ``svmon run`` reads the stored state ahead (``read_ahead``, or the store's default)."""
        return self.kind == "sqlite" if self.read_ahead is None else self.read_ahead

    @property
    def kind(self) -> Literal["sqlite", "postgresql"]:
        """Which store implementation the URL names."""
        return "sqlite" if self.url.startswith(_SQLITE_PREFIX) else "postgresql"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite database file (relative to the working directory unless absolute)."""
        if self.kind != "sqlite":
            raise ValueError(f"not a sqlite URL: {self.masked_url}")
        return Path(self.url[len(_SQLITE_PREFIX) :])

    @property
    def masked_url(self) -> str:
        """The URL with any password replaced, safe to log or print."""
        return mask_url_password(self.url)


def mask_url_password(url: str) -> str:
    """``url`` with its password (if any) replaced by asterisks: the one way svmon shows a URL."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{hostinfo}"))


class HttpSettings(BaseModel):
    """The HTTP server for /metrics, /healthz, /readyz and /api/v1, and who may read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on (`0.0.0.0` for all).")
    port: int = Field(9108, ge=0, le=65535, description="TCP port to listen on (0 picks a free one).")
    web_config_file: FilePath | None = Field(
        None,
        description=(
            "Web configuration in the Prometheus exporter toolkit's format: TLS (optionally client "
            "certificates), basic-auth users with bcrypt hashes, headers, rate limit; unset = plain HTTP, "
            'open to all (docs/configuration.md "Access").'
        ),
    )
    probes_open: bool = Field(
        True,
        description=(
            "`/healthz` and `/readyz` answer without credentials, for kubelets and load balancers; "
            "`false` asks for them as `/metrics` and `/api/` do."
        ),
    )


def _ratio(default: float, meaning: str) -> Any:
    return Field(default, ge=0.0, le=1.0, description=meaning)


class Targets(BaseModel):
    """Target per indicator, a ratio 0–1 (docs/contract.md §8; defaults from the seed report's levels)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_handling_rate: float = _ratio(0.999, "事件处理率 target.")
    event_on_time_rate: float = _ratio(0.95, "按时处置率 target.")
    data_accuracy_rate: float = _ratio(0.999, "数据准确率 target.")
    item_onboarding_rate: float = _ratio(0.95, "监管事项入驻率 target.")
    double_random_coverage_rate: float = _ratio(0.99, "双随机监管事项覆盖率 target.")
    mobile_enforcement_rate: float = _ratio(0.99, "掌上执法率 target.")
    disclosure_on_time_rate: float = _ratio(0.95, "处罚结果按时公开率 target.")
    disclosure_compliance_rate: float = _ratio(1.0, "处罚公开合规率 target.")


class SlaWorkingDays(BaseModel):
    """Default handling deadline per event kind, in working days after the creation day (contract §6)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    risk_warning: int = Field(3, ge=1, description="风险预警: working days to handle.")
    collaborative: int = Field(5, ge=1, description="协同事件: working days to handle.")
    complaint: int = Field(7, ge=1, description="投诉举报: working days to handle.")
    clue: int = Field(15, ge=1, description="线索: working days to handle.")

    def for_kind(self, kind: str) -> int:
        """The number of working days for an event *kind* (`risk_warning`, `collaborative`, …)."""
        if kind not in type(self).model_fields:
            raise KeyError(kind)
        value: int = getattr(self, kind)
        return value


class DisclosureSettings(BaseModel):
    """Penalty-disclosure limits (docs/contract.md §6)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    publish_within_working_days: int = Field(
        7, ge=1, description="Publish by the end of this working day after `decided_at` (双公示 7; SAMR 20)."
    )
    withdraw_within_working_days: int = Field(
        3, ge=1, description="Withdraw by the end of this working day after revocation or `publicity_until`."
    )


class CalendarSettings(BaseModel):
    """The working-day calendar."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    override_file: FilePath | None = Field(
        None, description="YAML file with holidays/make-up days for years chinese-calendar does not know."
    )


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["auto", "json", "console"]


class LogSettings(BaseModel):
    """Logging."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    level: LogLevel = Field("INFO", description="Lowest level written.")
    format: LogFormat = Field(
        "auto", description="`json` lines, `console` for people, `auto` = console on a TTY, else json."
    )

    _normalise_level = field_validator("level", mode="before")(_upper)

    @field_validator("format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


# The parsed YAML file for the `Settings()` call in progress; a context variable rather than a class
# attribute so that concurrent loads (tests in threads) cannot see each other's file.
_yaml_data: ContextVar[Mapping[str, Any] | None] = ContextVar("_yaml_data", default=None)


class _YamlMappingSource(PydanticBaseSettingsSource):
    """Supplies the already-parsed YAML file, so parse errors were reported by `load_settings`."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_yaml_data.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class Settings(BaseSettings):
    """Everything svmon can be configured with; see docs/configuration.md for the full table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
        frozen=True,
        extra="forbid",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings, description="Kafka.")
    store: StoreSettings = Field(default_factory=StoreSettings, description="Checkpoint store.")
    http: HttpSettings = Field(default_factory=HttpSettings, description="HTTP server.")
    targets: Targets = Field(default_factory=Targets, description="Indicator targets.")
    sla_working_days: SlaWorkingDays = Field(default_factory=SlaWorkingDays, description="Event deadlines.")
    disclosure: DisclosureSettings = Field(default_factory=DisclosureSettings, description="Disclosures.")
    calendar: CalendarSettings = Field(default_factory=CalendarSettings, description="Working-day calendar.")
    registry_file: FilePath | None = Field(
        None, description="Department/division registry replacing the one shipped in `seeds/`."
    )
    log: LogSettings = Field(default_factory=LogSettings, description="Logging.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: explicit arguments, then the environment, then the YAML file. No .env
        # file and no secrets directory: a daemon's config should come from two visible places only.
        return (init_settings, env_settings, _YamlMappingSource(settings_cls))


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"config file {path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_settings(config_file: Path | None = None) -> Settings:
    """The effective settings: the environment over *config_file* (else ``$SVMON_CONFIG``, else none).

    Raises `ConfigError` listing every invalid field as ``path: reason``.
    """
    if config_file is None and os.environ.get(CONFIG_FILE_ENV):
        config_file = Path(os.environ[CONFIG_FILE_ENV])
    data = _read_yaml(config_file) if config_file is not None else {}
    source = f"config file {config_file} and environment" if config_file is not None else "environment"
    token = _yaml_data.set(data)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, f"invalid configuration ({source})")) from None
    except SettingsError as exc:
        # Raised for a complex value (e.g. SVMON_KAFKA__TOPICS) that is not valid JSON.
        cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
        raise ConfigError(
            f"invalid configuration ({source}):\n  - {exc}{cause}; a value for a whole section must be "
            f"JSON, or set its keys one by one (e.g. {ENV_PREFIX}KAFKA{ENV_NESTED_DELIMITER}GROUP_ID)"
        ) from None
    finally:
        _yaml_data.reset(token)


_SECRET_NAMES = ("password", "secret", "token")


def describe_validation_error(error: ValidationError, heading: str, *, env_names: bool = True) -> str:
    """Render *error* for people: *heading*, then one ``path (env VAR): reason [got …]`` line per problem.

    Inputs of secret-looking fields are never echoed; URLs have their password masked.
    """
    lines = [f"{heading}:"]
    for problem in error.errors(include_url=False):
        location = [str(part) for part in problem["loc"]]
        path = ".".join(location) or "(top level)"
        label = path
        if env_names and location:
            label = f"{path} (env {ENV_PREFIX}{ENV_NESTED_DELIMITER.join(location).upper()})"
        message = str(problem["msg"]).removeprefix("Value error, ")
        value = problem.get("input")
        if isinstance(value, str | int | float | bool) and not any(s in path.lower() for s in _SECRET_NAMES):
            shown = mask_url_password(value) if isinstance(value, str) else value
            text = repr(shown)
            if len(text) > 80:
                text = text[:77] + "..."
            message = f"{message} [got {text}]"
        lines.append(f"  - {label}: {message}")
    return "\n".join(lines)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The settings as plain JSON-compatible data, with secrets and URL passwords masked."""
    data = settings.model_dump(mode="json")
    # mode="json" already renders SecretStr as asterisks; URLs are plain strings and need it done here.
    data["store"]["url"] = settings.store.masked_url
    return data


# ---------------------------------------------------------------------------------------------------
# Documentation generated from the models, so that docs/configuration.md cannot drift from the code.


def _leaf_fields(
    model: type[BaseModel], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], FieldInfo]]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaf_fields(annotation, (*prefix, name))
        else:
            yield (*prefix, name), field


def _type_text(field: FieldInfo) -> str:
    annotation = field.annotation
    args = typing.get_args(annotation)
    optional = type(None) in args and (typing.get_origin(annotation) in (typing.Union, types.UnionType))
    if optional:
        annotation = next(arg for arg in args if arg is not type(None))
    if typing.get_origin(annotation) is Literal:
        text = " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    else:
        name = getattr(annotation, "__name__", str(annotation))
        if typing.get_origin(annotation) is typing.Annotated:  # FilePath
            name = "existing file path"
        text = {"str": "string", "int": "integer", "float": "number", "SecretStr": "secret string"}.get(
            name, name
        )
    bounds = []
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            bounds.append(f"≥ {constraint.ge}")
        elif isinstance(constraint, annotated_types.Le):
            bounds.append(f"≤ {constraint.le}")
    if bounds:
        text += " " + ", ".join(bounds)
    if optional:
        text += " or unset"
    return text


def _default_text(field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    return f"`{default}`"


def settings_table_markdown() -> str:
    """The Markdown table of every setting: environment variable, YAML key, type, default, meaning."""
    rows = [
        "| environment variable | YAML key | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for path, field in _leaf_fields(Settings):
        env = ENV_PREFIX + ENV_NESTED_DELIMITER.join(path).upper()
        meaning = (field.description or "").replace("|", "\\|")
        key = ".".join(path)
        rows.append(f"| `{env}` | `{key}` | {_type_text(field)} | {_default_text(field)} | {meaning} |")
    return "\n".join(rows) + "\n"
