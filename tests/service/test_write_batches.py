"""Concurrent creates, and concurrent updates, made by one statement (service.write_batches,
customer_writes.create_customers_json and update_customers_json): each request answers what it
would have answered alone, and a batch is never half-written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from fastapi import FastAPI
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from customers import customer_writes, store
from customers.config import Settings
from customers.models import CustomerCreate, CustomerUpdate
from customers.questionnaire_document import default_document
from customers.settings_store import QuestionnaireCache
from service.app import create_app
from service.coalesce import Coalescer
from tests.factories import add_customers, numbered_phones
from tests.helpers import ADMIN_TOKEN
from tests.service.roundtrips import Traffic, round_trips
from tests.service.test_write_path import served

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _stored(conninfo: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("SELECT phone, email, profile FROM customers").fetchall()
    return {phone: {"email": email, "profile": profile} for phone, email, profile in rows}


@asynccontextmanager
async def traced(app: FastAPI) -> AsyncIterator[tuple[Traffic, Traffic]]:
    """Inside the block, what the worker's one pooled connection (lone writes, writes left out of
    their batch) and the writes' one connection (batches) say to PostgreSQL."""
    assert app.state.writes.batch_pool is not None
    async with app.state.pool.connection() as lone:
        pass
    async with app.state.writes.batch_pool.connection() as batches:
        pass
    with round_trips(lone) as alone, round_trips(batches) as batched:
        yield alone, batched


def _require_nickname_elsewhere(conninfo: str) -> None:
    """Put in force, as another process would, the shipped questionnaire with a required field
    `nickname` added."""
    with psycopg.connect(conninfo, autocommit=True) as other:
        document = default_document().to_json()
        document["fields"].append({"key": "nickname", "label": "Ник", "type": "string", "required": True})
        other.execute(
            "INSERT INTO questionnaire_versions (version, document, action) VALUES (1, %s, 'set')",
            (Jsonb(document),),
        )


def test_concurrent_creates_share_statements_and_answer_as_alone(
    settings: Settings, conninfo: str, seeded: list[dict[str, Any]]
) -> None:
    """Creates sent together over one pooled connection: fewer statements than creates, and each
    request's own answer: 201 with the document a lookup answers, 409 for the phone or email
    taken (by a stored customer or by another create of the same moment), 422 for its input."""
    one_connection = settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 1})
    fresh = [f"7912555{n:04d}" for n in range(12)]
    bodies: list[dict[str, Any]] = [{"phone": phone, "profile": {"city": "Омск"}} for phone in fresh]
    bodies += [
        {"phone": fresh[0], "profile": {"city": "Тверь"}},  # the same phone as a create of the moment
        {"phone": "79125559990", "email": seeded[0]["email"]},  # an email a stored customer holds
        {"phone": "79125559991", "email": "twice@example.com"},
        {"phone": "79125559992", "email": "Twice@Example.com"},  # the same email, in another case
        {"phone": "79125559993", "profile": {"children_count": -1}},  # refused by the questionnaire
        {"phone": "12"},  # not a phone
        {"phone": seeded[1]["phone"]},  # a stored customer's phone
    ]

    async def scenario() -> tuple[list[httpx.Response], list[httpx.Response], tuple[int, int]]:
        app = create_app(one_connection)
        async with served(app) as client:
            async with traced(app) as (alone, batched):
                answers = await asyncio.gather(
                    *(client.post("/customers", headers=ADMIN, json=body) for body in bodies)
                )
            looked_up = [
                await client.get(f"/customers/{answer.json()['id']}", headers=ADMIN)
                for answer in answers
                if answer.status_code == 201
            ]
        return answers, looked_up, (len(batched.statements), len(alone.statements))

    answers, looked_up, statements = asyncio.run(scenario())
    codes = [answer.status_code for answer in answers]
    errors = [answer.json().get("code") for answer in answers]
    assert codes[1:12] == [201] * 11
    # two creates of one phone at one moment: one is made, the other refused
    assert sorted(codes[0:13:12]) == [201, 409] and "PHONE_EXISTS" in errors[0:13:12]
    assert codes[13] == 409 and errors[13] == "EMAIL_EXISTS"
    assert sorted(codes[14:16]) == [201, 409] and "EMAIL_EXISTS" in errors[14:16]
    assert codes[16] == 422 and answers[16].json()["errors"][0]["field"] == "profile.children_count"
    assert codes[17] == 422 and answers[17].json()["errors"][0]["field"] == "phone"
    assert codes[18] == 409 and errors[18] == "PHONE_EXISTS"
    # fewer statements than creates: they went out together
    assert statements[0] >= 1 and sum(statements) < len(bodies), statements
    # each created customer answered as a lookup answers it, and stored as answered
    created = [answer for answer in answers if answer.status_code == 201]
    assert [answer.json() for answer in created] == [found.json() for found in looked_up]
    stored = _stored(conninfo)
    assert len(stored) == len(seeded) + 13
    assert stored[fresh[0]]["profile"] == bodies[0 if codes[0] == 201 else 12]["profile"]
    assert [phone in stored for phone in ("79125559991", "79125559992")] == [code == 201 for code in codes[14:16]]


def test_creates_validated_against_a_questionnaire_replaced_elsewhere(settings: Settings, conninfo: str) -> None:
    """A batch validated against the questionnaire this process held, after another process put
    a new one in force: nothing of it is written, and each create is validated again against
    the one in force, as a create alone would be."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("TRUNCATE customers, questionnaire_versions RESTART IDENTITY CASCADE")

    async def scenario() -> list[httpx.Response]:
        app = create_app(settings)
        async with served(app) as client:
            warm = await client.post("/customers", headers=ADMIN, json={"phone": "79125550001"})
            assert warm.status_code == 201  # the cache holds the shipped questionnaire
            _require_nickname_elsewhere(conninfo)
            bodies: list[dict[str, Any]] = [
                {"phone": "79125550002"},
                {"phone": "79125550003", "profile": {"nickname": "n3"}},
                {"phone": "79125550004"},
                {"phone": "79125550005", "profile": {"nickname": "n5"}},
            ]
            return await asyncio.gather(*(client.post("/customers", headers=ADMIN, json=body) for body in bodies))

    answers = asyncio.run(scenario())
    assert [answer.status_code for answer in answers] == [422, 201, 422, 201]
    assert all(answer.json()["errors"][0]["field"] == "profile.nickname" for answer in answers[::2])
    assert sorted(_stored(conninfo)) == ["79125550001", "79125550003", "79125550005"]


def test_a_statement_postgresql_refuses_writes_none_of_its_batch(conninfo: str, clean_db: None) -> None:
    """A value the validation passes and PostgreSQL refuses (a NUL in a JSON string) fails the
    batch's statement: none of its creates is written, each is left to the single create."""

    async def scenario() -> tuple[list[bytes | None], list[bytes | None]]:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
            questionnaires = QuestionnaireCache()
            async with pool.connection() as conn:
                await questionnaires.refresh(conn)
                refused = await customer_writes.create_customers_json(
                    conn,
                    [
                        CustomerCreate(phone="79125551001"),
                        CustomerCreate(phone="79125551002", profile={"first_name": "a\x00b"}),
                    ],
                    questionnaires,
                    "RU",
                )
                written = await customer_writes.create_customers_json(
                    conn,
                    [CustomerCreate(phone="79125551001"), CustomerCreate(phone="+7 912 555-10-03")],
                    questionnaires,
                    "RU",
                )
        return refused, written

    refused, written = asyncio.run(scenario())
    assert refused == [None, None]
    assert all(document is not None for document in written)
    assert [orjson.loads(document or b"")["phone"] for document in written] == ["79125551001", "79125551003"]
    assert sorted(_stored(conninfo)) == ["79125551001", "79125551003"]


def test_a_write_batch_is_answered_when_the_request_that_sent_it_goes_away(conninfo: str, clean_db: None) -> None:
    """A detached batch (a write's) goes on when the request that formed it is cancelled: it is
    sent once, and the other requests get their answers from it."""

    async def scenario() -> tuple[list[list[str]], bytes | None, bool]:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            sent: list[list[str]] = []
            started = asyncio.Event()

            async def write(conn: psycopg.AsyncConnection[Any], keys: list[str]) -> dict[str, bytes]:
                sent.append(keys)
                started.set()
                await conn.execute("SELECT pg_sleep(0.2)")
                cur = await conn.execute(
                    "INSERT INTO customers (phone, profile, meta, subscriptions) "
                    "SELECT unnest(%s::text[]), '{}', '{}', '{}' RETURNING phone",
                    (keys,),
                )
                return {phone: phone.encode() for (phone,) in await cur.fetchall()}

            batches: Coalescer[str] = Coalescer(pool, write, detached=True)
            leaving = asyncio.ensure_future(batches.get("79125552001"))
            staying = asyncio.ensure_future(batches.get("79125552002"))
            await started.wait()
            leaving.cancel()
            document = await staying
            await batches.aclose()
            return sent, document, leaving.cancelled()

    sent, document, cancelled = asyncio.run(scenario())
    assert sent == [["79125552001", "79125552002"]]
    assert document == b"79125552002" and cancelled
    assert sorted(_stored(conninfo)) == ["79125552001", "79125552002"]


def test_concurrent_updates_share_statements_and_answer_as_alone(
    settings: Settings, conninfo: str, clean_db: None
) -> None:
    """Updates sent together over one pooled connection: fewer statements than updates, each
    answered as alone (200 with the lookup's document, 404, 409, 422), two of one customer both
    applied, and an update whose email is taken refused without the others of its batch."""
    phones = list(numbered_phones(14, first=79125560001))
    stored = add_customers(
        conninfo,
        [{"phone": phone, "email": f"u{n}@example.com", "profile": {"city": "Омск"}} for n, phone in enumerate(phones)],
    )
    ids = [customer["id"] for customer in stored]
    with psycopg.connect(conninfo, autocommit=True) as conn:  # a value as a legacy import stored it
        conn.execute("UPDATE customers SET profile = profile || '{\"city\": 5}' WHERE id = %s", (ids[13],))
    one_connection = settings.model_copy(update={"db_pool_min_size": 1, "db_pool_max_size": 1})
    clean: list[tuple[int, dict[str, Any]]] = [
        (ids[n], {"profile": {"children_count": n % 5}, "loyalty_enabled": n % 2 == 0}) for n in range(10)
    ]
    messy: list[tuple[int, dict[str, Any]]] = [
        (ids[10], {"profile": {"children_count": 1}}),
        (ids[10], {"accept_tender_offer": False}),  # the same customer: both applied
        (ids[11], {"profile": {"city": None, "first_name": "Ann"}}),  # a key removed
        (ids[0], {"profile": {"children_count": -1}}),  # refused by the questionnaire
        (ids[13], {"profile": {"children_count": 2}}),  # over the legacy value: the merge refused
        (999_999, {"blocked": True}),  # no such customer
        (ids[1], {"subscriptions": {"sms": True}, "source_id": "till-7"}),
    ]
    # a statement PostgreSQL refuses (a unique email): the others of its batch made alone
    refused: list[tuple[int, dict[str, Any]]] = [
        (ids[12], {"email": "U0@example.com"}),
        (ids[2], {"prioritize_sms_verification": True}),
        (ids[3], {"email": "new3@example.com"}),
    ]

    async def scenario() -> tuple[
        list[httpx.Response], list[httpx.Response], tuple[int, int], list[list[httpx.Response]]
    ]:
        app = create_app(one_connection)
        async with served(app) as client:
            async with traced(app) as (alone, batched):
                first = await asyncio.gather(
                    *(client.patch(f"/customers/{cid}", headers=ADMIN, json=body) for cid, body in clean)
                )
            looked_up = [await client.get(f"/customers/{cid}", headers=ADMIN) for cid, _ in clean]
            later = [
                await asyncio.gather(
                    *(client.patch(f"/customers/{cid}", headers=ADMIN, json=body) for cid, body in updates)
                )
                for updates in (messy, refused)
            ]
        return first, looked_up, (len(batched.statements), len(alone.statements)), later

    first, looked_up, statements, (second, third) = asyncio.run(scenario())
    assert [answer.status_code for answer in first] == [200] * len(clean)
    assert statements[0] >= 1 and sum(statements) <= len(clean) // 2, statements
    assert [answer.json()["profile"] for answer in first] == [
        {"city": "Омск", "children_count": n % 5} for n in range(len(clean))
    ]
    assert [answer.json() for answer in first] == [found.json() for found in looked_up]

    codes = [answer.status_code for answer in second]
    assert codes == [200, 200, 200, 422, 422, 404, 200], [answer.text for answer in second]
    assert second[3].json()["errors"][0]["field"] == "profile.children_count"
    assert second[4].json()["errors"][0]["field"] == "profile.city"
    assert second[2].json()["profile"] == {"first_name": "Ann"}
    assert second[6].json()["subscriptions"] == {"sms": True} and second[6].json()["source_id"] == "till-7"
    assert [answer.status_code for answer in third] == [409, 200, 200]
    assert third[0].json()["code"] == "EMAIL_EXISTS"
    assert third[1].json()["prioritize_sms_verification"] is True
    assert third[2].json()["email"] == "new3@example.com" and third[2].json()["email_confirmed"] is False
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = dict(conn.execute("SELECT id, to_jsonb(c) FROM customers AS c WHERE id = ANY(%s)", (ids,)).fetchall())
    assert rows[ids[10]]["profile"] == {"city": "Омск", "children_count": 1}
    assert rows[ids[10]]["accept_tender_offer"] is False
    assert rows[ids[12]]["email"] == "u12@example.com"  # refused: unchanged
    assert rows[ids[0]]["profile"] == {"city": "Омск", "children_count": 0}  # refused: unchanged
    assert rows[ids[13]]["profile"] == {"city": 5}  # refused: unchanged


def test_updates_validated_against_a_questionnaire_replaced_elsewhere(
    settings: Settings, conninfo: str, clean_db: None
) -> None:
    """A batch of updates checked against the questionnaire this process held, after another
    process put a new one in force: each update is checked again against the one in force, as
    an update alone would be (the profile now lacks a required key: refused; flags: written)."""
    stored = add_customers(conninfo, [{"phone": phone} for phone in numbered_phones(4, first=79125570001)])
    ids = [customer["id"] for customer in stored]

    async def scenario() -> list[httpx.Response]:
        app = create_app(settings)
        async with served(app) as client:
            warm = await client.patch(f"/customers/{ids[0]}", headers=ADMIN, json={"profile": {"city": "Омск"}})
            assert warm.status_code == 200  # the cache holds the shipped questionnaire
            _require_nickname_elsewhere(conninfo)
            bodies: list[dict[str, Any]] = [
                {"profile": {"children_count": 1}},
                {"loyalty_enabled": True},
                {"profile": {"children_count": 2, "nickname": "n"}},
                {"blocked": True},
            ]
            return await asyncio.gather(
                *(
                    client.patch(f"/customers/{cid}", headers=ADMIN, json=body)
                    for cid, body in zip(ids, bodies, strict=True)
                )
            )

    answers = asyncio.run(scenario())
    assert [answer.status_code for answer in answers] == [422, 200, 200, 200]
    assert answers[0].json()["errors"][0]["field"] == "profile.nickname"
    assert answers[2].json()["profile"] == {"children_count": 2, "nickname": "n"}


def test_batches_planned_once_on_their_own_connections_and_switched_off(
    settings: Settings, conninfo: str, clean_db: None
) -> None:
    """The writes' connections plan each statement once (a batch's plan for any size) and wait
    for a lock briefly, the worker's other connections keep PostgreSQL's defaults;
    `write_coalescing=false`: no connections of their own, each write its own statement."""
    alone = settings.model_copy(update={"write_coalescing": False, "db_pool_min_size": 1, "db_pool_max_size": 1})
    show = "SELECT current_setting('plan_cache_mode'), current_setting('lock_timeout')"

    async def session_settings() -> tuple[Any, Any]:
        app = create_app(settings)
        async with served(app):
            assert app.state.writes.batch_pool is not None
            async with app.state.writes.batch_pool.connection() as conn:
                batches = await (await conn.execute(show)).fetchone()
            async with app.state.pool.connection() as conn:
                others = await (await conn.execute(show)).fetchone()
        return batches, others

    async def one_by_one() -> tuple[list[int], int]:
        app = create_app(alone)
        async with served(app) as client:
            assert app.state.writes.batch_pool is None
            async with app.state.pool.connection() as conn:
                pass  # the worker's one connection
            with round_trips(conn) as traffic:
                answers = await asyncio.gather(
                    *(
                        client.post("/customers", headers=ADMIN, json={"phone": phone})
                        for phone in numbered_phones(6, first=79125580001)
                    )
                )
        return [answer.status_code for answer in answers], len(traffic.statements)

    assert asyncio.run(session_settings()) == (("force_generic_plan", "100ms"), ("auto", "0"))
    codes, statements = asyncio.run(one_by_one())
    assert codes == [201] * 6 and statements == 6


def test_batches_tell_the_change_listeners_each_row_written(conninfo: str, clean_db: None) -> None:
    """With a change listener (the search index's copy), a batch answers each row's record too
    and tells the listener every row it wrote, once, and none it left out."""
    told: list[dict[str, Any]] = []

    async def listener(upserted: list[dict[str, Any]], deleted: list[int]) -> None:
        told.extend(upserted)

    async def scenario() -> tuple[list[bytes | None], list[bytes | None]]:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
            questionnaires = QuestionnaireCache()
            async with pool.connection() as conn:
                await questionnaires.refresh(conn)
                unsubscribe = store.on_change(listener)
                try:
                    created = await customer_writes.create_customers_json(
                        conn,
                        [CustomerCreate(phone=phone) for phone in ("79125590001", "79125590002", "79125590001")],
                        questionnaires,
                        "RU",
                    )
                    ids = [orjson.loads(document)["id"] for document in created if document]
                    updated = await customer_writes.update_customers_json(
                        conn,
                        [(ids[0], CustomerUpdate(blocked=True)), (ids[1], CustomerUpdate(profile={"city": None}))],
                        questionnaires,
                    )
                finally:
                    unsubscribe()
        return created, updated

    created, updated = asyncio.run(scenario())
    assert [document is not None for document in created] == [True, True, False]
    assert [document is not None for document in updated] == [True, False]  # a key removed: left out
    assert [(row["phone"], row["blocked"]) for row in told] == [
        ("79125590001", False),
        ("79125590002", False),
        ("79125590001", True),
    ]


def test_update_batch_statement_sets_as_the_single_update(conninfo: str, clean_db: None) -> None:
    """The batch statement itself (no write left out): a new email unconfirmed unless the update
    says otherwise, the same email keeps its confirmation, subscriptions merged, attributes not
    given kept; one prepared statement whatever attributes the writes give; a questionnaire put
    in force elsewhere: nothing written, the cache adopts it."""
    stored = add_customers(
        conninfo,
        [
            {"phone": phone, "email": f"c{n}@example.com", "email_confirmed": True, "subscriptions": {"sms": True}}
            for n, phone in enumerate(numbered_phones(4, first=79125600001))
        ],
    )
    ids = [customer["id"] for customer in stored]

    async def scenario() -> tuple[list[bytes | None], list[tuple[Any, ...]], int, list[bytes | None], int]:
        async with AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=1,
            kwargs={"autocommit": True},
            configure=customer_writes.set_up_batch_connection,
        ) as pool:
            questionnaires = QuestionnaireCache()
            async with pool.connection() as conn:
                await questionnaires.refresh(conn)
                answers = await customer_writes.update_customers_json(
                    conn,
                    [
                        (ids[0], CustomerUpdate(email="new0@example.com")),
                        (ids[1], CustomerUpdate(email="new1@example.com", email_confirmed=True)),
                        (ids[2], CustomerUpdate(email="c2@example.com", subscriptions={"email": True})),
                        (ids[3], CustomerUpdate(loyalty_enabled=True)),
                    ],
                    questionnaires,
                )
                cur = await conn.execute(
                    "SELECT email, email_confirmed, subscriptions, loyalty_enabled FROM customers ORDER BY id"
                )
                rows = await cur.fetchall()
                for n in range(14):  # two other patterns of attributes given, each past psycopg's threshold
                    update = CustomerUpdate(blocked=False) if n % 2 else CustomerUpdate(source_id=f"s{n}")
                    await customer_writes.update_customers_json(
                        conn, [(ids[0], update), (ids[1], update)], questionnaires
                    )
                cur = await conn.execute(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%unnest%%'"
                )
                prepared = (await cur.fetchone() or [0])[0]
                _require_nickname_elsewhere(conninfo)
                stale = await customer_writes.update_customers_json(
                    conn,
                    [(ids[2], CustomerUpdate(profile={"city": "Омск"})), (ids[3], CustomerUpdate(blocked=True))],
                    questionnaires,
                )
        return answers, rows, prepared, stale, questionnaires.current.version

    answers, rows, prepared, stale, version = asyncio.run(scenario())
    assert all(answer is not None for answer in answers)
    assert rows == [
        ("new0@example.com", False, {"sms": True}, False),
        ("new1@example.com", True, {"sms": True}, False),
        ("c2@example.com", True, {"sms": True, "email": True}, False),
        ("c3@example.com", True, {"sms": True}, True),
    ]
    assert prepared == 1
    assert stale == [None, None] and version == 1
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM customers WHERE blocked OR profile ? 'city'").fetchone() == (0,)


def test_a_row_held_by_another_transaction_holds_up_only_its_own_write(
    settings: Settings, conninfo: str, clean_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer's row locked by a long transaction (an import's): the writes of that row wait
    for it, alone or sent in a batch, and hold up no other: the updates batched with one of them,
    and those sent after, are answered at once."""
    stored = add_customers(conninfo, [{"phone": phone} for phone in numbered_phones(5, first=79125610001)])
    ids = [customer["id"] for customer in stored]
    batches: list[tuple[list[int], list[bytes | None]]] = []  # what each batch statement was given and wrote
    batch_updates = customer_writes.update_customers_json

    async def observed(
        conn: Any, batch: list[tuple[int, CustomerUpdate]], questionnaires: QuestionnaireCache
    ) -> list[bytes | None]:
        answers = await batch_updates(conn, batch, questionnaires)
        batches.append(([cid for cid, _ in batch], answers))
        return answers

    monkeypatch.setattr(customer_writes, "update_customers_json", observed)

    def patch(client: httpx.AsyncClient, cid: int, body: dict[str, Any]) -> asyncio.Future[httpx.Response]:
        return asyncio.ensure_future(client.patch(f"/customers/{cid}", headers=ADMIN, json=body))

    async def scenario() -> tuple[list[int], bool, list[int]]:
        app = create_app(settings)
        async with served(app) as client:
            with psycopg.connect(conninfo) as holder:
                holder.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", (ids[0],))
                held = []
                for body in ({"loyalty_enabled": True}, {"accept_tender_offer": False}):
                    held.append(patch(client, ids[0], body))  # alone: more than the batches' slots
                    await asyncio.sleep(0.2)
                sent = [patch(client, ids[0], {"prioritize_sms_verification": True})]
                sent += [patch(client, cid, {"blocked": True}) for cid in ids[1:]]  # together: a batch
                others = await asyncio.wait_for(asyncio.gather(*sent[1:]), timeout=3)
                waiting = not any(future.done() for future in [*held, sent[0]])
                holder.commit()
            answers = await asyncio.wait_for(asyncio.gather(*held, sent[0]), timeout=10)
        return [r.status_code for r in others], waiting, [r.status_code for r in answers]

    codes, waiting, held_codes = asyncio.run(scenario())
    assert codes == [200] * 4 and waiting and held_codes == [200] * 3
    # the held row's write was sent in a batch, which left it (and the batch) to each write
    assert any(ids[0] in given and all(answer is None for answer in answers) for given, answers in batches)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM customers WHERE blocked").fetchone() == (4,)
        flags = "loyalty_enabled, accept_tender_offer, prioritize_sms_verification"
        assert conn.execute(f"SELECT {flags} FROM customers WHERE id = %s", (ids[0],)).fetchone() == (True, False, True)


def test_a_write_whose_request_went_before_its_batch_was_sent_is_not_made(conninfo: str, clean_db: None) -> None:
    """A waiter cancelled while its batch forms (its request gone) leaves the batch: only the
    writes someone waits for are sent."""

    async def scenario() -> list[list[str]]:
        async with AsyncConnectionPool(conninfo, min_size=1, max_size=1, kwargs={"autocommit": True}) as pool:
            sent: list[list[str]] = []

            async def write(conn: psycopg.AsyncConnection[Any], keys: list[str]) -> dict[str, bytes]:
                sent.append(keys)
                return {key: key.encode() for key in keys}

            batches: Coalescer[str] = Coalescer(pool, write, detached=True)
            leader = asyncio.ensure_future(batches.get("79125620001"))
            gone = asyncio.ensure_future(batches.get("79125620002"))
            await asyncio.sleep(0)  # both wait; the leader has not sent yet
            gone.cancel()
            assert await leader == b"79125620001"
            await batches.aclose()
            return sent

    assert asyncio.run(scenario()) == [["79125620001"]]
