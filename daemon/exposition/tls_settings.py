"""The web configuration's ``tls_server_config``: its schema, the checks of the PEM files it names, and
the server's `ssl.SSLContext` made from it.

`daemon.exposition.webconfig` reads the whole file and lists where svmon's TLS differs from the
exporter toolkit's; this module holds the TLS half of that file (Go's names for versions, cipher suites
and curves, mapped to OpenSSL's). A `TlsServerConfig` is checked as it is parsed: each certificate
and key file is read and loaded, so that a mistake is a message at start-up, not a failed handshake.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from daemon.exposition.access import describe_ssl_error

__all__ = [
    "CLIENT_AUTH_VERIFY_MODES",
    "TlsServerConfig",
    "server_context",
]

ClientAuthType = Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]

#: How each supported ``client_auth_type`` maps onto Python's ssl
#: (`daemon.exposition.access.WebConfig.ssl_context` explains).
CLIENT_AUTH_VERIFY_MODES: Final[Mapping[str, ssl.VerifyMode]] = MappingProxyType(
    {
        "NoClientCert": ssl.CERT_NONE,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }
)
# "RequireClientCert" is the toolkit's old spelling of RequireAnyClientCert.
_UNVERIFIED_CLIENT_AUTH: Final = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")

_TLS_VERSIONS: Final = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]

# Go's tls.CipherSuites() (the toolkit accepts no other name) for TLS 1.0-1.2, as OpenSSL names them.
_CIPHER_SUITES: Final = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# Accepted and, as in Go, without effect: neither Go nor Python's ssl lets TLS 1.3 suites be chosen.
_TLS13_CIPHER_SUITES: Final = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
)

_CURVES: Final = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
}
Curve = Literal["CurveP256", "CurveP384", "CurveP521", "X25519"]


# ---------------------------------------------------------------------------------------------------
# The schema.


def _refuse_unverified_client_auth(value: object) -> object:
    if isinstance(value, str) and value in _UNVERIFIED_CLIENT_AUTH:
        raise ValueError(
            f"{value} is not supported: Python's ssl cannot ask for a client certificate without "
            "verifying it; use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file"
        )
    return value


def _check_cipher_suite(name: str) -> str:
    if name not in _CIPHER_SUITES and name not in _TLS13_CIPHER_SUITES:
        raise ValueError(
            "unknown cipher suite: use a name from Go's tls.CipherSuites(), "
            "e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        )
    return name


def _read_pem(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a file") from None
    except PermissionError:
        raise ValueError(f"{path} cannot be read (permission denied)") from None
    except OSError as exc:
        raise ValueError(f"{path} cannot be read: {exc.strerror}") from None


class _KeyPasswordNeeded(Exception):
    """The key is encrypted; raised from OpenSSL's password callback so that it never prompts."""


def _refuse_key_password() -> bytes:
    raise _KeyPasswordNeeded


def _load_certificates(
    context: ssl.SSLContext, *, cafile: Path | None = None, cadata: str | None = None
) -> None:
    try:
        context.load_verify_locations(cafile=cafile, cadata=cadata)
    except ssl.SSLError as exc:
        raise ValueError(f"holds no usable PEM certificate ({describe_ssl_error(exc)})") from None


def _blank_is_unset(value: object) -> object:
    # The toolkit (Go) treats an empty string as "not set".
    return None if value == "" else value


class TlsServerConfig(BaseModel):
    """The ``tls_server_config`` section, checked: its files exist, hold PEM and load together.

    Relative file names are taken from the validation context's ``directory`` (the file's own).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cert: Annotated[str | None, BeforeValidator(_blank_is_unset)] = None
    key: Annotated[str | None, BeforeValidator(_blank_is_unset)] = None
    client_ca: Annotated[str | None, BeforeValidator(_blank_is_unset)] = None
    cert_file: Path
    key_file: Path
    client_auth_type: Annotated[ClientAuthType, BeforeValidator(_refuse_unverified_client_auth)] = (
        "NoClientCert"
    )
    client_ca_file: Path | None = None
    client_allowed_sans: list[str] | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion = "TLS13"
    cipher_suites: list[Annotated[str, AfterValidator(_check_cipher_suite)]] | None = None
    prefer_server_cipher_suites: bool = True
    curve_preferences: list[Curve] | None = None

    @field_validator("cert", "key")
    @classmethod
    def _refuse_inline(cls, value: str | None, info: ValidationInfo) -> None:
        if value is not None:
            raise ValueError(
                f"inline PEM is not supported: Python's ssl loads certificates and keys from files "
                f"only; put it in a file and set {info.field_name}_file"
            )

    @field_validator("cert_file", "key_file", "client_ca_file", mode="before")
    @classmethod
    def _resolve(cls, value: object, info: ValidationInfo) -> object:
        if value is None or value == "":
            if info.field_name == "client_ca_file":
                return None
            raise ValueError("must name a file")
        if isinstance(value, str):
            directory: Path = (info.context or {}).get("directory", Path.cwd())
            return directory / value  # an absolute path stays as it is, as in the toolkit
        return value

    @field_validator("cert_file", "client_ca_file")
    @classmethod
    def _check_certificate_file(cls, path: Path | None) -> Path | None:
        if path is not None:
            if "-----BEGIN CERTIFICATE-----" not in _read_pem(path):
                raise ValueError(f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            _load_certificates(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cafile=path)
        return path

    @field_validator("key_file")
    @classmethod
    def _check_key_file(cls, path: Path, info: ValidationInfo) -> Path:
        text = _read_pem(path)
        if "-----BEGIN ENCRYPTED PRIVATE KEY-----" in text or "Proc-Type: 4,ENCRYPTED" in text:
            raise ValueError(f"{path} holds an encrypted key; like the toolkit, svmon takes no key password")
        if "PRIVATE KEY-----" not in text:
            raise ValueError(f"{path} holds no PEM private key")
        cert_file = info.data.get("cert_file")
        if cert_file is not None:
            try:
                ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert_file, path, _refuse_key_password)
            except _KeyPasswordNeeded:
                raise ValueError(f"{path} holds an encrypted key; svmon takes no key password") from None
            except ssl.SSLError as exc:
                raise ValueError(
                    f"cannot be used with cert_file {cert_file}: {describe_ssl_error(exc)}"
                ) from None
        return path

    @field_validator("client_ca")
    @classmethod
    def _check_client_ca(cls, value: str | None) -> str | None:
        if value is not None:
            _load_certificates(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), cadata=value)
        return value

    @field_validator("client_allowed_sans")
    @classmethod
    def _check_allowed_sans(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("an empty list would refuse every client; leave the key out to allow any")
        return value

    @field_validator("curve_preferences")
    @classmethod
    def _one_curve(cls, value: list[Curve] | None) -> list[Curve] | None:
        if value is not None and len(value) > 1:
            raise ValueError("Python's ssl can set one curve only (set_ecdh_curve): list the one to use")
        return value or None

    @model_validator(mode="after")
    def _check_consistency(self) -> TlsServerConfig:
        problems = []
        has_ca = self.client_ca_file is not None or self.client_ca is not None
        if self.client_ca_file is not None and self.client_ca is not None:
            problems.append("set client_ca_file or client_ca, not both")
        if self.client_auth_type == "NoClientCert":
            if has_ca:
                problems.append(
                    "a client CA is set but client_auth_type is NoClientCert, so no client certificate "
                    "is asked for: set client_auth_type RequireAndVerifyClientCert"
                )
            if self.client_allowed_sans:
                problems.append("client_allowed_sans needs a client_auth_type that verifies certificates")
        elif not has_ca:
            problems.append(
                f"client_auth_type {self.client_auth_type} needs client_ca_file, the CA that issues the "
                "client certificates (svmon does not fall back to the system's trust store as Go does)"
            )
        if _TLS_VERSIONS[self.min_version] > _TLS_VERSIONS[self.max_version]:
            problems.append(f"min_version {self.min_version} is above max_version {self.max_version}")
        if self.cipher_suites and all(name in _TLS13_CIPHER_SUITES for name in self.cipher_suites):
            problems.append(
                "cipher_suites lists only TLS 1.3 suites, which cannot be chosen (nor in Go): "
                "list TLS 1.2 suites or leave the key out"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


# ---------------------------------------------------------------------------------------------------
# The server's context.


def _context(tls: TlsServerConfig) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _TLS_VERSIONS[tls.min_version]
    context.maximum_version = _TLS_VERSIONS[tls.max_version]
    context.options |= ssl.OP_NO_RENEGOTIATION  # Go's server never renegotiates either
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(tls.cert_file, tls.key_file, _refuse_key_password)
    context.verify_mode = CLIENT_AUTH_VERIFY_MODES[tls.client_auth_type]
    if tls.client_ca_file is not None or tls.client_ca is not None:
        context.load_verify_locations(cafile=tls.client_ca_file, cadata=tls.client_ca)
    suites = [_CIPHER_SUITES[name] for name in tls.cipher_suites or () if name in _CIPHER_SUITES]
    if suites:
        context.set_ciphers(":".join(suites))
    if tls.curve_preferences:
        context.set_ecdh_curve(_CURVES[tls.curve_preferences[0]])
    context.set_alpn_protocols(["http/1.1"])
    return context


def server_context(tls: TlsServerConfig) -> ssl.SSLContext:
    """The server-side TLS context *tls* describes (`daemon.exposition.access.WebConfig.ssl_context`).

    Raises `ValueError` with the reason when a file no longer loads (it changed since it was checked).
    """
    try:
        return _context(tls)
    except (ssl.SSLError, OSError, ValueError, _KeyPasswordNeeded) as exc:
        raise ValueError(describe_ssl_error(exc)) from None
