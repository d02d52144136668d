"""The closed set of error codes and the FieldError value."""

from __future__ import annotations

import dataclasses

import pytest

from schemas.errors import ErrorCode, FieldError


def test_error_codes_are_exactly_spec_section_5() -> None:
    """The codes are docs/contract.md §5's closed set, no more and no fewer."""
    assert {code.value for code in ErrorCode} == {
        "malformed",
        "too_large",
        "unknown_schema",
        "invalid_field",
        "unknown_department",
        "unknown_division",
        "invalid_uscc",
        "invalid_resident_id",
        "invalid_decision_no",
        "future_time",
        "inconsistent_time",
    }


def test_error_code_is_its_string_value() -> None:
    """An ErrorCode is usable directly as a metric label or JSON string."""
    assert str(ErrorCode.FUTURE_TIME) == "future_time"
    assert ErrorCode("too_large") is ErrorCode.TOO_LARGE
    assert f"{ErrorCode.TOO_LARGE}" == "too_large"


def test_field_error_to_json_is_dlq_shape() -> None:
    """to_json gives the DLQ's {code, field, message} object with a plain-string code."""
    error = FieldError(ErrorCode.INVALID_FIELD, "inspectors.3", "too short")
    assert error.to_json() == {"code": "invalid_field", "field": "inspectors.3", "message": "too short"}
    assert type(error.to_json()["code"]) is str
    assert FieldError(ErrorCode.MALFORMED, None, "not JSON").to_json()["field"] is None


def test_field_error_is_immutable() -> None:
    """A FieldError cannot be altered after it is made (it is shared between DLQ and metrics)."""
    error = FieldError(ErrorCode.MALFORMED, None, "not JSON")
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.message = "changed"  # type: ignore[misc]
