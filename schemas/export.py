"""JSON Schema of every record type, for producers in other languages (`svmon schemas --out DIR`).

The output is deterministic (sorted keys, fixed indentation, trailing newline) so that the copies
committed under `schemas/json/` can be compared byte for byte with a fresh export in a test.
JSON Schema cannot express every rule: the fields each event action may carry, identifier check
digits and time consistency are enforced by `schemas.decode` and described in docs/contract.md §3 and §5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.records import (
    EVENT_ACTION_FIELDS,
    EVENT_ACTION_SPECIFIC,
    DisclosureRecord,
    DisclosureRequestRecord,
    DlqRecord,
    EventRecord,
    InspectionRecord,
    ItemRecord,
)

__all__ = ["SCHEMA_MODELS", "export_json_schemas", "json_schema_text"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"

SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "event": EventRecord,
    "inspection": InspectionRecord,
    "item": ItemRecord,
    "disclosure": DisclosureRecord,
    "disclosure-request": DisclosureRequestRecord,
    "dlq": DlqRecord,
}


def json_schema_text(model: type[BaseModel]) -> str:
    """The JSON Schema of `model` as deterministic text (what a message must look like on the wire)."""
    schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = _DIALECT
    if model is EventRecord:
        schema["allOf"] = _event_action_rules()
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _event_action_rules() -> list[dict[str, Any]]:
    # docs/contract.md §3.1's per-action table as if/then clauses; null counts as absent, as in the validator.
    rules: list[dict[str, Any]] = []
    for action, (required, optional) in EVENT_ACTION_FIELDS.items():
        properties: dict[str, Any] = {}
        for name in EVENT_ACTION_SPECIFIC:
            if name in required:
                properties[name] = {"not": {"type": "null"}}
            elif name not in optional:
                properties[name] = {"type": "null"}
        rules.append(
            {
                "if": {"properties": {"action": {"const": action}}, "required": ["action"]},
                "then": {"properties": properties, "required": sorted(required)},
            }
        )
    return rules


def export_json_schemas(out_dir: Path) -> list[Path]:
    """Write `<name>.schema.json` for each record type into `out_dir` (created if missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, model in SCHEMA_MODELS.items():
        path = out_dir / f"{name}.schema.json"
        path.write_text(json_schema_text(model), encoding="utf-8")
        written.append(path)
    return written
