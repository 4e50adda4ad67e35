"""Bulk phone and email normalisation give what the HTTP path gives, value by value."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from customers.contacts import InvalidEmail, InvalidPhone, normalize_email, normalize_phone
from etl.contacts import bulk_emails, bulk_phones


def one_by_one_phone(value: str) -> str | None:
    try:
        return normalize_phone(value, "RU")
    except InvalidPhone:
        return None


def one_by_one_email(value: str) -> str | None:
    try:
        return normalize_email(value)
    except InvalidEmail:
        return None


digits = st.text(alphabet="0123456789", min_size=0, max_size=13)
separators = st.sampled_from(["", " ", "-", "(", ")", ".", "  ", "+", "/", "x", "\t", "доб."])
prefixes = st.sampled_from(["", "+7", "7", "8", "+8", "+", "+44", "+7 ", "8 (", "+375", "007", " 8"])
messy_phone = st.builds(
    lambda prefix, parts, seps, tail: prefix + "".join(p + s for p, s in zip(parts, seps, strict=False)) + tail,
    prefixes,
    st.lists(digits, min_size=1, max_size=5),
    st.lists(separators, min_size=5, max_size=5),
    st.sampled_from(["", " ", "-", ")", " доб. 12", "a"]),
)
# the shapes the fast path takes, with mobile and fixed-line codes, valid or not
shaped_phone = st.builds(
    lambda p, a, b, c, d, s: f"{p}{s}({a}){s}{b}-{c}-{d}" if s == " " else f"{p}{a}{b}{c}{d}",
    st.sampled_from(["+7", "7", "8", ""]),
    st.from_regex(r"\A[3-9][0-9]{2}\Z"),
    st.from_regex(r"\A[0-9]{3}\Z"),
    st.from_regex(r"\A[0-9]{2}\Z"),
    st.from_regex(r"\A[0-9]{2}\Z"),
    st.sampled_from(["", " "]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(messy_phone, shaped_phone, st.text(max_size=20)), min_size=1, max_size=40))
def test_bulk_phones_equal_normalize_phone(values: list[str]) -> None:
    phones, messages = bulk_phones(pl.Series("phone", values))
    assert phones.to_list() == [one_by_one_phone(v) for v in values]
    # every value that fails carries the reason normalize_phone gives
    assert [m is not None for m in messages.to_list()] == [one_by_one_phone(v) is None for v in values]


def test_bulk_phones_common_shapes() -> None:
    values = [
        "+7 (912) 345-67-89",
        "89123456789",
        "79123456789",
        "8 912 345-67-89",
        "9123456789",
        "84951234567",
        "12345",
        "+7 (912) 345-67-8",
        "+1 202 555 0100",
        None,
    ]
    phones, messages = bulk_phones(pl.Series("phone", values, dtype=pl.String))
    assert phones.to_list() == ["79123456789"] * 5 + ["74951234567", None, None, "12025550100", None]
    assert messages.to_list()[6] == "not a valid phone number"


emails = st.one_of(
    st.emails().map(lambda e: e.upper() if len(e) % 3 == 0 else e),
    st.builds(lambda a, b: f" {a}@{b} ", st.text(max_size=8), st.text(max_size=8)),
    st.text(max_size=30),
    st.sampled_from(["Ivan@Mail.RU", "ivan@mail", "a@b.c", "ИВАН@почта.рф", "x@y.ru\x1c", "\u212a@mail.ru", "a@@b.ru"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(emails, min_size=1, max_size=40))
def test_bulk_emails_equal_normalize_email(values: list[str]) -> None:
    normalised, messages = bulk_emails(pl.Series("email", values))
    assert normalised.to_list() == [one_by_one_email(v) for v in values]
    assert [m is not None for m in messages.to_list()] == [one_by_one_email(v) is None for v in values]
