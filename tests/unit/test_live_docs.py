"""docs/operations.md's incident table says what `daemon.tools.incidents` does."""

from __future__ import annotations

from pathlib import Path

from daemon.tools.incidents import Incidents

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_the_incident_table_has_one_row_per_incident_with_its_alert_labels_and_times() -> None:
    rows = {
        cells[0].strip("` "): [cell.strip() for cell in cells[1:]]
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `") and len(cells := line.strip("|").split(" | ")) == 5
    }
    incidents = Incidents().all()
    assert set(rows) == {incident.name for incident in incidents}
    for incident in incidents:
        alert, labels, fires, resolves = rows[incident.name]
        assert alert == f"`{incident.alert}`"
        assert labels == ", ".join(f"`{k}={v}`" for k, v in incident.labels.items())
        assert (fires, resolves) == (incident.fires_after, incident.resolves_after)
