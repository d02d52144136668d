"""The year's 行政处罚 results: each decision and its publication, then what becomes of it.

Decisions are made on working days, a few published with a violation; after its first publication a
decision may be revoked, withdrawn on credit repair, corrected, or withdrawn when its publicity
period ends (or forgotten).  With `until`, what falls after the year's traffic is carried out up to
`until`, and only a planted few are never withdrawn.  Volumes: the package docstring.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from seeds.scenario._calendar import add_months, end_of
from seeds.scenario._identifiers import mobile, resident_id
from seeds.scenario._plan.departments import decision_prefix, profile
from seeds.scenario._plan.model import Plan, PlannedDisclosure, PlannedRequest, Publication, RequestStep
from seeds.scenario._plan.rhythm import MONTH_FACTOR, apportion, days_of, office_time
from seeds.scenario._plan.wording import SURNAMES, decision_text, party
from seeds.scenario._world import World

_PUBLICITY_MONTHS = {"minor": 3, "general": 12, "serious": 36}
#: The withdrawal deadline after a publicity period ends, in working days (docs/contract.md §6).
_WITHDRAW_WITHIN = 3


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


class _Scheduled(NamedTuple):
    """A request's steps, and when it would be executed (also for a rejected one: the cut-off is the same)."""

    request: PlannedRequest
    executed: datetime


class _LaterRevocation(NamedTuple):
    """A revocation drawn for after the year's traffic, kept for `after_the_year` (only with `until`)."""

    disclosure: PlannedDisclosure
    revoked_at: datetime
    #: False for a planted revocation that is never withdrawn.
    withdrawn: bool


@dataclass(frozen=True)
class _Fates:
    """Positions of the decisions revoked (some never withdrawn), repaired (some rejected) or corrected."""

    revoked: set[int]
    not_withdrawn: set[int]
    repaired: set[int]
    rejected: set[int]
    corrected: set[int]

    def ordinary(self, index: int) -> bool:
        """Neither revoked, repaired nor corrected: only the end of its publicity period ends it."""
        return not (index in self.revoked or index in self.repaired or index in self.corrected)


class DisclosureFates:
    """What becomes of this year's decisions after publication, recorded into the plan.

    The methods are lazy on purpose: the caller writes what each yields, drawing from the same
    random stream, before the next fate is drawn; that interleaving is part of what a seed produces.
    `publications` and `requests` plan up to the end of the year's traffic (`World.as_of`) exactly as
    without `until`; what falls after it is only remembered, and `after_the_year` carries it out up to
    `until` on a stream of its own, so the year's traffic is drawn the same with or without `until`.
    """

    def __init__(self, world: World, plan: Plan) -> None:
        self._world = world
        self._plan = plan
        self._pending: list[_Pending] = []
        self._fates: _Fates | None = None
        #: disclosure_id -> the event time of its latest publication so far.
        self._last_at: dict[str, datetime] = {}
        # What the year's traffic leaves for `after_the_year`; filled only with `until`.
        self._later_revocations: list[_LaterRevocation] = []
        self._later_requests: list[tuple[_Pending, PlannedRequest]] = []

    def publications(self, rng: random.Random) -> Iterator[Publication]:
        """Each decision's first publication, then its withdrawal or revocation if one follows directly."""
        fates = self._fates = self._choose(rng)
        for index, disclosure in enumerate(self._plan.disclosures):
            yield self._publish(disclosure, disclosure.published_at, first=True)
            later = self._decide(rng, index, disclosure, fates)
            if later is not None:
                yield later

    def requests(self, rng: random.Random) -> Iterator[PlannedRequest | Publication]:
        """Each request decided by `publications`, then the publication it leads to unless rejected."""
        until = self._world.until
        for serial, pending in enumerate(self._pending, start=1):
            scheduled = self._schedule(rng, serial, pending)
            if _in_time(scheduled, self._world.as_of):
                yield from self._carry_out(pending, scheduled.request)
            elif until is not None and _in_time(scheduled, until):
                self._later_requests.append((pending, scheduled.request))

    def after_the_year(self, rng: random.Random) -> Iterator[PlannedRequest | Publication]:
        """The lifecycle from the end of the year's traffic up to `until` (nothing without `until`).

        First the revocations and requests `publications` and `requests` left for later, in the order
        they were drawn; then each result still published is withdrawn 1-2 working days after its
        publicity ends, except the planted violations: the results published with a flaw, the revoked
        ones never withdrawn, and a few (`_never_withdrawn`) left published on purpose.
        """
        until = self._world.until
        if until is None or self._fates is None:
            return
        pending: list[_Pending] = []
        for later in self._later_revocations:
            if later.revoked_at >= until - timedelta(days=20):
                continue
            if later.withdrawn:
                pending.append(_Pending(later.disclosure, "withdraw", "revoked", False, later.revoked_at))
            else:
                later.disclosure.revoked_at = later.revoked_at  # and never withdrawn: a violation
                yield self._publish(later.disclosure, later.revoked_at)
        for waiting, request in self._later_requests:
            yield from self._carry_out(waiting, request)
        for serial, waiting in enumerate(pending, start=len(self._pending) + 1):
            scheduled = self._schedule(rng, serial, waiting)
            if _in_time(scheduled, until):
                yield from self._carry_out(waiting, scheduled.request)
        yield from self._expire(rng, self._fates, until)

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
                if self._world.until is not None:
                    then_withdrawn = index not in fates.not_withdrawn
                    self._later_revocations.append(_LaterRevocation(disclosure, revoked_at, then_withdrawn))
                return None
            if index in fates.not_withdrawn:
                disclosure.revoked_at = revoked_at  # and never withdrawn: a violation
                return self._publish(disclosure, revoked_at)
            self._pending.append(_Pending(disclosure, "withdraw", "revoked", False, revoked_at))
        elif index in fates.repaired:
            self._pending.append(
                _Pending(disclosure, "withdraw", "credit_repair", index in fates.rejected, None)
            )
        elif index in fates.corrected:
            self._pending.append(_Pending(disclosure, "modify", "correction", False, None))
        elif disclosure.publicity_until is not None:
            if rng.random() < 0.05:
                # Forgotten, without `until`: stays published past its publicity period.  With
                # `until`, `after_the_year` withdraws it (it is not among the planted few then).
                return None
            withdrawn = office_time(
                rng, calendar.workday_after(disclosure.publicity_until, rng.randint(1, 2))
            )
            if withdrawn < as_of - timedelta(days=1):
                disclosure.status, disclosure.withdrawn_at = "withdrawn", withdrawn
                return self._publish(disclosure, withdrawn)
        return None

    def _schedule(self, rng: random.Random, serial: int, pending: _Pending) -> _Scheduled:
        """The request's steps, whether or not they end before the scenario does."""
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
        steps = [RequestStep("submitted", submitted)]
        if pending.rejected:
            steps.append(RequestStep("rejected", approved))
        else:
            steps += [RequestStep("approved", approved), RequestStep("executed", executed)]
        request = PlannedRequest(
            request_id=f"SQ{submitted:%Y%m%d}{serial:05d}",
            disclosure_id=disclosure.disclosure_id,
            department=disclosure.department,
            kind=pending.kind,
            reason=pending.reason,
            batch_id=None,
            steps=tuple(steps),
        )
        return _Scheduled(request, executed)

    def _carry_out(
        self, pending: _Pending, request: PlannedRequest
    ) -> Iterator[PlannedRequest | Publication]:
        """The request, recorded into the plan, then its effect on the disclosure unless rejected."""
        self._plan.requests.append(request)
        yield request
        if not pending.rejected:
            yield self._execute(pending, request.steps[-1].at)

    def _execute(self, pending: _Pending, executed: datetime) -> Publication:
        disclosure = pending.disclosure
        disclosure.revoked_at = pending.revoked_at
        if pending.kind == "withdraw":
            disclosure.status, disclosure.withdrawn_at = "withdrawn", executed
        else:
            disclosure.content = disclosure.content.replace("有关规定", "相关规定")
        return self._publish(disclosure, executed)

    def _expire(self, rng: random.Random, fates: _Fates, until: datetime) -> Iterator[Publication]:
        """Withdraw each result still published 1-2 working days after its publicity ends, bar the planted.

        Never before its latest publication (a correction), and only when that is more than a day
        before `until`: a later one is still within its withdrawal deadline at `until`.
        """
        calendar = self._world.calendar
        kept = self._never_withdrawn(rng, fates, until)
        for disclosure in self._plan.disclosures:
            if (
                disclosure.status != "published"
                or disclosure.publicity_until is None
                or disclosure.revoked_at is not None
                or _flawed(disclosure)
                or disclosure.disclosure_id in kept
            ):
                continue
            after = max(disclosure.publicity_until, self._last_at[disclosure.disclosure_id].date())
            withdrawn = office_time(rng, calendar.workday_after(after, rng.randint(1, 2)))
            if withdrawn < until - timedelta(days=1):
                disclosure.status, disclosure.withdrawn_at = "withdrawn", withdrawn
                yield self._publish(disclosure, withdrawn)

    def _never_withdrawn(self, rng: random.Random, fates: _Fates, until: datetime) -> set[str]:
        """The planted few (3 at scale 1.0, at least 1) left published past their publicity period.

        Drawn among the ordinary results still published (no other fate, no flaw, published within
        the plan's 5 working days) whose withdrawal deadline is before `until`, so that each is one
        clean `expired_not_withdrawn` violation there; recorded into the plan in decision order.
        """
        calendar = self._world.calendar
        eligible = [
            disclosure
            for index, disclosure in enumerate(self._plan.disclosures)
            if fates.ordinary(index)
            and disclosure.status == "published"
            and disclosure.publicity_until is not None
            and not _flawed(disclosure)
            and disclosure.published_at.date() <= calendar.workday_after(disclosure.decided, 5)
            and end_of(calendar.workday_after(disclosure.publicity_until, _WITHDRAW_WITHIN)) < until
        ]
        chosen = rng.sample(eligible, k=min(self._world.scaled(3, 1), len(eligible)))
        kept = {disclosure.disclosure_id for disclosure in chosen}
        self._plan.never_withdrawn.extend(
            d.disclosure_id for d in self._plan.disclosures if d.disclosure_id in kept
        )
        return kept

    def _publish(self, disclosure: PlannedDisclosure, at: datetime, *, first: bool = False) -> Publication:
        """The disclosure as it stands, (re)published at `at`; only a first publication may be sent wrong."""
        self._last_at[disclosure.disclosure_id] = at
        return Publication.of(disclosure, at, may_be_erroneous=first)


def _in_time(scheduled: _Scheduled, end: datetime) -> bool:
    """Whether a request is executed more than a day before `end`: its messages are all ingested by then."""
    return scheduled.executed < end - timedelta(days=1)


def _flawed(disclosure: PlannedDisclosure) -> bool:
    """Published with a planted flaw (personal information, a 简易程序 decision): it stays published."""
    return disclosure.exposes_personal_info or disclosure.procedure == "simple"
