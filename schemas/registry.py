"""Reference data: the registered departments and divisions, and the label values derived from them.

Every department or division label the daemon exports goes through `Registry.department_label` /
`Registry.division_label`, so bad input can never create a new time series (docs/contract.md §8, §9.4).
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

import yaml

__all__ = [
    "UNKNOWN_DIVISION",
    "UNREGISTERED_DEPARTMENT",
    "Department",
    "Registry",
    "RegistryError",
    "load_registry",
    "parse_registry",
]

UNREGISTERED_DEPARTMENT = "_unregistered"
UNKNOWN_DIVISION = "_unknown"

Level = Literal["city", "district"]

_DIVISION_CODE = re.compile(r"[0-9]{6}")
# ASCII only: codes become Prometheus label values and URL parameters.
_DEPARTMENT_CODE = re.compile(r"([0-9]{6})\.[a-z][a-z0-9]{0,31}")
_LEVELS: tuple[Level, ...] = ("city", "district")
_DEPARTMENT_KEYS = frozenset({"code", "name", "division", "level"})


class RegistryError(ValueError):
    """The registry file is missing, not YAML, or does not describe a consistent registry."""


@dataclass(frozen=True, slots=True)
class Department:
    """A registered department: its stable code, Chinese name, division and administrative level."""

    code: str
    name: str
    division: str
    level: Level


@dataclass(frozen=True, slots=True)
class Registry:
    """The departments and divisions known to svmon; immutable once loaded."""

    departments: Mapping[str, Department]
    divisions: Mapping[str, str]

    def department_label(self, code: str | None) -> str:
        """`code` when it is a registered department, else `"_unregistered"`."""
        if code is not None and code in self.departments:
            return code
        return UNREGISTERED_DEPARTMENT

    def division_label(self, code: str | None) -> str:
        """`code` when it is a registered division, else `"_unknown"`."""
        if code is not None and code in self.divisions:
            return code
        return UNKNOWN_DIVISION

    def division_of(self, department_code: str | None) -> str:
        """The division of a registered department, else `"_unknown"`."""
        if department_code is None:
            return UNKNOWN_DIVISION
        department = self.departments.get(department_code)
        return UNKNOWN_DIVISION if department is None else department.division


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys, which plain YAML silently resolves to the last."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _division_code(value: object) -> str | None:
    # Hand-edited YAML often leaves `330200` unquoted, which YAML reads as an int; both mean the same.
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and _DIVISION_CODE.fullmatch(text):
        return text
    return None


def _parse_divisions(raw: object, fail: _Fail) -> dict[str, str]:
    if not isinstance(raw, dict) or not raw:
        raise fail("`divisions` must be a non-empty mapping of six-digit code to name")
    divisions: dict[str, str] = {}
    for raw_code, name in raw.items():
        code = _division_code(raw_code)
        if code is None:
            raise fail(f"division code {raw_code!r} is not six digits")
        if code in divisions:
            raise fail(f"division {code} is listed twice")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"division {code} has no name")
        divisions[code] = name
    return divisions


def _parse_department(index: int, raw: object, divisions: Mapping[str, str], fail: _Fail) -> Department:
    where = f"departments[{index}]"
    if not isinstance(raw, dict):
        raise fail(f"{where} must be a mapping with keys code, name, division, level")
    keys = set(raw)
    if keys != _DEPARTMENT_KEYS:
        missing = ", ".join(sorted(str(key) for key in _DEPARTMENT_KEYS - keys))
        extra = ", ".join(sorted(str(key) for key in keys - _DEPARTMENT_KEYS))
        raise fail(f"{where}: missing keys [{missing}], unexpected keys [{extra}]")
    code, name, level = raw["code"], raw["name"], raw["level"]
    division = _division_code(raw["division"])
    if not isinstance(code, str) or (code_match := _DEPARTMENT_CODE.fullmatch(code)) is None:
        raise fail(f"{where}: code {code!r} is not `<six-digit division>.<lowercase ascii>`")
    where = f"department {code}"
    if not isinstance(name, str) or not name.strip():
        raise fail(f"{where} has no name")
    if division is None or division not in divisions:
        raise fail(f"{where}: division {raw['division']!r} is not a listed division")
    if code_match.group(1) != division:
        raise fail(f"{where}: code prefix {code_match.group(1)} differs from its division {division}")
    if level not in _LEVELS:
        raise fail(f"{where}: level {level!r} is not one of {', '.join(_LEVELS)}")
    return Department(code=code, name=name, division=division, level=cast("Level", level))


class _Fail:
    """Builds a `RegistryError` that names the file, so an operator knows which file to fix."""

    def __init__(self, source: str) -> None:
        self._source = source

    def __call__(self, problem: str) -> RegistryError:
        return RegistryError(f"registry {self._source}: {problem}")


def parse_registry(text: str, source: str = "<string>") -> Registry:
    """Build a `Registry` from YAML text; `source` names the text in error messages."""
    fail = _Fail(source)
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise fail("the top level must be a mapping with `divisions` and `departments`")
    unexpected = set(document) - {"divisions", "departments"}
    if unexpected:
        raise fail(f"unexpected top-level keys: {', '.join(sorted(map(str, unexpected)))}")
    divisions = _parse_divisions(document.get("divisions"), fail)
    raw_departments = document.get("departments")
    if not isinstance(raw_departments, list) or not raw_departments:
        raise fail("`departments` must be a non-empty list")
    departments: dict[str, Department] = {}
    for index, raw in enumerate(raw_departments):
        department = _parse_department(index, raw, divisions, fail)
        if department.code in departments:
            raise fail(f"department {department.code} is listed twice")
        departments[department.code] = department
    return Registry(departments=MappingProxyType(departments), divisions=MappingProxyType(divisions))


def load_registry(path: Path | None = None) -> Registry:
    """Load the registry from `path`, or the one shipped in the `seeds` package when `path` is None.

    Raises `RegistryError` naming the file and the problem when it cannot be read or is inconsistent.
    """
    if path is None:
        resource = importlib.resources.files("seeds").joinpath("registry.yaml")
        source = str(resource)
        try:
            text = resource.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"registry {source}: cannot read the shipped file: {exc}") from exc
    else:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RegistryError(f"registry {source}: cannot read: {exc}") from exc
    return parse_registry(text, source)
