"""A deterministic year of Ningbo's "互联网+监管" traffic, with its true indicator values.

`generate(seed, year=2023, scale=1.0, until=None)` plans a year of supervision work for the
departments and divisions of the shipped registry (`seeds/registry.yaml`), then writes it as the raw
JSON messages a producer would send to the five input topics of docs/contract.md §2.  The same seed,
year, scale and `until` always give the same bytes.  The year's traffic ends on 1 March of the next
year; `until` (timezone-aware, not before that) carries every disclosure's lifecycle on to that
instant, as the demo needs when it runs years later (below).  `Scenario.truth` holds every
indicator's numerator and denominator for the year, overall, per department and per division,
computed from the plan itself (never by running the daemon's code), so a test can compare the
daemon's report with it.

At ``scale=1.0`` for 2023 the truth reproduces the figures of the seed report (宁波市数据局2023年度
法治政府建设报告): 事件处理率 99.99% (19,998 of 20,000 non-cancelled events handled), 数据准确率 100.00%
after corrections, 监管事项入驻率 96.70% (967 of 1,000 active items), 双随机监管事项覆盖率 99.75% (399 of
400 active 双随机 items inspected under a task) and 掌上执法率 99.98% (29,994 of 30,000 inspections on
mobile).  Counts below are for ``scale=1.0``; volumes scale linearly (rounded, with a floor of one
for the rare kinds), the pre-2020 clean-up does not scale.

Volumes and rhythm
    * events: 20,240 created in the year (20,000 not cancelled, 240 cancelled of which 10 after
      being handled; 2 still open at the end), plus 40 created in the last week of the previous
      year (their cohort is the previous year).  Kinds: complaint 45%, risk_warning 20%, clue 20%,
      collaborative 15%.  About 3% are reassigned (退回改派) to another department, 97% are signed.
    * daily rhythm: a working day (chinese-calendar, 调休 make-up days included) has weight 1.0, a
      weekend day 0.25 and a statutory holiday 0.12 (times a mild monthly seasonality of ±10%), so
      a holiday has about an eighth of a working day's events.  Inspections and penalty decisions
      happen on working days, with weekend/holiday weights 0.06/0.03 for inspections.  Events are
      created in office hours (peaks 9-11 and 14-17) with a thin night tail; everything else falls
      uniformly within office hours.
    * deadlines: 60% of `created` records carry an explicit deadline (17:30 of the 2nd-10th working
      day after creation); the rest rely on the defaults of docs/contract.md §6.  About 96.5% of
      handled events are handled on time; late ones are 1-8 working days past their deadline.
      Handling never falls on the last day of a default deadline, so the truth does not depend on
      how that day is counted.
    * inspections: 30,000 (6 not mobile: 4 `pc`, 2 `paper`); every covered 双随机 item gets at
      least one inspection under a task, 40% of the rest run under a task; targets are 85% legal
      persons (USCC), 12% natural persons (resident ID), 3% other.
    * catalogue: 1,040 items (1,000 active at the end, 967 of them onboarded; 400 active 双随机
      items; 40 deactivated during the year); ~15% of onboarded items were onboarded mid-year (a
      second version), ~5% were added after the initial January load.
    * penalty disclosures: 2,400 decided in the year; 96% published within 5 working days of the
      decision, 4% late (10-25 working days); publicity 3 months (minor), 1 year (general) or 3
      years (serious), withdrawn 1-2 working days after it ends when that falls before the year's
      traffic ends (5% forgotten; with `until`, see below); revocations, credit-repair withdrawals
      (some rejected) and content corrections, each with its disclosure-request records; a handful
      of violations (a phone number in the content, an unmasked natural-person id, a published 简易
      程序 decision, revoked but not withdrawn).
    * with `until`: the year's traffic is drawn exactly as without it (the same messages but for
      the ingestion of the few late deliveries that would have been cut at 1 March), then the
      disclosures' lifecycle goes on to `until` on a random stream of its own ("after the year"):
      the revocations and requests that fell after 1 March happen (a revocation if it is more than
      20 days before `until`, a request if executed more than a day before), and every result of
      the year still published, the 5% forgotten included, is withdrawn 1-2 working days after its
      publicity ends (after its latest correction, if later), in office hours, when that is more
      than a day before `until`.  Only planted violations stay published past their publicity: 3
      results never withdrawn (scaled, at least 1: ordinary results published on time, drawn among
      those whose withdrawal deadline is before `until`, so each is exactly one
      `expired_not_withdrawn` there; `Scenario.never_withdrawn`, fact
      `disclosures_never_withdrawn`), the revoked results never withdrawn, and the results published
      with a flaw (phone number, unmasked id, 简易程序) still published on 1 March.  At scale 1.0,
      seed 2023, `until` 2026-12-01T00:00+08:00: 1,565 more disclosure messages and 9 more request
      messages, and the year's 处罚公开合规率 at `until` is 28 of 40 (70.00%): the 12 violating are
      the 3 never withdrawn, the 2 revoked, the 6 flawed and 1 published late (10-25 working days,
      a planted lateness) still within its 3-year publicity.
    * the pre-2020 clean-up: 158 results published 2015-2019 by the 12 units named in the seed
      report, improperly (an unmasked resident ID, a phone number in the text, or a published 简易
      程序 decision); withdrawn (or, for exposed personal data, masked) in 23 batches between
      February and October, each request `submitted` → `approved` → `executed` with its `batch_id`.

Delivery
    * nothing is ingested at or after the scenario's end (1 March, or `until`): a delivery that
      would be later is cut to the second before it.
    * every message is ingested 1-180 s after the latest event-time field it carries (`at`,
      `published_at`, `withdrawn_at`, `revoked_at`; never before it minus 5 minutes, so no valid
      record is `future_time`), except: 3% are late (1 hour to 7 days), and one department's
      connector (宁海县综合行政执法局) was down for a week in June, its records delivered in one burst
      the next Monday.  Late delivery makes about 3-4% of multi-action events arrive out of order.
    * 1% of valid messages are delivered twice (same bytes, 1 s to 2 days apart).
    * 0.4% of event records, 0.3% of inspections, 0.5% of disclosures and 3 catalogue items are first
      sent erroneous (unknown department or division, a bad check digit, a non-standard decision
      number, a timestamp without offset, a field not allowed for the action, contradictory times,
      a device clock days ahead) and corrected by `version` 2 between 2 hours and 5 days later.
      `Scenario.erroneous` lists each such message with the error code it must be rejected with.
    * 3 messages can never be corrected: a truncated event, a catalogue item in GBK instead of
      UTF-8 and a JSON array on the disclosure topic.  They are the only inaccurate records left;
      the truth counts each as one record of the period of its ingestion time, department
      `_unregistered`, division `_unknown` (docs/contract.md §4), keyed `None`.

Truth conventions (where docs/contract.md §7 leaves a choice)
    * event records (every action) belong to the event's final responsible department and its
      `division`; catalogue records and disclosure requests to their department's registry
      division.
    * `disclosure_compliance_rate` depends on "now": the truth gives it at `Scenario.as_of` (the
      first instant after the last message; without `until`, 1 March of the next year);
      `Scenario.compliance_at(now)` recomputes it for any later moment (publicity periods keep
      expiring after the scenario ends).  With `until`, `compliance_at(until)` is the figure that
      misses only planted violations.
    * with `until`, what happens after the year changes no figure of the year but compliance: the
      withdrawals and revocations are new versions of the year's disclosures (which count by
      `decided_at`), and the requests after the year count in the period of their `submitted`.  At
      scale 1.0 the five figures above are those without `until`, numerators and denominators alike.

Drill-down lists
    `Scenario.lists(at)` gives what each `svmon list` of docs/contract.md §13 must show after every
    message, judged at `at`: open and overdue events, published and violating disclosures (of every
    year, the clean-up's too: filter on `decided_at` to compare with the compliance truth), open
    requests, and the uncorrected errors by (stream, message index).  Derived from the plan like the
    truth; they agree with it (open events of the cohort = handling denominator − numerator,
    uncorrected errors of the year = accuracy denominator − numerator, published − violating =
    compliance numerator).  Every request the plan makes ends executed or rejected before the
    scenario ends, so the open requests are always empty.  With `until`, `lists(until)` is the state
    after the lifecycle was carried to `until`: the violating disclosures of the year are only the
    planted ones (see Volumes; `Scenario.never_withdrawn` names the results never withdrawn).

Modules
    `_plan/` decides (one module per subject, its entities in `model`), `_emission/` writes the
    messages (`writer`, `records`, `corruption`, `outbox`), `_truth` counts the indicators from the
    plan, `_lists` derives the drill-down lists from it, `_generator` runs them in the order that
    fixes a seed's output, and `_scenario` holds the result.
"""

from seeds.scenario._calendar import TZ as TZ
from seeds.scenario._generator import generate
from seeds.scenario._lists import OpenEvent, OpenRequest, PublishedDisclosure, ScenarioLists
from seeds.scenario._plan.cleanup import CLEANUP_UNITS
from seeds.scenario._scenario import STREAMS, Scenario, ScenarioMessage, write_jsonl
from seeds.scenario._truth import INDICATOR_IDS
from seeds.scenario._truth import UNKNOWN_DIVISION as UNKNOWN_DIVISION
from seeds.scenario._truth import UNREGISTERED as UNREGISTERED
from seeds.scenario._truth import Ratio as Ratio

__all__ = [
    "CLEANUP_UNITS",
    "INDICATOR_IDS",
    "STREAMS",
    "OpenEvent",
    "OpenRequest",
    "PublishedDisclosure",
    "Scenario",
    "ScenarioLists",
    "ScenarioMessage",
    "generate",
    "write_jsonl",
]
