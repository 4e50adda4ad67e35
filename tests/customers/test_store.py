"""The customer store: its change notification (after commit, never failing the write), the
rule of lookups by phone, and the write statements (round trips, the questionnaire checked
inside them, concurrent writers)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from customers import customer_writes, settings_store, store
from customers.errors import CustomerNotFound, ValidationFailed
from customers.models import CustomerCreate, CustomerUpdate, create_defaults
from customers.questionnaire import Questionnaire, default_document
from customers.settings_store import QuestionnaireCache
from tests.helpers import CREATE_DEFAULTS
from tests.service.roundtrips import round_trips


def test_listeners_see_committed_writes_and_cannot_fail_them(conninfo: str, clean_db: None) -> None:
    seen: list[tuple[list[int], list[int]]] = []

    async def record(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        seen.append(([row["id"] for row in upserted], deleted))

    async def broken(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        raise ConnectionError("search index unreachable")

    async def scenario() -> None:
        q = Questionnaire.default()
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            created = await customer_writes.create_customer(conn, CustomerCreate(phone="79120001000"), q, "RU")
            cid = created["id"]
            await customer_writes.update_customer(conn, cid, CustomerUpdate(profile={"city": "Казань"}), q)
            await store.set_blocked(conn, cid, True)
            await store.change_email(conn, cid, "a@example.com")
            await store.activate_email(conn, cid)
            await store.delete_customer(conn, cid)
            assert await store.get_customer(conn, cid) is None

    unsubscribe = [store.on_change(record), store.on_change(broken)]
    try:
        asyncio.run(scenario())
    finally:
        for fn in unsubscribe:
            fn()
    ids = [s[0] for s in seen]
    assert len(seen) == 6
    assert all(len(i) == 1 for i in ids[:5]) and len({i[0] for i in ids[:5]}) == 1
    assert seen[5] == ([], [ids[0][0]])


def _recording(stored: dict[str, str]) -> tuple[list[str], Any]:
    """A lookup by phone over `stored` that records the phones it was asked for."""
    asked: list[str] = []

    async def fetch(phone: str) -> str | None:
        asked.append(phone)
        return stored.get(phone)

    return asked, fetch


@pytest.mark.parametrize(
    ("given", "found", "asked"),
    [
        # stored digits as given: found without parsing
        ("79161234567", "ru", ["79161234567"]),
        ("4915123456789", "de", ["4915123456789"]),  # would not parse as a Russian number
        # digits that are not a stored phone: then the normalised number
        ("89161234567", "ru", ["89161234567", "79161234567"]),
        ("9161234567", "ru", ["9161234567", "79161234567"]),
        # a human format: the normalised number only
        ("+7 (916) 123-45-67", "ru", ["79161234567"]),
        # digits that normalise to themselves are asked for once
        ("79161230000", None, ["79161230000"]),
    ],
)
def test_phone_lookup_rule(given: str, found: str | None, asked: list[str]) -> None:
    calls, fetch = _recording({"79161234567": "ru", "4915123456789": "de"})
    assert asyncio.run(store.lookup_by_phone(given, "RU", fetch)) == found
    assert calls == asked


@pytest.mark.parametrize(("given", "asked"), [("123", ["123"]), ("not a phone", [])])
def test_phone_lookup_of_no_phone_is_a_field_error(given: str, asked: list[str]) -> None:
    calls, fetch = _recording({})
    with pytest.raises(ValidationFailed) as refused:
        asyncio.run(store.lookup_by_phone(given, "RU", fetch))
    assert [(e.field, e.code) for e in refused.value.errors] == [("phone", "INVALID_FORMAT")]
    assert calls == asked


def test_one_set_of_create_defaults_in_the_model_the_store_and_the_table(
    conninfo: str, conn: psycopg.Connection[Any]
) -> None:
    assert create_defaults() == CREATE_DEFAULTS
    # the store writes them
    created = asyncio.run(_create_phone_alone(conninfo))
    assert {name: created[name] for name in CREATE_DEFAULTS} == CREATE_DEFAULTS
    assert created["email"] is None and created["source_id"] is None
    # and the table's column defaults agree (a writer naming only the phone gets the same)
    columns = ", ".join(CREATE_DEFAULTS)
    row = conn.execute(f"INSERT INTO customers (phone) VALUES ('79120001001') RETURNING {columns}").fetchone()
    assert row is not None
    assert dict(zip(CREATE_DEFAULTS, row, strict=True)) == CREATE_DEFAULTS


async def _create_phone_alone(conninfo: str) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        return await customer_writes.create_customer(
            conn, CustomerCreate(phone="79120001000"), Questionnaire.default(), "RU"
        )


# ---------------------------------------------------------------------------------------------
# The write statements: round trips, the questionnaire checked inside them, concurrency

NICKNAME = {"key": "nickname", "label": "Ник", "type": "string", "required": True, "min_length": 3}


def _with_fields(*extra: dict[str, Any], children_max: int | None = None) -> dict[str, Any]:
    document = default_document().to_json()
    document["fields"] += list(extra)
    if children_max is not None:
        for spec in document["fields"]:
            if spec["key"] == "children_count":
                spec["max"] = children_max
    return document


async def _connect(conninfo: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(conninfo, autocommit=True)


async def _count(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT count(*) FROM customers")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def test_a_create_is_one_round_trip_an_update_at_most_two(conninfo: str, clean_db: None) -> None:
    """Steady state, the statements prepared (psycopg prepares a statement on its fifth use, in
    a round trip of its own, once per connection)."""

    async def scenario() -> dict[str, list[int]]:
        cache = QuestionnaireCache()
        seen: dict[str, list[int]] = {}

        async def measure(name: str, operation: Any) -> Any:
            with round_trips(conn) as traffic:
                result = await operation()
            seen.setdefault(name, []).append(traffic.round_trips)
            return result

        async with await _connect(conninfo) as conn:
            for n in range(8):
                created = await measure(
                    "create",
                    lambda n=n: customer_writes.create_customer(
                        conn, CustomerCreate(phone=f"7912000{n:04d}", profile={"city": "Омск"}), cache, "RU"
                    ),
                )
                cid = created["id"]
                await measure(
                    "create as JSON",
                    lambda n=n: customer_writes.create_customer_json(
                        conn, CustomerCreate(phone=f"7913000{n:04d}"), cache, "RU"
                    ),
                )
                await measure(
                    "update of profile and flags",
                    lambda cid=cid, n=n: customer_writes.update_customer(
                        conn, cid, CustomerUpdate(profile={"children_count": n % 3}, loyalty_enabled=True), cache
                    ),
                )
                await measure(
                    "update of meta as JSON",
                    lambda cid=cid: customer_writes.update_customer_json(
                        conn, cid, CustomerUpdate(meta={"legacy_id": "L"}), cache
                    ),
                )
                await measure(
                    "update of flags and subscriptions",
                    lambda cid=cid: customer_writes.update_customer(
                        conn, cid, CustomerUpdate(accept_tender_offer=False, subscriptions={"sms": True}), cache
                    ),
                )
                # a date as a legacy import stored it: the statement cannot vouch for the stored
                # profile, the merge is validated here (and the date stored as the validation does)
                await conn.execute(
                    'UPDATE customers SET profile = profile || \'{"birth_date": "31.12.1990"}\' WHERE id = %s', (cid,)
                )
                updated = await measure(
                    "update over a profile in another form",
                    lambda cid=cid: customer_writes.update_customer(
                        conn, cid, CustomerUpdate(profile={"city": "Тверь"}), cache
                    ),
                )
                assert updated["profile"]["birth_date"] == "1990-12-31"
        return seen

    seen = asyncio.run(scenario())
    steady = {name: counts[6:] for name, counts in seen.items()}
    assert steady == {
        "create": [1, 1],
        "create as JSON": [1, 1],
        "update of profile and flags": [1, 1],
        "update of meta as JSON": [1, 1],
        "update of flags and subscriptions": [1, 1],
        "update over a profile in another form": [2, 2],
    }
    # before: the same, or one more on the use where psycopg prepares one of the statements
    assert all(steady[name][0] <= count <= steady[name][0] + 1 for name, counts in seen.items() for count in counts)


def test_a_stale_questionnaire_is_refused_by_the_write_and_the_input_validated_again(
    conninfo: str, clean_db: None
) -> None:
    async def scenario() -> None:
        cache = QuestionnaireCache()  # the shipped default, as a process that saw no change holds it
        async with await _connect(conninfo) as conn, await _connect(conninfo) as other:
            # another process puts in force a questionnaire that allows at most 3 children
            await settings_store.set_settings(other, _with_fields(children_max=3))
            # valid under the questionnaire held, invalid under the one in force: refused, unstored
            with round_trips(conn) as traffic, pytest.raises(ValidationFailed) as refused:
                await customer_writes.create_customer(
                    conn, CustomerCreate(phone="79120001000", profile={"children_count": 5}), cache, "RU"
                )
            assert [(e.field, e.code) for e in refused.value.errors] == [
                ("profile.children_count", "NUMBER_CONSTRAINT")
            ]
            # the refusing statement answered the version in force with its document: no other query
            assert traffic.round_trips == 1
            assert cache.current.version == 1 and await _count(conn) == 0

            # valid under both: refused once, then written, in two round trips
            await settings_store.set_settings(other, _with_fields(children_max=4))
            with round_trips(conn) as traffic:
                row = await customer_writes.create_customer(
                    conn, CustomerCreate(phone="79120001001", profile={"children_count": 4}), cache, "RU"
                )
            assert traffic.round_trips == 2 and cache.current.version == 2
            assert row["profile"] == {"children_count": 4}

            # an update validated against a stale questionnaire is refused, merged and validated again
            await settings_store.set_settings(other, _with_fields(children_max=2))
            with pytest.raises(ValidationFailed):
                await customer_writes.update_customer(
                    conn, row["id"], CustomerUpdate(profile={"first_name": "Анна"}), cache
                )
            assert cache.current.version == 3
            stored = await store.get_customer(conn, row["id"])
            assert stored is not None and stored["profile"] == {"children_count": 4}

            # a required field added elsewhere: the statement refuses, the input is missing it
            await settings_store.set_settings(other, _with_fields(NICKNAME))
            with pytest.raises(ValidationFailed) as refused:
                await customer_writes.create_customer(conn, CustomerCreate(phone="79120001002"), cache, "RU")
            assert [(e.field, e.code) for e in refused.value.errors] == [("profile.nickname", "MISSING")]
            assert await _count(conn) == 1

    asyncio.run(scenario())


def test_an_input_refused_by_a_stale_questionnaire_is_checked_against_the_one_in_force(
    conninfo: str, clean_db: None
) -> None:
    async def scenario() -> None:
        async with await _connect(conninfo) as conn, await _connect(conninfo) as other:
            await settings_store.set_settings(other, _with_fields(NICKNAME))
            cache = QuestionnaireCache()
            await cache.get(conn)  # the process holds version 1: nickname required
            await settings_store.reset_settings(other)  # another process returns to the default
            with round_trips(conn) as traffic:
                row = await customer_writes.create_customer(conn, CustomerCreate(phone="79120001000"), cache, "RU")
            # one query for the version in force (the input was refused by the one held), one write
            assert traffic.round_trips == 2
            assert cache.current.version == 2 and row["profile"] == {}
            # a refusal by the questionnaire in force costs that query too, and stays a refusal
            with pytest.raises(ValidationFailed), round_trips(conn) as traffic:
                await customer_writes.create_customer(
                    conn, CustomerCreate(phone="79120001001", profile={"nickname": "x"}), cache, "RU"
                )
            assert traffic.round_trips == 1

    asyncio.run(scenario())


def test_versions_numbered_again_after_the_table_is_emptied_are_told_apart(conninfo: str, clean_db: None) -> None:
    async def scenario() -> None:
        async with await _connect(conninfo) as conn:
            await settings_store.set_settings(conn, _with_fields(children_max=10))
            cache = QuestionnaireCache()
            await cache.get(conn)
            await conn.execute("TRUNCATE questionnaire_versions")
            await settings_store.set_settings(conn, _with_fields(children_max=1))  # version 1 again
            with pytest.raises(ValidationFailed):
                await customer_writes.create_customer(
                    conn, CustomerCreate(phone="79120001000", profile={"children_count": 5}), cache, "RU"
                )
            assert cache.current.version == 1 and await _count(conn) == 0

    asyncio.run(scenario())


def test_concurrent_profile_updates_of_one_customer_lose_nothing(conninfo: str, clean_db: None) -> None:
    """Each writer changes a key of its own, many times, all at once: a merge computed from a
    profile read before another writer's change must never be written over it."""
    keys = ["first_name", "last_name", "middle_name", "city", "favourite_store", "about"]
    updates = 15

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        cache = QuestionnaireCache()
        async with await _connect(conninfo) as conn:
            row = await customer_writes.create_customer(conn, CustomerCreate(phone="79120001000"), cache, "RU")

        async def writer(key: str) -> None:
            async with await _connect(conninfo) as conn:
                for n in range(updates):
                    await customer_writes.update_customer(
                        conn,
                        row["id"],
                        CustomerUpdate(profile={key: f"{key}-{n}"}, subscriptions={key: n % 2 == 0}),
                        cache,
                    )

        await asyncio.gather(*(writer(key) for key in keys))
        async with await _connect(conninfo) as conn:
            final = await store.get_customer(conn, row["id"])
        assert final is not None
        return final["profile"], final["subscriptions"]

    profile, subscriptions = asyncio.run(scenario())
    assert profile == {key: f"{key}-{updates - 1}" for key in keys}
    assert subscriptions == dict.fromkeys(keys, (updates - 1) % 2 == 0)


def test_the_locked_write_after_repeated_misses(conninfo: str, clean_db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no optimistic attempt left, a write holds the questionnaire in force and the row in a
    transaction: the same answers, and the settings writers wait for it."""
    monkeypatch.setattr(customer_writes, "_OPTIMISTIC_ATTEMPTS", 0)

    async def scenario() -> None:
        cache = QuestionnaireCache()
        async with await _connect(conninfo) as conn, await _connect(conninfo) as other:
            await settings_store.set_settings(other, _with_fields(children_max=3))
            with pytest.raises(ValidationFailed):
                await customer_writes.create_customer(
                    conn, CustomerCreate(phone="79120001000", profile={"children_count": 5}), cache, "RU"
                )
            created = await customer_writes.create_customer(
                conn, CustomerCreate(phone="79120001000", profile={"city": "Тверь"}), cache, "RU"
            )
            updated = await customer_writes.update_customer(
                conn, created["id"], CustomerUpdate(profile={"city": None, "children_count": 2}), cache
            )
            assert updated["profile"] == {"children_count": 2}
            with pytest.raises(CustomerNotFound):
                await customer_writes.update_customer(
                    conn, created["id"] + 1, CustomerUpdate(profile={"city": "Омск"}), cache
                )
            # while a write holds the questionnaire in force, no new version can be put in force
            async with conn.transaction():
                await settings_store.hold_in_force(conn)
                change = asyncio.create_task(settings_store.set_settings(other, _with_fields(children_max=1)))
                await asyncio.sleep(0.3)
                assert not change.done()
            assert (await change)["version"] == 2

    asyncio.run(scenario())


def test_the_listeners_get_the_record_of_a_write_answered_as_json(conninfo: str, clean_db: None) -> None:
    seen: list[dict[str, Any]] = []

    async def record(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        seen.extend(upserted)

    async def scenario() -> tuple[bytes, bytes]:
        cache = QuestionnaireCache()
        async with await _connect(conninfo) as conn:
            created = await customer_writes.create_customer_json(conn, CustomerCreate(phone="79120001000"), cache, "RU")
            cid = orjson.loads(created)["id"]
            updated = await customer_writes.update_customer_json(
                conn, cid, CustomerUpdate(profile={"city": "Омск"}), cache
            )
            return created, updated

    unsubscribe = store.on_change(record)
    try:
        created, updated = asyncio.run(scenario())
    finally:
        unsubscribe()
    assert [row["id"] for row in seen] == [orjson.loads(created)["id"]] * 2
    assert isinstance(seen[0]["created"], dt.date) and isinstance(seen[1]["updated_at"], dt.datetime)
    assert seen[1]["profile"] == orjson.loads(updated)["profile"] == {"city": "Омск"}


# ---------------------------------------------------------------------------------------------
# An update whose merge the statement makes stores exactly what validating the merge would store

EVERY_TYPE = {
    "fields": [
        {"key": "s", "label": "s", "type": "string", "max_length": 5},
        {"key": "sp", "label": "sp", "type": "string", "pattern": "^[a-z]+$"},
        {"key": "t", "label": "t", "type": "text", "min_length": 2},
        {"key": "i", "label": "i", "type": "integer", "min": 0, "max": 100},
        {"key": "d", "label": "d", "type": "decimal", "min": -5, "max": 50.5},
        {"key": "b", "label": "b", "type": "boolean"},
        {"key": "dt", "label": "dt", "type": "date"},
        {"key": "ts", "label": "ts", "type": "datetime"},
        {"key": "e", "label": "e", "type": "email"},
        {"key": "en", "label": "en", "type": "enum", "options": ["a", "b", "c'd", "10%"]},
        {"key": "le", "label": "le", "type": "list", "items": "enum", "options": ["x", "y"], "max_length": 2},
        {"key": "ls", "label": "ls", "type": "list", "items": "string", "min_length": 1},
        {"key": "lsp", "label": "lsp", "type": "list", "items": "string", "pattern": "^[0-9]+$"},
        {"key": "r", "label": "r", "type": "string", "required": True},
    ],
    "meta_fields": [{"key": "m", "label": "m", "type": "enum", "options": ["store", "web"]}],
}
# values as stored (JSON text, as a legacy import may have left them) and as given by a patch
STORED_VALUES: dict[str, list[str]] = {
    "s": ['""', '"abcde"', '"abcdef"', '"ЖЖЖ"', "5", "null"],
    "sp": ['"abc"', '"ab1"'],
    "t": ['"x"', '"xy"', '" xy "', "[]"],
    "i": ["0", "100", "101", "-1", "5.0", '"5"', "123456789012345", "1234567890123456", "true"],
    "d": ["0.5", "42.0", "42", "1.10", "-5.0", "50.5", "50.6", "0.00001", "1234567890123.25", '"1.5"', "-0.5"],
    "b": ["true", "false", "0", '"true"'],
    "dt": [
        '"2020-02-29"',
        '"2019-02-29"',
        '"31.12.1990"',
        '"0000-01-01"',
        '"9999-12-31"',
        '"2020-1-05"',
        '" 2020-01-01"',
    ],
    "ts": ['"2020-01-01T10:00:00"', '"x"'],
    "e": ['"a@example.com"', '"A@example.com"'],
    "en": ['"a"', '"c\'d"', '"10%"', '"A"', "1"],
    "le": ["[]", '["x"]', '["x", "y"]', '["x", "y", "x"]', '["z"]', '"x"', '[["x"]]', "[1]"],
    "ls": ["[]", '["a"]', '["a", "b"]', "[1]", "[null]"],
    "lsp": ['["1"]', '["a"]'],
    "r": ['"r"', "1"],
    "zz": ['"unknown key"'],
}
PATCH_VALUES: dict[str, list[Any]] = {
    "s": ["", "abc", "abcdef", 5, None],
    "sp": ["abc", "ABC", None],
    "t": ["xyz", "x", None],
    "i": [0, 7, 101, 5.0, "5", None],
    "d": [1.5, 42, 60.0, -5.0, 0.1, None],
    "b": [True, "yes", None],
    "dt": ["2021-03-04", "04.03.2021", "2021-02-30", None],
    "ts": ["2021-03-04T05:06:07", None],
    "e": ["B@Example.com", "nope", None],
    "en": ["b", "z", None],
    "le": [["y"], ["x", "x", "x"], ["q"], None],
    "ls": [["a"], [], None],
    "lsp": [["12"], None],
    "r": ["given", None],
    "zz": ["unknown", None],
}
META_VALUES = ['"store"', '"fax"']


def _stored_text(chosen: dict[str, str]) -> str:
    return "{" + ", ".join(f'"{key}": {value}' for key, value in chosen.items()) + "}"


# a stored profile: mostly values in the form the validation stores, with a few others put in
IN_FORM: dict[str, str] = {
    "s": '"abc"',
    "t": '"xy"',
    "i": "7",
    "d": "1.5",
    "b": "true",
    "dt": '"2020-02-29"',
    "en": '"c\'d"',
    "le": '["x"]',
    "ls": '["a"]',
    "r": '"r"',
}
stored_profiles = st.tuples(
    st.sets(st.sampled_from(sorted(IN_FORM))),
    st.dictionaries(st.sampled_from(sorted(STORED_VALUES)), st.none(), max_size=2).flatmap(
        lambda keys: st.fixed_dictionaries({key: st.sampled_from(STORED_VALUES[key]) for key in keys})
    ),
).map(lambda parts: {**{key: IN_FORM[key] for key in sorted(parts[0])}, **parts[1]})
profile_patches = st.dictionaries(st.sampled_from(sorted(PATCH_VALUES)), st.none(), min_size=1, max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({key: st.sampled_from(PATCH_VALUES[key]) for key in keys})
)


@pytest.fixture(scope="module")
def every_type_in_force(conninfo: str) -> Iterator[Questionnaire]:
    async def put() -> Questionnaire:
        async with await _connect(conninfo) as conn:
            await conn.execute("TRUNCATE customers, questionnaire_versions RESTART IDENTITY CASCADE")
            await settings_store.set_settings(conn, EVERY_TYPE)
            return await QuestionnaireCache().get(conn)

    yield asyncio.run(put())
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE customers, questionnaire_versions RESTART IDENTITY CASCADE")


def _update_as_validating_the_merge(
    conninfo: str,
    q: Questionnaire,
    stored: dict[str, str],
    patch: dict[str, Any],
    stored_meta: str = '"store"',
    meta_patch: dict[str, Any] | None = None,
) -> int | None:
    """Store a customer with `stored` (JSON text by key) and update it with `patch`: the update
    answers and stores exactly what validating the merge as a whole gives, to the stored text.
    Returns the update's round trips when it was written (None when it was refused)."""

    async def scenario() -> int | None:
        async with await _connect(conninfo) as conn:
            cur = await conn.execute(
                "INSERT INTO customers (phone, profile, meta) VALUES ("
                " (79000000000 + nextval('customers_id_seq'))::text, %s::jsonb, %s::jsonb)"
                " RETURNING id, profile, meta, profile::text, meta::text",
                (_stored_text(stored), '{"m": ' + stored_meta + "}"),
            )
            row = await cur.fetchone()
            assert row is not None
            cid, stored_profile, stored_meta_obj, profile_before, meta_before = row
            expected: Any
            try:
                expected = customer_writes._validate_parts(
                    q,
                    customer_writes._merge(stored_profile, patch),
                    None if meta_patch is None else customer_writes._merge(stored_meta_obj, meta_patch),
                )
            except ValidationFailed as refused:
                expected = refused.errors
            with round_trips(conn) as traffic:
                try:
                    updated: Any = await customer_writes.update_customer(
                        conn, cid, CustomerUpdate(profile=patch, meta=meta_patch), QuestionnaireCache(q)
                    )
                except ValidationFailed as refused:
                    updated = refused.errors
            cur = await conn.execute("SELECT profile::text, meta::text FROM customers WHERE id = %s", (cid,))
            after = await cur.fetchone()
            assert after is not None
            if isinstance(expected, list):
                assert updated == expected
                assert after == (profile_before, meta_before)
                return None
            assert updated["profile"] == expected[0]
            # the very text PostgreSQL stores for what the validation gives
            cur = await conn.execute(
                "SELECT %s::jsonb::text, coalesce(%s::jsonb, meta)::text FROM customers WHERE id = %s",
                (Jsonb(expected[0]), None if expected[1] is None else Jsonb(expected[1]), cid),
            )
            assert await cur.fetchone() == after
            return traffic.round_trips

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    ("key", "value"), [(key, value) for key, values in sorted(STORED_VALUES.items()) for value in values]
)
def test_each_stored_value_is_kept_only_in_the_form_the_validation_stores(
    conninfo: str, every_type_in_force: Questionnaire, key: str, value: str
) -> None:
    stored = {**IN_FORM, key: value}
    _update_as_validating_the_merge(conninfo, every_type_in_force, stored, {"b": False} if key != "b" else {"s": "x"})
    # and the same value given by a patch, over values all in form
    if key in PATCH_VALUES:
        for given in PATCH_VALUES[key]:
            _update_as_validating_the_merge(conninfo, every_type_in_force, IN_FORM, {key: given})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=stored_profiles,
    patch=profile_patches,
    stored_meta=st.sampled_from(META_VALUES),
    meta_patch=st.sampled_from([None, {"m": "web"}, {"m": "fax"}, {"m": None}]),
)
def test_an_update_stores_what_validating_the_merge_stores(
    conninfo: str,
    every_type_in_force: Questionnaire,
    stored: dict[str, str],
    patch: dict[str, Any],
    stored_meta: str,
    meta_patch: dict[str, Any] | None,
) -> None:
    _update_as_validating_the_merge(conninfo, every_type_in_force, stored, patch, stored_meta, meta_patch)


def test_the_update_statement_writes_a_merge_in_form_itself_and_leaves_others_to_the_validation(
    conninfo: str, every_type_in_force: Questionnaire
) -> None:
    # every stored value in the form the validation stores: the statement writes the merge (one round trip)
    assert _update_as_validating_the_merge(conninfo, every_type_in_force, IN_FORM, {"b": False}) == 1
    # a date a bulk import stored in another form: the merge is validated here and written (two)
    legacy = {**IN_FORM, "dt": '"31.12.1990"'}
    assert _update_as_validating_the_merge(conninfo, every_type_in_force, legacy, {"b": False}) == 2
