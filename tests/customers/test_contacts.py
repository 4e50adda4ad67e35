"""Phone and email normalisation."""

from __future__ import annotations

import random

import pytest

from customers.contacts import InvalidEmail, InvalidPhone, normalize_email, normalize_phone, parsed_phone


@pytest.mark.parametrize(
    "raw",
    [
        "+7 (912) 345-67-89",
        "8 912 345 67 89",
        "79123456789",
        "89123456789",
        "+79123456789",
        "9123456789",
        " 8(912)3456789 ",
        "+7-912-345-67-89",
    ],
)
def test_russian_formats_normalise_to_digits(raw: str) -> None:
    assert normalize_phone(raw, "RU") == "79123456789"


def test_other_regions() -> None:
    assert normalize_phone("+1 650-253-0000", "RU") == "16502530000"
    assert normalize_phone("650-253-0000", "US") == "16502530000"
    assert normalize_phone("+375 29 123-45-67", "RU") == "375291234567"


@pytest.mark.parametrize(
    "raw", ["", "   ", "12", "abc", "+7 000 000 00 00", "8912345678", "7" * 41, "+7 (912) 345-67-89 ext"]
)
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(raw, "RU")


def test_email_is_trimmed_and_lower_cased() -> None:
    assert normalize_email("  Ivan.Petrov+promo@Mail.RU ") == "ivan.petrov+promo@mail.ru"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ivan",
        "ivan@",
        "@mail.ru",
        "ivan@mail",
        "iv an@mail.ru",
        "ivan@@mail.ru",
        "a@b.c",
        "ivan@mail..ru",
        "x" * 250 + "@mail.ru",
    ],
)
def test_invalid_emails(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(raw)


def test_the_shapes_recognised_without_parsing_give_phonenumbers_own_result() -> None:
    # every shape the fast path knows, over national numbers from every leading digit pair
    # (valid and invalid ones): the digits or the refusal must be phonenumbers' own
    rng = random.Random(7)
    shapes = ["+7{}", "7{}", "8{}", "{}", "+7 ({}) {}-{}-{}", "8 {} {} {} {}", "8-{}-{}-{}-{}", "7({}){}{}{}"]
    checked = 0
    for lead in range(100):
        for _ in range(3):
            national = f"{lead:02d}{rng.randrange(10**8):08d}"
            parts = (national[:3], national[3:6], national[6:8], national[8:])
            for shape in shapes:
                raw = shape.format(national) if shape.count("{}") == 1 else shape.format(*parts)
                try:
                    expected: str | None = parsed_phone(raw.strip(), "RU")
                except InvalidPhone:
                    expected = None
                try:
                    got: str | None = normalize_phone(raw, "RU")
                except InvalidPhone:
                    got = None
                assert got == expected, raw
                checked += expected is not None
    assert checked > 500  # many of them valid numbers, not only refusals
