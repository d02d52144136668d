"""The daemon's JSON read API: ``/api/v1/indicators``, ``/api/v1/lists/<what>``, ``/api/v1/openapi.json``.

One :class:`ReadApi` per process holds one store connection (opened on the first request, reopened
after the store was away) with the registry and rules loaded once, so that a request costs the
queries it makes and nothing else. Requests are served one at a time over that connection (the
HTTP server is threaded; the lock keeps one DB-API connection to one thread at a time).

Every answer is ``(status, JSON)``: 200; 400 for a bad request, the problem in words (an unknown
parameter, filter value, limit or cursor); 404 for a list nobody serves; 503 while there is
nothing to read yet or the store is away, so that a client retries. Nothing of a request is
logged. The JSON bodies are those of ``svmon report --format json`` and ``svmon list --format
json``, plus ``next_cursor`` on a list page; :mod:`daemon.reports.openapi` describes them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from daemon.config import Settings
from daemon.core.state.entities import Rules
from daemon.exceptions import StoreError
from daemon.reports.lists import DEFAULT_LIMIT, MAX_PAGE, WHATS, ListFilters, Lists
from daemon.reports.openapi import openapi_document
from daemon.reports.query import EmptyStoreError, open_existing_store
from daemon.reports.report import build
from daemon.store.protocol import Store
from schemas.registry import Registry

__all__ = ["INDICATOR_PARAMETERS", "LIST_PARAMETERS", "Answer", "ReadApi"]

Answer = tuple[int, dict[str, Any]]
Query = Mapping[str, Sequence[str]]

INDICATOR_PARAMETERS: Final = ("period", "by")
LIST_PARAMETERS: Final = ("department", "division", "kind", "violation", "period", "limit", "cursor")


class ReadApi:
    """The read API over one lazily opened store connection; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        rules: Rules,
        clock: Callable[[], float],
        open_store: Callable[[str], Store] = open_existing_store,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._rules = rules
        self._clock = clock
        self._open_store = open_store
        self._store: Store | None = None
        self._lock = threading.Lock()
        self._openapi = openapi_document(registry)

    def indicators(self, rest: str, query: Query) -> Answer:
        """``GET /api/v1/indicators?period=P&by=department|division``: the report JSON."""
        try:
            given = _parameters(query, INDICATOR_PARAMETERS)
            period = given.get("period")
            if period is None:
                raise ValueError(
                    "give a period: 2023 | 2023Q4 | 2023-10 | 2023-10-08 | 2023-01-01..2023-06-30"
                )
            by = given.get("by", "department")
        except ValueError as exc:
            return 400, {"error": str(exc)}
        return self._read(
            lambda store: build(
                self._settings, store, period, by, self._clock(), registry=self._registry, rules=self._rules
            )
        )

    def lists(self, what: str, query: Query) -> Answer:
        """``GET /api/v1/lists/<what>?department=…&limit=…&cursor=…``: one page of a list."""
        if what not in WHATS:
            return 404, {"error": f"no list {what!r}: use one of {', '.join(WHATS)}"}
        try:
            given = _parameters(query, LIST_PARAMETERS)
            limit = _limit(given.get("limit"))
            filters = ListFilters(
                department=given.get("department"),
                division=given.get("division"),
                kind=given.get("kind"),
                violation=given.get("violation"),
                period=given.get("period"),
            )
        except ValueError as exc:
            return 400, {"error": str(exc)}
        cursor = given.get("cursor")
        return self._read(
            lambda store: Lists(store, self._rules, self._registry).page(
                what, filters, self._clock(), limit=limit, cursor=cursor
            )
        )

    def openapi(self, rest: str, query: Query) -> Answer:
        """``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of this API."""
        return 200, self._openapi

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _read(self, answer: Callable[[Store], dict[str, Any]]) -> Answer:
        with self._lock:
            try:
                if self._store is None:
                    self._store = self._open_store(self._settings.store.url)
                return 200, answer(self._store)
            except ValueError as exc:
                return 400, {"error": str(exc)}
            except EmptyStoreError as exc:  # nothing checkpointed yet: try again later
                return 503, {"error": str(exc)}
            except StoreError as exc:  # the store is away (an outage): reconnect on the next request
                if self._store is not None:
                    self._store.close()
                    self._store = None
                return 503, {"error": str(exc)}


def _parameters(query: Query, known: Sequence[str]) -> dict[str, str]:
    """The query's parameters, each given once and each one of ``known``."""
    given: dict[str, str] = {}
    for name, values in query.items():
        if name not in known:
            raise ValueError(f"unknown parameter {name!r}: use {', '.join(known)}")
        if len(values) != 1:
            raise ValueError(f"give {name} once, not {len(values)} times")
        if not values[0]:
            raise ValueError(f"{name} is empty: give a value or leave the parameter out")
        given[name] = values[0]
    return given


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}, got {text!r}") from None
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}, got {limit}")
    return limit
