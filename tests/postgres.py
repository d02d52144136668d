"""PostgreSQL for a test session: the server the machine offers, else a private cluster of our own.

Machines do not start PostgreSQL before a session, so the suite provisions it. ``session_postgres``
decides once per session, in this order:

1. ``SVMON_TEST_POSTGRES_DSN`` when it is set (a ``postgresql://`` URL, the form svmon's store
   takes): that server and no other. An explicit choice that does not answer is unavailable, not a
   reason to start a different server behind the user's back.
2. ``postgresql://postgres@127.0.0.1:5432/test`` when it accepts a connection.
3. A private cluster from Debian's server binaries (``/usr/lib/postgresql/<ver>/bin``, the highest
   version present): initialised in a fresh temporary directory, on a free loopback port, stopped
   and deleted when the session ends. Its server log is kept only when the session failed.

A server that cannot be had calls ``unavailable()``: the tests fail in CI and skip elsewhere.

```python
with session_postgres(log_dir, failed=lambda: False) as server:
    print(server.dsn)  # postgresql://postgres@127.0.0.1:PORT/test, the admin connection
```
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from tests.services import free_port, unavailable, wait_for

__all__ = ["PostgresRole", "PostgresServer", "schema_dsn", "server_binaries", "session_postgres"]

ENVIRONMENT_VARIABLE = "SVMON_TEST_POSTGRES_DSN"
USUAL_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DEBIAN_SERVERS = Path("/usr/lib/postgresql")

_HOST = "127.0.0.1"
_LOG_TAIL_CHARS = 2000
_START_ATTEMPTS = 3  # a free port can be taken between probing it and the server binding it
_COMMAND_TIMEOUT_S = 60.0
# Durability buys nothing in a cluster deleted at the end of the session; without these a
# checkpoint-heavy test spends its time in fsync.
_FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL for this session; the message says why and what to do."""


@dataclass
class PostgresServer:
    """The server the session uses: its admin DSN (database ``test``) and how it was chosen."""

    dsn: str
    origin: str
    startup_s: float | None = None
    kept_log: Path | None = None

    def describe(self) -> str:
        """One line for the session report: which server ran, and where its log went if kept."""
        line = f"{_shown(self.dsn)} ({self.origin}"
        if self.startup_s is not None:
            line += f", started in {self.startup_s:.1f} s"
        line += ")"
        if self.kept_log is not None:
            line += f"; the session failed, server log kept at {self.kept_log}"
        return line


def schema_dsn(server_dsn: str, schema: str, user: str | None = None) -> str:
    """``server_dsn`` with ``search_path`` set to ``schema``, logging in as ``user`` (no password) if given.

    Host, port and database always come from ``server_dsn``, so the result points at whichever
    server the session uses.
    """
    parts = urlsplit(server_dsn)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rpartition('@')[2]}"
    query = urlencode([*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def server_binaries(root: Path = DEBIAN_SERVERS) -> Path:
    """The ``bin`` directory of the highest PostgreSQL version under ``root`` with initdb and pg_ctl."""
    versions: dict[tuple[int, ...], Path] = {}
    for directory in root.glob("*/bin"):
        version = directory.parent.name
        # Compared as numbers: "9.6" is older than "15", which a string comparison gets wrong.
        if version.replace(".", "").isdigit() and all(
            (directory / tool).is_file() for tool in ("initdb", "pg_ctl")
        ):
            versions[tuple(int(part) for part in version.split("."))] = directory
    if not versions:
        raise PostgresUnavailable(
            f"PostgreSQL server binaries not found under {root}; "
            "`make test` installs Debian's postgresql as root"
        )
    return versions[max(versions)]


@contextmanager
def session_postgres(log_dir: Path, failed: Callable[[], bool]) -> Iterator[PostgresServer]:
    """The session's server (see the module docstring).

    A private cluster's server log is copied into ``log_dir`` when it fails to start, or when
    ``failed()`` holds at the end of the session; the cluster itself never outlives the ``with``.
    """
    explicit = os.environ.get(ENVIRONMENT_VARIABLE)
    if explicit:
        try:
            _connect(explicit).close()
        except psycopg.Error as exc:
            unavailable(f"PostgreSQL not reachable at {_shown(explicit)} ({ENVIRONMENT_VARIABLE}): {exc}")
        yield PostgresServer(explicit, f"from {ENVIRONMENT_VARIABLE}")
        return
    try:
        _connect(USUAL_DSN).close()
    except psycopg.Error:
        pass
    else:
        yield PostgresServer(USUAL_DSN, "already listening on 127.0.0.1:5432")
        return
    try:
        cluster = _PrivateCluster(server_binaries())
    except PostgresUnavailable as exc:
        unavailable(str(exc))
    with cluster.running(log_dir, failed) as server:
        yield server


def _connect(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    # libpq's shortest connect timeout; a loopback port nobody listens on refuses at once anyway.
    return psycopg.connect(dsn, connect_timeout=2, autocommit=True)


def _accepts_connections(port: int) -> bool:
    try:
        _connect(f"postgresql://postgres@{_HOST}:{port}/postgres").close()
    except psycopg.Error:  # refused, or "the database system is starting up"
        return False
    return True


def _environment() -> dict[str, str]:
    """Our environment without libpq's variables: a developer's PGHOST, PGPORT or PGDATA must not
    steer the private cluster or its tools elsewhere."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}


def _shown(dsn: str) -> str:
    """``dsn`` with any password replaced, fit for a report line."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    credentials, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{credentials.partition(':')[0]}:***@{host}"))


class _PrivateCluster:
    """A throwaway cluster in a fresh temporary directory, run as the ``postgres`` user when we are root.

    The Debian server refuses to run as root, so as root every command goes through ``runuser`` and
    the directory is handed to ``postgres``; otherwise the server runs as the current user.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self._run_as: list[str] = []
        self._owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable(
                    "no `postgres` system user to run the private PostgreSQL cluster as (the server "
                    "refuses to run as root); `make test` installs Debian's postgresql, which creates it"
                ) from exc
            self._run_as = ["runuser", "-u", "postgres", "--"]
            self._owner = (account.pw_uid, account.pw_gid)
        self._process: subprocess.Popen[bytes] | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="svmon-test-postgres-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"

    @contextmanager
    def running(self, log_dir: Path, failed: Callable[[], bool]) -> Iterator[PostgresServer]:
        """Start the cluster and yield it; then stop it, keep its log in ``log_dir`` if ``failed()``,
        and delete its directory, whatever happened."""
        server: PostgresServer | None = None
        try:
            try:
                started = time.monotonic()
                dsn = self._start()
            except PostgresUnavailable as exc:
                self._stop()
                kept = self.log_destination(log_dir)
                unavailable(f"{exc}\nserver log kept at {kept}" if kept else str(exc))
            origin = f"private cluster from {self.bin_dir}"
            server = PostgresServer(dsn, origin, startup_s=time.monotonic() - started)
            yield server
        finally:
            self._stop()
            # Copied after the stop, so the kept log ends with the shutdown.
            if server is not None and failed():
                server.kept_log = self.log_destination(log_dir)
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_destination(self, log_dir: Path) -> Path | None:
        """Copy the server log out of the directory about to be deleted; its new path, or None."""
        if not self.log.exists():
            return None
        destination = log_dir / "postgres-server.log"
        shutil.copyfile(self.log, destination)
        return destination

    def _start(self) -> str:
        if self._owner is not None:
            os.chown(self.directory, *self._owner)
        self._pg(
            "initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "--encoding=UTF8",
            "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = free_port()
            code = self._start_once(port)
            if code is None:
                break
            self._stop()
            if attempt == _START_ATTEMPTS or "Address already in use" not in self._log_tail():
                raise PostgresUnavailable(
                    f"the PostgreSQL server ({self.bin_dir}) exited with code {code} at start"
                    f"{self._log_section()}"
                )
        try:
            with _connect(f"postgresql://postgres@{_HOST}:{port}/postgres") as admin:
                admin.execute("CREATE DATABASE test")
        except psycopg.Error as exc:
            raise PostgresUnavailable(f"creating database test failed: {exc}{self._log_section()}") from exc
        return f"postgresql://postgres@{_HOST}:{port}/test"

    def _start_once(self, port: int) -> int | None:
        """Spawn the server on ``port``; None once it accepts connections, its exit code if it died."""
        process = self._spawn(port)
        try:
            wait_for(
                lambda: process.poll() is not None or _accepts_connections(port),
                _COMMAND_TIMEOUT_S,
                "the private PostgreSQL cluster to accept connections",
            )
        except TimeoutError as exc:
            raise PostgresUnavailable(f"{exc}{self._log_section()}") from exc
        return process.poll()

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        """Run the server as our own child rather than through ``pg_ctl start``, which leaves it to
        init: we reap it when it stops, so no exited ``postgres`` outlives the session."""
        settings = [f"listen_addresses={_HOST}", *_FAST_SETTINGS]
        command = [
            *self._run_as, str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(port),
            "-k", str(self.directory), *(argument for setting in settings for argument in ("-c", setting)),
        ]  # fmt: skip
        with self.log.open("ab") as log:
            # In our process group on purpose: a Ctrl-C of the session reaches the server too, which
            # then shuts down fast even if the session ends before its teardown runs.
            self._process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self._process

    def _stop(self) -> None:
        """Stop the server if it runs (a fast shutdown, an immediate one if that does not finish)
        and reap it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "30")
            except PostgresUnavailable:
                self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30")
        process.wait(timeout=_COMMAND_TIMEOUT_S)

    def _pg(self, tool: str, *arguments: str) -> None:
        """Run a server tool (as ``postgres`` when we are root); ``PostgresUnavailable`` if it fails."""
        command = [*self._run_as, str(self.bin_dir / tool), *arguments]
        try:
            result = subprocess.run(
                command,
                # The tools run from the cluster's directory: ``postgres`` may not enter our own.
                cwd=self.directory,
                env=_environment(),
                capture_output=True,
                text=True,
                timeout=_COMMAND_TIMEOUT_S + 10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{tool} failed: {exc}{self._log_section()}") from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise PostgresUnavailable(
                f"{tool} exited with code {result.returncode}: {output}{self._log_section()}"
            )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def _log_section(self) -> str:
        tail = self._log_tail()
        return f"\nthe end of the server log:\n{tail}" if tail else ""


@dataclass(frozen=True)
class PostgresRole:
    """A login role of the test's own, on a schema of its own, that the test can lock out and let back in."""

    name: str
    admin: psycopg.Connection[tuple[object, ...]]
    server_dsn: str

    @property
    def dsn(self) -> str:
        """The role's own login to its schema, on whichever server the session uses."""
        return schema_dsn(self.server_dsn, self.name, user=self.name)

    def lock_out(self) -> None:
        """Refuse new logins and end the role's sessions: to svmon, the store is gone."""
        self.admin.execute(f"ALTER ROLE {self.name} NOLOGIN")
        self.disconnect()

    def disconnect(self) -> None:
        self.admin.execute(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.name}'"
        )

    def let_in(self) -> None:
        self.admin.execute(f"ALTER ROLE {self.name} LOGIN")

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        """Next offsets svmon has checkpointed, read over the admin connection (works while locked out)."""
        rows = self.admin.execute(
            f"SELECT topic, part, next_offset FROM {self.name}.svmon_offsets"
        ).fetchall()
        return {(str(topic), int(str(part))): int(str(offset)) for topic, part, offset in rows}

    def caught_up(self, ends: dict[tuple[str, int], int]) -> bool:
        stored = self.stored_offsets()
        return all(stored.get(tp, 0) >= end for tp, end in ends.items())
