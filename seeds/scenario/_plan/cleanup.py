"""The pre-2020 clean-up: improperly published old results, withdrawn or masked in batches.

Follows the seed report: per unit of `CLEANUP_UNITS`, its number of old results and of batches; the
batches fall on distinct working days between February and October.  It does not scale.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from schemas.registry import Department
from seeds.scenario._calendar import TZ
from seeds.scenario._identifiers import masked, mobile, resident_id
from seeds.scenario._plan.departments import decision_prefix
from seeds.scenario._plan.model import Plan, PlannedDisclosure, PlannedRequest, Publication, RequestStep
from seeds.scenario._plan.rhythm import apportion, office_time
from seeds.scenario._plan.wording import SURNAMES, decision_text, party
from seeds.scenario._world import World

#: The 12 units of the seed report whose improperly published pre-2020 penalty results were cleaned up.
CLEANUP_UNITS: tuple[str, ...] = (
    "330200.sthjj",
    "330200.jtj",
    "330200.nyncj",
    "330200.tjj",
    "330200.wsjds",
    "330200.whzfd",
    "330203.zhzfj",
    "330225.czj",
    "330225.yyj",
    "330225.wjj",
    "330225.yjglj",
    "330225.wsjds",
)
# Results and batches per unit, in `CLEANUP_UNITS` order (the seed report's figures).
_PER_UNIT = (14, 22, 18, 9, 16, 11, 25, 6, 12, 8, 7, 10)
_BATCHES = (2, 3, 2, 1, 2, 2, 3, 1, 2, 2, 1, 2)


def plan_cleanup(rng: random.Random, world: World, plan: Plan) -> Iterator[PlannedRequest | Publication]:
    """Each old result's publication (synced in early January), then each batch's requests and effects.

    Records the old results, the units and the requests into `plan`.  Lazy on purpose: the caller
    writes what each step yields, drawing from the same `rng`, before the next step is drawn; that
    interleaving is part of what a seed produces.
    """
    units = [world.department(c) for c in CLEANUP_UNITS if c in world.registry.departments]
    sync = datetime(world.year, 1, 3, 2, 0, tzinfo=TZ)
    chunks: list[list[PlannedDisclosure]] = []
    # Units missing from the registry shift the figures: the n-th present unit takes the n-th count.
    for unit, count, batches in zip(units, _PER_UNIT, _BATCHES, strict=False):
        legacy = []
        for n in range(count):
            disclosure = _legacy(rng, world, unit, n, len(plan.disclosures) + len(plan.legacy))
            plan.legacy.append(disclosure)
            legacy.append(disclosure)
            moment = sync + timedelta(seconds=len(plan.disclosures) + len(plan.legacy))
            yield Publication.of(disclosure, moment, may_be_erroneous=False)
        plan.cleanup_units.append(unit.code)
        start = 0
        for size in apportion(len(legacy), [1.0] * batches):
            chunks.append(legacy[start : start + size])
            start += size
    yield from _batches(rng, world, plan, chunks)


def _legacy(rng: random.Random, world: World, unit: Department, n: int, index: int) -> PlannedDisclosure:
    """An old result of `unit`; its flaw cycles: resident ID twice, a phone number, a 简易程序 decision."""
    decided = world.calendar.workday_after(date(2015, 1, 1) + timedelta(days=rng.randrange(365 * 5 - 20)), 1)
    decided = min(decided, date(2019, 12, 13))
    division = unit.division if unit.level == "district" else rng.choice(world.districts)
    flaw = n % 4
    if flaw in (0, 1):
        person = resident_id(rng)
        published_party = {"type": "natural_person", "name": rng.choice(SURNAMES) + "某某", "id": person}
        content = decision_text(rng, published_party["name"])
    elif flaw == 2:
        published_party, name = party(rng, division)
        content = decision_text(rng, name) + f"（联系电话：{mobile(rng)}）"
    else:
        published_party, name = party(rng, division)
        content = f"当事人{name}当场违法行为，依据简易程序，决定给予警告。"
    return PlannedDisclosure(
        disclosure_id=f"CF{division}{decided:%Y%m%d}L{index:05d}",
        decision_no=f"{decision_prefix(unit)}〔{decided.year}〕{n + 1}号",
        department=unit.code,
        division=division,
        decided=decided,
        published_at=office_time(rng, world.calendar.workday_after(decided, rng.randint(1, 5))),
        procedure="simple" if flaw == 3 else "general",
        severity="minor" if flaw == 3 else "general",
        party=published_party,
        content=content,
        publicity_until=None,
        exposes_personal_info=flaw != 3,
    )


def _batches(
    rng: random.Random, world: World, plan: Plan, chunks: list[list[PlannedDisclosure]]
) -> Iterator[PlannedRequest | Publication]:
    """The batches on distinct working days; per result, its request then its withdrawal or masking."""
    rng.shuffle(chunks)
    window = world.calendar.workdays_between(date(world.year, 2, 1), date(world.year, 10, 27))
    batch_days = sorted(rng.sample(window, k=len(chunks)))
    serial = 0
    for number, (day, chunk) in enumerate(zip(batch_days, chunks, strict=True), start=1):
        if not chunk:
            continue
        batch_id = f"QL{world.year}-{number:02d}"
        executed_at = office_time(rng, day, time(14, 0), time(17, 0))
        for disclosure in chunk:
            serial += 1
            request_id = f"QLSQ{world.year}{serial:05d}"
            request = _request(
                rng, world, disclosure, request_id=request_id, batch_id=batch_id, executed_at=executed_at
            )
            plan.requests.append(request)
            yield request
            yield _execute(rng, disclosure, request.kind, executed_at)


def _request(
    rng: random.Random,
    world: World,
    disclosure: PlannedDisclosure,
    *,
    request_id: str,
    batch_id: str,
    executed_at: datetime,
) -> PlannedRequest:
    calendar = world.calendar
    day = executed_at.date()
    submitted = office_time(rng, calendar.workday_after(day - timedelta(days=14), rng.randint(1, 4)))
    approved = office_time(rng, calendar.workday_after(submitted.date(), 1), time(8, 30), time(11, 30))
    approved = min(approved, executed_at - timedelta(hours=1))
    kind = "modify" if disclosure.exposes_personal_info and rng.random() < 0.2 else "withdraw"
    return PlannedRequest(
        request_id=request_id,
        disclosure_id=disclosure.disclosure_id,
        department=disclosure.department,
        kind=kind,
        reason="legacy_improper",
        batch_id=batch_id,
        steps=(
            RequestStep("submitted", submitted),
            RequestStep("approved", approved),
            RequestStep("executed", executed_at),
        ),
    )


def _execute(
    rng: random.Random, disclosure: PlannedDisclosure, kind: str, executed_at: datetime
) -> Publication:
    """Withdraw the result, or mask it: the resident ID masked and the phone number cut."""
    if kind == "withdraw":
        disclosure.status = "withdrawn"
        disclosure.withdrawn_at = executed_at + timedelta(minutes=rng.randint(1, 30))
        return Publication.of(disclosure, disclosure.withdrawn_at, may_be_erroneous=False)
    published_party = dict(disclosure.party)
    if published_party["type"] == "natural_person":
        published_party["id"] = masked(published_party["id"])
    disclosure.party = published_party
    disclosure.content = disclosure.content.split("（联系电话")[0]
    disclosure.exposes_personal_info = False
    moment = executed_at + timedelta(minutes=rng.randint(1, 30))
    return Publication.of(disclosure, moment, may_be_erroneous=False)
