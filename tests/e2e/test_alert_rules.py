"""The alert rules pass promtool, and every alert is tested, documented and able to fire.

promtool (Debian's `prometheus` package) checks and unit-tests the rules; the rest parses the YAML
so that a new alert without a test, a runbook, its list annotations or a reachable burn-rate factor
fails here.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.prometheus_fixtures import REPO, binary, load_rule_groups, rule_files

pytestmark = pytest.mark.e2e

TESTS_DIR = REPO / "alerts" / "tests"
RUNBOOKS_DIR = REPO / "alerts" / "runbooks"
RUNBOOK_BASE = "https://svmon.example.org/alerts/runbooks/"
DASHBOARD_BASE = "https://grafana.svmon.example.org/d/"

# SLO targets (docs/contract.md §8 defaults) of the burn-rate alerts, by alert-name prefix.
SLO_TARGETS = {"SupervisionOnTimeHandling": 0.95, "SupervisionDataAccuracy": 0.999}
# `(factor * (1 - target))`, as every burn-rate threshold in alerts/rules/slo.yml is written.
BURN_THRESHOLD = re.compile(r"\(\s*([0-9.]+)\s*\*\s*\(\s*1\s*-\s*([0-9.]+)\s*\)\s*\)")
ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}
# The drill-down list of a department-scoped alert (docs/contract.md §13): the `svmon list` command
# and the API path for its labels (tests/unit/test_runbooks.py checks that both are valid).
LIST_ANNOTATIONS = {"list_command", "list_api"}
# The labels a list filters on: `--<label> {{ $labels.<label> }}` and `<label>={{ $labels.<label> }}`.
LIST_FILTER_LABELS = ("department", "division", "violation", "kind")
LABEL_REFERENCE = re.compile(r"\$labels\.(\w+)")
LABEL_SUBSTITUTION = re.compile(r"\{\{-?\s*\$labels\.(\w+)\s*-?\}\}")
# An alert that can never stop firing has no non-firing case.
ALWAYS_FIRING = {"SupervisionWatchdog"}


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in load_rule_groups() for rule in group["rules"] if "alert" in rule]


def _alert_names() -> list[str]:
    return [rule["alert"] for rule in _alerts()]


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, check=False, cwd=REPO)


def _alert_tests() -> list[dict[str, Any]]:
    cases = []
    for path in sorted(TESTS_DIR.glob("*.yml")):
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def _carried_labels(rule: dict[str, Any]) -> set[str]:
    """The labels the alert's result carries: those of its firing promtool cases (which promtool
    compares exactly), less the ones the rule sets itself."""
    found: set[str] = set()
    for case in _alert_tests():
        if case["alertname"] == rule["alert"]:
            for expected in case.get("exp_alerts") or []:
                found.update(expected["exp_labels"])
    return found - set(rule["labels"])


def _is_department_scoped(rule: dict[str, Any]) -> bool:
    return "department" in _carried_labels(rule)


def test_rules_pass_promtool_check_with_every_lint() -> None:
    """`promtool check rules --lint=all` accepts every rule file without a warning."""
    result = _promtool("check", "rules", "--lint=all", *map(str, rule_files()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    """Every promtool unit test file in alerts/tests passes (files run in parallel to save time)."""
    files = sorted(TESTS_DIR.glob("*.yml"))
    assert files
    with ThreadPoolExecutor(max_workers=len(files)) as pool:
        results = list(pool.map(lambda path: _promtool("test", "rules", str(path)), files))
    failures = [r.stdout + r.stderr for r in results if r.returncode != 0]
    assert not failures, "\n".join(failures)


def test_every_rule_file_is_unit_tested() -> None:
    """Each rule file is loaded by at least one promtool test file."""
    tested = set()
    for path in TESTS_DIR.glob("*.yml"):
        for rule_file in yaml.safe_load(path.read_text(encoding="utf-8"))["rule_files"]:
            tested.add((path.parent / rule_file).resolve())
    assert set(rule_files()) <= tested


@pytest.mark.parametrize("alertname", _alert_names())
def test_alert_has_firing_and_non_firing_tests(alertname: str) -> None:
    """The alert has a promtool case where it fires and one where it stays quiet."""
    cases = [case for case in _alert_tests() if case["alertname"] == alertname]
    assert any(case.get("exp_alerts") for case in cases), f"{alertname}: no firing case"
    if alertname not in ALWAYS_FIRING:
        assert any(not case.get("exp_alerts") for case in cases), f"{alertname}: no non-firing case"


@pytest.mark.parametrize("rule", _alerts(), ids=_alert_names())
def test_alert_firing_tests_assert_labels_and_annotations(rule: dict[str, Any]) -> None:
    """Every firing case of the alert asserts its severity and all its annotations, the list ones included."""
    for case in _alert_tests():
        if case["alertname"] != rule["alert"]:
            continue
        for expected in case.get("exp_alerts") or []:
            assert "severity" in expected["exp_labels"]
            assert set(expected["exp_annotations"]) >= ANNOTATIONS | (
                set(rule["annotations"]) & LIST_ANNOTATIONS
            )


@pytest.mark.parametrize("rule", _alerts(), ids=_alert_names())
def test_alert_is_named_labelled_and_annotated(rule: dict[str, Any]) -> None:
    """The alert has the Supervision prefix, a routed severity, a category and the four annotations."""
    assert re.fullmatch(r"Supervision[A-Z][A-Za-z]+", rule["alert"])
    assert rule["labels"]["severity"] in {"critical", "warning", "none"}
    assert rule["labels"]["category"] in {"indicator", "pipeline", "meta"}
    annotations = rule["annotations"]
    assert set(annotations) >= ANNOTATIONS
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}{rule['alert']}.md"
    assert annotations["dashboard_url"].startswith(DASHBOARD_BASE)
    uid = annotations["dashboard_url"].removeprefix(DASHBOARD_BASE).split("/", 1)[0]
    assert uid in {"svmon-overview", "svmon-department", "svmon-pipeline"}


@pytest.mark.parametrize("rule", _alerts(), ids=_alert_names())
def test_department_scoped_alerts_and_only_they_name_their_list(rule: dict[str, Any]) -> None:
    """An alert with a department label has list_command and list_api; an alert without one has neither."""
    expected = LIST_ANNOTATIONS if _is_department_scoped(rule) else set()
    assert set(rule["annotations"]) & LIST_ANNOTATIONS == expected


@pytest.mark.parametrize("rule", [r for r in _alerts() if _is_department_scoped(r)], ids=lambda r: r["alert"])
def test_list_annotations_filter_on_exactly_the_labels_the_alert_carries(rule: dict[str, Any]) -> None:
    """The list annotations read only labels the alert carries, and filter on each department, division,
    violation or kind label it carries with that label's own option or parameter."""
    carried = _carried_labels(rule)
    command, api = rule["annotations"]["list_command"], rule["annotations"]["list_api"]
    for template, flag in ((command, "--{} "), (api, "{}=")):
        assert set(LABEL_REFERENCE.findall(template)) <= carried, f"{rule['alert']}: {template}"
        assert set(LABEL_SUBSTITUTION.findall(template)) == carried & set(LIST_FILTER_LABELS), template
        for match in LABEL_SUBSTITUTION.finditer(template):
            before = template[: match.start()]
            assert before.endswith(flag.format(match.group(1))), (
                f"{match.group(0)} without its filter: {template}"
            )
    assert command.count("svmon list ") == api.count("/api/v1/lists/"), "one API path per command"


@pytest.mark.parametrize("alertname", _alert_names())
def test_alert_has_a_runbook(alertname: str) -> None:
    """alerts/runbooks/<AlertName>.md exists and covers meaning, confirmation, action and audience."""
    path = RUNBOOKS_DIR / f"{alertname}.md"
    assert path.is_file(), f"missing runbook {path.relative_to(REPO)}"
    text = path.read_text(encoding="utf-8")
    for heading in ("## What it means", "## How to confirm", "## What to do", "## Who is concerned"):
        assert heading in text, f"{path.name}: no '{heading}' section"


def test_every_runbook_belongs_to_an_alert() -> None:
    """No runbook is left behind for an alert that no longer exists."""
    assert {path.stem for path in RUNBOOKS_DIR.glob("*.md")} == set(_alert_names())


def test_alerts_keep_department_and_division_labels() -> None:
    """Alerts over department/division-labelled data keep those labels (no aggregation drops them)."""
    for rule in _alerts():
        expr = rule["expr"]
        if rule["labels"]["category"] != "indicator":
            continue
        assert "department" in expr or "indicator_period:" in expr, rule["alert"]
        for aggregation in re.findall(r"sum by \(([^)]*)\)", expr):
            assert "department" in aggregation, rule["alert"]


def _burn_rate_alerts() -> list[dict[str, Any]]:
    return [rule for rule in _alerts() if rule["alert"].endswith("Burn")]


def test_burn_rate_alerts_exist_for_both_objectives() -> None:
    """On-time handling and data accuracy each have a fast (page) and a slow (ticket) burn-rate alert."""
    names = {rule["alert"]: rule["labels"]["severity"] for rule in _burn_rate_alerts()}
    assert names == {
        "SupervisionOnTimeHandlingFastBurn": "critical",
        "SupervisionOnTimeHandlingSlowBurn": "warning",
        "SupervisionDataAccuracyFastBurn": "critical",
        "SupervisionDataAccuracySlowBurn": "warning",
    }


@pytest.mark.parametrize("rule", _burn_rate_alerts(), ids=lambda rule: rule["alert"])
def test_burn_rate_factors_can_fire(rule: dict[str, Any]) -> None:
    """Every burn-rate factor satisfies factor × (1 − target) < 1, with the objective's own target."""
    target = next(t for prefix, t in SLO_TARGETS.items() if rule["alert"].startswith(prefix))
    thresholds = BURN_THRESHOLD.findall(rule["expr"])
    assert len(thresholds) == 4, "two windows for each of two burn rates"
    for factor, written_target in thresholds:
        assert float(written_target) == target
        assert float(factor) * (1 - target) < 1, f"factor {factor} can never fire at target {target}"


@pytest.mark.parametrize("rule", _burn_rate_alerts(), ids=lambda rule: rule["alert"])
def test_burn_rate_alerts_have_an_event_count_guard(rule: dict[str, Any]) -> None:
    """Each window pair is guarded by a minimum count of at least 1 / (1 − target) in the long window."""
    target = next(t for prefix, t in SLO_TARGETS.items() if rule["alert"].startswith(prefix))
    guards = re.findall(r":increase(\w+) >= (\d+)", rule["expr"])
    assert len(guards) == 2
    assert all(int(minimum) >= round(1 / (1 - target)) for _window, minimum in guards)


def test_ratio_alerts_have_a_volume_guard() -> None:
    """Every alert on a ratio also requires a minimum count, so that a tiny sample cannot fire it."""
    for rule in _alerts():
        if ":ratio" in rule["expr"]:
            assert re.search(r">= \d+", rule["expr"]), f"{rule['alert']} has no volume guard"


def test_alerts_read_recording_rules_of_their_own_group() -> None:
    """A recording rule an alert reads is defined earlier in the same group (deterministic order)."""
    for group in load_rule_groups():
        defined: set[str] = set()
        for rule in group["rules"]:
            if "record" in rule:
                defined.add(rule["record"])
                continue
            for name in re.findall(r"\b[a-z_]+:[a-z_]+:[a-z0-9_]+\b", rule["expr"]):
                assert name in defined, f"{rule['alert']} reads {name} from outside its group"


def test_runbook_queries_are_valid_promql(tmp_path: Path) -> None:
    """Every line of the runbooks' `promql` blocks is PromQL that promtool accepts as a recording rule."""
    queries = [
        line.strip()
        for path in sorted(RUNBOOKS_DIR.glob("*.md"))
        for block in re.findall(r"^```promql\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)
        for line in block.splitlines()
        if line.strip()
    ]
    assert len(queries) >= len(_alert_names())
    rules = [{"record": f"runbook_query_{index}", "expr": query} for index, query in enumerate(queries)]
    path = tmp_path / "runbook_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "runbooks", "rules": rules}]}), encoding="utf-8")
    result = _promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_files_are_the_only_rule_sources() -> None:
    """alerts/rules holds only rule files, each with groups, so globbing `*.yml` loads them all."""
    for path in Path(REPO / "alerts" / "rules").iterdir():
        assert path.suffix == ".yml", path
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
