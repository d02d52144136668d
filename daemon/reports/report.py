"""Period reports from the store: ``svmon report`` and ``/api/v1/indicators`` share this path.

Reads go to the store (not to one instance's memory), so with PostgreSQL every instance's
partitions are in the report; the report says "as of" the last checkpoint it reflects (docs/contract.md §4).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.indicators import Counts
from daemon.core.state.entities import Rules
from daemon.core.timeutil import SHANGHAI
from daemon.exceptions import EXIT_FAILURE, EXIT_OK
from daemon.reports.query import EmptyStoreError, open_existing_store, report_counts
from daemon.reports.render import build_report, parse_period, render, render_empty
from daemon.store.protocol import Store
from schemas.registry import UNKNOWN_DIVISION, UNREGISTERED_DEPARTMENT, Registry, load_registry


def _group_names(registry: Registry, by: str) -> dict[str, str]:
    if by == "department":
        names = {code: department.name for code, department in registry.departments.items()}
        names[UNREGISTERED_DEPARTMENT] = "未登记部门 (unregistered)"
    else:
        names = dict(registry.divisions)
        names[UNKNOWN_DIVISION] = "未知区划 (unknown)"
    return names


def _split(
    counts: Counts, by: str
) -> tuple[dict[str, tuple[int, int]], dict[str, dict[str, tuple[int, int]]]]:
    totals: dict[str, list[int]] = {}
    groups: dict[str, dict[str, list[int]]] = {}
    position = 1 if by == "department" else 2
    for group, (numerator, denominator) in counts.items():
        indicator = group[0]
        for bucket in (totals, groups.setdefault(group[position], {})):
            cell = bucket.setdefault(indicator, [0, 0])
            cell[0] += numerator
            cell[1] += denominator
    return (
        {k: (v[0], v[1]) for k, v in totals.items()},
        {g: {k: (v[0], v[1]) for k, v in cells.items()} for g, cells in groups.items()},
    )


def build(
    settings: Settings,
    store: Store,
    period_text: str,
    by: str,
    now: float,
    *,
    registry: Registry | None = None,
    rules: Rules | None = None,
) -> dict[str, Any]:
    """The report JSON (contract §10) of a period read from ``store``; ``ValueError`` for a bad query.

    ``registry`` and ``rules`` are read from the settings' files unless a long-lived caller (the
    HTTP API, the notices) passes the ones it loaded once.
    """
    period = parse_period(period_text)
    if by not in ("department", "division"):
        raise ValueError(f"cannot group by {by!r}: use department or division")
    registry = registry or load_registry(settings.registry_file)
    rules = rules or make_rules(settings, WorkingCalendar(settings.calendar.override_file))
    counts = report_counts(store, rules, period.start.toordinal(), period.end.toordinal(), now)
    totals, groups = _split(counts, by)
    as_of_epoch = store.last_checkpoint_at() or now
    as_of = datetime.fromtimestamp(as_of_epoch, SHANGHAI).replace(microsecond=0)
    return build_report(
        period, as_of, totals, groups, by, settings.targets.model_dump(), _group_names(registry, by)
    )


def report_json(
    settings: Settings, *, period_text: str, by: str, now: float, store_url: str | None = None
) -> dict[str, Any]:
    """Report JSON for the HTTP API: ``ValueError`` for a bad query, ``EmptyStoreError`` for no data yet."""
    store = open_existing_store(store_url or settings.store.url)
    try:
        return build(settings, store, period_text, by, now)
    finally:
        store.close()


def report_command(settings: Settings, args: argparse.Namespace) -> int:
    """``svmon report``: print the period report in the chosen format."""
    import time  # noqa: PLC0415 - the only wall-clock read, kept at the edge

    url = getattr(args, "store", None) or settings.store.url
    try:
        store = open_existing_store(url)
    except EmptyStoreError:
        sys.stderr.write(render_empty(url))
        return EXIT_FAILURE
    try:
        report = build(settings, store, args.period, getattr(args, "by", None) or "department", time.time())
    except ValueError as exc:
        sys.stderr.write(f"svmon: error: {exc}\n")
        return 2
    finally:
        store.close()
    sys.stdout.write(render(report, getattr(args, "format", None) or "table"))
    return EXIT_OK
