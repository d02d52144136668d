"""The department/division registry: shipped data, label safety, and readable errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.registry import (
    UNKNOWN_DIVISION,
    UNREGISTERED_DEPARTMENT,
    Department,
    Registry,
    RegistryError,
    load_registry,
    parse_registry,
)

NINGBO_DIVISIONS = {
    "330200": "市本级",
    "330203": "海曙区",
    "330205": "江北区",
    "330206": "北仑区",
    "330211": "镇海区",
    "330212": "鄞州区",
    "330213": "奉化区",
    "330225": "象山县",
    "330226": "宁海县",
    "330281": "余姚市",
    "330282": "慈溪市",
}

# The units named in the seed report, with the codes other modules and the demo rely on.
SEED_REPORT_DEPARTMENTS = {
    "330200.scjgj": "市场监督管理局",
    "330200.sthjj": "生态环境局",
    "330200.jtj": "交通运输局",
    "330200.nyncj": "农业农村局",
    "330200.tjj": "统计局",
    "330200.wsjds": "卫生监督所",
    "330200.whzfd": "文化市场行政执法队",
    "330200.sjj": "数据局",
    "330203.zhzfj": "海曙区综合行政执法局",
    "330225.czj": "象山县财政局",
    "330225.yyj": "象山县渔业局",
    "330225.wjj": "象山县卫生健康局",
    "330225.yjglj": "象山县应急管理局",
    "330225.wsjds": "象山县卫生监督所",
}


_GOOD_DIVISIONS = 'divisions:\n  "330200": 市本级\n'


def _departments(*entries: str) -> str:
    return "departments:\n" + "".join(f"  - {entry}\n" for entry in entries)


@pytest.fixture(scope="module")
def shipped() -> Registry:
    """The registry shipped in seeds/registry.yaml."""
    return load_registry()


def test_shipped_divisions_are_exactly_spec_ningbo_list(shipped: Registry) -> None:
    """The shipped divisions are docs/contract.md §3's eleven Ningbo codes with their names."""
    assert dict(shipped.divisions) == NINGBO_DIVISIONS


@pytest.mark.parametrize(("code", "name_part"), SEED_REPORT_DEPARTMENTS.items())
def test_seed_report_departments_exist(shipped: Registry, code: str, name_part: str) -> None:
    """Every unit of the seed report is registered under its agreed code and recognisable name."""
    department = shipped.departments[code]
    assert name_part in department.name
    assert department.division == code.split(".", maxsplit=1)[0]


def test_shipped_registry_is_city_sized_and_consistent(shipped: Registry) -> None:
    """40-60 departments; codes prefixed by their division; city level exactly for 市本级."""
    assert 40 <= len(shipped.departments) <= 60
    for code, department in shipped.departments.items():
        assert department.code == code
        assert code.isascii()
        assert code.startswith(department.division + ".")
        assert (department.level == "city") == (department.division == "330200")
    names = [department.name for department in shipped.departments.values()]
    assert len(names) == len(set(names))


def test_every_division_has_enforcement_and_market_supervision(shipped: Registry) -> None:
    """Each district/county has a comprehensive-enforcement bureau and a market-supervision unit."""
    for division in NINGBO_DIVISIONS:
        codes = {code for code, d in shipped.departments.items() if d.division == division}
        assert f"{division}.zhzfj" in codes
        assert codes & {f"{division}.scjgj", f"{division}.scjgfj"}


def test_department_label_is_code_or_unregistered(shipped: Registry) -> None:
    """Registered codes label themselves; anything else becomes `_unregistered`."""
    assert shipped.department_label("330225.yyj") == "330225.yyj"
    assert shipped.department_label("330225.nope") == UNREGISTERED_DEPARTMENT == "_unregistered"
    assert shipped.department_label(None) == UNREGISTERED_DEPARTMENT


def test_division_label_is_code_or_unknown(shipped: Registry) -> None:
    """Registered divisions label themselves; 330204 (江东, abolished) and None become `_unknown`."""
    assert shipped.division_label("330282") == "330282"
    assert shipped.division_label("330204") == UNKNOWN_DIVISION == "_unknown"
    assert shipped.division_label(None) == UNKNOWN_DIVISION


def test_division_of_department(shipped: Registry) -> None:
    """A department's division comes from the registry; unknown departments are `_unknown`."""
    assert shipped.division_of("330203.zhzfj") == "330203"
    assert shipped.division_of("330200.sjj") == "330200"
    assert shipped.division_of("nope") == UNKNOWN_DIVISION
    assert shipped.division_of(None) == UNKNOWN_DIVISION


def test_registry_mappings_are_read_only(shipped: Registry) -> None:
    """Nobody can add a department at runtime, which would let label sets grow."""
    with pytest.raises(TypeError):
        shipped.departments["x"] = Department("x", "x", "330200", "city")  # type: ignore[index]


def test_load_registry_from_path_equals_parse(tmp_path: Path) -> None:
    """A registry file named by path loads the same as the text parsed directly."""
    text = _GOOD_DIVISIONS + _departments("{code: 330200.a, name: A, division: '330200', level: city}")
    path = tmp_path / "registry.yaml"
    path.write_text(text, encoding="utf-8")
    loaded = load_registry(path)
    assert loaded == parse_registry(text)
    assert loaded.departments["330200.a"] == Department("330200.a", "A", "330200", "city")


def test_unquoted_division_codes_are_accepted() -> None:
    """An unquoted `330200` (a YAML int) means the same division code as the quoted one."""
    registry = parse_registry(
        "divisions:\n  330200: 市本级\n"
        + _departments("{code: 330200.a, name: A, division: 330200, level: city}")
    )
    assert registry.division_of("330200.a") == "330200"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("divisions: [\n", "not valid YAML"),
        ("- 1\n", "top level must be a mapping"),
        (_GOOD_DIVISIONS + "departments: []\nextra: 1\n", "unexpected top-level keys: extra"),
        ("divisions: {}\ndepartments: []\n", "`divisions` must be a non-empty mapping"),
        ('divisions:\n  "3302": x\n', "division code '3302' is not six digits"),
        (_GOOD_DIVISIONS + "departments: []\n", "`departments` must be a non-empty list"),
        (
            _GOOD_DIVISIONS + "departments:\n  - {code: 330200.a, name: A, division: '330200'}\n",
            "missing keys [level]",
        ),
        (
            _GOOD_DIVISIONS + "departments:\n  - {code: 市局, name: A, division: '330200', level: city}\n",
            "is not `<six-digit division>.<lowercase ascii>`",
        ),
        (
            _GOOD_DIVISIONS
            + "departments:\n  - {code: 330203.a, name: A, division: '330203', level: district}\n",
            "division '330203' is not a listed division",
        ),
        (
            'divisions:\n  "330200": a\n  "330203": b\n'
            "departments:\n  - {code: 330200.a, name: A, division: '330203', level: district}\n",
            "code prefix 330200 differs from its division 330203",
        ),
        (
            _GOOD_DIVISIONS
            + "departments:\n  - {code: 330200.a, name: A, division: '330200', level: county}\n",
            "level 'county' is not one of city, district",
        ),
        (
            _GOOD_DIVISIONS + "departments:\n"
            "  - {code: 330200.a, name: A, division: '330200', level: city}\n"
            "  - {code: 330200.a, name: B, division: '330200', level: city}\n",
            "department 330200.a is listed twice",
        ),
        ('divisions:\n  "330200": a\n  "330200": b\ndepartments: []\n', "duplicate key '330200'"),
        (
            _GOOD_DIVISIONS
            + "departments:\n  - {code: 330200.a, name: '  ', division: '330200', level: city}\n",
            "has no name",
        ),
    ],
)
def test_bad_registry_file_raises_readable_error(tmp_path: Path, text: str, problem: str) -> None:
    """Each inconsistency raises RegistryError naming the file and the problem."""
    path = tmp_path / "bad-registry.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_missing_registry_file_raises_registry_error(tmp_path: Path) -> None:
    """A path that does not exist is a RegistryError (a ValueError), not a bare OSError."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(RegistryError, match=r"absent\.yaml"):
        load_registry(path)
    assert issubclass(RegistryError, ValueError)
