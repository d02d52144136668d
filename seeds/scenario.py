"""A deterministic year of Ningbo's "互联网+监管" traffic, with its true indicator values.

`generate(seed, year=2023, scale=1.0)` plans a year of supervision work for the departments and
divisions of the shipped registry (`seeds/registry.yaml`), then writes it as the raw JSON messages a
producer would send to the five input topics of SPEC §2.  The same seed, year and scale always give
the same bytes.  `Scenario.truth` holds every indicator's numerator and denominator for the year,
overall, per department and per division, computed from the plan itself (never by running the
daemon's code), so a test can compare the daemon's report with it.

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
      happen on working days, with weekend/holiday weights 0.06/0.03 for inspections.  Times of day
      follow office hours (peaks 9-11 and 14-17), with a thin night tail for events.
    * deadlines: 60% of `created` records carry an explicit deadline (17:30 of the 2nd-10th working
      day after creation); the rest rely on SPEC §6's defaults.  About 96.5% of handled events are
      handled on time; late ones are 1-8 working days past their deadline.  Handling never falls on
      the last day of a default deadline, so the truth does not depend on how that day is counted.
    * inspections: 30,000 (6 not mobile: 4 `pc`, 2 `paper`); every covered 双随机 item gets at
      least one inspection under a task, 40% of the rest run under a task; targets are 85% legal
      persons (USCC), 12% natural persons (resident ID), 3% other.
    * catalogue: 1,040 items (1,000 active at the end, 967 of them onboarded; 400 active 双随机
      items; 40 deactivated during the year); ~15% of onboarded items were onboarded mid-year (a
      second version), ~5% were added after the initial January load.
    * penalty disclosures: 2,400 decided in the year; 96% published within 5 working days of the
      decision, 4% late (10-25 working days); publicity 3 months (minor), 1 year (general) or 3
      years (serious), withdrawn 1-2 working days after it ends (5% forgotten); revocations,
      credit-repair withdrawals (some rejected) and content corrections, each with its
      disclosure-request records; a handful of violations (a phone number in the content, an
      unmasked natural-person id, a published 简易程序 decision, revoked but not withdrawn).
    * the pre-2020 clean-up: 158 results published 2015-2019 by the 12 units named in the seed
      report, improperly (an unmasked resident ID, a phone number in the text, or a published 简易
      程序 decision); withdrawn (or, for exposed personal data, masked) in 23 batches between
      February and October, each request `submitted` → `approved` → `executed` with its `batch_id`.

Delivery
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
      `_unregistered`, division `_unknown` (SPEC §4), keyed `None`.

Truth conventions (where SPEC §7 leaves a choice)
    * event records (every action) belong to the event's final responsible department and its
      `division`; catalogue records and disclosure requests to their department's registry
      division.
    * `disclosure_compliance_rate` depends on "now": the truth gives it at `Scenario.as_of` (the
      first instant after the last message); `Scenario.compliance_at(now)` recomputes it for any
      later moment (publicity periods keep expiring after the scenario ends).
"""

from __future__ import annotations

import bisect
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import chinese_calendar

from schemas.registry import Department, Registry, load_registry

__all__ = [
    "CLEANUP_UNITS",
    "INDICATOR_IDS",
    "STREAMS",
    "Message",
    "Scenario",
    "generate",
    "write_jsonl",
]

#: Logical streams, in the order the demo creates and loads them.
STREAMS: tuple[str, ...] = ("events", "inspections", "catalog", "disclosures", "disclosure_requests")
INDICATOR_IDS: tuple[str, ...] = (
    "event_handling_rate",
    "event_on_time_rate",
    "data_accuracy_rate",
    "item_onboarding_rate",
    "double_random_coverage_rate",
    "mobile_enforcement_rate",
    "disclosure_on_time_rate",
    "disclosure_compliance_rate",
)
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
_CLEANUP_PER_UNIT = (14, 22, 18, 9, 16, 11, 25, 6, 12, 8, 7, 10)
_CLEANUP_BATCHES = (2, 3, 2, 1, 2, 2, 3, 1, 2, 2, 1, 2)

TZ = timezone(timedelta(hours=8))
UNREGISTERED = "_unregistered"
UNKNOWN_DIVISION = "_unknown"

# SPEC §6 defaults, in working days.
_DEFAULT_SLA = {"risk_warning": 3, "collaborative": 5, "complaint": 7, "clue": 15}
_DISCLOSURE_PUBLISH_DAYS = 7
_WITHDRAW_DAYS = 3


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a producer sends it: key, raw value, and when the platform ingested it."""

    key: bytes | None
    value: bytes
    ingest_at: datetime


Ratio = tuple[int, int]


@dataclass(frozen=True)
class Scenario:
    """A generated year: the messages per logical stream (production order) and their true indicators."""

    seed: int
    year: int
    scale: float
    messages: dict[str, list[Message]]
    truth: dict[str, Any]
    #: stream -> message index -> the error code `schemas.decode` must reject that message with.
    erroneous: dict[str, dict[int, str]]
    #: the first instant after the last message; the truth's "now".
    as_of: datetime
    _disclosures: tuple[_Disclosure, ...] = field(repr=False, default=())
    _calendar: _Calendar | None = field(repr=False, default=None)

    def kafka_messages(self, stream: str) -> Iterator[tuple[bytes | None, bytes, int]]:
        """`(key, value, timestamp_ms)` of `stream`, with the ingestion time as the Kafka timestamp."""
        for message in self.messages[stream]:
            yield message.key, message.value, int(message.ingest_at.timestamp() * 1000)

    def compliance_at(self, now: datetime) -> dict[str, Any]:
        """`disclosure_compliance_rate` of the year's disclosures at `now` (≥ `as_of`): overall and groups."""
        if self._calendar is None:
            raise RuntimeError("this Scenario was not built by generate()")
        tally = _Tally()
        for disclosure in self._disclosures:
            if disclosure.decided.year == self.year:
                _count_compliance(tally, disclosure, now, self._calendar)
        return tally.result(("disclosure_compliance_rate",))


# --- calendar ------------------------------------------------------------------------------------


class _Calendar:
    """Working days from chinese-calendar (Monday-Friday outside its range), precomputed for speed."""

    def __init__(self, first: date, last: date) -> None:
        self._first = first.toordinal()
        self.workday: list[bool] = []
        self.holiday: list[bool] = []
        day = first
        while day <= last:
            try:
                is_holiday, name = chinese_calendar.get_holiday_detail(day)
                works = not is_holiday
                statutory = is_holiday and name is not None
            except NotImplementedError:
                works, statutory = day.weekday() < 5, False
            self.workday.append(works)
            self.holiday.append(statutory)
            day += timedelta(days=1)
        self._workdays = [self._first + i for i, works in enumerate(self.workday) if works]

    def is_workday(self, day: date) -> bool:
        return self.workday[day.toordinal() - self._first]

    def is_holiday(self, day: date) -> bool:
        """A statutory holiday (春节, 国庆 ...), as opposed to an ordinary weekend."""
        return self.holiday[day.toordinal() - self._first]

    def workday_after(self, day: date, n: int) -> date:
        """The `n`-th working day strictly after `day` (n ≥ 1)."""
        index = bisect.bisect_right(self._workdays, day.toordinal())
        return date.fromordinal(self._workdays[index + n - 1])

    def workdays_between(self, first: date, last: date) -> list[date]:
        """Working days `d` with first < d ≤ last."""
        low = bisect.bisect_right(self._workdays, first.toordinal())
        high = bisect.bisect_right(self._workdays, last.toordinal())
        return [date.fromordinal(o) for o in self._workdays[low:high]]


def _end_of(day: date, at: time = time(23, 59, 59)) -> datetime:
    return datetime.combine(day, at, TZ)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


# --- identifiers ---------------------------------------------------------------------------------

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Counties and districts whose codes were assigned long before the birth years drawn below.
_ID_AREAS = ("330203", "330205", "330211", "330225", "330226", "330281", "330282", "330227", "330204")


def _uscc(rng: random.Random, division: str, prefix: str = "91") -> str:
    """A 统一社会信用代码 with a GB 11714 organisation-code check and a GB 32100 check character."""
    body = "".join(rng.choice("0123456789") for _ in range(8))
    org_check = 11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    org = body + ("X" if org_check == 10 else "0" if org_check == 11 else str(org_check))
    first17 = prefix + division + org
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return first17 + _USCC_ALPHABET[(31 - total % 31) % 31]


def _resident_id(rng: random.Random) -> str:
    """A 居民身份证号 with a real birth date (1960-2002) and the GB 11643 check character."""
    birth = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 43))
    first17 = rng.choice(_ID_AREAS) + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    total = sum(int(c) * w for c, w in zip(first17, _RIC_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def _masked(resident_id: str) -> str:
    return resident_id[:6] + "********" + resident_id[14:]


def _bad_check(code: str) -> str:
    """`code` with its check character replaced by a wrong one."""
    alphabet = "0123456789X" if code[:-1].isdigit() else _USCC_ALPHABET
    wrong = [c for c in alphabet if c != code[-1]]
    return code[:-1] + wrong[sum(map(ord, code)) % len(wrong)]


def _mobile(rng: random.Random) -> str:
    return rng.choice(("138", "139", "137", "158", "189", "177")) + f"{rng.randrange(10**8):08d}"


# --- department profiles -------------------------------------------------------------------------

_SHORT_DIVISION = {
    "330203": "海",
    "330205": "江",
    "330206": "仑",
    "330211": "镇",
    "330212": "鄞",
    "330213": "奉",
    "330225": "象",
    "330226": "宁",
    "330281": "余",
    "330282": "慈",
}


@dataclass(frozen=True)
class _Profile:
    events: float
    inspections: float
    items: float
    disclosures: float
    token: str  # decision-number abbreviation token
    objects: tuple[str, ...]  # what this kind of department inspects


_GENERIC = _Profile(0.6, 0.5, 1.0, 0.3, "行", ("行政相对人", "许可事项持有人", "相关单位"))
_PROFILES: Mapping[str, _Profile] = {
    "scjgj": _Profile(
        6, 6, 3, 6, "市监", ("食品生产经营者", "特种设备使用单位", "计量器具使用单位", "药品零售企业")
    ),
    "scjgfj": _Profile(4, 4, 1.5, 4, "市监", ("食品经营者", "网络交易经营者", "广告发布者", "化妆品经营者")),
    "zhzfj": _Profile(5, 3, 2.5, 4, "综执", ("建筑工地", "户外广告设施", "餐饮油烟排放单位", "渣土运输企业")),
    "sthjj": _Profile(2, 2, 2, 2, "环", ("排污单位", "危险废物经营单位", "建设项目")),
    "jtj": _Profile(1.5, 1.5, 2, 1.5, "交执", ("道路运输企业", "港口经营人", "机动车维修经营者")),
    "nyncj": _Profile(1, 1, 2, 1, "农", ("农药经营者", "兽药经营企业", "种子生产经营者")),
    "tjj": _Profile(0.2, 0.3, 0.5, 0.3, "统", ("统计调查对象",)),
    "wsjds": _Profile(1, 1.5, 1.5, 1, "卫监", ("公共场所经营者", "医疗机构", "生活饮用水供水单位")),
    "whzfd": _Profile(0.8, 1, 1, 0.8, "文执", ("娱乐场所", "互联网上网服务营业场所", "出版物经营单位")),
    "sjj": _Profile(0.1, 0.1, 0.3, 0.05, "数据", ("公共数据使用单位",)),
    "yjglj": _Profile(1.5, 1.5, 1.5, 1, "应急", ("危险化学品经营单位", "工贸企业", "非煤矿山")),
    "wjw": _Profile(0.8, 0.5, 1.5, 0.4, "卫健", ("医疗机构", "职业健康检查机构")),
    "wjj": _Profile(0.6, 0.5, 1, 0.4, "卫健", ("医疗机构", "职业健康检查机构")),
    "zrzyghj": _Profile(1, 0.8, 1.5, 0.8, "资规", ("土地使用权人", "测绘单位")),
    "zjj": _Profile(1.5, 1, 2, 1, "建", ("建筑施工企业", "房地产开发企业", "物业服务企业")),
    "gaj": _Profile(1, 0.6, 1.5, 0.6, "公", ("旅馆业", "保安服务公司")),
    "xfjyzd": _Profile(1, 1.2, 1, 0.8, "消行", ("人员密集场所", "消防技术服务机构")),
    "swj": _Profile(0.6, 0.5, 1, 0.4, "商", ("成品油经营企业", "单用途预付卡发卡企业")),
    "wglyj": _Profile(0.8, 0.8, 1.2, 0.5, "文旅", ("旅行社", "A级旅游景区")),
    "rsj": _Profile(1, 0.6, 1.2, 0.5, "人社", ("用人单位", "人力资源服务机构")),
    "slj": _Profile(0.6, 0.5, 1.2, 0.4, "水", ("取水单位", "河道管理范围内建设项目")),
    "sfj": _Profile(0.2, 0.3, 0.8, 0.1, "司", ("律师事务所", "司法鉴定机构")),
    "jyj": _Profile(0.5, 0.5, 1, 0.2, "教", ("民办学校", "校外培训机构")),
    "mzj": _Profile(0.3, 0.4, 0.8, 0.1, "民", ("社会组织", "养老机构")),
    "czj": _Profile(0.2, 0.3, 0.8, 0.2, "财", ("会计师事务所", "代理记账机构")),
    "ybj": _Profile(0.5, 0.6, 0.8, 0.4, "医保", ("定点医药机构",)),
    "fgw": _Profile(0.3, 0.3, 0.8, 0.2, "发改", ("价格监测单位", "固定资产投资项目单位")),
    "jxj": _Profile(0.3, 0.3, 0.8, 0.2, "经信", ("用能单位", "民用爆炸物品生产企业")),
    "yyj": _Profile(0.6, 0.8, 1, 0.6, "渔", ("渔业船舶", "水产养殖单位")),
}
_BEHAVIOURS = (
    ("未按规定建立并落实进货查验记录制度", "《中华人民共和国食品安全法》", "警告，并处罚款人民币{fine}元"),
    (
        "未按规定办理相关许可擅自从事经营活动",
        "《无证无照经营查处办法》",
        "没收违法所得，并处罚款人民币{fine}元",
    ),
    ("未按规定落实安全生产管理制度", "《中华人民共和国安全生产法》", "罚款人民币{fine}元"),
    ("超标排放污染物", "《中华人民共和国大气污染防治法》", "责令改正，并处罚款人民币{fine}元"),
    ("未按规定设置消防设施", "《中华人民共和国消防法》", "罚款人民币{fine}元"),
    ("发布虚假广告", "《中华人民共和国广告法》", "责令停止发布，并处罚款人民币{fine}元"),
    ("违规处置建筑垃圾", "《城市建筑垃圾管理规定》", "罚款人民币{fine}元"),
)
_COMPANY_WORDS = (
    "恒达",
    "海川",
    "明州",
    "甬顺",
    "天一",
    "东钱",
    "四明",
    "三江",
    "港城",
    "鼎盛",
    "华瑞",
    "永丰",
    "金桥",
    "宏远",
    "新港",
    "利源",
    "汇通",
    "信达",
    "瑞丰",
    "嘉禾",
)
_TRADES = ("贸易", "餐饮管理", "建材", "机械制造", "水产", "物流", "电子科技", "建筑工程", "食品", "汽车服务")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙胡朱高林何郭马罗"


def _profile(department: Department) -> _Profile:
    return _PROFILES.get(department.code.split(".", 1)[1], _GENERIC)


def _decision_prefix(department: Department) -> str:
    token = _profile(department).token
    if department.level == "city":
        return f"甬{token}罚"
    short = _SHORT_DIVISION.get(department.division, "甬")
    return f"甬{token}{short}罚" if department.code.endswith(".scjgfj") else f"{short}{token}罚"


# --- small random helpers ------------------------------------------------------------------------

_OFFICE_HOURS = (0, 0, 0, 0, 0, 0, 0, 1, 4, 10, 10, 7, 3, 4, 9, 9, 8, 4, 1, 1, 0, 0, 0, 0)
_EVENT_HOURS = (1, 1, 0, 0, 0, 1, 2, 4, 8, 10, 10, 8, 4, 5, 9, 9, 8, 6, 4, 3, 3, 2, 2, 1)
_MONTH_FACTOR = (0.95, 0.95, 1.0, 1.0, 1.05, 1.1, 1.1, 1.05, 1.0, 0.95, 1.0, 1.0)


def _apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder; deterministic, sums exactly)."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    shares = [total * w / whole for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _at_hour(rng: random.Random, day: date, hours: Sequence[int], start: int = 0) -> datetime:
    hour = rng.choices(range(start, 24), weights=hours[start:])[0]
    return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), TZ)


def _office_time(
    rng: random.Random, day: date, earliest: time = time(8, 30), latest: time = time(17, 0)
) -> datetime:
    low = earliest.hour * 3600 + earliest.minute * 60
    high = latest.hour * 3600 + latest.minute * 60
    second = rng.randrange(low, high)
    return datetime.combine(day, time(second // 3600, second % 3600 // 60, second % 60), TZ)


def _scaled(value: float, scale: float, floor: int = 0) -> int:
    return max(floor, round(value * scale))


# --- plan records --------------------------------------------------------------------------------


@dataclass
class _Event:
    event_id: str
    kind: str
    department: str
    division: str
    created: datetime
    item_code: str | None
    deadline: datetime | None  # explicit on `created`
    effective_deadline: datetime
    reassigned: tuple[datetime, str, datetime | None] | None = None  # at, department, deadline

    @property
    def responsible(self) -> str:
        return self.reassigned[1] if self.reassigned else self.department

    signed: datetime | None = None
    handled: datetime | None = None
    cancelled: datetime | None = None


@dataclass
class _Item:
    item_code: str
    name: str
    department: str
    division: str
    double_random: bool
    onboarded: bool
    active: bool
    covered: bool = False
    first_at: datetime | None = None


@dataclass
class _Disclosure:
    disclosure_id: str
    decision_no: str
    department: str
    division: str
    decided: date
    published_at: datetime
    procedure: str
    severity: str
    party: dict[str, str]
    content: str
    publicity_until: date | None
    exposes_personal_info: bool
    # latest state
    status: str = "published"
    withdrawn_at: datetime | None = None
    revoked_at: datetime | None = None
    version: int = 1


@dataclass
class _Tally:
    """Numerators and denominators per (department, division)."""

    counts: dict[tuple[str, str], dict[str, list[int]]] = field(default_factory=dict)

    def add(self, indicator: str, department: str, division: str, hit: bool) -> None:
        groups = self.counts.setdefault((department, division), {})
        pair = groups.setdefault(indicator, [0, 0])
        pair[0] += int(hit)
        pair[1] += 1

    def result(self, indicators: Sequence[str] = INDICATOR_IDS) -> dict[str, Any]:
        overall = {i: [0, 0] for i in indicators}
        by_department: dict[str, dict[str, list[int]]] = {}
        by_division: dict[str, dict[str, list[int]]] = {}
        for (department, division), groups in sorted(self.counts.items()):
            for indicator, (hit, total) in groups.items():
                if indicator not in overall:
                    continue
                for target in (
                    overall,
                    by_department.setdefault(department, {i: [0, 0] for i in indicators}),
                    by_division.setdefault(division, {i: [0, 0] for i in indicators}),
                ):
                    target[indicator][0] += hit
                    target[indicator][1] += total

        def frozen(values: dict[str, list[int]]) -> dict[str, Ratio]:
            return {i: (v[0], v[1]) for i, v in values.items()}

        return {
            "indicators": frozen(overall),
            "by_department": {k: frozen(v) for k, v in sorted(by_department.items())},
            "by_division": {k: frozen(v) for k, v in sorted(by_division.items())},
        }


def _publish_limit(disclosure: _Disclosure, calendar: _Calendar) -> datetime:
    return _end_of(calendar.workday_after(disclosure.decided, _DISCLOSURE_PUBLISH_DAYS))


def _violations(disclosure: _Disclosure, now: datetime, calendar: _Calendar) -> list[str]:
    found = []
    if disclosure.exposes_personal_info:
        found.append("personal_info_exposed")
    if disclosure.procedure == "simple":
        found.append("simple_procedure_published")
    if disclosure.published_at > _publish_limit(disclosure, calendar):
        found.append("published_late")
    if disclosure.publicity_until is not None:
        limit = _end_of(calendar.workday_after(disclosure.publicity_until, _WITHDRAW_DAYS))
        if now > limit:
            found.append("expired_not_withdrawn")
    if disclosure.revoked_at is not None:
        limit = _end_of(calendar.workday_after(disclosure.revoked_at.date(), _WITHDRAW_DAYS))
        if now > limit:
            found.append("revoked_not_withdrawn")
    return found


def _count_compliance(tally: _Tally, disclosure: _Disclosure, now: datetime, calendar: _Calendar) -> None:
    # Every message is ingested before `as_of` ≤ now, so the plan's final state is the state now.
    if disclosure.status == "published":
        hit = not _violations(disclosure, now, calendar)
        tally.add("disclosure_compliance_rate", disclosure.department, disclosure.division, hit)


# --- the generator -------------------------------------------------------------------------------


def _dumps(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class _Out:
    ingest_at: datetime
    order: int
    key: bytes | None
    value: bytes
    error: str | None


class _Builder:
    def __init__(self, seed: int, year: int, scale: float, registry: Registry) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.seed, self.year, self.scale, self.registry = seed, year, scale, registry
        self.calendar = _Calendar(date(2014, 1, 1), date(year + 4, 12, 31))
        self.as_of = datetime(year + 1, 3, 1, tzinfo=TZ)
        self.departments = list(registry.departments.values())
        self.districts = [d for d in registry.divisions if d != "330200"]
        self.out: dict[str, list[_Out]] = {s: [] for s in STREAMS}
        self.counter = 0
        self.tally = _Tally()
        self.facts: Counter[str] = Counter()
        self.items: list[_Item] = []
        self.items_by_department: dict[str, list[_Item]] = defaultdict(list)
        self.disclosures: list[_Disclosure] = []
        self.outage = ("330226.zhzfj", date(year, 6, 12), date(year, 6, 16))

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{self.year}:{self.scale}:{name}")

    # delivery ----------------------------------------------------------------------------------

    def deliver_at(self, rng: random.Random, latest: datetime, department: str | None) -> datetime:
        """When a record whose latest event-time is `latest` reaches the platform."""
        outage_department, first, last = self.outage
        if department == outage_department and first <= latest.date() <= last:
            self.facts["outage_delivered"] += 1
            return datetime.combine(last + timedelta(days=3), time(10, 0), TZ) + timedelta(
                seconds=rng.randrange(600)
            )
        if latest >= self.as_of - timedelta(seconds=1):
            raise AssertionError(f"planned a record after the scenario's end: {latest}")
        if rng.random() < 0.03:
            self.facts["late"] += 1
            return self.clamp(latest + timedelta(seconds=int(3600 * (168 ** rng.random()))))
        return self.clamp(latest + timedelta(seconds=rng.randint(1, 180)))

    def clamp(self, moment: datetime) -> datetime:
        """Nothing is ingested at or after `as_of`: the truth's "now" must see every message."""
        return min(moment, self.as_of - timedelta(seconds=1))

    def emit(
        self,
        stream: str,
        rng: random.Random,
        key: str | None,
        record: Mapping[str, Any] | bytes,
        ingest_at: datetime,
        *,
        error: str | None = None,
        duplicates: bool = True,
    ) -> None:
        value = record if isinstance(record, bytes) else _dumps(record)
        encoded_key = None if key is None else key.encode()
        self.counter += 1
        self.out[stream].append(_Out(ingest_at, self.counter, encoded_key, value, error))
        if error is None and duplicates and rng.random() < 0.01:
            self.counter += 1
            again = max(ingest_at, self.clamp(ingest_at + timedelta(seconds=int(172800 ** rng.random()))))
            self.out[stream].append(_Out(again, self.counter, encoded_key, value, None))
            self.facts[f"duplicates.{stream}"] += 1

    def emit_with_error(
        self,
        stream: str,
        rng: random.Random,
        key: str,
        good: dict[str, Any],
        ingest_at: datetime,
        *,
        error_rate: float,
        corrupt: Callable[[dict[str, Any]], tuple[dict[str, Any], str, datetime | None]] | None,
    ) -> tuple[datetime, int]:
        """Send `good`; with probability `error_rate`, send a corrupted version first and correct it.

        Returns when the valid version was ingested, and its `version`.
        """
        if corrupt is not None and rng.random() < error_rate:
            bad, code, bad_ingest = corrupt(dict(good))
            bad["version"] = good["version"]
            first_ingest = bad_ingest or ingest_at
            self.emit(stream, rng, key, bad, first_ingest, error=code, duplicates=False)
            self.facts[f"errors.{stream}.{code}"] += 1
            corrected = dict(good)
            corrected["version"] = good["version"] + 1
            fixed_at = self.clamp(first_ingest + timedelta(seconds=int(7200 * (60 ** rng.random()))))
            self.emit(stream, rng, key, corrected, max(fixed_at, first_ingest + timedelta(seconds=1)))
            return fixed_at, corrected["version"]
        self.emit(stream, rng, key, good, ingest_at)
        return ingest_at, int(good["version"])

    # days --------------------------------------------------------------------------------------

    def days_of_year(self) -> list[date]:
        first = date(self.year, 1, 1)
        return [first + timedelta(days=i) for i in range((date(self.year + 1, 1, 1) - first).days)]

    def day_weights(self, days: Sequence[date], weekend: float, holiday: float) -> list[float]:
        weights = []
        for day in days:
            if self.calendar.is_workday(day):
                base = 1.0
            elif self.calendar.is_holiday(day):
                base = holiday
            else:
                base = weekend
            weights.append(base * _MONTH_FACTOR[day.month - 1])
        return weights

    def record_accuracy(self, department: str, division: str, period: date | datetime) -> None:
        year = period.year
        if year == self.year:
            self.tally.add("data_accuracy_rate", department, division, True)

    # catalogue ---------------------------------------------------------------------------------

    def build_catalogue(self) -> None:
        rng = self.rng("catalogue")
        active = _scaled(1000, self.scale, 10)
        not_onboarded = _scaled(33, self.scale, 1)
        double_random = _scaled(400, self.scale, 4)
        uncovered = _scaled(1, self.scale, 1)
        inactive = _scaled(40, self.scale, 1)
        total = active + inactive
        weights = [_profile(d).items for d in self.departments]
        counts = _apportion(total, weights)
        serial = 0
        for department, count in zip(self.departments, counts, strict=True):
            objects = _profile(department).objects
            for n in range(count):
                serial += 1
                target = objects[n % len(objects)]
                round_no = n // len(objects)
                kind = ("行政检查", "行政处罚", "行政强制")[round_no % 3]
                name = f"对{target}的{kind}" + (f"（{round_no // 3 + 1}）" if round_no >= 3 else "")
                item = _Item(
                    item_code=f"JG{department.division}{serial:06d}",
                    name=name,
                    department=department.code,
                    division=department.division,
                    double_random=False,
                    onboarded=True,
                    active=True,
                )
                self.items.append(item)
        shuffled = list(self.items)
        rng.shuffle(shuffled)
        for item in shuffled[:inactive]:
            item.active = False
            item.double_random = rng.random() < 0.4
            item.onboarded = rng.random() < 0.7
        actives = shuffled[inactive:]
        for item in actives[:not_onboarded]:
            item.onboarded = False
        # 双随机 items are drawn from departments that inspect, weighted like their inspections.
        dr_pool = sorted(actives, key=lambda it: -rng.random() * self.inspection_weight(it.department))
        for item in dr_pool[:double_random]:
            item.double_random = True
        for item in dr_pool[:uncovered]:
            item.covered = False
        for item in dr_pool[uncovered:double_random]:
            item.covered = True
        for item in self.items:
            self.items_by_department[item.department].append(item)
        self.emit_catalogue(rng)

    def inspection_weight(self, code: str) -> float:
        return _profile(self.registry.departments[code]).inspections

    def emit_catalogue(self, rng: random.Random) -> None:
        load_days = self.calendar.workdays_between(date(self.year, 1, 2), date(self.year, 1, 16))
        late_added = set(rng.sample(range(len(self.items)), k=len(self.items) // 20))
        bad_items = set(rng.sample(range(len(self.items)), k=3 if self.scale >= 0.3 else 1))
        for index, item in enumerate(self.items):
            if index in late_added:
                first = _office_time(rng, date(self.year, 2, 1) + timedelta(days=rng.randrange(240)))
            else:
                first = _office_time(rng, rng.choice(load_days))
            item.first_at = first
            versions: list[tuple[datetime, bool, bool]] = []  # at, onboarded, active
            if item.onboarded and rng.random() < 0.15:
                versions.append((first, False, True))
                versions.append(
                    (first + timedelta(days=rng.randint(10, 150), hours=rng.randint(0, 8)), True, True)
                )
            else:
                versions.append((first, item.onboarded, True))
            if not item.active:
                last = versions[-1][0]
                versions.append((last + timedelta(days=rng.randint(20, 200)), item.onboarded, False))
            # Keep every catalogue version inside the year, in order.
            year_end = datetime(self.year, 12, 29, 10, 0, tzinfo=TZ)
            previous = first - timedelta(minutes=1)
            for position, (planned, onboarded, active) in enumerate(versions):
                at = max(
                    min(planned, year_end + timedelta(minutes=position)), previous + timedelta(minutes=1)
                )
                previous = at
                versions[position] = (at, onboarded, active)
            version = 1
            for position, (at, onboarded, active) in enumerate(versions):
                record = {
                    "schema": "item/v1",
                    "version": version,
                    "item_code": item.item_code,
                    "name": item.name,
                    "department": item.department,
                    "at": _rfc3339(at),
                    "double_random": item.double_random,
                    "onboarded": onboarded,
                    "active": active,
                }
                ingest = self.deliver_at(rng, at, None)
                if position == 0 and index in bad_items:
                    bad = dict(record)
                    if index % 2:
                        bad["department"] = item.department.split(".")[0] + ".scj"
                        code = "unknown_department"
                    else:
                        bad["onboarded"] = "是" if onboarded else "否"
                        code = "invalid_field"
                    self.emit("catalog", rng, item.item_code, bad, ingest, error=code, duplicates=False)
                    self.facts[f"errors.catalog.{code}"] += 1
                    version += 1
                    record["version"] = version
                    ingest += timedelta(hours=rng.randint(2, 72))
                self.emit("catalog", rng, item.item_code, record, ingest)
                version += 1
            self.record_accuracy(item.department, item.division, versions[-1][0])
            if item.active:
                self.tally.add("item_onboarding_rate", item.department, item.division, item.onboarded)
                if item.double_random:
                    self.tally.add(
                        "double_random_coverage_rate", item.department, item.division, item.covered
                    )
        # A catalogue export that a tool wrote in GBK: never decodable, never corrected.
        item = self.items[0]
        gbk = json.dumps(
            {
                "schema": "item/v1",
                "item_code": item.item_code,
                "name": item.name,
                "department": item.department,
            },
            ensure_ascii=False,
        ).encode("gbk")
        moment = datetime(self.year, 3, 14, 2, 0, tzinfo=TZ)
        self.emit("catalog", rng, None, gbk, moment, error="malformed", duplicates=False)
        self.malformed(moment)

    def malformed(self, ingest_at: datetime) -> None:
        self.facts["malformed"] += 1
        if ingest_at.year == self.year:
            self.tally.add("data_accuracy_rate", UNREGISTERED, UNKNOWN_DIVISION, False)

    # events ------------------------------------------------------------------------------------

    def event_division(self, rng: random.Random, department: Department) -> str:
        if department.level == "district" or rng.random() < 0.4:
            return department.division
        return rng.choice(self.districts)

    def build_events(self) -> None:
        rng = self.rng("events")
        not_cancelled = _scaled(20000, self.scale, 20)
        still_open = _scaled(2, self.scale, 1)
        cancelled = _scaled(240, self.scale, 2)
        cancelled_after_handling = _scaled(10, self.scale, 1)
        days = self.days_of_year()
        per_day = _apportion(not_cancelled + cancelled, self.day_weights(days, 0.25, 0.12))
        department_weights = [_profile(d).events for d in self.departments]
        kinds = ("complaint", "risk_warning", "clue", "collaborative")
        events: list[_Event] = []
        for day, count in zip(days, per_day, strict=True):
            stamps = sorted(_at_hour(rng, day, _EVENT_HOURS) for _ in range(count))
            for n, created in enumerate(stamps, start=1):
                events.append(
                    self.plan_event(rng, f"EV{day:%Y%m%d}{n:05d}", created, kinds, department_weights)
                )
        # Previous year's last week: same life, other cohort.
        previous = date(self.year - 1, 12, 25)
        for n in range(_scaled(40, self.scale, 1)):
            created = _at_hour(rng, previous + timedelta(days=n % 7), _EVENT_HOURS)
            events.append(
                self.plan_event(rng, f"EV{created:%Y%m%d}{90000 + n:05d}", created, kinds, department_weights)
            )
        this_year = [e for e in events if e.created.year == self.year]
        order = list(range(len(this_year)))
        rng.shuffle(order)
        cancel_set = set(order[:cancelled])
        after_handling = set(order[:cancelled_after_handling])
        december = [
            i for i in order[cancelled:] if this_year[i].created >= datetime(self.year, 12, 1, tzinfo=TZ)
        ]
        open_set = set(december[:still_open])
        for index, event in enumerate(this_year):
            if index in cancel_set:
                self.finish_cancelled(rng, event, handled_first=index in after_handling)
            elif index not in open_set:
                self.finish_handled(rng, event)
            else:
                self.sign(rng, event)
        for event in events:
            if event.created.year != self.year:
                self.finish_handled(rng, event)
            self.emit_event(rng, event)
        truncated = (
            f'{{"schema":"event/v1","event_id":"EV{self.year}0517000{len(events) % 10}","action":"handled",'
            f'"at":"{self.year}-05-17T16:2'
        ).encode()
        moment = datetime(self.year, 5, 17, 16, 40, tzinfo=TZ)
        self.emit("events", rng, None, truncated, moment, error="malformed", duplicates=False)
        self.malformed(moment)

    def plan_event(
        self,
        rng: random.Random,
        event_id: str,
        created: datetime,
        kinds: Sequence[str],
        weights: Sequence[float],
    ) -> _Event:
        kind = rng.choices(kinds, weights=(45, 20, 20, 15))[0]
        department = rng.choices(self.departments, weights=weights)[0]
        items = [i for i in self.items_by_department.get(department.code, []) if i.active]
        item_code = rng.choice(items).item_code if items and rng.random() < 0.7 else None
        deadline = None
        if rng.random() < 0.6:
            deadline = _end_of(self.calendar.workday_after(created.date(), rng.randint(2, 10)), time(17, 30))
        default = _end_of(self.calendar.workday_after(created.date(), _DEFAULT_SLA[kind]))
        event = _Event(
            event_id=event_id,
            kind=kind,
            department=department.code,
            division=self.event_division(rng, department),
            created=created,
            item_code=item_code,
            deadline=deadline,
            effective_deadline=deadline or default,
        )
        if rng.random() < 0.03:
            at = created + timedelta(minutes=rng.randint(30, 240))
            same_division = [
                d for d in self.departments if d.division == department.division and d.code != department.code
            ]
            target = rng.choice(same_division or [d for d in self.departments if d.code != department.code])
            new_deadline = None
            if rng.random() < 0.5:
                new_deadline = _end_of(
                    self.calendar.workday_after(at.date(), rng.randint(2, 10)), time(17, 30)
                )
                event.effective_deadline = new_deadline
            event.reassigned = (at, target.code, new_deadline)
        return event

    def assigned_at(self, event: _Event) -> datetime:
        return event.reassigned[0] if event.reassigned else event.created

    def sign(self, rng: random.Random, event: _Event) -> None:
        if rng.random() >= 0.97:
            return
        start = self.assigned_at(event)
        signed = start + timedelta(minutes=rng.randint(5, 180))
        if signed.date() != start.date() or signed.hour >= 20:
            signed = _office_time(rng, self.calendar.workday_after(start.date(), 1), time(8, 30), time(9, 15))
        event.signed = signed

    def finish_handled(self, rng: random.Random, event: _Event) -> None:
        self.sign(rng, event)
        base = self.assigned_at(event).date()
        deadline_day = event.effective_deadline.date()
        on_time = rng.random() < 0.965
        if on_time:
            last = deadline_day
            if event.effective_deadline.time() == time(23, 59, 59):
                # default deadline: never on its last day (see module docstring)
                last = max(self.calendar.workdays_between(base, deadline_day)[:-1] or [deadline_day])
            choices = self.calendar.workdays_between(base, last) or [self.calendar.workday_after(base, 1)]
            day = rng.choice(choices)
        else:
            day = self.calendar.workday_after(deadline_day, rng.randint(1, 8))
        handled = _office_time(rng, day, time(9, 30), time(17, 0))
        if event.signed is not None and handled <= event.signed:
            handled = event.signed + timedelta(minutes=rng.randint(10, 60))
        event.handled = handled

    def finish_cancelled(self, rng: random.Random, event: _Event, *, handled_first: bool) -> None:
        if handled_first:
            self.finish_handled(rng, event)
            handled = event.handled or event.created
            event.cancelled = handled + timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 5))
            return
        self.sign(rng, event)
        start = event.signed or self.assigned_at(event)
        event.cancelled = _office_time(rng, self.calendar.workday_after(start.date(), rng.randint(1, 5)))

    def emit_event(self, rng: random.Random, event: _Event) -> None:
        cohort = event.created
        department = event.responsible
        actions: list[tuple[str, datetime, dict[str, Any]]] = []
        created: dict[str, Any] = {
            "kind": event.kind,
            "department": event.department,
            "division": event.division,
        }
        if event.item_code:
            created["item_code"] = event.item_code
        if event.deadline:
            created["deadline"] = _rfc3339(event.deadline)
        actions.append(("created", event.created, created))
        if event.reassigned:
            at, target, new_deadline = event.reassigned
            fields: dict[str, Any] = {"department": target}
            if new_deadline:
                fields["deadline"] = _rfc3339(new_deadline)
            actions.append(("reassigned", at, fields))
        if event.signed:
            actions.append(("signed", event.signed, {}))
        if event.handled:
            actions.append(("handled", event.handled, {}))
        if event.cancelled:
            actions.append(("cancelled", event.cancelled, {}))
        arrivals = []
        for action, at, fields in actions:
            record = {
                "schema": "event/v1",
                "version": 1,
                "event_id": event.event_id,
                "action": action,
                "at": _rfc3339(at),
                **fields,
            }
            ingest = self.deliver_at(rng, at, department)
            arrival, _ = self.emit_with_error(
                "events", rng, event.event_id, record, ingest, error_rate=0.004, corrupt=self.corrupt_event
            )
            arrivals.append(arrival)
            self.record_accuracy(department, event.division, cohort)
        if arrivals != sorted(arrivals):
            self.facts["events_out_of_order"] += 1
        if len(actions) > 1:
            self.facts["events_multi_action"] += 1
        if cohort.year != self.year:
            return
        if event.cancelled is None:
            self.tally.add("event_handling_rate", department, event.division, event.handled is not None)
        if event.cancelled is None and event.handled is not None:
            on_time = event.handled <= event.effective_deadline
            self.tally.add("event_on_time_rate", department, event.division, on_time)

    def corrupt_event(self, record: dict[str, Any]) -> tuple[dict[str, Any], str, datetime | None]:
        action = record["action"]
        choice = sum(map(ord, record["event_id"])) % 4
        if action == "created":
            if choice == 0:
                record["department"] = record["department"].split(".")[0] + ".xx"
                return record, "unknown_department", None
            if choice == 1:
                record["division"] = "330204"  # 江东区, merged into 鄞州/海曙 in 2016
                return record, "unknown_division", None
            if choice == 2 and "deadline" in record:
                at = datetime.fromisoformat(record["at"])
                record["deadline"] = _rfc3339(at - timedelta(days=1))
                return record, "inconsistent_time", None
            record["kind"] = "complain"
            return record, "invalid_field", None
        if choice % 2 == 0:
            record["at"] = record["at"][:-6]  # the offset dropped by a producer
            return record, "invalid_field", None
        record["kind"] = "complaint"  # not allowed on this action
        return record, "invalid_field", None

    # inspections -------------------------------------------------------------------------------

    def build_inspections(self) -> None:
        rng = self.rng("inspections")
        total = _scaled(30000, self.scale, 20)
        not_mobile = _scaled(6, self.scale, 1)
        days = self.days_of_year()
        workdays = [d for d in days if self.calendar.is_workday(d)]
        covered = [i for i in self.items if i.double_random and i.active and i.covered]
        # Each uncovered 双随机 item gets one of the year's inspections outside any task (below).
        total -= sum(1 for i in self.items if i.double_random and i.active and not i.covered)
        per_day = _apportion(total, self.day_weights(days, 0.06, 0.03))
        slots = [day for day, count in zip(days, per_day, strict=True) for _ in range(count)]
        active_items = [i for i in self.items if i.active]
        weights = [self.inspection_weight(i.department) for i in active_items]
        if total < len(covered):
            raise ValueError(f"scale {self.scale} leaves fewer inspections than covered 双随机 items")
        plan: list[tuple[_Item, str | None]] = []
        for item in covered:
            plan.append((item, "task"))
        while len(plan) < total:
            if covered and rng.random() < 0.4:
                plan.append((rng.choice(covered), "task"))
            else:
                plan.append((rng.choices(active_items, weights=weights)[0], None))
        plan = plan[:total]
        rng.shuffle(plan)
        channels = ["mobile"] * (total - not_mobile) + ["pc", "pc", "paper"] * not_mobile
        channels = channels[:total]
        rng.shuffle(channels)
        slots.sort()
        serial = 0
        for day, (item, task), channel in zip(slots, plan, channels, strict=True):
            serial += 1
            at = _office_time(rng, day, time(8, 30), time(18, 0))
            self.emit_inspection(rng, serial, item, at, tasked=task is not None, channel=channel)
        # The uncovered 双随机 items were inspected under a task, but in the previous year; this year
        # only outside any task, which must not count as coverage.
        for item in self.items:
            if item.double_random and item.active and not item.covered:
                serial += 1
                at = _office_time(rng, self.calendar.workday_after(date(self.year - 1, 12, 10), 1))
                self.emit_inspection(rng, serial, item, at, tasked=True, channel="mobile")
                serial += 1
                at = _office_time(rng, rng.choice(workdays))
                self.emit_inspection(rng, serial, item, at, tasked=False, channel="mobile")

    def emit_inspection(
        self, rng: random.Random, serial: int, item: _Item, at: datetime, *, tasked: bool, channel: str
    ) -> None:
        department = self.registry.departments[item.department]
        division = self.event_division(rng, department)
        roll = rng.random()
        if roll < 0.85:
            target = {"type": "legal_person", "id": _uscc(rng, rng.choice(self.districts))}
        elif roll < 0.97:
            target = {"type": "natural_person", "id": _resident_id(rng)}
        else:
            target = {"type": "other", "id": f"{department.division}{rng.randrange(10**8):08d}S"}
        quarter = (at.month - 1) // 3 + 1
        inspectors = sorted({f"ZJ{department.division}{rng.randrange(100000):05d}" for _ in range(2)})
        record = {
            "schema": "inspection/v1",
            "version": 1,
            "record_id": f"JC{at:%Y%m%d}{serial:06d}",
            "item_code": item.item_code,
            "department": item.department,
            "division": division,
            "at": _rfc3339(at),
            "channel": channel,
            "double_random_task": f"SSJ-{at.year}Q{quarter}-{item.department}" if tasked else None,
            "target": target,
            "inspectors": inspectors,
            "result": rng.choices(
                ("compliant", "non_compliant", "target_not_found", "other"), weights=(88, 9, 2, 1)
            )[0],
        }
        ingest = self.deliver_at(rng, at, item.department)
        corrupt = self.corrupt_inspection if channel == "mobile" else None
        self.emit_with_error(
            "inspections", rng, item.item_code, record, ingest, error_rate=0.003, corrupt=corrupt
        )
        self.record_accuracy(item.department, division, at)
        if at.year == self.year:
            self.tally.add("mobile_enforcement_rate", item.department, division, channel == "mobile")

    def corrupt_inspection(self, record: dict[str, Any]) -> tuple[dict[str, Any], str, datetime | None]:
        choice = sum(map(ord, record["record_id"])) % 5
        target = dict(record["target"])
        if choice == 0 and target["type"] in ("legal_person", "natural_person"):
            target["id"] = _bad_check(target["id"])
            record["target"] = target
            return record, "invalid_uscc" if target["type"] == "legal_person" else "invalid_resident_id", None
        if choice == 1:
            record["channel"] = "app"
            return record, "invalid_field", None
        if choice == 2:
            record["division"] = "330204"
            return record, "unknown_division", None
        if choice == 3:
            # A handset whose clock ran two days ahead; ingested right after the real time.
            at = datetime.fromisoformat(record["at"])
            record["at"] = _rfc3339(at + timedelta(days=2))
            return record, "future_time", at + timedelta(seconds=30)
        record["department"] = "330200.scjg"
        return record, "unknown_department", None

    # disclosures -------------------------------------------------------------------------------

    def party(self, rng: random.Random, division: str) -> tuple[dict[str, str], str]:
        roll = rng.random()
        if roll < 0.78:
            name = f"宁波{rng.choice(_COMPANY_WORDS)}{rng.choice(_TRADES)}有限公司"
            return {"type": "legal_person", "name": name, "id": _uscc(rng, division)}, name
        if roll < 0.95:
            name = rng.choice(_SURNAMES) + "某某"
            return {"type": "natural_person", "name": name, "id": _masked(_resident_id(rng))}, name
        name = f"宁波市{rng.choice(_COMPANY_WORDS)}{rng.choice(('小吃店', '便利店', '五金店'))}"
        return {"type": "other", "name": name, "id": _uscc(rng, division, "92")}, name

    def content(self, rng: random.Random, name: str) -> str:
        behaviour, law, penalty = rng.choice(_BEHAVIOURS)
        fine = rng.choice((2000, 5000, 10000, 20000, 30000, 50000, 100000))
        decision = penalty.format(fine=fine)
        return f"当事人{name}{behaviour}，违反了{law}的有关规定。依据{law}，本机关决定：{decision}。"

    def build_disclosures(self) -> None:
        rng = self.rng("disclosures")
        total = _scaled(2400, self.scale, 10)
        days = [d for d in self.days_of_year() if self.calendar.is_workday(d)]
        per_day = _apportion(total, [_MONTH_FACTOR[d.month - 1] for d in days])
        weights = [_profile(d).disclosures for d in self.departments]
        serials: Counter[str] = Counter()
        indexes = list(range(total))
        rng.shuffle(indexes)
        simple = set(indexes[: _scaled(1, self.scale, 1)])
        phone = set(indexes[1 : 1 + _scaled(3, self.scale, 1)])
        unmasked = set(indexes[4 : 4 + _scaled(2, self.scale, 1)])
        position = 0
        for day, count in zip(days, per_day, strict=True):
            for _ in range(count):
                department = rng.choices(self.departments, weights=weights)[0]
                division = self.event_division(rng, department)
                prefix = _decision_prefix(department)
                serials[prefix] += 1
                bracket = rng.choices(("〔{}〕", "[{}]", "（{}）"), weights=(92, 5, 3))[0].format(day.year)
                party, name = self.party(rng, division)
                content = self.content(rng, name)
                exposed = False
                if position in phone:
                    content += f"（联系电话：{_mobile(rng)}）"
                    exposed = True
                if position in unmasked:
                    party = {
                        "type": "natural_person",
                        "name": rng.choice(_SURNAMES) + "某某",
                        "id": _resident_id(rng),
                    }
                    exposed = True
                if rng.random() < 0.96:
                    publish_day = rng.choice(
                        self.calendar.workdays_between(day, self.calendar.workday_after(day, 5))
                    )
                else:
                    publish_day = self.calendar.workday_after(day, rng.randint(10, 25))
                severity = rng.choices(("minor", "general", "serious"), weights=(30, 60, 10))[0]
                months = {"minor": 3, "general": 12, "serious": 36}[severity]
                self.disclosures.append(
                    _Disclosure(
                        disclosure_id=f"CF{department.division}{day:%Y%m%d}{position:05d}",
                        decision_no=f"{prefix}{bracket}{serials[prefix]}号",
                        department=department.code,
                        division=division,
                        decided=day,
                        published_at=_office_time(rng, publish_day),
                        procedure="simple" if position in simple else "general",
                        severity=severity,
                        party=party,
                        content=content,
                        publicity_until=_add_months(day, months),
                        exposes_personal_info=exposed,
                    )
                )
                position += 1
        self.emit_disclosures(rng)

    def disclosure_record(self, disclosure: _Disclosure) -> dict[str, Any]:
        return {
            "schema": "disclosure/v1",
            "version": disclosure.version,
            "disclosure_id": disclosure.disclosure_id,
            "decision_no": disclosure.decision_no,
            "department": disclosure.department,
            "division": disclosure.division,
            "decided_at": disclosure.decided.isoformat(),
            "published_at": _rfc3339(disclosure.published_at),
            "procedure": disclosure.procedure,
            "severity": disclosure.severity,
            "party": dict(disclosure.party),
            "content": disclosure.content,
            "publicity_until": None
            if disclosure.publicity_until is None
            else disclosure.publicity_until.isoformat(),
            "status": disclosure.status,
            "withdrawn_at": None if disclosure.withdrawn_at is None else _rfc3339(disclosure.withdrawn_at),
            "revoked_at": None if disclosure.revoked_at is None else _rfc3339(disclosure.revoked_at),
        }

    def send_disclosure(
        self, rng: random.Random, disclosure: _Disclosure, moment: datetime, errors: bool
    ) -> None:
        record = self.disclosure_record(disclosure)
        ingest = self.deliver_at(rng, moment, None)
        corrupt = self.corrupt_disclosure if errors else None
        _, disclosure.version = self.emit_with_error(
            "disclosures", rng, disclosure.disclosure_id, record, ingest, error_rate=0.005, corrupt=corrupt
        )

    def corrupt_disclosure(self, record: dict[str, Any]) -> tuple[dict[str, Any], str, datetime | None]:
        choice = sum(map(ord, record["disclosure_id"])) % 3
        if choice == 0:
            # `第` before the serial: what GB/T 9704 forbids and producers most often write.
            number = record["decision_no"]
            cut = max(number.rfind("〕"), number.rfind("]"), number.rfind("）")) + 1
            record["decision_no"] = number[:cut] + "第" + number[cut:]
            return record, "invalid_decision_no", None
        if choice == 1:
            decided = date.fromisoformat(record["decided_at"])
            record["decided_at"] = (decided + timedelta(days=400)).isoformat()  # a year typed wrong
            return record, "inconsistent_time", None
        record["division"] = "330204"
        return record, "unknown_division", None

    def emit_disclosures(self, rng: random.Random) -> None:
        requests: list[tuple[_Disclosure, str, str, bool, datetime | None]] = []
        candidates = list(range(len(self.disclosures)))
        rng.shuffle(candidates)
        revoked = candidates[: _scaled(12, self.scale, 1)]
        not_withdrawn = set(revoked[: _scaled(2, self.scale, 1)])
        repaired = candidates[len(revoked) : len(revoked) + _scaled(20, self.scale, 1)]
        rejected = set(repaired[: _scaled(3, self.scale, 1)])
        corrected = candidates[
            len(revoked) + len(repaired) : len(revoked) + len(repaired) + _scaled(10, self.scale, 1)
        ]
        revoked_set, repaired_set, corrected_set = set(revoked), set(repaired), set(corrected)
        for index, disclosure in enumerate(self.disclosures):
            self.send_disclosure(rng, disclosure, disclosure.published_at, errors=True)
            self.record_accuracy(disclosure.department, disclosure.division, disclosure.decided)
            if disclosure.published_at is not None:
                on_time = disclosure.published_at <= _publish_limit(disclosure, self.calendar)
                self.tally.add("disclosure_on_time_rate", disclosure.department, disclosure.division, on_time)
            if index in revoked_set:
                revoked_at = _office_time(
                    rng, self.calendar.workday_after(disclosure.published_at.date(), rng.randint(10, 60))
                )
                if revoked_at >= self.as_of - timedelta(days=20):
                    continue
                if index in not_withdrawn:
                    disclosure.version += 1
                    disclosure.revoked_at = revoked_at  # and never withdrawn: a violation
                    self.send_disclosure(rng, disclosure, revoked_at, errors=False)
                    continue
                requests.append((disclosure, "withdraw", "revoked", False, revoked_at))
            elif index in repaired_set:
                requests.append((disclosure, "withdraw", "credit_repair", index in rejected, None))
            elif index in corrected_set:
                requests.append((disclosure, "modify", "correction", False, None))
            elif disclosure.publicity_until is not None:
                if rng.random() < 0.05:
                    continue  # forgotten: stays published past its publicity period
                withdrawn = _office_time(
                    rng, self.calendar.workday_after(disclosure.publicity_until, rng.randint(1, 2))
                )
                if withdrawn < self.as_of - timedelta(days=1):
                    disclosure.version += 1
                    disclosure.status, disclosure.withdrawn_at = "withdrawn", withdrawn
                    self.send_disclosure(rng, disclosure, withdrawn, errors=False)
        serial = 0
        request_rng = self.rng("requests")
        for disclosure, kind, reason, is_rejected, revoked_moment in requests:
            serial += 1
            if revoked_moment is not None:
                submitted = revoked_moment + timedelta(hours=1)
            elif reason == "credit_repair":
                earliest = _add_months(disclosure.decided, 3)
                submitted = _office_time(
                    request_rng, self.calendar.workday_after(earliest, request_rng.randint(1, 30))
                )
            else:
                submitted = _office_time(
                    request_rng,
                    self.calendar.workday_after(disclosure.published_at.date(), request_rng.randint(2, 20)),
                )
            approved = _office_time(request_rng, self.calendar.workday_after(submitted.date(), 1))
            executed = approved + timedelta(minutes=request_rng.randint(10, 120))
            if executed >= self.as_of - timedelta(days=1):
                continue
            steps = [("submitted", submitted), ("rejected" if is_rejected else "approved", approved)]
            if not is_rejected:
                steps.append(("executed", executed))
            self.emit_request(
                request_rng,
                f"SQ{submitted:%Y%m%d}{serial:05d}",
                disclosure,
                kind=kind,
                reason=reason,
                batch_id=None,
                steps=steps,
            )
            if is_rejected:
                continue
            disclosure.version += 1
            disclosure.revoked_at = revoked_moment
            if kind == "withdraw":
                disclosure.status, disclosure.withdrawn_at = "withdrawn", executed
            else:
                disclosure.content = disclosure.content.replace("有关规定", "相关规定")
            self.send_disclosure(request_rng, disclosure, executed, errors=False)
        # A JSON array on the disclosure topic: a bulk export sent as one message by mistake.
        moment = datetime(self.year, 9, 4, 11, 0, tzinfo=TZ)
        self.emit(
            "disclosures",
            rng,
            None,
            b'[{"schema":"disclosure/v1"}]',
            moment,
            error="malformed",
            duplicates=False,
        )
        self.malformed(moment)
        for disclosure in self.disclosures:
            if disclosure.decided.year == self.year:
                _count_compliance(self.tally, disclosure, self.as_of, self.calendar)

    def emit_request(
        self,
        rng: random.Random,
        request_id: str,
        disclosure: _Disclosure,
        *,
        kind: str,
        reason: str,
        batch_id: str | None,
        steps: Sequence[tuple[str, datetime]],
    ) -> None:
        department = self.registry.departments[disclosure.department]
        for action, at in steps:
            record = {
                "schema": "disclosure-request/v1",
                "version": 1,
                "request_id": request_id,
                "disclosure_id": disclosure.disclosure_id,
                "action": action,
                "at": _rfc3339(at),
                "kind": kind,
                "reason": reason,
                "department": disclosure.department,
                "batch_id": batch_id,
            }
            self.emit(
                "disclosure_requests", rng, disclosure.disclosure_id, record, self.deliver_at(rng, at, None)
            )
            self.record_accuracy(disclosure.department, department.division, steps[0][1])
            self.facts[f"requests.{reason}.{action}"] += 1

    # the pre-2020 clean-up ---------------------------------------------------------------------

    def build_cleanup(self) -> None:
        rng = self.rng("cleanup")
        units = [self.registry.departments[c] for c in CLEANUP_UNITS if c in self.registry.departments]
        sync = datetime(self.year, 1, 3, 2, 0, tzinfo=TZ)
        request_serial = 0
        unit_batches: list[tuple[Department, list[_Disclosure], int]] = []
        for unit, count, batches in zip(units, _CLEANUP_PER_UNIT, _CLEANUP_BATCHES, strict=False):
            legacy: list[_Disclosure] = []
            prefix = _decision_prefix(unit)
            for n in range(count):
                decided = self.calendar.workday_after(
                    date(2015, 1, 1) + timedelta(days=rng.randrange(365 * 5 - 20)), 1
                )
                decided = min(decided, date(2019, 12, 13))
                division = unit.division if unit.level == "district" else rng.choice(self.districts)
                flaw = n % 4
                if flaw in (0, 1):
                    person = _resident_id(rng)
                    party = {"type": "natural_person", "name": rng.choice(_SURNAMES) + "某某", "id": person}
                    content = self.content(rng, party["name"])
                elif flaw == 2:
                    party, name = self.party(rng, division)
                    content = self.content(rng, name) + f"（联系电话：{_mobile(rng)}）"
                else:
                    party, name = self.party(rng, division)
                    content = f"当事人{name}当场违法行为，依据简易程序，决定给予警告。"
                disclosure = _Disclosure(
                    disclosure_id=f"CF{division}{decided:%Y%m%d}L{len(self.disclosures):05d}",
                    decision_no=f"{prefix}〔{decided.year}〕{n + 1}号",
                    department=unit.code,
                    division=division,
                    decided=decided,
                    published_at=_office_time(rng, self.calendar.workday_after(decided, rng.randint(1, 5))),
                    procedure="simple" if flaw == 3 else "general",
                    severity="minor" if flaw == 3 else "general",
                    party=party,
                    content=content,
                    publicity_until=None,
                    exposes_personal_info=flaw != 3,
                )
                self.disclosures.append(disclosure)
                legacy.append(disclosure)
                self.send_disclosure(
                    rng, disclosure, sync + timedelta(seconds=len(self.disclosures)), errors=False
                )
            unit_batches.append((unit, legacy, batches))
        chunks: list[list[_Disclosure]] = []
        for _unit, legacy, batches in unit_batches:
            start = 0
            for size in _apportion(len(legacy), [1.0] * batches):
                chunks.append(legacy[start : start + size])
                start += size
        rng.shuffle(chunks)
        window = self.calendar.workdays_between(date(self.year, 2, 1), date(self.year, 10, 27))
        batch_days = sorted(rng.sample(window, k=len(chunks)))
        for batch_number, (day, chunk) in enumerate(zip(batch_days, chunks, strict=True), start=1):
            if chunk:
                batch_id = f"QL{self.year}-{batch_number:02d}"
                executed_at = _office_time(rng, day, time(14, 0), time(17, 0))
                for disclosure in chunk:
                    request_serial += 1
                    submitted = _office_time(
                        rng, self.calendar.workday_after(day - timedelta(days=14), rng.randint(1, 4))
                    )
                    approved = _office_time(
                        rng, self.calendar.workday_after(submitted.date(), 1), time(8, 30), time(11, 30)
                    )
                    approved = min(approved, executed_at - timedelta(hours=1))
                    kind = "modify" if disclosure.exposes_personal_info and rng.random() < 0.2 else "withdraw"
                    steps = [("submitted", submitted), ("approved", approved), ("executed", executed_at)]
                    self.emit_request(
                        rng,
                        f"QLSQ{self.year}{request_serial:05d}",
                        disclosure,
                        kind=kind,
                        reason="legacy_improper",
                        batch_id=batch_id,
                        steps=steps,
                    )
                    disclosure.version += 1
                    if kind == "withdraw":
                        disclosure.status = "withdrawn"
                        disclosure.withdrawn_at = executed_at + timedelta(minutes=rng.randint(1, 30))
                        moment = disclosure.withdrawn_at
                    else:
                        party = dict(disclosure.party)
                        if party["type"] == "natural_person":
                            party["id"] = _masked(party["id"])
                        disclosure.party = party
                        disclosure.content = disclosure.content.split("（联系电话")[0]
                        disclosure.exposes_personal_info = False
                        moment = executed_at + timedelta(minutes=rng.randint(1, 30))
                    self.send_disclosure(rng, disclosure, moment, errors=False)
                self.facts["cleanup_batches"] += 1
        self.cleanup_units = [u.code for u, _, _ in unit_batches]

    # assembly ----------------------------------------------------------------------------------

    def assemble(self) -> Scenario:
        messages: dict[str, list[Message]] = {}
        erroneous: dict[str, dict[int, str]] = {}
        last = self.as_of
        for stream in STREAMS:
            ordered = sorted(self.out[stream], key=lambda o: (o.ingest_at, o.order))
            messages[stream] = [Message(o.key, o.value, o.ingest_at) for o in ordered]
            erroneous[stream] = {i: o.error for i, o in enumerate(ordered) if o.error is not None}
            if ordered:
                last = max(last, ordered[-1].ingest_at + timedelta(seconds=1))
        truth = self.tally.result()
        truth.update(
            {
                "year": self.year,
                "seed": self.seed,
                "scale": self.scale,
                "as_of": _rfc3339(last),
                "messages": {s: len(messages[s]) for s in STREAMS},
                "facts": dict(sorted(self.facts.items())),
                "cleanup": {
                    "units": list(self.cleanup_units),
                    "batches": self.facts["cleanup_batches"],
                    "disclosures": sum(_CLEANUP_PER_UNIT[: len(self.cleanup_units)]),
                },
            }
        )
        return Scenario(
            seed=self.seed,
            year=self.year,
            scale=self.scale,
            messages=messages,
            truth=truth,
            erroneous=erroneous,
            as_of=last,
            _disclosures=tuple(self.disclosures),
            _calendar=self.calendar,
        )


def generate(
    seed: int = 2023, *, year: int = 2023, scale: float = 1.0, registry: Registry | None = None
) -> Scenario:
    """Plan and write a year of traffic; the same arguments always give the same bytes."""
    builder = _Builder(seed, year, scale, registry or load_registry())
    builder.build_catalogue()
    builder.build_events()
    builder.build_inspections()
    builder.build_disclosures()
    builder.build_cleanup()
    return builder.assemble()


def write_jsonl(scenario: Scenario, out_dir: Path) -> dict[str, Path]:
    """One ``<stream>.jsonl`` per stream in `out_dir`, one raw message value per line, production order.

    Values are written byte for byte (a malformed message stays malformed); none contains a newline.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for stream in STREAMS:
        path = out_dir / f"{stream}.jsonl"
        with path.open("wb") as handle:
            for message in scenario.messages[stream]:
                if b"\n" in message.value:
                    raise ValueError(f"a {stream} message contains a newline and cannot be one JSONL line")
                handle.write(message.value + b"\n")
        paths[stream] = path
    return paths
