"""Phone and email normalisation, shared by single writes and bulk files.

Phones are parsed with `phonenumbers` (Google's libphonenumber metadata) and stored as the
E.164 digits without the plus sign: `+7 (912) 345-67-89` → `79123456789`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

# One definition of a well-formed address, used by the HTTP model and by the vectorised bulk
# check (polars uses the same RE2-like Rust engine, so no look-arounds here).
EMAIL_PATTERN = (
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_EMAIL_RE = re.compile(EMAIL_PATTERN)
EMAIL_MAX_LENGTH = 254
INVALID_EMAIL = "not a valid email address"


class InvalidPhone(ValueError):
    pass


class InvalidEmail(ValueError):
    pass


@lru_cache(maxsize=65536)
def normalize_phone(raw: str, region: str = "RU") -> str:
    """Return the E.164 digits of `raw`, or raise InvalidPhone naming why."""
    text = raw.strip()
    if not text:
        raise InvalidPhone("phone is empty")
    if len(text) > 40:
        raise InvalidPhone("phone is longer than 40 characters")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number ({exc._msg})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone("not a valid phone number")
    return f"{number.country_code}{number.national_number}"


def normalize_email(raw: str) -> str:
    """Return the trimmed, lower-cased address, or raise InvalidEmail."""
    email = raw.strip().lower()
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL_RE.match(email):
        raise InvalidEmail(INVALID_EMAIL)
    return email
