"""Who may read the HTTP server, at run time: basic auth, the rate limit and the TLS server.

A `WebConfig` is what `daemon.exposition.webconfig.load_web_config` makes of the exporter toolkit's
web configuration file (that module documents the file and where svmon differs from the toolkit);
``WebConfig()`` is the open configuration, the one without a file.

Wiring: serve with `TlsThreadingHTTPServer`, which wraps the listening socket when the file configures
TLS; per request answer 429 unless `WebConfig.allow_request()`, add `WebConfig.response_headers`, and
for a protected path answer 401 with ``WWW-Authenticate: WebConfig.www_authenticate`` unless
`WebConfig.authorized(headers.get("Authorization"))`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from http.server import ThreadingHTTPServer
from socketserver import BaseRequestHandler
from types import MappingProxyType
from typing import Any, Final

import bcrypt
import structlog

__all__ = [
    "TlsThreadingHTTPServer",
    "WebConfig",
    "describe_ssl_error",
]

_log = structlog.get_logger(__name__)

_BCRYPT_MAX_PASSWORD_BYTES = 72
# Successful checks only, so at most one entry per user in practice; the bound is a second defence.
_CACHE_SIZE = 256
# How long a client may take over its TLS handshake; meanwhile it holds only its own thread.
_HANDSHAKE_TIMEOUT_S = 10.0


def describe_ssl_error(error: BaseException) -> str:
    """The reason an ssl (or OS) *error* gives, for a log line or a message (no ``(_ssl.c:NNNN)`` tail)."""
    if isinstance(error, ssl.SSLError) and error.reason == "KEY_VALUES_MISMATCH":
        return "the key does not belong to the certificate"
    return re.sub(r"\s*\(_ssl\.c:[0-9]+\)$", "", str(error)) or type(error).__name__


# ---------------------------------------------------------------------------------------------------
# The loaded configuration.


def _basic_credentials(header: str | None) -> tuple[str, bytes] | None:
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
        user, colon, password = decoded.partition(b":")
        if not colon:
            return None
        return user.decode("utf-8"), password
    except (binascii.Error, ValueError):  # not base64 (or not ASCII), or a user name not in UTF-8
        return None


def _normalised_san(value: str) -> str:
    # Python prints IPv6 SANs uncompressed and in upper case; Go (and people) write them compressed.
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value


class _TokenBucket:
    """Go's rate.Limiter as the toolkit uses it: one token per *interval*, at most *burst*, full at start."""

    def __init__(self, interval: float, burst: int) -> None:
        self._interval = interval
        self._burst = burst
        self._tokens = float(burst)
        self._last: float | None = None
        self._lock = threading.Lock()

    def take(self, now: float) -> bool:
        with self._lock:
            if self._last is not None and now > self._last:
                self._tokens = min(float(self._burst), self._tokens + (now - self._last) / self._interval)
            self._last = now if self._last is None else max(now, self._last)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


class WebConfig:
    """A loaded web configuration: the server's TLS context, the basic-auth users, headers, rate limit.

    Made by `daemon.exposition.webconfig.load_web_config`; the constructor takes parts that were
    already checked, and ``WebConfig()`` is the open configuration (plain HTTP, no authentication),
    the one without a file.
    """

    #: The ``WWW-Authenticate`` value of a 401 answer (RFC 7617: the credentials are read as UTF-8).
    www_authenticate: Final[str] = 'Basic realm="svmon", charset="UTF-8"'

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
        response_headers: Mapping[str, str] | None = None,
        client_allowed_sans: Iterable[str] | None = None,
        rate_limit: tuple[float, int] | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._users = {name: hashed.encode("ascii") for name, hashed in (users or {}).items()}
        # An unknown user is checked against a real hash, so that the answer takes as long as for a
        # known one and timing does not tell which user names exist.
        self._decoy = self._users[min(self._users)] if self._users else b""
        self._response_headers = MappingProxyType(dict(response_headers or {}))
        self._client_allowed_sans = (
            None if client_allowed_sans is None else frozenset(map(_normalised_san, client_allowed_sans))
        )
        self._rate_limit = None if rate_limit is None else _TokenBucket(*rate_limit)
        # The cache holds HMACs of (user, password) under a key made for this process, never the
        # password; only successes are kept, so guessing can neither fill the cache nor evict a user.
        self._cache_key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, None] = OrderedDict()
        self._cache_lock = threading.Lock()
        # bcrypt costs ~100 ms of CPU at cost 10-12: one check at a time, as in the toolkit, so that a
        # flood of wrong passwords takes one core, not all.
        self._bcrypt_lock = threading.Lock()

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server-side TLS context, or None for plain HTTP (no ``tls_server_config``).

        ``client_auth_type`` maps onto `ssl.SSLContext.verify_mode`
        (`daemon.exposition.webconfig.CLIENT_AUTH_VERIFY_MODES`):

        - ``NoClientCert`` -> ``CERT_NONE``: no certificate is asked for (Go: the same).
        - ``VerifyClientCertIfGiven`` -> ``CERT_OPTIONAL`` with the client CA: a certificate is asked
          for; a client may send none, but one it sends must chain to the client CA (Go: the same).
        - ``RequireAndVerifyClientCert`` -> ``CERT_REQUIRED`` with the client CA (Go: the same).
        - ``RequestClientCert``, ``RequireAnyClientCert`` (and its old spelling ``RequireClientCert``):
          refused at load. Go asks for a certificate and does not verify it; OpenSSL through Python
          verifies every certificate it receives and offers no callback to skip that.

        Differences from Go: a verifying type needs ``client_ca_file`` (or ``client_ca``), where Go would
        use the system's trust store; OpenSSL also checks the client certificate's key usage for
        client authentication where the certificate states one (Go does the same by default). With
        TLS 1.3 a refused client certificate shows to the client at its first read, not in its
        handshake, in both. ``min_version`` TLS10/TLS11 is set as asked, but OpenSSL's default
        security level may still refuse those versions in the handshake.
        """
        return self._ssl_context

    @property
    def basic_auth_required(self) -> bool:
        """Whether ``basic_auth_users`` lists anyone; without users every request is authorized."""
        return bool(self._users)

    @property
    def response_headers(self) -> Mapping[str, str]:
        """The ``http_server_config.headers`` to add to every response (the toolkit adds them to all)."""
        return self._response_headers

    def allow_request(self, now: float | None = None) -> bool:
        """Take a token from ``rate_limit`` (time.monotonic() seconds); False = answer 429.

        The toolkit applies the limit to every request, before authentication.
        """
        if self._rate_limit is None:
            return True
        return self._rate_limit.take(time.monotonic() if now is None else now)

    def authorized(self, authorization_header: str | None) -> bool:
        """Whether the ``Authorization`` header value carries a listed user's password (HTTP Basic).

        True for everyone when no users are configured. A missing, malformed or non-Basic header is
        False. A successful (user, password) pair is remembered as an HMAC, so a scrape every few
        seconds costs one bcrypt check per process, not one per request; a wrong password is never
        remembered, so it always costs a full check (under one lock).
        """
        if not self._users:
            return True
        credentials = _basic_credentials(authorization_header)
        if credentials is None:
            return False
        user, password = credentials
        if len(password) > _BCRYPT_MAX_PASSWORD_BYTES:
            return False
        name = user.encode("utf-8")
        fingerprint = hmac.new(
            self._cache_key, len(name).to_bytes(4, "big") + name + password, hashlib.sha256
        ).digest()
        if self._remembered(fingerprint):
            return True
        stored = self._users.get(user)
        with self._bcrypt_lock:
            if self._remembered(fingerprint):  # another thread has just checked the same credentials
                return True
            try:
                matches = bcrypt.checkpw(password, self._decoy if stored is None else stored)
            except ValueError:  # a password bcrypt cannot take (e.g. with a NUL byte)
                matches = False
        if stored is None or not matches:
            return False
        with self._cache_lock:
            self._cache[fingerprint] = None
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return True

    def _remembered(self, fingerprint: bytes) -> bool:
        with self._cache_lock:
            if fingerprint in self._cache:
                self._cache.move_to_end(fingerprint)
                return True
            return False

    def _allows_peer(self, certificate: Mapping[str, object] | None) -> bool:
        """Whether the verified client *certificate* has a SAN in ``client_allowed_sans`` (if set)."""
        if self._client_allowed_sans is None:
            return True
        entries = (certificate or {}).get("subjectAltName")
        if not isinstance(entries, tuple):
            return False
        # The toolkit compares DNS names, e-mail addresses, IP addresses and URIs, all as strings.
        names = {
            _normalised_san(entry[1])
            for entry in entries
            if isinstance(entry, tuple)
            and len(entry) == 2
            and entry[0] in ("DNS", "email", "IP Address", "URI")
            and isinstance(entry[1], str)
        }
        return not names.isdisjoint(self._client_allowed_sans)


# ---------------------------------------------------------------------------------------------------
# Serving.


def _client_host(client_address: Any) -> str:
    return str(client_address[0]) if isinstance(client_address, tuple) and client_address else "?"


class TlsThreadingHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that serves TLS when *web_config* has a TLS context, else plain HTTP.

    The listening socket is wrapped without a handshake on accept; each connection's handshake is done
    in its own handler thread, with a timeout, so a client that stalls or fails its handshake delays
    and breaks only itself. A failed handshake, or a client certificate without a SAN from
    ``client_allowed_sans``, closes that connection and logs one line (client address and reason).
    """

    def __init__(
        self,
        server_address: tuple[str, int],
        handler_class: type[BaseRequestHandler],
        web_config: WebConfig,
        *,
        handshake_timeout: float = _HANDSHAKE_TIMEOUT_S,
    ) -> None:
        self._web_config = web_config
        self._handshake_timeout = handshake_timeout
        super().__init__(server_address, handler_class)
        context = web_config.ssl_context()
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def finish_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        """Run by the connection's own thread: the TLS handshake first, then the request handler."""
        if isinstance(request, ssl.SSLSocket) and not self._handshake(request, client_address):
            return
        super().finish_request(request, client_address)

    def _handshake(self, connection: ssl.SSLSocket, client_address: Any) -> bool:
        previous_timeout = connection.gettimeout()
        connection.settimeout(self._handshake_timeout)
        try:
            connection.do_handshake()
        except (ssl.SSLEOFError, ConnectionError, TimeoutError) as exc:
            # A TCP probe, a port scan or a client that gave up: not worth more than a debug line.
            _log.debug(
                "TLS handshake abandoned", client=_client_host(client_address), reason=describe_ssl_error(exc)
            )
            return False
        except OSError as exc:  # ssl.SSLError included: no shared version or cipher, a refused certificate
            _log.info(
                "TLS handshake failed", client=_client_host(client_address), reason=describe_ssl_error(exc)
            )
            return False
        if not self._web_config._allows_peer(connection.getpeercert()):
            _log.info(
                "client certificate refused: no SAN in client_allowed_sans",
                client=_client_host(client_address),
            )
            return False
        connection.settimeout(previous_timeout)
        return True
