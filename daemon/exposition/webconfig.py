"""Who may read the HTTP server: the exporter toolkit's web configuration file (docs/contract.md §10).

svmon reads the file format of the exporter toolkit (github.com/prometheus/exporter-toolkit), so one
file can protect svmon and the exporters beside it:

```yaml
tls_server_config:
  cert_file: server.crt            # relative paths are taken from this file's directory
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: scrapers-ca.pem
http_server_config:
  headers: {X-Content-Type-Options: nosniff}
basic_auth_users:                  # user: bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\\n')
  prometheus: $2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG
rate_limit: {interval: 1s, burst: 20}
```

This module is the file: its schema and `load_web_config`, called once at start-up (a `ConfigError`
lists every problem). The ``tls_server_config`` section and the certificate and key files it names
are `daemon.exposition.tls_settings`'. What `load_web_config` returns, a
`daemon.exposition.access.WebConfig`, does the checking at run time (basic auth, rate limit, TLS
server) and says how a server is wired to it.

Where svmon differs from the toolkit, it refuses at load rather than ignore a setting:

- the file is read once; the toolkit re-reads it for every request and handshake (svmon: restart to
  pick up new certificates or users);
- inline ``cert`` and ``key`` are refused (Python's ssl loads certificate chains only from files);
  inline ``client_ca`` is accepted;
- ``client_auth_type`` RequestClientCert and RequireAnyClientCert are refused (Python's ssl cannot
  take a client certificate without verifying it), and so is a verifying type without a client CA
  (Go would verify against the system's trust store); see `daemon.exposition.access.WebConfig.ssl_context`;
- ``curve_preferences`` may name one curve only (`ssl.SSLContext.set_ecdh_curve`);
- ``cipher_suites`` take Go's names, mapped to OpenSSL's; as in Go they do not apply to TLS 1.3;
- ``client_allowed_sans`` is checked right after the handshake (the connection is closed), not inside
  it (Go aborts the handshake);
- ``http2`` is accepted and has no effect: http.server speaks HTTP/1.1 only (ALPN offers http/1.1);
- a ``tls_server_config`` without cert_file/key_file, client CAs without a verifying client_auth_type,
  min_version above max_version, ``burst: 0`` with a non-zero interval, a duplicated YAML key and
  a user name with ``:`` are errors (the toolkit ignores some of them, or accepts a config that
  refuses everyone);
- a password longer than 72 bytes never matches (older Go bcrypt code ignores the bytes past the 72nd).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from daemon.config import describe_validation_error
from daemon.exceptions import ConfigError
from daemon.exposition.access import WebConfig
from daemon.exposition.tls_settings import TlsServerConfig, server_context

__all__ = ["load_web_config"]

_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")

_DURATION_UNITS: Final = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(f"(?:{_DURATION_PART})+")


# ---------------------------------------------------------------------------------------------------
# The file's schema.


def _no_control_characters(value: str | None) -> str | None:
    if value is not None and any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):
        raise ValueError("must not contain control characters (a line break would end the header)")
    return value


_HeaderText = Annotated[str | None, AfterValidator(_no_control_characters)]


class _Headers(BaseModel):
    # The toolkit allows exactly these headers and checks the values of the enumerated ones.
    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    content_security_policy: _HeaderText = Field(None, alias="Content-Security-Policy")
    x_frame_options: Literal["deny", "sameorigin"] | None = Field(None, alias="X-Frame-Options")
    x_content_type_options: Literal["nosniff"] | None = Field(None, alias="X-Content-Type-Options")
    x_xss_protection: _HeaderText = Field(None, alias="X-XSS-Protection")
    strict_transport_security: _HeaderText = Field(None, alias="Strict-Transport-Security")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: object) -> object:
        # The toolkit's documentation: "Unset if blank".
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if value is not None and value != ""}
        return data

    def as_mapping(self) -> dict[str, str]:
        return {
            field.alias or name: value
            for name, field in type(self).model_fields.items()
            if (value := getattr(self, name)) is not None
        }


def _null_is_empty(value: object) -> object:
    # `headers:` or `basic_auth_users:` with nothing under it parses as None in YAML; it means "none".
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"must be a mapping of keys to values, got {type(value).__name__}")
    return value


class _HttpServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    http2: bool = True  # accepted for compatibility; http.server speaks HTTP/1.1 only
    headers: Annotated[_Headers, BeforeValidator(_null_is_empty)] = Field(default_factory=_Headers)


def _go_duration_seconds(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("not a duration: write e.g. 1s, 500ms or 1m30s")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        raise ValueError("a bare number is nanoseconds to the toolkit: write a duration such as 1s or 500ms")
    if isinstance(value, str):
        text = value.strip()
        if text == "0":
            return 0.0
        if _DURATION.fullmatch(text):
            return sum(
                float(number) * _DURATION_UNITS[unit] for number, unit in re.findall(_DURATION_PART, text)
            )
        raise ValueError("not a duration: write e.g. 1s, 500ms or 1m30s")
    return value


class _RateLimit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    interval: Annotated[float, BeforeValidator(_go_duration_seconds)] = 0.0  # seconds; 0 = no limit
    burst: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check_burst(self) -> _RateLimit:
        if self.interval > 0 and self.burst == 0:
            raise ValueError("burst 0 with a non-zero interval would refuse every request; set burst >= 1")
        return self


def _check_user_name(name: str) -> str:
    if ":" in name:
        raise ValueError("a user name cannot contain ':' (HTTP Basic auth splits at the first colon)")
    return name


def _check_bcrypt_hash(value: str) -> str:
    if not _BCRYPT_HASH.fullmatch(value):
        raise ValueError(
            "not a bcrypt hash ($2y$, $2b$ or $2a$, a cost 04-31, $, 53 characters); make one with "
            "htpasswd -nBC 10 \"\" | tr -d ':\\n'"
        )
    return value


class _WebConfigFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tls_server_config: TlsServerConfig | None = None
    http_server_config: Annotated[_HttpServerConfig, BeforeValidator(_null_is_empty)] = Field(
        default_factory=_HttpServerConfig
    )
    basic_auth_users: Annotated[
        dict[
            Annotated[str, AfterValidator(_check_user_name)],
            Annotated[str, AfterValidator(_check_bcrypt_hash)],
        ],
        BeforeValidator(_null_is_empty),
    ] = Field(default_factory=dict)
    rate_limit: _RateLimit | None = None

    @field_validator("tls_server_config", "rate_limit", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        value = _null_is_empty(value)
        return None if value == {} else value


# ---------------------------------------------------------------------------------------------------
# Loading.


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key given twice in one mapping, as the toolkit's strict YAML does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _value in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"web configuration file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"web configuration file {path}: cannot be read: {exc}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"web configuration file {path}: invalid YAML{where}: {problem}") from None


def _without_secret_inputs(error: ValidationError) -> ValidationError:
    """*error* with the input dropped where it may be a secret (a hash, a key, a misspelt key's value).

    `describe_validation_error` echoes inputs except under secret-looking names; a hash sits under a
    user name and a misspelt ``key_fil`` may hold a key, so the value is removed here.
    """
    details: list[InitErrorDetails] = []
    for problem in error.errors(include_url=False):
        location = problem["loc"]
        secret = (
            problem["type"] == "extra_forbidden"
            or location[:1] == ("basic_auth_users",)
            or location == ("tls_server_config", "key")
        )
        details.append(
            {
                # The message is passed through as it is: "{message}" is the whole template.
                "type": PydanticCustomError(problem["type"], "{message}", {"message": problem["msg"]}),
                "loc": location,
                "input": None if secret else problem["input"],
            }
        )
    return ValidationError.from_exception_data(error.title, details)


def load_web_config(path: Path) -> WebConfig:
    """Read and check the web configuration file at *path*, including the files it names.

    Relative file names are taken from *path*'s directory. Raises `ConfigError` listing every
    problem as ``key.path: reason``; no password, hash or key is ever part of the message.
    """
    data = _read_yaml(path)
    heading = f"invalid web configuration file {path}"
    if data is None:
        data = {}  # an empty file: plain HTTP, no authentication, as in the toolkit
    if not isinstance(data, dict):
        raise ConfigError(f"{heading}: the top level must be a mapping, got {type(data).__name__}")
    try:
        parsed = _WebConfigFile.model_validate(data, context={"directory": path.absolute().parent})
    except ValidationError as exc:
        raise ConfigError(
            describe_validation_error(_without_secret_inputs(exc), heading, env_names=False)
        ) from None
    tls = parsed.tls_server_config
    try:
        context = None if tls is None else server_context(tls)
    except ValueError as exc:  # a file changed since the checks
        raise ConfigError(f"{heading}:\n  - tls_server_config: {exc}") from None
    limit = parsed.rate_limit
    return WebConfig(
        ssl_context=context,
        users=parsed.basic_auth_users,
        response_headers=parsed.http_server_config.headers.as_mapping(),
        client_allowed_sans=None if tls is None else tls.client_allowed_sans,
        rate_limit=None if limit is None or limit.interval == 0 else (limit.interval, limit.burst),
    )
