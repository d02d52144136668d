"""The drill-down lists read from the store: what is behind every count (docs/contract.md §13).

``svmon list WHAT`` and ``GET /api/v1/lists/WHAT`` read them through one :class:`Lists` object, made
once per process over one store connection (with its registry and rules), so that every request
sees what the last checkpoint wrote. Each list is in worst-first order, read page by page from the
store (keyset pagination on the list's rank), never built whole in memory:

- ``overdue``: open events past their deadline, the most overdue first; ``open``: every open event;
- ``violations``: currently published disclosures with a violation, the longest unwithdrawn first;
- ``requests``: open withdraw/modify applications, the longest open first;
- ``errors``: record versions that are still erroneous, the oldest first, with their Kafka
  coordinates so that the DLQ copy can be found.

Totals agree with the report for the same filters (attribution as in the report: an event by its
cohort day and responsible department, a disclosure by its decision day, a request by its
submission, an error where its inaccuracy counts) and with the state gauges on /metrics.
No list names a natural person, and every string passes the personal-information mask.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
import typing
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Final

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.indicators import VIOLATIONS, violations_due
from daemon.core.listing import ERROR, OPEN, PUBLISHED, REQUEST_LIST
from daemon.core.state.entities import Rules
from daemon.core.state.slots import DisclosureData
from daemon.core.timeutil import SHANGHAI, day_of_epoch, end_of_day_epoch
from daemon.exceptions import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from daemon.reports.list_render import write_list
from daemon.reports.query import EmptyStoreError, open_existing_store
from daemon.reports.render import parse_period, render_empty
from daemon.store.protocol import EntryQuery, Store, StoredEntry
from schemas.identifiers import mask_personal_info
from schemas.records import EventKind, RequestKind
from schemas.registry import UNKNOWN_DIVISION, UNREGISTERED_DEPARTMENT, Registry, load_registry

__all__ = ["DEFAULT_LIMIT", "MAX_PAGE", "WHATS", "ListFilters", "Lists", "incomplete_warning", "list_command"]

WHATS: Final = ("overdue", "open", "violations", "requests", "errors")
_STORED_LIST: Final = {
    "overdue": OPEN,
    "open": OPEN,
    "violations": PUBLISHED,
    "requests": REQUEST_LIST,
    "errors": ERROR,
}
EVENT_KINDS: Final = typing.get_args(EventKind)
REQUEST_KINDS: Final = typing.get_args(RequestKind)
DEFAULT_LIMIT: Final = 100
MAX_PAGE: Final = 1000


@dataclass(frozen=True)
class ListFilters:
    """The filters of a list, as typed (``--department`` … or query parameters), all optional."""

    department: str | None = None
    division: str | None = None
    kind: str | None = None
    violation: str | None = None
    period: str | None = None

    def as_json(self) -> dict[str, str]:
        return {name: value for name, value in asdict(self).items() if value is not None}


class Lists:
    """The five lists of one store; see the module docstring."""

    def __init__(self, store: Store, rules: Rules, registry: Registry) -> None:
        self._store = store
        self._rules = rules
        self._registry = registry

    # --- the whole of a list, or one page of it -------------------------------------------------

    def page(
        self,
        what: str,
        filters: ListFilters,
        now: float,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """``{"as_of", "filters", "total", "items", "next_cursor"}``: one page in list order.

        ``ValueError`` (a bad request, in words) for an unknown list, filter value, limit or cursor.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be 1 to {MAX_PAGE}, got {limit}")
        query = self._query(what, filters, now)
        after = _decode_cursor(cursor) if cursor else None
        items: list[dict[str, Any]] = []
        last: StoredEntry | None = None
        more = False
        # One row past the page says whether there is a next one. Violations are judged here, after
        # the store, so their batches stay whole.
        batch = MAX_PAGE if what == "violations" else limit + 1
        for entry in self._matching(what, query, filters, now, after, batch_size=batch):
            if len(items) == limit:
                more = True
                break
            items.append(self._item(what, entry, now))
            last = entry
        return {
            **self._header(what, filters, now),
            "total": self._total(what, query, filters, now),
            "items": items,
            "next_cursor": _encode_cursor(last) if more and last is not None else None,
        }

    def header(self, what: str, filters: ListFilters, now: float) -> dict[str, Any]:
        """What a whole list says before its items: as of when, with which filters, how many."""
        query = self._query(what, filters, now)
        return {**self._header(what, filters, now), "total": self._total(what, query, filters, now)}

    def items(
        self, what: str, filters: ListFilters, now: float, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of the list in order (at most ``limit``), read page by page."""
        query = self._query(what, filters, now)
        for count, entry in enumerate(self._matching(what, query, filters, now, None)):
            if limit is not None and count >= limit:
                return
            yield self._item(what, entry, now)

    # --- reading --------------------------------------------------------------------------------

    def _header(self, what: str, filters: ListFilters, now: float) -> dict[str, Any]:
        as_of = self._store.last_checkpoint_at() or now
        header: dict[str, Any] = {
            "list": what,
            "as_of": datetime.fromtimestamp(as_of, SHANGHAI).replace(microsecond=0).isoformat(),
            "filters": filters.as_json(),
        }
        unlisted = self._store.unlisted()
        if unlisted:  # a store upgraded from before the lists, not yet restored by a daemon
            header["incomplete"] = sorted(f"{scope}/{partition}" for scope, partition in unlisted)
        return header

    def _matching(
        self,
        what: str,
        query: EntryQuery,
        filters: ListFilters,
        now: float,
        after: tuple[float, str] | None,
        *,
        batch_size: int = MAX_PAGE,
    ) -> Iterator[StoredEntry]:
        """The query's entries in order, exactly judged where the store can only select candidates;
        read ``batch_size`` rows at a time."""
        while True:
            batch = list(self._store.entries(query, after=after, limit=batch_size))
            for entry in batch:
                if self._keeps(what, entry, filters, now):
                    yield entry
            if len(batch) < batch_size:
                return
            last = batch[-1]
            after = (last.rank, last.key)

    def _total(self, what: str, query: EntryQuery, filters: ListFilters, now: float) -> int:
        if what != "violations":
            return self._store.count_entries(query)
        return sum(1 for _ in self._matching(what, query, filters, now, None))

    def _keeps(self, what: str, entry: StoredEntry, filters: ListFilters, now: float) -> bool:
        if what != "violations":
            return True
        found = self._violations(entry, now)
        return bool(found) and (filters.violation is None or filters.violation in found)

    def _violations(self, entry: StoredEntry, now: float) -> list[str]:
        fields = entry.fields
        at_rest = list(fields["violations"])
        if entry.due is None or now <= entry.due:
            return at_rest
        data = DisclosureData(
            published_at=fields["published_at"],
            status="published",
            procedure="",
            withdrawn_at=None,
            revoked_at=fields["revoked_at"],
            publicity_until=fields["publicity_until"],
            exposed=(),
        )
        return at_rest + violations_due(data, self._rules, now)

    # --- the query from the filters -------------------------------------------------------------

    def _query(self, what: str, filters: ListFilters, now: float) -> EntryQuery:
        if what not in WHATS:
            raise ValueError(f"unknown list {what!r}: use one of {', '.join(WHATS)}")
        _check_violation(what, filters.violation)
        period = None if filters.period is None else parse_period(filters.period)
        return EntryQuery(
            list=_STORED_LIST[what],
            department=self._department(filters.department),
            division=self._division(filters.division),
            kind=_kind(what, filters.kind),
            first_day=None if period is None else period.start.toordinal(),
            last_day=None if period is None else period.end.toordinal(),
            due_before=now if what == "overdue" else None,
            flagged_or_due_before=now if what == "violations" else None,
        )

    def _department(self, code: str | None) -> str | None:
        if code is None or code in self._registry.departments or code == UNREGISTERED_DEPARTMENT:
            return code
        raise ValueError(f"unknown department {code!r}: use a registered department code")

    def _division(self, code: str | None) -> str | None:
        if code is None or code in self._registry.divisions or code == UNKNOWN_DIVISION:
            return code
        raise ValueError(f"unknown division {code!r}: use a division code of the registry")

    # --- items ----------------------------------------------------------------------------------

    def _item(self, what: str, entry: StoredEntry, now: float) -> dict[str, Any]:
        place = {
            "department": entry.department,
            "department_name": self._department_name(entry.department),
            "division": entry.division,
        }
        builder = _ITEMS[_STORED_LIST[what]]
        built = builder(self, entry, now)
        item: dict[str, Any] = {
            name: value if name in _SAFE_FIELDS else _masked(value) for name, value in built.items()
        }
        return {**item, **place}

    def _department_name(self, code: str) -> str:
        department = self._registry.departments.get(code)
        return department.name if department is not None else "未登记部门"

    def _event_item(self, entry: StoredEntry, now: float) -> dict[str, Any]:
        fields = entry.fields
        deadline = float(fields["deadline"])
        late = now > deadline
        days = (
            self._rules.working_days_between(deadline, now)
            if late
            else self._rules.working_days_between(now, deadline)
        )
        return {
            "event_id": fields["id"],
            "kind": fields["kind"],
            "created_at": _iso(fields["created_at"]),
            "deadline": _iso(deadline),
            "overdue": late,
            "working_days_overdue" if late else "working_days_left": days,
        }

    def _violation_item(self, entry: StoredEntry, now: float) -> dict[str, Any]:
        fields = entry.fields
        found = self._violations(entry, now)
        limits = self._withdrawal_limits(fields, now)
        passed = [limit for limit in limits if now > limit]
        return {
            "disclosure_id": fields["id"],
            "decision_no": fields["decision_no"],
            "violations": found,
            # Which fields hold personal information, never the information itself.
            "personal_info_fields": list(fields["exposed"]),
            "published_at": _iso(fields["published_at"]),
            "publicity_until": _ordinal_date(fields["publicity_until"]),
            "revoked_at": _iso(fields["revoked_at"]),
            "withdraw_by": _iso(min(limits)) if limits else None,
            "working_days_past_withdrawal_limit": (
                self._rules.working_days_between(min(passed), now) if passed else None
            ),
        }

    def _withdrawal_limits(self, fields: Mapping[str, Any], now: float) -> list[float]:
        """The withdrawal limits that apply by ``now``: after revocation, and after publicity ended
        (only asked of the calendar once it has ended, as ``violations_due`` does)."""
        limits = []
        rules = self._rules
        until = fields["publicity_until"]
        if until is not None and now > end_of_day_epoch(int(until)):
            limits.append(rules.deadline(int(until), rules.withdraw_within))
        if fields["revoked_at"] is not None:
            limits.append(rules.deadline(day_of_epoch(float(fields["revoked_at"])), rules.withdraw_within))
        return limits

    def _request_item(self, entry: StoredEntry, now: float) -> dict[str, Any]:
        fields = entry.fields
        return {
            "request_id": fields["id"],
            "disclosure_id": fields["disclosure_id"],
            "kind": fields["kind"],
            "reason": fields["reason"],
            "submitted_at": _iso(fields["submitted_at"]),
            "working_days_open": self._rules.working_days_between(float(fields["submitted_at"]), now),
            "batch_id": fields["batch_id"],
        }

    def _error_item(self, entry: StoredEntry, now: float) -> dict[str, Any]:
        fields = entry.fields
        return {
            "entity_id": fields.get("id", ""),
            "record": entry.key,
            "schema": entry.kind or fields.get("schema", ""),
            "version": fields.get("version"),
            "errors": [{"code": code, "field": field} for code, field in fields.get("errors", [])],
            "source": {name: fields.get(name) for name in ("topic", "partition", "offset")},
        }


_ITEMS: Final = {
    OPEN: Lists._event_item,
    PUBLISHED: Lists._violation_item,
    REQUEST_LIST: Lists._request_item,
    ERROR: Lists._error_item,
}


def _kind(what: str, kind: str | None) -> str | None:
    allowed: tuple[str, ...] | None = {
        "overdue": EVENT_KINDS,
        "open": EVENT_KINDS,
        "requests": REQUEST_KINDS,
    }.get(what)
    if kind is None:
        return None
    if what == "errors":
        return kind  # a record type: unknown ones simply match nothing
    if allowed is None:
        raise ValueError(f"--kind does not apply to {what}")
    if kind not in allowed:
        raise ValueError(f"unknown kind {kind!r} for {what}: use one of {', '.join(allowed)}")
    return kind


def _check_violation(what: str, violation: str | None) -> None:
    if violation is None:
        return
    if what != "violations":
        raise ValueError(f"--violation applies to violations, not to {what}")
    if violation not in VIOLATIONS:
        raise ValueError(f"unknown violation {violation!r}: use one of {', '.join(VIOLATIONS)}")


def _iso(epoch: float | None) -> str | None:
    # Whole seconds by int() rather than .replace(microsecond=0): a fifth of the cost per item.
    return None if epoch is None else datetime.fromtimestamp(int(epoch), SHANGHAI).isoformat()


def _ordinal_date(ordinal: int | None) -> str | None:
    return None if ordinal is None else date.fromordinal(int(ordinal)).isoformat()


#: Item fields svmon writes itself (times it formats, registry codes and names, validated enums,
#: counts): they cannot hold personal information, so the mask skips them. Everything else, every
#: id, number and field path that came from a record, passes the mask. Masking every string cost
#: ~12 of the ~22 us an item took (bench, lists phase: 100,000 items).
_SAFE_FIELDS: Final = frozenset(
    {
        "kind",
        "created_at",
        "deadline",
        "overdue",
        "working_days_overdue",
        "working_days_left",
        "violations",
        "personal_info_fields",
        "published_at",
        "publicity_until",
        "revoked_at",
        "withdraw_by",
        "working_days_past_withdrawal_limit",
        "submitted_at",
        "working_days_open",
        "version",
        "source",
    }
)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_personal_info(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _encode_cursor(entry: StoredEntry) -> str:
    raw = json.dumps([entry.rank, entry.key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        rank, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(rank), str(key)
    except (ValueError, TypeError, binascii.Error):
        raise ValueError("invalid cursor: pass back the next_cursor of the previous page") from None


def incomplete_warning(scopes: list[str]) -> str:
    """What to tell a reader of a store whose ``scopes`` have no list entries yet."""
    return (
        "svmon: warning: this store was upgraded from before the lists; the entries of"
        f" {', '.join(scopes)} are rebuilt when a daemon next restores them,"
        " so the lists are incomplete until then\n"
    )


def list_command(settings: Settings, args: argparse.Namespace) -> int:
    """``svmon list WHAT``: print a drill-down list read from the store."""
    import time  # noqa: PLC0415 - the only wall-clock read, kept at the edge

    url = getattr(args, "store", None) or settings.store.url
    try:
        store = open_existing_store(url)
    except EmptyStoreError:
        sys.stderr.write(render_empty(url))
        return EXIT_FAILURE
    registry = load_registry(settings.registry_file)
    lists = Lists(store, make_rules(settings, WorkingCalendar(settings.calendar.override_file)), registry)
    filters = ListFilters(
        department=args.department,
        division=args.division,
        kind=args.kind,
        violation=args.violation,
        period=args.period,
    )
    now = time.time()
    try:
        header = lists.header(args.what, filters, now)
        if "incomplete" in header:
            sys.stderr.write(incomplete_warning(header["incomplete"]))
        write_list(header, lists.items(args.what, filters, now, limit=args.limit), args.format, sys.stdout)
    except ValueError as exc:
        sys.stderr.write(f"svmon: error: {exc}\n")
        return EXIT_CONFIG
    finally:
        store.close()
    return EXIT_OK
