"""Shared fixtures: real services (Tansu, PostgreSQL) started and torn down by the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import POSTGRES_DSN, Broker, running_tansu, unavailable, unique_name


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One Tansu broker for the session; tests isolate themselves with unique topic names."""
    with running_tansu(tmp_path_factory.mktemp("tansu")) as running:
        yield running


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the test's own, for tests that pause or kill it."""
    with running_tansu(tmp_path) as running:
        yield running


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """DSN of a fresh schema in the loopback PostgreSQL, dropped after the test."""
    try:
        import psycopg

        connection = psycopg.connect(POSTGRES_DSN, connect_timeout=3, autocommit=True)
    except Exception as exc:
        unavailable(f"PostgreSQL not reachable at {POSTGRES_DSN}: {exc}")
    schema = unique_name("svmon_test").replace("-", "_")
    with connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{POSTGRES_DSN}?options=-csearch_path%3D{schema}"
        finally:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
