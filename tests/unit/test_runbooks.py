"""The runbooks and the alerts' list annotations give only commands and queries that exist.

Every `svmon …` line of a runbook (code blocks and inline code) and every `list_command` annotation
of alerts/rules must parse with the real CLI parser, after its placeholders (`<department>`,
`<division>`, `$(TZ=Asia/Shanghai date +%Y-%m)`, `{{ $labels.… }}`) are replaced by registered codes
and a date, and name only filter values svmon accepts. Every `list_api` annotation must be one of the
five list paths of docs/contract.md §13 with the same filters as its `list_command`, and every metric
or recording rule a runbook names must exist.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shlex
import typing
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from daemon.cli import build_parser
from daemon.core.indicators import INDICATOR_IDS, VIOLATIONS
from daemon.core.snapshot import Snapshot
from daemon.exposition.registry import metrics_registry
from daemon.reports.render import parse_period
from daemon.streams import SCHEMAS, UNKNOWN_SCHEMA
from schemas.records import EventKind, RequestKind
from schemas.registry import UNKNOWN_DIVISION, UNREGISTERED_DEPARTMENT, load_registry

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS_DIR = REPO / "alerts" / "runbooks"
RULES_DIR = REPO / "alerts" / "rules"
REGISTRY = load_registry(REPO / "seeds" / "registry.yaml")

# What the placeholders stand for: a registered department and division, and the day that
# `$(TZ=Asia/Shanghai date +FORMAT)` is taken on.
DEPARTMENT = "330200.scjgj"
DIVISION = "330203"
TODAY = date(2023, 10, 8)
PLACEHOLDERS = {"<department>": DEPARTMENT, "<division>": DIVISION}
SHANGHAI_DATE = re.compile(r"\$\(TZ=Asia/Shanghai date \+([^)\s]+)\)")
LEFTOVER = re.compile(r"<[A-Za-z_ -]+>|\$\(|\{\{")
# The values each label takes when an annotation template is rendered: every value that changes
# which list it names.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "department": (DEPARTMENT,),
    "division": (DIVISION,),
    "violation": VIOLATIONS,
    "indicator": INDICATOR_IDS,
    "period": ("month", "year"),
    "kind": typing.get_args(EventKind),
}

# docs/contract.md §13.
LIST_PATHS = {
    f"/api/v1/lists/{what}": what for what in ("overdue", "open", "violations", "requests", "errors")
}
LIST_FILTERS = ("department", "division", "kind", "violation", "period")
API_PARAMETERS = {*LIST_FILTERS, "limit", "cursor"}
KINDS: dict[str, tuple[str, ...]] = {
    "overdue": typing.get_args(EventKind),
    "open": typing.get_args(EventKind),
    "requests": typing.get_args(RequestKind),
    "errors": (*SCHEMAS, UNKNOWN_SCHEMA),
}
SHELL_OPERATORS = frozenset({">", ">>", "<", "|", "||", "&&", ";", "&"})

FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`]+)`")
METRIC = re.compile(r"(?<![:\w])supervision_[a-z0-9_]+(?![:\w])")
RECORDING_RULE = re.compile(r"\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b")


# --- the runbooks ---------------------------------------------------------------------------------


def _runbooks() -> list[Path]:
    return sorted(RUNBOOKS_DIR.glob("*.md"))


def _code_lines(text: str) -> Iterator[str]:
    """Each line of the fenced code blocks, then each inline code span of the prose (unwrapped)."""
    for _language, block in FENCE.findall(text):
        yield from (line.strip() for line in block.splitlines())
    for span in CODE_SPAN.findall(FENCE.sub("", text)):
        yield " ".join(span.split())


def _runbook_commands() -> list[tuple[str, str]]:
    """(runbook, line) for every line of runbook code that starts with `svmon `."""
    return [
        (path.stem, line)
        for path in _runbooks()
        for line in _code_lines(path.read_text(encoding="utf-8"))
        if line.startswith("svmon ")
    ]


def _substituted(line: str) -> str:
    line = SHANGHAI_DATE.sub(lambda match: TODAY.strftime(match.group(1)), line)
    for placeholder, value in PLACEHOLDERS.items():
        line = re.sub(re.escape(placeholder), value, line, flags=re.IGNORECASE)
    return render(line, {"department": DEPARTMENT, "division": DIVISION})


# --- Go templates, the subset the annotations use -------------------------------------------------

ACTION = re.compile(r"\{\{(-)?\s*(.*?)\s*(-)?\}\}", re.DOTALL)
LABEL = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")
EQ = re.compile(r'eq \$labels\.([A-Za-z_][A-Za-z0-9_]*) "([^"]*)"')


def render(template: str, labels: Mapping[str, str]) -> str:
    """Expand `{{ $labels.x }}` and `{{ if/else if eq $labels.x "v" }} … {{ else }} … {{ end }}` as Prometheus
    would (with `{{-`/`-}}` trimming); any other action is an error."""
    out: list[str] = []
    frames: list[list[bool]] = []  # per open `if`: [emitting outside it, a branch was taken]
    emitting, trim, position = True, False, 0
    for match in ACTION.finditer(template):
        text = template[position : match.start()]
        text = text.lstrip() if trim else text
        text = text.rstrip() if match.group(1) else text
        if emitting:
            out.append(text)
        trim, position, action = bool(match.group(3)), match.end(), match.group(2)
        if (label := LABEL.fullmatch(action)) is not None:
            if emitting:
                out.append(labels[label.group(1)])
        elif (condition := re.fullmatch(r"if (.*)", action)) is not None:
            taken = _holds(condition.group(1), labels)
            frames.append([emitting, taken])
            emitting = emitting and taken
        elif (condition := re.fullmatch(r"else if (.*)", action)) is not None:
            outside, done = frames[-1]
            taken = not done and _holds(condition.group(1), labels)
            frames[-1][1] = done or taken
            emitting = outside and taken
        elif action == "else":
            outside, done = frames[-1]
            frames[-1][1] = True
            emitting = outside and not done
        elif action == "end":
            emitting = frames.pop()[0]
        else:
            raise ValueError(f"template action {{{{ {action} }}}} is not supported here: {template!r}")
    assert not frames, f"unclosed {{{{ if }}}} in {template!r}"
    tail = template[position:]
    out.append(tail.lstrip() if trim else tail)
    return "".join(out)


def _holds(condition: str, labels: Mapping[str, str]) -> bool:
    match = EQ.fullmatch(condition)
    if match is None:
        raise ValueError(f"condition {condition!r} is not supported here")
    return labels[match.group(1)] == match.group(2)


# --- commands and API paths -----------------------------------------------------------------------


def _parse(line: str) -> argparse.Namespace:
    """The real CLI's reading of `line` (up to a shell redirection or pipe), or a failure naming it."""
    argv = shlex.split(line, comments=True)
    for index, word in enumerate(argv):
        if word in SHELL_OPERATORS:
            argv = argv[:index]
            break
    assert argv[:1] == ["svmon"], line
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"`{line}` does not parse with svmon's command line", pytrace=False)


def _filter_problems(what: str, filters: Mapping[str, str]) -> list[str]:
    """Why svmon would refuse these filters of list `what` (the checks of daemon/reports/lists.py)."""
    problems = []
    department, division = filters.get("department"), filters.get("division")
    if department is not None and department not in {*REGISTRY.departments, UNREGISTERED_DEPARTMENT}:
        problems.append(f"department {department!r} is not registered")
    if division is not None and division not in {*REGISTRY.divisions, UNKNOWN_DIVISION}:
        problems.append(f"division {division!r} is not registered")
    violation = filters.get("violation")
    if violation is not None and (what != "violations" or violation not in VIOLATIONS):
        problems.append(f"--violation {violation!r} does not apply to {what}")
    kind = filters.get("kind")
    if kind is not None and kind not in KINDS.get(what, ()):
        problems.append(f"--kind {kind!r} does not apply to {what}")
    problems.extend(_period_problems(filters.get("period")))
    return problems


def _period_problems(period: str | None) -> list[str]:
    if period is None:
        return []
    try:
        parse_period(period)
    except ValueError as exc:
        return [str(exc)]
    return []


def _command_problems(args: argparse.Namespace) -> list[str]:
    """Why svmon would refuse a parsed command line's values, beyond what argparse checks."""
    if args.command == "list":
        return _filter_problems(args.what, _list_filters(args))
    problems = _period_problems(getattr(args, "period", None))
    if args.command == "notice" and args.only is not None:
        units = REGISTRY.departments if args.by == "department" else REGISTRY.divisions
        if args.only not in units:
            problems.append(f"--only {args.only!r} is not a registered {args.by}")
    return problems


def _list_filters(args: argparse.Namespace) -> dict[str, str]:
    return {name: getattr(args, name) for name in LIST_FILTERS if getattr(args, name) is not None}


def _api_list(path: str) -> tuple[str, dict[str, str]]:
    """The list and the filters of an API path, asserting it is a list path with known parameters."""
    parts = urlsplit(path)
    assert not parts.scheme, path
    assert not parts.netloc, path
    assert not parts.fragment, path
    assert parts.path in LIST_PATHS, f"{path}: not one of {sorted(LIST_PATHS)}"
    parameters = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    names = [name for name, _value in parameters]
    assert len(names) == len(set(names)), f"{path}: a parameter given twice"
    assert set(names) <= API_PARAMETERS, f"{path}: unknown parameters {sorted(set(names) - API_PARAMETERS)}"
    assert all(value for _name, value in parameters), f"{path}: an empty parameter"
    return LIST_PATHS[parts.path], {name: value for name, value in parameters if name in LIST_FILTERS}


# --- the alerts' list annotations -----------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in sorted(RULES_DIR.glob("*.yml"))
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]


def _listed_alerts() -> list[dict[str, Any]]:
    return [rule for rule in _rules() if "alert" in rule and "list_command" in rule.get("annotations", {})]


def _label_sets(*templates: str) -> list[dict[str, str]]:
    """Every combination of the label values the templates read (see LABEL_VALUES)."""
    names = sorted({name for template in templates for name in LABEL.findall(template)})
    unknown = set(names) - set(LABEL_VALUES)
    assert not unknown, f"no test values for labels {sorted(unknown)}"
    return [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(LABEL_VALUES[name] for name in names))
    ]


def _renderings(rule: dict[str, Any]) -> list[tuple[dict[str, str], str, str]]:
    """(labels, list_command, list_api) for every label set, the two annotations rendered."""
    command, api = rule["annotations"]["list_command"], rule["annotations"].get("list_api", "")
    return [(labels, render(command, labels), render(api, labels)) for labels in _label_sets(command, api)]


# --- tests ----------------------------------------------------------------------------------------


def test_placeholders_stand_for_registered_codes() -> None:
    """The department and division the placeholders are replaced with are in seeds/registry.yaml."""
    assert DEPARTMENT in REGISTRY.departments
    assert DIVISION in REGISTRY.divisions


def test_runbooks_give_svmon_commands() -> None:
    """The runbooks give `svmon list`, `svmon notice` and `svmon report` commands to check."""
    commands = {line.split()[1] for _runbook, line in _runbook_commands()}
    assert {"list", "notice", "report"} <= commands


@pytest.mark.parametrize(("runbook", "line"), _runbook_commands(), ids=str)
def test_runbook_command_parses(runbook: str, line: str) -> None:
    """The runbook's `svmon` command line, placeholders substituted, parses and names values svmon accepts."""
    concrete = _substituted(line)
    assert not LEFTOVER.search(concrete), f"{runbook}: unknown placeholder in `{line}`"
    args = _parse(concrete)
    assert not _command_problems(args), f"{runbook}: `{line}`: {_command_problems(args)}"


def test_alerts_have_list_annotations() -> None:
    """At least the department-scoped alerts of alerts/rules carry a list_command to check."""
    assert len(_listed_alerts()) >= 8


@pytest.mark.parametrize("rule", _listed_alerts(), ids=lambda rule: str(rule["alert"]))
def test_list_command_annotation_parses(rule: dict[str, Any]) -> None:
    """For every label value, list_command renders to an `svmon list` svmon accepts, on the alert's units."""
    rendered = [(labels, command) for labels, command, _api in _renderings(rule) if command]
    assert rendered, f"{rule['alert']}: list_command is empty for every label value"
    for labels, command in rendered:
        args = _parse(command)
        assert args.command == "list", command
        assert not _command_problems(args), f"`{command}`: {_command_problems(args)}"
        for name in set(LIST_FILTERS) & set(labels):
            assert getattr(args, name) == labels[name], f"`{command}` does not filter on its {name} label"


@pytest.mark.parametrize("rule", _listed_alerts(), ids=lambda rule: str(rule["alert"]))
def test_list_api_annotation_is_a_list_path_with_the_commands_filters(rule: dict[str, Any]) -> None:
    """For every label value, list_api is a list path with known parameters and list_command's filters."""
    for _labels, command, api in _renderings(rule):
        assert bool(command) == bool(api), f"{rule['alert']}: only one of `{command}` and `{api}` is empty"
        if not command:
            continue
        what, filters = _api_list(api)
        assert not _filter_problems(what, filters), f"{api}: {_filter_problems(what, filters)}"
        args = _parse(command)
        assert (what, filters) == (args.what, _list_filters(args)), f"`{command}` and {api} differ"


@pytest.mark.parametrize("rule", _listed_alerts(), ids=lambda rule: str(rule["alert"]))
def test_runbook_shows_the_lists_of_the_alert(rule: dict[str, Any]) -> None:
    """The alert's runbook gives an `svmon list` command for every list its list_command can name."""
    named = {_parse(command).what for _labels, command, _api in _renderings(rule) if command}
    shown = {
        _parse(_substituted(line)).what
        for runbook, line in _runbook_commands()
        if runbook == rule["alert"] and line.startswith("svmon list ")
    }
    assert named <= shown, f"{rule['alert']}.md shows no `svmon list` for {sorted(named - shown)}"


def _exported_metric_names() -> set[str]:
    registry, _counters = metrics_registry(
        Snapshot, dict.fromkeys(INDICATOR_IDS, 1.0), REGISTRY, ["svmon.events"]
    )
    names = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
        names.update(sample.name for sample in family.samples)
    return names


def test_runbooks_name_only_exported_metrics_and_recording_rules() -> None:
    """Every `supervision_…` metric a runbook names is exported, and every `level:metric:op` rule recorded."""
    exported = _exported_metric_names()
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    for path in _runbooks():
        text = path.read_text(encoding="utf-8")
        assert set(METRIC.findall(text)) <= exported, (
            f"{path.name}: {sorted(set(METRIC.findall(text)) - exported)}"
        )
        unknown = set(RECORDING_RULE.findall(text)) - recorded
        assert not unknown, f"{path.name} names recording rules that do not exist: {sorted(unknown)}"


def test_render_follows_go_template_branches() -> None:
    """The template renderer picks the branch of `eq` and trims around `{{-`, as Prometheus does."""
    template = (
        '{{ if eq $labels.a "x" }}one {{ $labels.b }}\n  {{- else if eq $labels.a "y" }}two'
        "{{ else }}three{{ end }}"
    )
    assert render(template, {"a": "x", "b": "B"}) == "one B"
    assert render(template, {"a": "y", "b": "B"}) == "two"
    assert render(template, {"a": "z", "b": "B"}) == "three"
