"""Identifier checks (USCC, resident ID, decision number) and personal-information finding/masking."""

from __future__ import annotations

import pytest
from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from schemas.identifiers import (
    find_personal_info,
    is_masked_id,
    is_valid_decision_no,
    is_valid_resident_id,
    is_valid_uscc,
    mask_personal_info,
)

# Check digits computed independently from the standards (GB 32100-2015 / GB 11643-1999), not with
# the code under test.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _with_uscc_check(body: str) -> str:
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def _with_ric_check(body: str) -> str:
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _RIC_WEIGHTS, strict=True)) % 11]


VALID_USCC = [
    "91110000600037341L",  # python-stdnum's own example
    "91330200MA2AB1234Y",
    "91330203MA2GQ7X8KN",
    "123302000020001231",
    "52330212MJ98765437",
    "Y1330225MB1234567W",  # registering authority `Y` (其他): real, but stdnum requires 8 leading digits
    "N2330226MC0001234W",  # `N` (农业): same
]
INVALID_USCC = [
    "91110000600037341M",  # wrong check character
    "91110000600037341",  # 17 characters
    "91110000600037341LL",  # 19 characters
    "91110000600037341l",  # lower case
    "9111000060003734IL",  # I is not in the alphabet
    "91110000600O37341L",  # O is not in the alphabet
    "91A10000600037341L",  # the division code (positions 3-8) must be digits
    "91110000 600037341",  # separator
    "",
]


@pytest.mark.parametrize("code", VALID_USCC)
def test_valid_uscc_is_accepted(code: str) -> None:
    """A code with the GB 32100-2015 check character is valid, whatever its authority letter."""
    assert is_valid_uscc(code)
    assert _with_uscc_check(code[:17]) == code


@pytest.mark.parametrize("code", INVALID_USCC)
def test_invalid_uscc_is_rejected(code: str) -> None:
    """Wrong check characters, lengths, case, alphabet and division digits are rejected."""
    assert not is_valid_uscc(code)


@pytest.mark.parametrize("code", [c for c in VALID_USCC if c[:8].isdigit()])
def test_uscc_agrees_with_stdnum_where_stdnum_applies(code: str) -> None:
    """For codes python-stdnum can judge (8 leading digits), both implementations agree."""
    assert stdnum_uscc.is_valid(code) == is_valid_uscc(code)


def test_uscc_letter_authority_is_one_stdnum_rejects() -> None:
    """The reason for a home-grown check: stdnum refuses valid codes of letter authorities."""
    assert not stdnum_uscc.is_valid("Y1330225MB1234567W")
    assert is_valid_uscc("Y1330225MB1234567W")


VALID_RESIDENT_IDS = [
    "11010519491231002X",  # the textbook example, check character X
    "330204199003071239",
    "33020319851120456X",
    "330225200002293216",  # 29 February of a leap year
    "810000199001011230",  # Hong Kong residence permit area code: unknown to stdnum's table
    "330204202501010011",  # 江东区 was abolished in 2016; stdnum rejects later births there
]
INVALID_RESIDENT_IDS = [
    "330204199003071238",  # wrong check digit
    "11010519491231002x",  # lower-case check character
    "33022519000229321X",  # 1900 was not a leap year (check digit right)
    "330204199013071232",  # month 13 (check digit right)
    "330204199002301231",  # 30 February (check digit right)
    "330204179003071230",  # birth year before 1800 (check digit right)
    "33020419900307123",  # 17 characters
    "330204900307123",  # the old 15-digit format
    "030204199003071239",  # province part 0
    "33020419900307123Y",
]


@pytest.mark.parametrize("number", VALID_RESIDENT_IDS)
def test_valid_resident_id_is_accepted(number: str) -> None:
    """An ID with the GB 11643-1999 check digit and a real birth date is valid."""
    assert is_valid_resident_id(number)
    assert _with_ric_check(number[:17]) == number


@pytest.mark.parametrize("number", INVALID_RESIDENT_IDS)
def test_invalid_resident_id_is_rejected(number: str) -> None:
    """Wrong check digits, impossible birth dates and wrong shapes are rejected."""
    assert not is_valid_resident_id(number)


@pytest.mark.parametrize(
    "number", ["33022519000229321X", "330204199013071232", "330204199002301231", "330204179003071230"]
)
def test_impossible_birth_date_alone_invalidates(number: str) -> None:
    """An ID whose check digit is right is still invalid when its birth date cannot exist."""
    assert _with_ric_check(number[:17]) == number
    assert not is_valid_resident_id(number)


@pytest.mark.parametrize("number", ["810000199001011230", "330204202501010011"])
def test_resident_id_with_area_unknown_to_stdnum_is_valid(number: str) -> None:
    """Area codes missing from stdnum's table (or abolished) do not make a checksum-valid ID invalid."""
    assert not stdnum_ric.is_valid(number)
    assert is_valid_resident_id(number)


@pytest.mark.parametrize(
    "decision_no",
    [
        "甬市监罚〔2023〕12号",
        "甬市监罚[2023]12号",
        "甬市监罚（2023）12号",
        "象渔罚〔2021〕1号",
        "甬综执罚字〔2019〕1024号",
        "浙甬A罚〔2023〕7号",
    ],
)
def test_valid_decision_no_is_accepted(decision_no: str) -> None:
    """Abbreviation + bracketed year + number + 号 is a valid document number."""
    assert is_valid_decision_no(decision_no)


@pytest.mark.parametrize(
    "decision_no",
    [
        "甬市监罚〔2023〕第12号",  # 第 is not allowed
        "甬市监罚第〔2023〕12号",
        "甬市监罚〔2023〕012号",  # leading zero
        "甬市监罚〔2023〕0号",
        "甬市监罚〔2023]12号",  # mismatched brackets
        "甬市监罚(2023)12号",  # ASCII parentheses are not among the accepted variants
        "甬市监罚〔23〕12号",  # two-digit year
        "〔2023〕12号",  # no issuing organ
        "甬市监罚〔2023〕12",  # no 号
        "甬市监罚 〔2023〕12号",  # whitespace
        "A罚〔2023〕12号",  # abbreviation must start with a Chinese character
        "",
    ],
)
def test_invalid_decision_no_is_rejected(decision_no: str) -> None:
    """第, leading zeros, wrong brackets and missing parts make a document number invalid."""
    assert not is_valid_decision_no(decision_no)


def test_find_personal_info_finds_resident_id_and_mobile() -> None:
    """A checksum-valid ID and a mobile number in free text are found with their exact spans."""
    text = "当事人张某（身份证号330204199003071239），联系电话13812345678。"
    spans = find_personal_info(text)
    assert [text[start:end] for start, end in spans] == ["330204199003071239", "13812345678"]


@pytest.mark.parametrize(
    "text",
    [
        "身份证号330204199003071238",  # wrong check digit
        "账号6222021234567890123",  # 19-digit run: neither an ID nor a phone
        "订单号913812345678",  # mobile pattern embedded in a longer digit run
        "电话12812345678",  # 12x is not a mobile prefix
        "电话1381234567",  # 10 digits
        "罚款人民币50000元",
        "",
    ],
)
def test_find_personal_info_ignores_lookalikes(text: str) -> None:
    """Numbers that only resemble IDs or phones (bad check digit, longer runs) are not reported."""
    assert find_personal_info(text) == []


def test_find_personal_info_finds_full_width_and_prefixed_numbers() -> None:
    """Full-width digits, a lower-case check x and a +86 prefix do not hide personal numbers."""
    text = "证号１１０１０５１９４９１２３１００２x，电话+8613912345678"
    spans = find_personal_info(text)
    assert [text[start:end] for start, end in spans] == ["１１０１０５１９４９１２３１００２x", "13912345678"]


def test_find_personal_info_reports_id_whatever_its_birth_date() -> None:
    """An ID with a valid check digit but impossible birth date still identifies someone."""
    assert find_personal_info("x33022519000229321X。") == [(1, 19)]
    assert find_personal_info("号330204199013071232x") == [(1, 19)]


def test_mask_personal_info_hides_identifying_digits() -> None:
    """Masking keeps area code and last four of an ID, carrier prefix and last four of a phone."""
    text = "张某330204199003071239电话13812345678"
    masked = mask_personal_info(text)
    assert masked == "张某330204********1239电话138****5678"
    assert len(masked) == len(text)
    assert find_personal_info(masked) == []


def test_mask_personal_info_leaves_clean_text_alone() -> None:
    """Text without personal numbers is returned unchanged."""
    text = "当事人宁波某某贸易有限公司，统一社会信用代码91330200MA2AB1234Y。"
    assert mask_personal_info(text) == text


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("330204********1239", True),
        ("3302**********123X", True),
        ("330204199003071239", False),  # a full ID
        ("11010519491231002X", False),  # X is a check character, not masking
        ("3302041990XXXXXXXX", True),
        ("330204＊＊＊＊＊＊＊＊1239", True),
        ("张*", True),
        ("330204199003071239*", False),  # a star next to a complete ID does not mask it
        ("", False),
    ],
)
def test_is_masked_id(value: str, masked: bool) -> None:
    """An id counts as masked only when it shows masking and no complete ID or phone remains."""
    assert is_masked_id(value) is masked
