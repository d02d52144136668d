"""Chinese identifiers: credit codes, resident IDs, decision numbers, and personal-information masking.

These run on hot paths (record validation, the log-masking processor, disclosure violation checks),
so every pattern is compiled once at import and the check digits are table lookups.
"""

from __future__ import annotations

import calendar
import re
from operator import getitem

__all__ = [
    "find_personal_info",
    "is_masked_id",
    "is_valid_decision_no",
    "is_valid_resident_id",
    "is_valid_uscc",
    "mask_personal_info",
]

# --- 统一社会信用代码 (GB 32100-2015) ---------------------------------------------------------------
# python-stdnum's `cn.uscc` insists that the first 8 characters are digits, but position 1 (the
# registering authority) and position 2 (the organisation type) are drawn from the full alphabet:
# e.g. `Y1…` (其他登记管理部门) and `N2…` (农业部门) codes are real and valid.  So the structure is
# checked here as the standard states it: 2 alphabet characters, a 6-digit division code, a 9-character
# organisation code, and the check character.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# One table per position (character -> value x weight): `sum(map(getitem, tables, code))` is the
# fastest pure-Python weighted sum, ~4x a zip/generator.
_USCC_TABLES = tuple(
    {character: value * weight for value, character in enumerate(_USCC_ALPHABET)} for weight in _USCC_WEIGHTS
)
_USCC_SHAPE = re.compile(r"[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}")


def is_valid_uscc(code: str) -> bool:
    """Whether `code` is a well-formed 统一社会信用代码 with a correct check character.

    Only the canonical form is accepted (upper case, no separators): a record is the system of
    record, so a sloppy spelling is a data-quality error rather than something to normalise.
    """
    if len(code) != 18 or _USCC_SHAPE.fullmatch(code) is None:
        return False
    total = sum(map(getitem, _USCC_TABLES, code))
    return code[17] == _USCC_ALPHABET[(31 - total % 31) % 31]


# --- 居民身份证号 (GB 11643-1999) --------------------------------------------------------------------
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RIC_CHECK = "10X98765432"
# The province part of the area code is never 0.  Nothing finer is checked: python-stdnum's
# `cn.ric` rejects area codes missing from its table or not yet assigned at the birth date, yet
# real IDs keep codes of abolished or renamed counties (e.g. 330204 江东区, merged in 2016).
_RIC_SHAPE = re.compile(r"[1-9][0-9]{16}[0-9X]")
# Birth years before 1800 or after 2099 cannot occur on a card issued under GB 11643-1999.
_RIC_FIRST_YEAR = "1800"
_RIC_LAST_YEAR = "2099"


_RIC_TABLES = tuple({str(digit): digit * weight for digit in range(10)} for weight in _RIC_WEIGHTS)
_MONTH_DAYS = frozenset(
    f"{month:02}{day:02}"
    for month, days in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1)
    for day in range(1, days + 1)
)


def _ric_check_character(first17: str) -> str:
    # `first17` must be 17 ASCII digits; map() stops at the shorter of tables and string.
    return _RIC_CHECK[sum(map(getitem, _RIC_TABLES, first17)) % 11]


def _has_valid_birth_date(number: str) -> bool:
    # String comparisons on the digits (the shape regex guarantees them) avoid building a date.
    year = number[6:10]
    if not _RIC_FIRST_YEAR <= year <= _RIC_LAST_YEAR:
        return False
    month_day = number[10:14]
    if month_day not in _MONTH_DAYS:
        return False
    return month_day != "0229" or calendar.isleap(int(year))


def is_valid_resident_id(number: str) -> bool:
    """Whether `number` is an 18-character 居民身份证号 with a correct check digit and a real birth date.

    The check character must be an upper-case `X` (the standard's form); unknown area codes are
    accepted (see `_RIC_SHAPE`).
    """
    if len(number) != 18 or _RIC_SHAPE.fullmatch(number) is None:
        return False
    return number[17] == _ric_check_character(number[:17]) and _has_valid_birth_date(number)


# --- 行政处罚决定书文号 (GB/T 9704-2012) --------------------------------------------------------------
# Issuing-organ abbreviation (CJK, optionally with ASCII letters/digits such as `甬A`), the year in
# one of the three bracket pairs seen in real data, the serial number without leading zeros, `号`.
# `第` before the number is what GB/T 9704 forbids and producers most often add, so it is excluded
# explicitly from the abbreviation rather than left to the CJK range.
_DECISION_NO = re.compile(
    r"(?![^\u4e00-\u9fff])[\u4e00-\u7b2b\u7b2d-\u9fffA-Za-z0-9]{1,40}"
    r"(?:〔(?:19|20)[0-9]{2}〕|\[(?:19|20)[0-9]{2}\]|（(?:19|20)[0-9]{2}）)"
    r"[1-9][0-9]{0,7}号"
)


def is_valid_decision_no(decision_no: str) -> bool:
    """Whether `decision_no` reads like `甬市监罚〔2023〕12号` (also `[2023]` and `（2023）`)."""
    return _DECISION_NO.fullmatch(decision_no) is not None


# --- personal information in free text (docs/contract.md §7 personal_info_exposed, §9.6 private logs) -
# Masking characters producers use, full-width variants included.
_MASK = re.compile(r"[*＊●•×]|[xXＸｘ]{3,}")
# A maximal run of digits (ASCII or full-width, both occur in published Chinese text), optionally
# closed by the resident-ID check character.  Runs are maximal because the regex scans left to right
# and a shorter run can never reach 11 characters, so a number embedded in a longer digit run (a
# bank account, an order number) is never mistaken for an ID or a phone number.
_DIGIT_RUN = re.compile(r"[0-9０-９]{11,}[XxＸｘ]?")
_TO_ASCII = str.maketrans("０１２３４５６７８９Ｘｘx", "0123456789XXX")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# `+86` / `0086` glued to a mobile number is the one longer digit run that still is a phone number.
_COUNTRY_PREFIXES = ("0086", "86")


def _personal_span(run: str, start: int, text: str) -> tuple[int, int] | None:
    normalised = run.translate(_TO_ASCII)
    digits = normalised.rstrip("X")
    if len(digits) == 18 or (len(digits) == 17 and len(normalised) == 18):
        # 18 digits followed by a stray x is still an 18-digit ID, the x being just text after it.
        candidate = normalised[:18]
        if candidate[17] == _ric_check_character(candidate[:17]):
            return (start, start + 18)
        return None
    for prefix in _COUNTRY_PREFIXES:
        if len(digits) == 11 + len(prefix) and digits.startswith(prefix):
            if prefix == "86" and (start == 0 or text[start - 1] not in "+＋"):
                continue
            digits = digits[len(prefix) :]
            start += len(prefix)
            break
    if len(digits) == 11 and _MOBILE.fullmatch(digits) is not None:
        return (start, start + 11)
    return None


def find_personal_info(text: str) -> list[tuple[int, int]]:
    """Spans `[start, end)` of resident IDs (valid check digit) and mobile numbers in `text`.

    A resident ID counts when its check digit is right, whatever its birth date: a leaked number
    with a typo in the date still identifies a person.  Spans never overlap and are in text order.
    """
    if len(text) < 11:
        return []
    spans: list[tuple[int, int]] = []
    for match in _DIGIT_RUN.finditer(text):
        span = _personal_span(match.group(), match.start(), text)
        if span is not None:
            spans.append(span)
    return spans


def _mask(fragment: str) -> str:
    # Keep only what the 浙江 publication rules leave visible: the area code and last 4 characters of
    # an ID (`330203********123X`), the carrier prefix and last 4 digits of a phone (`138****5678`).
    if len(fragment) == 18:
        return fragment[:6] + "*" * 8 + fragment[14:]
    return fragment[:3] + "*" * 4 + fragment[7:]


def mask_personal_info(text: str) -> str:
    """`text` with every span of `find_personal_info` masked; the length of the text is unchanged."""
    spans = find_personal_info(text)
    if not spans:
        return text
    parts: list[str] = []
    position = 0
    for start, end in spans:
        parts.append(text[position:start])
        parts.append(_mask(text[start:end]))
        position = end
    parts.append(text[position:])
    return "".join(parts)


def is_masked_id(value: str) -> bool:
    """Whether an identifier shows masking (`*` and kin) and no longer contains a findable ID or phone.

    Masking with `X` counts only as a run of three or more, because a single `X` is also the
    resident-ID check character (`33020319900101123X` is a full ID, not a masked one).
    """
    if _MASK.search(value) is None:
        return False
    return not find_personal_info(value)
