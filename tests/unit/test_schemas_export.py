"""JSON Schema export: one file per record type, deterministic, and the committed copies current."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.export import export_json_schemas

_COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "json"
_NAMES = ["event", "inspection", "item", "disclosure", "disclosure-request", "dlq"]


def test_export_writes_one_file_per_record_type(tmp_path: Path) -> None:
    """Exporting writes `<name>.schema.json` for each record type and the DLQ envelope."""
    written = export_json_schemas(tmp_path / "out")
    assert [path.name for path in written] == [f"{name}.schema.json" for name in _NAMES]
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert json.loads(text)["$schema"].startswith("https://json-schema.org/")


def test_export_is_deterministic(tmp_path: Path) -> None:
    """Two exports produce byte-identical files."""
    first = export_json_schemas(tmp_path / "a")
    second = export_json_schemas(tmp_path / "b")
    for left, right in zip(first, second, strict=True):
        assert left.read_bytes() == right.read_bytes()


def test_committed_schemas_equal_a_fresh_export(tmp_path: Path) -> None:
    """schemas/json/ is regenerated whenever a model changes (run `svmon schemas --out schemas/json`)."""
    fresh = {path.name: path.read_text(encoding="utf-8") for path in export_json_schemas(tmp_path)}
    committed = {path.name: path.read_text(encoding="utf-8") for path in _COMMITTED.glob("*.schema.json")}
    assert committed == fresh


def test_record_schemas_use_wire_names_and_forbid_extra_fields(tmp_path: Path) -> None:
    """Producers see `schema` (not `schema_`) as a required field and no additional properties."""
    for path in export_json_schemas(tmp_path)[:-1]:
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert "schema" in schema["required"]
        assert "schema_" not in schema["properties"]
        assert schema["additionalProperties"] is False


def test_event_schema_carries_per_action_rules(tmp_path: Path) -> None:
    """The event schema states which fields `created` requires and `handled` must not carry."""
    event = json.loads(export_json_schemas(tmp_path)[0].read_text(encoding="utf-8"))
    rules = {rule["if"]["properties"]["action"]["const"]: rule["then"] for rule in event["allOf"]}
    assert rules["created"]["required"] == ["department", "division", "kind"]
    assert rules["handled"]["properties"]["kind"] == {"type": "null"}
