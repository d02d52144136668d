"""Valid (and deliberately invalid) Chinese identifiers: credit codes, resident IDs, phone numbers."""

from __future__ import annotations

import random
from datetime import date, timedelta

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Counties and districts whose codes were assigned long before the birth years drawn below.
_ID_AREAS = ("330203", "330205", "330211", "330225", "330226", "330281", "330282", "330227", "330204")


def uscc(rng: random.Random, division: str, prefix: str = "91") -> str:
    """A 统一社会信用代码 with a GB 11714 organisation-code check and a GB 32100 check character."""
    body = "".join(rng.choice("0123456789") for _ in range(8))
    org_check = 11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    org = body + ("X" if org_check == 10 else "0" if org_check == 11 else str(org_check))
    first17 = prefix + division + org
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return first17 + _USCC_ALPHABET[(31 - total % 31) % 31]


def resident_id(rng: random.Random) -> str:
    """A 居民身份证号 with a real birth date (1960-2002) and the GB 11643 check character."""
    birth = date(1960, 1, 1) + timedelta(days=rng.randrange(365 * 43))
    first17 = rng.choice(_ID_AREAS) + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    total = sum(int(c) * w for c, w in zip(first17, _RIC_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def masked(resident_id: str) -> str:
    """The resident ID as it may be published: birth date and sequence hidden."""
    return resident_id[:6] + "********" + resident_id[14:]


def bad_check(code: str) -> str:
    """`code` with its check character replaced by a wrong one."""
    alphabet = "0123456789X" if code[:-1].isdigit() else _USCC_ALPHABET
    wrong = [c for c in alphabet if c != code[-1]]
    return code[:-1] + wrong[sum(map(ord, code)) % len(wrong)]


def mobile(rng: random.Random) -> str:
    return rng.choice(("138", "139", "137", "158", "189", "177")) + f"{rng.randrange(10**8):08d}"
