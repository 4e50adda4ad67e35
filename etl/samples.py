"""Deterministic, realistic customer files (Russian retail) for demos, tests and benchmarks.

The same (n, seed, dirty share) always gives the same rows. Dirty rows are spread over the file,
one defect each, and listed by `generate` (row as a spreadsheet shows it, column, expected code),
so a test can check that an import rejects exactly them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

SampleFormat = Literal["csv", "parquet"]

MALE_FIRST = [
    "Александр",
    "Алексей",
    "Андрей",
    "Артём",
    "Владимир",
    "Дмитрий",
    "Евгений",
    "Иван",
    "Игорь",
    "Кирилл",
    "Максим",
    "Михаил",
    "Николай",
    "Олег",
    "Павел",
    "Роман",
    "Сергей",
    "Станислав",
    "Юрий",
    "Ярослав",
]
FEMALE_FIRST = [
    "Александра",
    "Алина",
    "Анастасия",
    "Анна",
    "Валентина",
    "Виктория",
    "Дарья",
    "Екатерина",
    "Елена",
    "Ирина",
    "Ксения",
    "Мария",
    "Наталья",
    "Ольга",
    "Полина",
    "Светлана",
    "София",
    "Татьяна",
    "Юлия",
    "Яна",
]
LAST = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
]
PATRONYMIC_ROOTS = [
    "Александров",
    "Алексеев",
    "Андреев",
    "Владимиров",
    "Дмитриев",
    "Иванов",
    "Игорев",
    "Михайлов",
    "Николаев",
    "Олегов",
    "Павлов",
    "Сергеев",
    "Юрьев",
    "Викторов",
    "Петров",
]
CITIES = [
    "Москва",
    "Санкт-Петербург",
    "Новосибирск",
    "Екатеринбург",
    "Казань",
    "Нижний Новгород",
    "Челябинск",
    "Самара",
    "Омск",
    "Ростов-на-Дону",
    "Уфа",
    "Красноярск",
    "Воронеж",
    "Пермь",
    "Волгоград",
    "Краснодар",
    "Тюмень",
    "Ижевск",
    "Барнаул",
    "Иркутск",
]
STORES = [
    "ТЦ «Мега»",
    "ТРК «Галерея»",
    "ТЦ «Европейский»",
    "ТЦ «Атриум»",
    "ТРЦ «Аура»",
    "ТЦ «Июнь»",
    "ТРЦ «Гринвич»",
    "ТЦ «Planeta»",
    "ТЦ «Кольцо»",
    "Интернет-магазин",
]
INTERESTS = [
    "sport",
    "travel",
    "cooking",
    "books",
    "music",
    "cinema",
    "garden",
    "pets",
    "fashion",
    "electronics",
    "kids",
    "beauty",
]
DOMAINS = ["mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "rambler.ru"]
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "sch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
        strict=False,
    )
)
# second digit of Russian mobile numbers that phonenumbers holds valid whatever follows
_MOBILE_SECOND = [0, 1, 2, 4, 5, 6, 7, 8, 9]
COLUMNS = [
    "phone",
    "email",
    "first_name",
    "last_name",
    "middle_name",
    "birth_date",
    "gender",
    "city",
    "children_count",
    "marital_status",
    "interests",
    "favourite_store",
    "preferred_contact",
    "shoe_size",
    "car_owner",
    "created",
    "loyalty_enabled",
    "meta.legacy_id",
    "meta.registration_channel",
]


@dataclass(frozen=True)
class DirtyRow:
    """A deliberately bad row: where it is and what the import must say about it."""

    row: int  # as a spreadsheet shows it: the header is row 1
    column: str
    code: str
    what: str


# one defect per dirty row, taken in turn
_DEFECTS: list[tuple[str, str, str, str]] = [
    ("phone", "12345", "INVALID_FORMAT", "a phone that cannot be normalised"),
    ("birth_date", "31.02.2020", "INVALID_FORMAT", "an impossible date"),
    ("gender", "unknown", "INVALID_ENUM_VALUE", "a gender not among the options"),
    ("children_count", "много", "TYPE_MISMATCH", "text in an integer field"),
    ("email", "ivanov@@mail", "INVALID_FORMAT", "a malformed email"),
    ("phone", "", "DUPLICATE_PHONE", "the phone of the previous good row (in another format)"),
    ("interests", "sport,fishing", "INVALID_ENUM_VALUE", "an interest not among the options"),
    ("shoe_size", "100", "NUMBER_CONSTRAINT", "a shoe size above the maximum of 50"),
    ("children_count", "25", "NUMBER_CONSTRAINT", "more children than the maximum of 20"),
    ("car_owner", "может быть", "TYPE_MISMATCH", "a boolean that is none of true/false/1/0/да/нет"),
    ("first_name", "Я" * 150, "LENGTH_CONSTRAINT", "a first name longer than 100 characters"),
    ("created", "2020-13-01", "INVALID_FORMAT", "a month 13"),
]


def _translit(text: str) -> str:
    return "".join(_TRANSLIT.get(ch, ch) for ch in text.lower())


def _phone_text(national: int, style: int) -> str:
    digits = str(national)
    a, b, c, d = digits[:3], digits[3:6], digits[6:8], digits[8:]
    return [
        f"+7 ({a}) {b}-{c}-{d}",
        f"8{digits}",
        f"7{digits}",
        f"8 {a} {b}-{c}-{d}",
        f"+7{digits}",
        f"8({a}){b}{c}{d}",
        f"+7 {a} {b} {c} {d}",
        digits,
    ][style]


def build(n: int, *, dirty: float = 0.0, seed: int = 1) -> tuple[pl.DataFrame, list[DirtyRow]]:
    """`n` customers as a frame of strings, and the list of dirty rows in it."""
    rng = random.Random(seed)
    nationals = [
        9_000_000_000 + _MOBILE_SECOND[x // 10**8] * 10**8 + x % 10**8 for x in rng.sample(range(9 * 10**8), n)
    ]
    rows: dict[str, list[str]] = {name: [] for name in COLUMNS}
    for i in range(n):
        female = rng.random() < 0.55
        first = rng.choice(FEMALE_FIRST if female else MALE_FIRST)
        last = rng.choice(LAST) + ("а" if female else "")
        middle = rng.choice(PATRONYMIC_ROOTS) + ("на" if female else "ич")
        year, month, day = rng.randint(1950, 2006), rng.randint(1, 12), rng.randint(1, 28)
        rows["phone"].append(_phone_text(nationals[i], rng.choices(range(8), weights=[30, 25, 15, 10, 8, 5, 4, 3])[0]))
        rows["email"].append(
            f"{_translit(first)}.{_translit(last)}{i}@{rng.choice(DOMAINS)}" if rng.random() < 0.7 else ""
        )
        rows["first_name"].append(first)
        rows["last_name"].append(last)
        rows["middle_name"].append(middle if rng.random() < 0.8 else "")
        rows["birth_date"].append(
            f"{year}-{month:02d}-{day:02d}" if rng.random() < 0.5 else f"{day:02d}.{month:02d}.{year}"
        )
        rows["gender"].append("female" if female else "male")
        rows["city"].append(rng.choice(CITIES))
        rows["children_count"].append(str(rng.choices(range(5), weights=[35, 30, 25, 7, 3])[0]))
        rows["marital_status"].append(rng.choice(["single", "married", "married", "divorced", "widowed", ""]))
        rows["interests"].append(",".join(rng.sample(INTERESTS, rng.randint(0, 4))))
        rows["favourite_store"].append(rng.choice(STORES))
        rows["preferred_contact"].append(rng.choice(["sms", "email", "push", "call", ""]))
        rows["shoe_size"].append(f"{rng.randint(70, 92) / 2:g}")
        rows["car_owner"].append(rng.choice(["да", "нет", "true", "false", "1", "0", ""]))
        rows["created"].append(f"{rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}")
        rows["loyalty_enabled"].append(rng.choice(["true", "true", "true", "false"]))
        rows["meta.legacy_id"].append(f"LEG-{seed:03d}-{i:07d}")
        rows["meta.registration_channel"].append(rng.choice(["store", "store", "web", "app", "call_center"]))
    # a formula-like value in a good row: kept as text, never evaluated
    if n > 3:
        rows["favourite_store"][3] = "=cmd|' /C calc'!A0"
    defects = _make_dirty(rows, n, dirty, rng)
    return pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS, pl.String)), defects


def _make_dirty(rows: dict[str, list[str]], n: int, share: float, rng: random.Random) -> list[DirtyRow]:
    count = min(round(n * share), n - 1) if share > 0 else 0
    if count <= 0:
        return []
    # never row 0 (a duplicate needs an earlier good row) nor row 3 (the formula-like value)
    chosen = sorted(rng.sample([i for i in range(1, n) if i != 3], count))
    dirty = set(chosen)
    out: list[DirtyRow] = []
    for k, i in enumerate(chosen):
        column, value, code, what = _DEFECTS[k % len(_DEFECTS)]
        if code == "DUPLICATE_PHONE":
            j = max(x for x in range(i) if x not in dirty)
            digits = "".join(ch for ch in rows["phone"][j] if ch.isdigit())[-10:]
            value = f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
        rows[column][i] = value
        out.append(DirtyRow(i + 2, column, code, what))
    return out


def generate(
    n: int, path: Path, *, dirty: float = 0.0, seed: int = 1, fmt: SampleFormat | None = None
) -> list[DirtyRow]:
    """Write `n` customers to `path` (CSV or Parquet by extension); returns the dirty rows."""
    frame, defects = build(n, dirty=dirty, seed=seed)
    kind = fmt or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        frame.with_columns(
            pl.when(pl.col("interests") != "").then(pl.col("interests").str.split(",")).alias("interests")
        ).write_parquet(path)
    else:
        frame.write_csv(path)
    return defects
