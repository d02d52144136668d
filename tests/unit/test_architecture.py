"""The layout's promises about imports (docs/architecture.md), checked on the source of every module.

Dependencies run one way: tools -> runtime -> core; exposition and reports read the core (and the
store); the core imports none of them, nor Kafka, nor prometheus_client. Only the runtime and the
tools talk to Kafka; only exposition exports metrics.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DAEMON = Path(__file__).resolve().parents[2] / "daemon"

# Package -> daemon packages it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "core": {"runtime", "exposition", "reports", "tools", "store", "cli"},
    "store": {"runtime", "exposition", "reports", "tools", "cli"},
    "exposition": {"runtime", "reports", "tools", "cli"},
    "reports": {"runtime", "exposition", "tools", "cli"},
    "runtime": {"tools", "cli"},
}
KAFKA_ALLOWED = {"runtime", "tools"}
PROMETHEUS_ALLOWED = {"exposition"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((DAEMON / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_layer_imports_only_the_layers_below(package: str) -> None:
    """No module of a layer imports a layer it must not depend on."""
    offences = [
        f"{path.relative_to(DAEMON)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.startswith("daemon.") and name.split(".")[1] in FORBIDDEN[package]
    ]
    assert not offences


@pytest.mark.parametrize(
    ("library", "allowed"), [("kafka", KAFKA_ALLOWED), ("prometheus_client", PROMETHEUS_ALLOWED)]
)
def test_kafka_and_prometheus_client_stay_in_their_packages(library: str, allowed: set[str]) -> None:
    """Kafka is imported only by the runtime and the tools; prometheus_client only by exposition."""
    offences = [
        str(path.relative_to(DAEMON))
        for path in sorted(DAEMON.rglob("*.py"))
        if any(name == library or name.startswith(library + ".") for name in _imports(path))
        and path.relative_to(DAEMON).parts[0] not in allowed
    ]
    assert not offences


def test_the_daemon_package_is_only_subpackages_and_the_shared_modules() -> None:
    """Top-level modules are the shared ones; everything else lives in a subpackage of its layer."""
    top = {path.stem for path in DAEMON.glob("*.py")}
    assert top == {"__init__", "__main__", "cli", "config", "exceptions", "log", "streams"}
    packages = {path.name for path in DAEMON.iterdir() if (path / "__init__.py").exists()}
    assert packages == {"core", "runtime", "store", "exposition", "reports", "tools"}
