"""`generate`: the plan and its messages, subject by subject, in the order that fixes a seed's output.

Each subject (catalogue, events, inspections, disclosures, requests, clean-up) draws from its own
random stream, and within a subject the plan and the writing of its messages take turns on that
stream: an entity is planned, its messages are written (delivery delays, duplicates and errors are
drawn then), then the next entity is planned.  The planners record what they decide into the
`Plan` and yield what must be written before they draw again; being lazy is what keeps this order
while planning and writing stay in separate modules.  Reordering the draws of a subject changes
every message of that subject after them.

With `until`, the disclosures' lifecycle after the year's traffic is a last subject of its own,
drawn after all the others: the year's traffic is drawn exactly as without `until`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from schemas.registry import Registry, load_registry
from seeds.scenario._emission.corruption import gbk_item, json_array, truncated_event
from seeds.scenario._emission.outbox import Outbox
from seeds.scenario._emission.records import RecordVersion
from seeds.scenario._emission.writer import Writer, items_sent_wrong
from seeds.scenario._plan.catalogue import plan_catalogue, plan_versions
from seeds.scenario._plan.cleanup import plan_cleanup
from seeds.scenario._plan.disclosures import DisclosureFates, plan_disclosures
from seeds.scenario._plan.events import plan_events
from seeds.scenario._plan.inspections import plan_inspections
from seeds.scenario._plan.model import Plan, PlannedRequest, Publication
from seeds.scenario._scenario import STREAMS, Scenario, ScenarioMessage
from seeds.scenario._truth import truth
from seeds.scenario._world import World


def generate(
    seed: int = 2023,
    *,
    year: int = 2023,
    scale: float = 1.0,
    registry: Registry | None = None,
    until: datetime | None = None,
) -> Scenario:
    """Plan and write a year of traffic; the same arguments always give the same bytes.

    `until` (timezone-aware, not before 1 March of the next year) carries every disclosure's
    lifecycle on to that instant: withdrawals when publicity ends, and the revocations and requests
    that fall after the year's traffic.  None keeps the scenario ending on 1 March.
    """
    world = World.of(seed, year, scale, registry or load_registry(), until=until)
    plan = Plan()
    outbox = Outbox(year, world.end)
    writer = Writer(outbox)
    _catalogue(world, plan, writer)
    _events(world, plan, writer)
    _inspections(world, plan, writer)
    fates = _disclosures(world, plan, writer)
    _cleanup(world, plan, writer)
    if world.until is not None:
        rng = world.rng("after the year")
        _write_requests(rng, fates.after_the_year(rng), writer)
    return _assemble(world, plan, outbox)


def _catalogue(world: World, plan: Plan, writer: Writer) -> None:
    rng = world.rng("catalogue")
    plan_catalogue(rng, world, plan)
    sent_wrong = items_sent_wrong(rng, len(plan.items), world.scale)
    for position, item in enumerate(plan_versions(rng, world, plan)):
        writer.item(rng, item, position=position, sent_wrong=position in sent_wrong)
    writer.undecodable("catalog", gbk_item(plan.items[0], world.year))


def _events(world: World, plan: Plan, writer: Writer) -> None:
    rng = world.rng("events")
    for event in plan_events(rng, world, plan):
        writer.event(rng, event)
    writer.undecodable("events", truncated_event(world.year, len(plan.events)))


def _inspections(world: World, plan: Plan, writer: Writer) -> None:
    rng = world.rng("inspections")
    for inspection in plan_inspections(rng, world, plan):
        writer.inspection(rng, inspection)


def _disclosures(world: World, plan: Plan, writer: Writer) -> DisclosureFates:
    """The year's decisions, their fates and requests; the fates remember what falls after the year."""
    rng = world.rng("disclosures")
    plan_disclosures(rng, world, plan)
    fates = DisclosureFates(world, plan)
    for publication in fates.publications(rng):
        writer.disclosure(rng, publication)
    # Requests have a stream of their own, drawn once every decision's publications are written.
    request_rng = world.rng("requests")
    _write_requests(request_rng, fates.requests(request_rng), writer)
    writer.undecodable("disclosures", json_array(world.year))
    return fates


def _cleanup(world: World, plan: Plan, writer: Writer) -> None:
    rng = world.rng("cleanup")
    _write_requests(rng, plan_cleanup(rng, world, plan), writer)


def _write_requests(
    rng: random.Random, steps: Iterable[PlannedRequest | Publication], writer: Writer
) -> None:
    """Each request's records, and each publication it leads to, as the planner yields them."""
    for step in steps:
        if isinstance(step, PlannedRequest):
            writer.request(rng, step)
        else:
            writer.disclosure(rng, step)


def _assemble(world: World, plan: Plan, outbox: Outbox) -> Scenario:
    messages: dict[str, list[ScenarioMessage]] = {}
    erroneous: dict[str, dict[int, str]] = {}
    records: dict[str, tuple[RecordVersion | None, ...]] = {}
    ends = []
    for stream in STREAMS:
        delivered = outbox.delivered(stream)
        messages[stream] = [ScenarioMessage(q.key, q.value, q.ingest_at) for q in delivered]
        erroneous[stream] = {i: q.error for i, q in enumerate(delivered) if q.error is not None}
        records[stream] = tuple(q.record for q in delivered)
        if delivered:
            ends.append(delivered[-1].ingest_at + timedelta(seconds=1))
    # Without `until` the scenario keeps ending on 1 March (nothing is ingested after it), as it always
    # has; with it, right after the last message.
    last = max(world.as_of, *ends) if world.until is None else max(ends)
    return Scenario(
        seed=world.seed,
        year=world.year,
        scale=world.scale,
        messages=messages,
        truth=truth(
            world,
            plan,
            undecodable=outbox.undecodable,
            delivery_facts=outbox.facts,
            messages={s: len(messages[s]) for s in STREAMS},
            as_of=last,
        ),
        erroneous=erroneous,
        as_of=last,
        until=world.until,
        _plan=plan,
        _calendar=world.calendar,
        _records=records,
    )
