"""The Prometheus registry of one ``svmon run``: its flow counters and its state collector."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from daemon.core.snapshot import Snapshot
from daemon.exposition.collectors import StateCollector
from daemon.exposition.counters import FlowCounters
from schemas.registry import Registry

__all__ = ["metrics_registry"]


def metrics_registry(
    snapshot: Callable[[], Snapshot], targets: dict[str, float], departments: Registry, topics: list[str]
) -> tuple[CollectorRegistry, FlowCounters]:
    """A fresh registry holding the flow counters (returned, for the loop to add to) and the collector
    that reads ``snapshot`` at every scrape."""
    registry = CollectorRegistry(auto_describe=False)
    counters = FlowCounters(registry, departments, topics)
    registry.register(StateCollector(snapshot, targets))
    return registry, counters
