"""The year's 行政处罚 results: each decision and its publication, then what becomes of it.

Decisions are made on working days, a few published with a violation; after its first publication a
decision may be revoked, withdrawn on credit repair, corrected, or withdrawn when its publicity
period ends (or forgotten).  Volumes: the package docstring.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from seeds.scenario._calendar import add_months
from seeds.scenario._identifiers import mobile, resident_id
from seeds.scenario._plan.departments import decision_prefix, profile
from seeds.scenario._plan.model import Plan, PlannedDisclosure, PlannedRequest, Publication, RequestStep
from seeds.scenario._plan.rhythm import MONTH_FACTOR, apportion, days_of, office_time
from seeds.scenario._plan.wording import SURNAMES, decision_text, party
from seeds.scenario._world import World

_PUBLICITY_MONTHS = {"minor": 3, "general": 12, "serious": 36}


@dataclass(frozen=True)
class _Flaws:
    """Positions (in decision order) of the decisions published with a violation."""

    simple: set[int]
    phone: set[int]
    unmasked: set[int]


def plan_disclosures(rng: random.Random, world: World, plan: Plan) -> None:
    """The year's decisions, on working days, each with its first publication."""
    total = world.scaled(2400, 10)
    days = [d for d in days_of(world.year) if world.calendar.is_workday(d)]
    per_day = apportion(total, [MONTH_FACTOR[d.month - 1] for d in days])
    weights = [profile(d).disclosures for d in world.departments]
    serials: Counter[str] = Counter()
    indexes = list(range(total))
    rng.shuffle(indexes)
    flaws = _Flaws(
        simple=set(indexes[: world.scaled(1, 1)]),
        phone=set(indexes[1 : 1 + world.scaled(3, 1)]),
        unmasked=set(indexes[4 : 4 + world.scaled(2, 1)]),
    )
    disclosures = plan.disclosures
    for day, count in zip(days, per_day, strict=True):
        for _ in range(count):
            disclosure = _decision(
                rng,
                world,
                day=day,
                position=len(disclosures),
                weights=weights,
                serials=serials,
                flaws=flaws,
            )
            disclosures.append(disclosure)


def _decision(
    rng: random.Random,
    world: World,
    *,
    day: date,
    position: int,
    weights: list[float],
    serials: Counter[str],
    flaws: _Flaws,
) -> PlannedDisclosure:
    department = rng.choices(world.departments, weights=weights)[0]
    division = world.division_for(rng, department)
    prefix = decision_prefix(department)
    serials[prefix] += 1
    bracket = rng.choices(("〔{}〕", "[{}]", "（{}）"), weights=(92, 5, 3))[0].format(day.year)
    published_party, name = party(rng, division)
    content = decision_text(rng, name)
    exposed = False
    if position in flaws.phone:
        content += f"（联系电话：{mobile(rng)}）"
        exposed = True
    if position in flaws.unmasked:
        published_party = {
            "type": "natural_person",
            "name": rng.choice(SURNAMES) + "某某",
            "id": resident_id(rng),
        }
        exposed = True
    calendar = world.calendar
    if rng.random() < 0.96:
        publish_day = rng.choice(calendar.workdays_between(day, calendar.workday_after(day, 5)))
    else:
        publish_day = calendar.workday_after(day, rng.randint(10, 25))
    severity = rng.choices(("minor", "general", "serious"), weights=(30, 60, 10))[0]
    return PlannedDisclosure(
        disclosure_id=f"CF{department.division}{day:%Y%m%d}{position:05d}",
        decision_no=f"{prefix}{bracket}{serials[prefix]}号",
        department=department.code,
        division=division,
        decided=day,
        published_at=office_time(rng, publish_day),
        procedure="simple" if position in flaws.simple else "general",
        severity=severity,
        party=published_party,
        content=content,
        publicity_until=add_months(day, _PUBLICITY_MONTHS[severity]),
        exposes_personal_info=exposed,
    )


@dataclass(frozen=True)
class _Pending:
    """A request decided during the year's publications, scheduled after all of them."""

    disclosure: PlannedDisclosure
    kind: str
    reason: str
    rejected: bool
    revoked_at: datetime | None


@dataclass(frozen=True)
class _Fates:
    """Positions of the decisions revoked (some never withdrawn), repaired (some rejected) or corrected."""

    revoked: set[int]
    not_withdrawn: set[int]
    repaired: set[int]
    rejected: set[int]
    corrected: set[int]


class DisclosureFates:
    """What becomes of this year's decisions after publication, recorded into the plan.

    Both methods are lazy on purpose: the caller writes what each yields, drawing from the same
    random stream, before the next fate is drawn; that interleaving is part of what a seed produces.
    """

    def __init__(self, world: World, plan: Plan) -> None:
        self._world = world
        self._plan = plan
        self._pending: list[_Pending] = []

    def publications(self, rng: random.Random) -> Iterator[Publication]:
        """Each decision's first publication, then its withdrawal or revocation if one follows directly."""
        fates = self._choose(rng)
        for index, disclosure in enumerate(self._plan.disclosures):
            yield Publication.of(disclosure, disclosure.published_at, may_be_erroneous=True)
            later = self._decide(rng, index, disclosure, fates)
            if later is not None:
                yield later

    def requests(self, rng: random.Random) -> Iterator[PlannedRequest | Publication]:
        """Each request decided by `publications`, then the publication it leads to unless rejected."""
        for serial, pending in enumerate(self._pending, start=1):
            request = self._schedule(rng, serial, pending)
            if request is None:
                continue
            self._plan.requests.append(request)
            yield request
            if not pending.rejected:
                yield self._execute(pending, request.steps[-1].at)

    def _choose(self, rng: random.Random) -> _Fates:
        scaled = self._world.scaled
        candidates = list(range(len(self._plan.disclosures)))
        rng.shuffle(candidates)
        revoked = candidates[: scaled(12, 1)]
        repaired = candidates[len(revoked) : len(revoked) + scaled(20, 1)]
        start = len(revoked) + len(repaired)
        return _Fates(
            revoked=set(revoked),
            not_withdrawn=set(revoked[: scaled(2, 1)]),
            repaired=set(repaired),
            rejected=set(repaired[: scaled(3, 1)]),
            corrected=set(candidates[start : start + scaled(10, 1)]),
        )

    def _decide(
        self, rng: random.Random, index: int, disclosure: PlannedDisclosure, fates: _Fates
    ) -> Publication | None:
        """Record the decision's fate; return the publication that follows at once, if any."""
        calendar, as_of = self._world.calendar, self._world.as_of
        if index in fates.revoked:
            revoked_at = office_time(
                rng, calendar.workday_after(disclosure.published_at.date(), rng.randint(10, 60))
            )
            if revoked_at >= as_of - timedelta(days=20):
                return None
            if index in fates.not_withdrawn:
                disclosure.revoked_at = revoked_at  # and never withdrawn: a violation
                return Publication.of(disclosure, revoked_at, may_be_erroneous=False)
            self._pending.append(_Pending(disclosure, "withdraw", "revoked", False, revoked_at))
        elif index in fates.repaired:
            self._pending.append(
                _Pending(disclosure, "withdraw", "credit_repair", index in fates.rejected, None)
            )
        elif index in fates.corrected:
            self._pending.append(_Pending(disclosure, "modify", "correction", False, None))
        elif disclosure.publicity_until is not None:
            if rng.random() < 0.05:
                return None  # forgotten: stays published past its publicity period
            withdrawn = office_time(
                rng, calendar.workday_after(disclosure.publicity_until, rng.randint(1, 2))
            )
            if withdrawn < as_of - timedelta(days=1):
                disclosure.status, disclosure.withdrawn_at = "withdrawn", withdrawn
                return Publication.of(disclosure, withdrawn, may_be_erroneous=False)
        return None

    def _schedule(self, rng: random.Random, serial: int, pending: _Pending) -> PlannedRequest | None:
        """The request's steps; None when it would end after the scenario."""
        calendar = self._world.calendar
        disclosure = pending.disclosure
        if pending.revoked_at is not None:
            submitted = pending.revoked_at + timedelta(hours=1)
        elif pending.reason == "credit_repair":
            earliest = add_months(disclosure.decided, 3)
            submitted = office_time(rng, calendar.workday_after(earliest, rng.randint(1, 30)))
        else:
            submitted = office_time(
                rng, calendar.workday_after(disclosure.published_at.date(), rng.randint(2, 20))
            )
        approved = office_time(rng, calendar.workday_after(submitted.date(), 1))
        executed = approved + timedelta(minutes=rng.randint(10, 120))
        if executed >= self._world.as_of - timedelta(days=1):
            return None
        steps = [RequestStep("submitted", submitted)]
        if pending.rejected:
            steps.append(RequestStep("rejected", approved))
        else:
            steps += [RequestStep("approved", approved), RequestStep("executed", executed)]
        return PlannedRequest(
            request_id=f"SQ{submitted:%Y%m%d}{serial:05d}",
            disclosure_id=disclosure.disclosure_id,
            department=disclosure.department,
            kind=pending.kind,
            reason=pending.reason,
            batch_id=None,
            steps=tuple(steps),
        )

    @staticmethod
    def _execute(pending: _Pending, executed: datetime) -> Publication:
        disclosure = pending.disclosure
        disclosure.revoked_at = pending.revoked_at
        if pending.kind == "withdraw":
            disclosure.status, disclosure.withdrawn_at = "withdrawn", executed
        else:
            disclosure.content = disclosure.content.replace("有关规定", "相关规定")
        return Publication.of(disclosure, executed, may_be_erroneous=False)
