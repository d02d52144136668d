"""The OpenAPI 3.1 description of the daemon's HTTP surface, built from the code's own vocabularies.

Served at ``/api/v1/openapi.json`` (with the running registry's departments and divisions) and
committed as ``docs/openapi.json`` (with the shipped registry; a test keeps the two in step). The
enumerations (lists, event and request kinds, violations, indicators) come from the modules that
define them, so that a new kind cannot be served without being described. The tests run
schemathesis against a live daemon with this document: every response must match it.
"""

from __future__ import annotations

import json
import sys
import typing
from typing import Any, Final

from daemon import __version__
from daemon.core.indicators import VIOLATIONS
from daemon.reports.lists import DEFAULT_LIMIT, MAX_PAGE, WHATS
from daemon.reports.render import INDICATORS
from schemas.records import EventKind, RequestKind
from schemas.registry import UNKNOWN_DIVISION, UNREGISTERED_DEPARTMENT, Registry, load_registry

__all__ = ["openapi_document"]

#: A period as ``svmon report --period`` takes it (a custom format: a pattern cannot say which days
#: exist or that a range runs forwards; ``parse_period`` decides, and says why it refuses).
_PERIOD: Final = {
    "type": "string",
    "format": "svmon-period",
    "minLength": 1,
    "description": "2023 | 2023Q4 | 2023-10 | 2023-10-08 | 2023-01-01..2023-06-30",
    "examples": ["2023", "2023Q4", "2023-10", "2023-10-08", "2023-01-01..2023-06-30"],
}
#: A list page's ``next_cursor``: opaque, handed back as it was given.
_CURSOR: Final = {"type": "string", "format": "svmon-cursor", "minLength": 1}

_STRING: Final = {"type": "string"}
_TIME: Final = {"type": "string", "format": "date-time"}
_DAYS: Final = {"type": "integer", "minimum": 0}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


def _object(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name in properties if name not in optional],
        "additionalProperties": False,
    }


_PLACE: Final = {
    "department": _STRING,
    "department_name": _STRING,
    "division": _STRING,
}

_EVENT: Final = _object(
    {
        "event_id": _STRING,
        "kind": {"enum": list(typing.get_args(EventKind))},
        "created_at": _TIME,
        "deadline": _TIME,
        "overdue": {"type": "boolean"},
        "working_days_overdue": _DAYS,
        "working_days_left": _DAYS,
        **_PLACE,
    },
    optional=("working_days_overdue", "working_days_left"),
)

_ITEMS: Final = {
    "Event": _EVENT,
    "Violation": _object(
        {
            "disclosure_id": _STRING,
            "decision_no": _STRING,
            "violations": {"type": "array", "items": {"enum": list(VIOLATIONS)}, "minItems": 1},
            "personal_info_fields": {
                "type": "array",
                "items": {"enum": ["content", "party.name", "decision_no", "party.id"]},
                "description": "Where personal information is, never what it is.",
            },
            "published_at": _TIME,
            "publicity_until": _nullable({"type": "string", "format": "date"}),
            "revoked_at": _nullable(_TIME),
            "withdraw_by": _nullable(_TIME),
            "working_days_past_withdrawal_limit": _nullable(_DAYS),
            **_PLACE,
        }
    ),
    "Request": _object(
        {
            "request_id": _STRING,
            "disclosure_id": _STRING,
            "kind": {"enum": list(typing.get_args(RequestKind))},
            "reason": _STRING,
            "submitted_at": _TIME,
            "working_days_open": _DAYS,
            "batch_id": _nullable(_STRING),
            **_PLACE,
        }
    ),
    "Error": _object(
        {
            "entity_id": _STRING,
            "record": _STRING,
            "schema": _STRING,
            "version": _nullable({"type": "integer"}),
            "errors": {
                "type": "array",
                "items": _object({"code": _STRING, "field": _nullable(_STRING)}),
            },
            "source": _object(
                {
                    "topic": _nullable(_STRING),
                    "partition": _nullable({"type": "integer", "minimum": 0}),
                    "offset": _nullable({"type": "integer", "minimum": 0}),
                }
            ),
            **_PLACE,
        }
    ),
}

_LIST_ITEM: Final = {
    "overdue": "Event",
    "open": "Event",
    "violations": "Violation",
    "requests": "Request",
    "errors": "Error",
}

_LIST_SUMMARY: Final = {
    "overdue": "Open events past their deadline, the most overdue first (judged at the time of the request)",
    "open": "Every open event, the nearest deadline first",
    "violations": "Published penalty results with a violation, the longest unwithdrawn first",
    "requests": "Open withdraw/modify applications, the longest open first",
    "errors": "Record versions still erroneous, the oldest first, with their Kafka coordinates",
}

_KIND_OF: Final[dict[str, dict[str, Any]]] = {
    "overdue": {"enum": list(typing.get_args(EventKind))},
    "open": {"enum": list(typing.get_args(EventKind))},
    "requests": {"enum": list(typing.get_args(RequestKind))},
    "errors": {"type": "string", "minLength": 1, "description": "a record type, e.g. event/v1"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": _STRING}}}


_REFUSED: Final = {
    "400": _json("A bad request; the error says what to use instead", _ref("Problem")),
    "401": _text("Credentials required (the web configuration lists users)"),
    "429": _text("Past the web configuration's rate limit"),
    "503": _json("Nothing checkpointed yet, or the store is away: retry later", _ref("Problem")),
}


def _query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


def _list_path(what: str, departments: list[str], divisions: list[str]) -> dict[str, Any]:
    parameters = [
        _query("department", {"enum": departments}, "a department code"),
        _query("division", {"enum": divisions}, "a division code"),
    ]
    if what in _KIND_OF:
        parameters.append(_query("kind", _KIND_OF[what], "event kind, request kind or record type"))
    if what == "violations":
        parameters.append(_query("violation", {"enum": list(VIOLATIONS)}, "one violation"))
    parameters += [
        _query("period", _PERIOD, "as in svmon report"),
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_LIMIT},
            "items per page",
        ),
        _query("cursor", _CURSOR, "next_cursor of the previous page"),
    ]
    page = {
        "allOf": [
            _ref("ListPage"),
            {
                "type": "object",
                "properties": {"items": {"type": "array", "items": _ref(_LIST_ITEM[what])}},
            },
        ]
    }
    return {
        "get": {
            "operationId": f"list_{what}",
            "summary": _LIST_SUMMARY[what],
            "tags": ["lists"],
            "parameters": parameters,
            "responses": {"200": _json("One page of the list", page), **_REFUSED},
        }
    }


def _report_schemas() -> dict[str, Any]:
    cell = _object(
        {
            "numerator": {"type": "integer", "minimum": 0},
            "denominator": {"type": "integer", "minimum": 0},
            "ratio": _nullable({"type": "number", "minimum": 0, "maximum": 1}),
            "target": _nullable({"type": "number", "minimum": 0, "maximum": 1}),
        }
    )
    indicators = _object({name: _ref("Cell") for name in INDICATORS})
    group = {
        "type": "object",
        "properties": {"department": _STRING, "division": _STRING, "name": _STRING, "indicators": indicators},
        "required": ["name", "indicators"],
        "oneOf": [{"required": ["department"]}, {"required": ["division"]}],
        "additionalProperties": False,
    }
    report = _object(
        {
            "period": _object(
                {
                    "label": _STRING,
                    "start": {"type": "string", "format": "date"},
                    "end": {"type": "string", "format": "date"},
                }
            ),
            "as_of": _TIME,
            "indicators": indicators,
            "groups": {"type": "array", "items": group},
        }
    )
    return {"Cell": cell, "Report": report}


def openapi_document(registry: Registry) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API as served with ``registry``."""
    departments = [*sorted(registry.departments), UNREGISTERED_DEPARTMENT]
    divisions = [*sorted(registry.divisions), UNKNOWN_DIVISION]
    list_page = _object(
        {
            "list": {"enum": list(WHATS)},
            "as_of": _TIME,
            "filters": {"type": "object", "additionalProperties": _STRING},
            "total": {"type": "integer", "minimum": 0},
            "items": {"type": "array"},
            "next_cursor": _nullable(_STRING),
            "incomplete": {
                "type": "array",
                "items": _STRING,
                "description": "Scopes of a store upgraded from before the lists, not yet rebuilt",
            },
        },
        optional=("incomplete",),
    )
    paths: dict[str, Any] = {
        "/api/v1/indicators": {
            "get": {
                "operationId": "indicators",
                "summary": "The eight indicators of a period, in total and per department or division",
                "tags": ["indicators"],
                "parameters": [
                    _query(
                        "period",
                        _PERIOD,
                        "as in svmon report",
                        required=True,
                    ),
                    _query("by", {"enum": ["department", "division"], "default": "department"}, "grouping"),
                ],
                "responses": {
                    "200": _json("The report (as svmon report --format json)", _ref("Report")),
                    **_REFUSED,
                },
            }
        },
        **{f"/api/v1/lists/{what}": _list_path(what, departments, divisions) for what in WHATS},
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["meta"],
                "responses": {"200": _json("OpenAPI 3.1", {"type": "object"}), "401": _REFUSED["401"]},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "svmon",
            "version": __version__,
            "description": (
                "The read API of the svmon daemon: the indicators of a period and the drill-down lists "
                "behind every count (docs/contract.md §10, §13). Lists are read page by page: pass "
                "next_cursor as cursor until it is null. No answer holds personal information."
            ),
        },
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "Problem": _object({"error": _STRING}),
                "ListPage": list_page,
                **_report_schemas(),
                **_ITEMS,
            },
        },
        # Basic auth when the web configuration lists users, else none.
        "security": [{"basic": []}, {}],
        "paths": paths,
    }


def main() -> None:
    """Print the document with the shipped registry (``python -m daemon.reports.openapi``)."""
    sys.stdout.write(json.dumps(openapi_document(load_registry()), ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
