"""Can svmon reach the broker the way it is configured to, and if not, why, in an operator's words?

kafka-python reports a rejected password, an untrusted certificate or a PLAINTEXT client on a TLS
port all as "Unable to bootstrap" after a "socket disconnected". The readiness probe therefore walks
the connection itself, with the same settings, one step at a time, and names the step that failed:

1. TCP connect (refused, unreachable, timed out);
2. TLS handshake when the protocol is SSL/SASL_SSL, verified against ``kafka.ssl_cafile`` as the
   client does (an untrusted or mismatched certificate; a port that does not speak TLS);
3. an ApiVersions request, which every Kafka broker answers before any authentication (no answer: a
   frozen broker; the connection closed on a PLAINTEXT request while TLS would work: a TLS port);
4. SASL, when configured: SaslHandshake with the mechanism, then SaslAuthenticate (PLAIN, or the
   SCRAM exchange of RFC 5802), so a wrong user name or password is named as such.

Only the standard library: raw Kafka protocol frames (request header v1, non-flexible versions that
Kafka 4.x still serves). No reason ever contains the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import ssl
import struct
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ProbeSettings", "broker_problem", "unreachable_brokers"]

_API_VERSIONS = 18
_SASL_HANDSHAKE = 17
_SASL_AUTHENTICATE = 36
_CLIENT_ID = b"svmon-probe"
_MAX_FRAME = 1 << 20
# Kafka error codes the probe explains (the protocol's table).
_UNSUPPORTED_SASL_MECHANISM = 33
_ILLEGAL_SASL_STATE = 34
_SASL_AUTHENTICATION_FAILED = 58


@dataclass(frozen=True)
class ProbeSettings:
    """The connection settings of ``daemon.config.KafkaSettings`` that decide how to reach a broker."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    timeout: float = 2.0

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")


class _Failed(Exception):
    """One step of the walk failed; the message is the operator's explanation.

    ``garbled``: the peer closed the connection or answered with something that is not a Kafka
    frame, which is what a TLS listener does with a plaintext request.
    """

    def __init__(self, message: str, *, garbled: bool = False) -> None:
        super().__init__(message)
        self.garbled = garbled


def broker_problem(servers: Sequence[str], settings: ProbeSettings) -> str | None:
    """None when some server of ``servers`` passes every step; otherwise why none does."""
    reasons: list[str] = []
    for server in servers:
        try:
            _walk(server, settings, authenticate=True)
        except _Failed as exc:
            reasons.append(str(exc))
        else:
            return None
    return "; ".join(dict.fromkeys(reasons)) or "no bootstrap servers configured"


def unreachable_brokers(servers: Sequence[str], settings: ProbeSettings) -> list[str]:
    """Why each of ``servers`` (the cluster's brokers) does not answer; empty when all do.

    No SASL here: a broker that answers ApiVersions is up, and the bootstrap check already tried
    the credentials.
    """
    reasons = []
    for server in servers:
        try:
            _walk(server, settings, authenticate=False)
        except _Failed as exc:
            reasons.append(str(exc))
    return reasons


def _walk(server: str, settings: ProbeSettings, *, authenticate: bool) -> None:
    host, _, port_text = server.rpartition(":")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise _Failed(f"{server} is not host:port") from None
    try:
        raw = socket.create_connection((host, port), timeout=settings.timeout)
    except TimeoutError:
        raise _Failed(f"cannot connect to {server}: no answer within {settings.timeout:g} s") from None
    except OSError as exc:
        raise _Failed(f"cannot connect to {server}: {_os_reason(exc)}") from None
    with raw:
        raw.settimeout(settings.timeout)
        if settings.tls:
            with _tls(raw, host, server, settings) as wrapped:
                _converse(wrapped, server, settings, authenticate)
        else:
            try:
                _converse(raw, server, settings, authenticate)
            except _Failed as exc:
                if exc.garbled and _speaks_tls(host, port, settings.timeout):
                    raise _Failed(
                        f"{server} is a TLS listener but kafka.security_protocol is "
                        f"{settings.security_protocol}: set it to SSL or SASL_SSL (or use the broker's "
                        "plaintext port)"
                    ) from None
                raise


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (no broker listening there)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return exc.strerror or str(exc)


def _tls(raw: socket.socket, host: str, server: str, settings: ProbeSettings) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=settings.ssl_cafile)
    if settings.ssl_certfile:
        context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    try:
        return context.wrap_socket(raw, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        detail = exc.verify_message or exc.reason or str(exc)
        if exc.verify_code in (2, 19, 20, 21):  # unknown issuer, self-signed chain, unverifiable leaf
            where = (
                "kafka.ssl_cafile" if settings.ssl_cafile else "the system's CA store (set kafka.ssl_cafile)"
            )
            raise _Failed(
                f"TLS handshake with {server} failed: the broker's certificate is not signed by a CA "
                f"in {where} ({detail})"
            ) from None
        if exc.verify_code == 62:  # hostname mismatch
            raise _Failed(
                f"TLS handshake with {server} failed: the broker's certificate is not valid for {host} "
                f"({detail})"
            ) from None
        if exc.verify_code == 10:
            raise _Failed(
                f"TLS handshake with {server} failed: the broker's certificate has expired"
            ) from None
        raise _Failed(f"TLS handshake with {server} failed: {detail}") from None
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "UNEXPECTED_EOF_WHILE_READING"):
            raise _Failed(
                f"{server} does not speak TLS but kafka.security_protocol is {settings.security_protocol}: "
                "set it to PLAINTEXT or SASL_PLAINTEXT, or use the broker's TLS port"
            ) from None
        if "CERTIFICATE_REQUIRED" in reason or "HANDSHAKE_FAILURE" in reason:
            raise _Failed(
                f"TLS handshake with {server} failed: the broker wants a client certificate "
                "(set kafka.ssl_certfile and kafka.ssl_keyfile)"
            ) from None
        raise _Failed(f"TLS handshake with {server} failed: {reason}") from None
    except TimeoutError:
        raise _Failed(f"TLS handshake with {server}: no answer within {settings.timeout:g} s") from None
    except OSError as exc:
        raise _Failed(f"TLS handshake with {server} failed: {_os_reason(exc)}") from None


def _speaks_tls(host: str, port: int, timeout: float) -> bool:
    """Whether a TLS handshake (unverified: only the protocol matters here) succeeds on the port."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except OSError:
        return False


# --- the Kafka protocol, as little of it as the probe needs -------------------------------------


class _Connection:
    def __init__(self, sock: socket.socket, server: str, timeout: float) -> None:
        self._sock = sock
        self._server = server
        self._timeout = timeout
        self._correlation = 0

    def request(self, api_key: int, version: int, body: bytes, what: str) -> bytes:
        """Send one request; return the response body after its correlation id."""
        self._correlation += 1
        header = struct.pack(">hhih", api_key, version, self._correlation, len(_CLIENT_ID)) + _CLIENT_ID
        frame = header + body
        try:
            self._sock.sendall(struct.pack(">i", len(frame)) + frame)
            size = struct.unpack(">i", self._read(4, what))[0]
            if not 4 <= size <= _MAX_FRAME:
                raise _Failed(
                    f"{self._server} answered {what} with a malformed frame: is it a Kafka broker?",
                    garbled=True,
                )
            payload = self._read(size, what)
        except TimeoutError:
            raise _Failed(
                f"{self._server} accepted the connection but did not answer {what} within "
                f"{self._timeout:g} s (broker frozen or overloaded)"
            ) from None
        except OSError as exc:
            raise _Failed(
                f"{self._server} closed the connection on {what} ({_os_reason(exc)})", garbled=True
            ) from None
        return payload[4:]

    def _read(self, count: int, what: str) -> bytes:
        chunks = bytearray()
        while len(chunks) < count:
            chunk = self._sock.recv(count - len(chunks))
            if not chunk:
                raise _Failed(f"{self._server} closed the connection on {what}", garbled=True)
            chunks.extend(chunk)
        return bytes(chunks)


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _converse(sock: socket.socket, server: str, settings: ProbeSettings, authenticate: bool) -> None:
    connection = _Connection(sock, server, settings.timeout)
    connection.request(_API_VERSIONS, 0, b"", "an ApiVersions request")
    if authenticate and settings.sasl:
        _sasl(connection, server, settings)


def _sasl(connection: _Connection, server: str, settings: ProbeSettings) -> None:
    mechanism = settings.sasl_mechanism or ""
    body = connection.request(_SASL_HANDSHAKE, 1, _string(mechanism), "the SASL handshake")
    error = struct.unpack(">h", body[:2])[0]
    if error == _UNSUPPORTED_SASL_MECHANISM:
        offered = _strings(body[2:])
        raise _Failed(
            f"{server} does not offer SASL mechanism {mechanism} "
            f"(it offers: {', '.join(offered) or 'none'}); set kafka.sasl_mechanism to one of those"
        )
    if error == _ILLEGAL_SASL_STATE:
        raise _Failed(
            f"{server} does not expect SASL on this listener: use security_protocol SSL or PLAINTEXT"
        )
    if error:
        raise _Failed(f"{server} refused the SASL handshake (Kafka error {error})")
    user = settings.sasl_username or ""
    password = settings.sasl_password or ""
    if mechanism == "PLAIN":
        _authenticate(connection, server, settings, b"\0" + user.encode() + b"\0" + password.encode())
        return
    scram = _Scram(user, password, "sha512" if mechanism == "SCRAM-SHA-512" else "sha256")
    server_first = _authenticate(connection, server, settings, scram.first())
    try:
        final = scram.final(server_first)
    except ValueError as exc:
        raise _Failed(f"{server} sent a malformed SCRAM challenge: {exc}") from None
    _authenticate(connection, server, settings, final)


def _authenticate(connection: _Connection, server: str, settings: ProbeSettings, token: bytes) -> bytes:
    body = connection.request(
        _SASL_AUTHENTICATE, 1, struct.pack(">i", len(token)) + token, "SASL authentication"
    )
    error = struct.unpack(">h", body[:2])[0]
    if error:
        length = struct.unpack(">h", body[2:4])[0]
        message = body[4 : 4 + length].decode(errors="replace") if length > 0 else ""
        said = f" (the broker says: {message})" if message else ""
        if error == _SASL_AUTHENTICATION_FAILED:
            raise _Failed(
                f"{server} rejected SASL authentication as {settings.sasl_username!r} "
                f"({settings.sasl_mechanism}): wrong user name or password{said}"
            )
        raise _Failed(f"{server} refused SASL authentication (Kafka error {error}){said}")
    length = struct.unpack(">h", body[2:4])[0]
    offset = 4 + max(length, 0)
    size = struct.unpack(">i", body[offset : offset + 4])[0]
    return body[offset + 4 : offset + 4 + max(size, 0)]


def _strings(data: bytes) -> list[str]:
    count = struct.unpack(">i", data[:4])[0]
    values, offset = [], 4
    for _ in range(max(count, 0)):
        length = struct.unpack(">h", data[offset : offset + 2])[0]
        values.append(data[offset + 2 : offset + 2 + length].decode(errors="replace"))
        offset += 2 + length
    return values


class _Scram:
    """The client side of a SCRAM exchange (RFC 5802), without channel binding."""

    def __init__(self, user: str, password: str, digest: str) -> None:
        self._user = user.replace("=", "=3D").replace(",", "=2C")
        self._password = password.encode()
        self._digest = digest
        self._nonce = secrets.token_hex(16)
        self._first_bare = f"n={self._user},r={self._nonce}"

    def first(self) -> bytes:
        return f"n,,{self._first_bare}".encode()

    def final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        nonce, salt, iterations = fields.get("r", ""), fields.get("s", ""), int(fields.get("i", "0"))
        if not nonce.startswith(self._nonce) or not salt or not 0 < iterations <= 1_000_000:
            raise ValueError("unexpected nonce, salt or iteration count")
        name = self._digest
        salted = hashlib.pbkdf2_hmac(name, self._password, base64.b64decode(salt), iterations)
        client_key = hmac.new(salted, b"Client Key", name).digest()
        stored_key = hashlib.new(name, client_key).digest()
        without_proof = f"c=biws,r={nonce}"
        message = f"{self._first_bare},{text},{without_proof}".encode()
        signature = hmac.new(stored_key, message, name).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
