"""The PostgreSQL store: for instances on several hosts sharing partitions of one consumer group."""

from __future__ import annotations

from typing import Any

from daemon.config import mask_url_password
from daemon.exceptions import StoreError
from daemon.store.sql import EPOCH_QUERY, Dialect, SqlStore

__all__ = ["POSTGRESQL", "open_postgres"]

# psycopg opens a transaction with the first statement; FOR UPDATE holds a rival claim of the scope
# (another instance's fencing-epoch bump) off until COMMIT.
POSTGRESQL = Dialect(
    name="postgresql", placeholder="%s", begin_write=None, lock_epoch=EPOCH_QUERY + " FOR UPDATE"
)


def open_postgres(url: str) -> SqlStore:
    """The PostgreSQL store at ``url``; its password never appears in messages."""
    import psycopg  # noqa: PLC0415 - only PostgreSQL deployments pay for loading it

    shown = mask_url_password(url)

    def connect() -> Any:
        try:
            connection = psycopg.connect(url, connect_timeout=5, application_name="svmon")
            # A hung server must fail the statement, not hang the loop: /readyz then says why.
            connection.execute("SET statement_timeout = 15000")
            connection.commit()
        except Exception as exc:
            raise StoreError(f"cannot connect to PostgreSQL store {shown}: {exc}") from exc
        return connection

    return SqlStore(shown, connect, POSTGRESQL)
