"""Every exception svmon raises on purpose, and the process exit code each one maps to.

An invalid *record* is data, not an exception: it becomes a rejection that is counted, sent to the
DLQ and committed past. The exceptions here are for the other kind of failure, the kind after which
the daemon must stop without committing and let its supervisor restart it:

```
SvmonError                 base class; never raised itself           exit 1
├── ConfigError            bad settings, override file or CLI usage  exit 2
├── StoreError             the checkpoint store failed               exit 1
│   └── StoreVersionError  the store was written by a newer schema   exit 1
├── SourceError            the Kafka broker failed                   exit 1
└── DlqError               the DLQ cannot be written                 exit 1
```

Exit codes: 0 success, 1 runtime or infrastructure failure, 2 configuration or usage error (the same
2 that argparse uses for a bad command line), 130 interrupted by Ctrl-C (128 + SIGINT).
"""

from __future__ import annotations

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "ConfigError",
    "DlqError",
    "SourceError",
    "StoreError",
    "StoreVersionError",
    "SvmonError",
    "exit_code_for",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


class SvmonError(Exception):
    """Base of every deliberate svmon failure; its message is shown to the operator as is."""

    #: Process exit code when this error ends the program.
    exit_code: int = EXIT_FAILURE


class ConfigError(SvmonError):
    """The configuration (environment, YAML file, calendar override file or CLI) is invalid.

    The message lists every problem, one per line, as ``path: reason``; it never contains a secret.
    """

    exit_code = EXIT_CONFIG


class StoreError(SvmonError):
    """The checkpoint store cannot be opened, read or written."""


class StoreVersionError(StoreError):
    """The store was written by a newer schema version than this build understands.

    Refusing to open it protects the newer data from being misread or overwritten by a downgrade.
    """


class SourceError(SvmonError):
    """The Kafka broker failed in a way reconnecting with backoff cannot fix (e.g. a missing topic)."""


class DlqError(SvmonError):
    """A rejected record cannot be written to the DLQ.

    The daemon stops making progress rather than committing past a record it could not park
    (docs/contract.md §5: it never skips).
    """


def exit_code_for(error: BaseException) -> int:
    """Return the process exit code for *error*: its own for svmon errors, 130 for Ctrl-C, else 1."""
    if isinstance(error, SvmonError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE
