"""The closed set of validation error codes (docs/contract.md §5) and the error value carried by a rejection.

An invalid record is data, not an exception: these are values that travel to the DLQ and into the
`error` label of `supervision_records_erroneous_total`, so the set must stay closed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["ErrorCode", "FieldError"]


class ErrorCode(enum.StrEnum):
    """Why a consumed message was rejected; the value is what the DLQ and metric labels carry."""

    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    UNKNOWN_SCHEMA = "unknown_schema"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_DEPARTMENT = "unknown_department"
    UNKNOWN_DIVISION = "unknown_division"
    INVALID_USCC = "invalid_uscc"
    INVALID_RESIDENT_ID = "invalid_resident_id"
    INVALID_DECISION_NO = "invalid_decision_no"
    FUTURE_TIME = "future_time"
    INCONSISTENT_TIME = "inconsistent_time"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with a message: its code, the dotted field path (None for the whole message), a text.

    The message must never quote a personal identifier verbatim: it ends up in the DLQ envelope and
    in logs (docs/contract.md §9.6).
    """

    code: ErrorCode
    field: str | None
    message: str

    def to_json(self) -> dict[str, str | None]:
        """The `{"code", "field", "message"}` object of the DLQ format (docs/contract.md §5)."""
        return {"code": self.code.value, "field": self.field, "message": self.message}
