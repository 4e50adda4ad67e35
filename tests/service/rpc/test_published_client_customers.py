"""Customers.* driven by the original service's published client, as an existing user runs it.

Every result is converted by the client itself (a result it cannot convert fails the test) and
checked for the values the original gives: the records, the create defaults, `source_id` as
text, `created` as a date, `true` from change_phone / change_email / activate_email and null
from block / unblock / delete (docs/rpc.md, issue 14)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest

from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN, READER_TOKEN
from tests.service.rpc.published_client import (
    Conflict,
    Customer,
    CustomerCreate,
    CustomerUpdate,
    HTTPRequestError,
    ModelValidationError,
    NotFound,
    PermissionDenied,
    Published,
    RequestTimeout,
    db_today,
    published_client,
)


@pytest.fixture
def published(live: LiveServer, clean_db: None) -> Iterator[Published]:
    """The published client as an admin of the live service, on an empty database."""
    with published_client(live.url, ADMIN_TOKEN) as opened:
        yield opened


def fields_of(customer: Any) -> dict[str, Any]:
    """A customer as the client converted it (its own struct type), as a dict of all its fields."""
    assert type(customer) is Customer.__base_type__, type(customer)
    return msgspec.structs.asdict(customer)


def test_create_with_the_typed_struct_answers_the_record(published: Published) -> None:
    client, run = published.client, published.run
    typed = CustomerCreate.get_struct(
        {
            "phone": "79001230001",
            "email": "Anna.Smirnova@Example.com",
            "email_confirmed": True,
            "profile": {"first_name": "Анна", "last_name": "Смирнова", "birth_date": "1990-07-15", "city": "Омск"},
            "meta": {"registration_channel": "app", "legacy_id": "A-17"},
            "subscriptions": {"sms": True, "email": False},
            "loyalty_enabled": True,
            "accept_tender_offer": False,
            "prioritize_sms_verification": True,
            "created": dt.date(2021, 5, 17),
        }
    )
    created = fields_of(run(client.create(typed)))
    assert isinstance(created["id"], int) and created["id"] >= 1
    assert created == {
        "id": created["id"],
        "phone": "79001230001",
        "source_id": None,
        "email": "anna.smirnova@example.com",
        "email_confirmed": True,
        "blocked": False,
        "profile": {"first_name": "Анна", "last_name": "Смирнова", "birth_date": "1990-07-15", "city": "Омск"},
        "meta": {"registration_channel": "app", "legacy_id": "A-17"},
        "subscriptions": {"sms": True, "email": False},
        "loyalty_enabled": True,
        "created": dt.date(2021, 5, 17),
        "accept_tender_offer": False,
        "prioritize_sms_verification": True,
    }
    assert fields_of(run(client.get(created["id"]))) == created


def test_create_with_a_plain_dict_takes_the_original_defaults(published: Published, conninfo: str) -> None:
    client, run = published.client, published.run
    created = fields_of(run(client.create({"phone": "79001230002"})))
    assert created == {
        "id": created["id"],
        "phone": "79001230002",
        "source_id": None,
        "email": None,
        "email_confirmed": False,
        "blocked": False,
        "profile": {},
        "meta": {},
        "subscriptions": {},
        "loyalty_enabled": False,
        "created": db_today(conninfo),
        "accept_tender_offer": True,
        "prioritize_sms_verification": False,
    }


def test_source_id_is_text(published: Published) -> None:
    client, run = published.client, published.run
    typed = run(client.create(CustomerCreate.get_struct({"phone": "79001230003", "source_id": "LEG-007-0000028"})))
    plain = run(client.create({"phone": "79001230004", "source_id": "Склад №261 «Центральный»"}))
    longest = run(client.create({"phone": "79001230005", "source_id": "x" * 255}))
    assert typed.source_id == "LEG-007-0000028"
    assert plain.source_id == "Склад №261 «Центральный»"
    assert longest.source_id == "x" * 255
    assert run(client.get(typed.id)).source_id == "LEG-007-0000028"
    assert run(client.get_by_phone("79001230004")).source_id == "Склад №261 «Центральный»"


def test_source_id_longer_than_255_characters_is_a_field_error(published: Published) -> None:
    client, run = published.client, published.run
    with pytest.raises(ModelValidationError) as refused:
        run(client.create({"phone": "79001230006", "source_id": "x" * 256}))
    assert refused.value.status_code == -32702
    assert [(e["field"], e["code"]) for e in refused.value.data["errors"]] == [("source_id", "LENGTH_CONSTRAINT")]
    assert run(client.get_by_phone("79001230006")) is None


def test_get_and_lookups_answer_the_record_or_none(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230007", "email": "ivan.petrov@example.com"}))
    record = fields_of(created)

    assert fields_of(run(client.get(created.id))) == record
    for phone in ("79001230007", "+7 900 123-00-07", "8 (900) 123 00 07"):
        assert fields_of(run(client.get_by_phone(phone))) == record, phone
    assert fields_of(run(client.get_by_email("Ivan.Petrov@EXAMPLE.com"))) == record

    assert run(client.get(created.id + 1000)) is None
    assert run(client.get_by_phone("79001239999")) is None
    assert run(client.get_by_email("nobody@example.com")) is None
    assert run(client.get_by_card("1000000000000000")) is None


def test_update_with_the_typed_struct_and_a_plain_dict(published: Published) -> None:
    client, run = published.client, published.run
    created = run(
        client.create(
            {"phone": "79001230008", "profile": {"first_name": "Пётр", "city": "Москва"}, "meta": {"legacy_id": "B-1"}}
        )
    )
    typed = CustomerUpdate.get_struct(
        {"profile": {"city": "Казань", "children_count": 2}, "loyalty_enabled": True, "accept_tender_offer": False}
    )
    updated = fields_of(run(client.update(created.id, typed)))
    assert updated["profile"] == {"first_name": "Пётр", "city": "Казань", "children_count": 2}
    assert updated["meta"] == {"legacy_id": "B-1"}
    assert (updated["loyalty_enabled"], updated["accept_tender_offer"]) == (True, False)

    plain = fields_of(
        run(client.update(created.id, {"meta": {"registration_channel": "web"}, "subscriptions": {"push": True}}))
    )
    assert plain["meta"] == {"legacy_id": "B-1", "registration_channel": "web"}
    assert plain["subscriptions"] == {"push": True}
    assert plain["profile"] == updated["profile"]
    assert fields_of(run(client.get(created.id))) == plain


def test_update_sets_blocked_email_and_its_confirmation_as_the_clients_struct_allows(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230030", "email": "first@example.com"}))
    typed = CustomerUpdate.get_struct({"blocked": True, "email": "Second.Address@Example.com"})
    updated = fields_of(run(client.update(created.id, typed)))
    # a new email starts unconfirmed, as change_email leaves it
    assert (updated["blocked"], updated["email"], updated["email_confirmed"]) == (
        True,
        "second.address@example.com",
        False,
    )
    assert run(client.get_by_email("first@example.com")) is None

    confirmed = fields_of(run(client.update(created.id, {"email_confirmed": True, "blocked": False})))
    assert (confirmed["blocked"], confirmed["email_confirmed"]) == (False, True)
    # the same email given again keeps its confirmation
    same = fields_of(run(client.update(created.id, {"email": "second.address@example.com"})))
    assert same["email_confirmed"] is True
    assert fields_of(run(client.get(created.id))) == same

    # null is "not given" over JSON-RPC (docs/rpc.md): the email stays; change_email(id, None) removes it
    kept = fields_of(run(client.update(created.id, {"email": None, "loyalty_enabled": True})))
    assert (kept["email"], kept["email_confirmed"], kept["loyalty_enabled"]) == (
        "second.address@example.com",
        True,
        True,
    )


def test_update_refuses_a_taken_or_invalid_email_and_changes_nothing(published: Published) -> None:
    client, run = published.client, published.run
    run(client.create({"phone": "79001230031", "email": "taken.by.update@example.com"}))
    other = run(client.create({"phone": "79001230032"}))
    before = fields_of(run(client.get(other.id)))
    with pytest.raises(Conflict):
        run(client.update(other.id, {"email": "TAKEN.by.update@example.com", "loyalty_enabled": True}))
    with pytest.raises(ModelValidationError):
        run(client.update(other.id, {"email": "not an email", "loyalty_enabled": True}))
    assert fields_of(run(client.get(other.id))) == before


def test_change_email_to_none_removes_it(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230033", "email": "leaving@example.com", "email_confirmed": True}))
    assert run(client.change_email(created.id, None)) is True
    changed = run(client.get(created.id))
    assert (changed.email, changed.email_confirmed) == (None, False)
    assert run(client.get_by_email("leaving@example.com")) is None


def test_block_and_unblock_answer_null(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230009"}))
    assert run(client.block(created.id)) is None
    assert run(client.get(created.id)).blocked is True
    assert run(client.unblock(created.id)) is None
    assert run(client.get(created.id)).blocked is False


def test_change_phone_answers_true(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230010"}))
    assert run(client.change_phone(created.id, "79001230011")) is True
    assert run(client.get_by_phone("79001230011")).id == created.id
    assert run(client.get_by_phone("79001230010")) is None


def test_change_email_answers_true(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230012", "email": "old@example.com", "email_confirmed": True}))
    assert run(client.change_email(created.id, "New.Address@Example.com")) is True
    changed = run(client.get(created.id))
    assert (changed.email, changed.email_confirmed) == ("new.address@example.com", False)
    assert run(client.get_by_email("old@example.com")) is None


def test_activate_email_answers_true(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230013", "email": "confirm.me@example.com"}))
    assert created.email_confirmed is False
    assert run(client.activate_email(created.id)) is True
    assert run(client.get(created.id)).email_confirmed is True


def test_delete_answers_null(published: Published) -> None:
    client, run = published.client, published.run
    created = run(client.create({"phone": "79001230014"}))
    kept = run(client.create({"phone": "79001230015"}))
    assert run(client.delete(created.id)) is None
    assert run(client.get(created.id)) is None
    assert run(client.get_by_phone("79001230014")) is None
    assert run(client.get(kept.id)).phone == "79001230015"


def test_taken_phone_and_email_are_conflicts_as_the_client_raises_them(published: Published) -> None:
    client, run = published.client, published.run
    first = run(client.create(CustomerCreate.get_struct({"phone": "79001230016", "email": "taken@example.com"})))
    other = run(client.create({"phone": "79001230017"}))

    with pytest.raises(Conflict) as duplicate:
        run(client.create(CustomerCreate.get_struct({"phone": "79001230016"})))
    assert duplicate.value.status_code == 409
    assert duplicate.value.data["code"] == "PHONE_EXISTS"
    assert duplicate.value.message == "a customer with this phone already exists"

    with pytest.raises(Conflict) as phone_taken:
        run(client.change_phone(other.id, "79001230016"))
    assert phone_taken.value.data["code"] == "PHONE_EXISTS"
    with pytest.raises(Conflict) as email_taken:
        run(client.change_email(other.id, "TAKEN@example.com"))
    assert email_taken.value.data["code"] == "EMAIL_EXISTS"

    assert run(client.get(other.id)).phone == "79001230017"
    assert run(client.get_by_phone("79001230016")).id == first.id


def test_unknown_customer_is_not_found_as_the_client_raises_it(published: Published) -> None:
    client, run = published.client, published.run
    for call in (
        client.update(404, {"loyalty_enabled": True}),
        client.block(404),
        client.unblock(404),
        client.change_phone(404, "79001230018"),
        client.change_email(404, "ghost@example.com"),
        client.activate_email(404),
        client.delete(404),
    ):
        with pytest.raises(NotFound) as missing:
            run(call)
        assert (missing.value.status_code, missing.value.data["code"]) == (404, "CUSTOMER_NOT_FOUND")


def test_reader_token_reads_and_cannot_write(published: Published, live: LiveServer) -> None:
    created = published.run(published.client.create({"phone": "79001230019"}))
    with published_client(live.url, READER_TOKEN) as reader:
        assert fields_of(reader.run(reader.client.get(created.id))) == fields_of(created)
        # answered as the original did, so the client's own class for it is raised
        with pytest.raises(PermissionDenied) as forbidden:
            reader.run(reader.client.create({"phone": "79001230020"}))
        assert (forbidden.value.status_code, forbidden.value.data["code"]) == (-32601, "FORBIDDEN")
    assert published.run(published.client.get_by_phone("79001230020")) is None


def test_unknown_token_is_refused_with_http_401(live: LiveServer) -> None:
    with published_client(live.url, "not-a-token") as stranger, pytest.raises(HTTPRequestError) as refused:
        stranger.run(stranger.client.get(1))
    assert refused.value.base_exc.status == 401
    assert refused.value.base_exc.response["error"]["data"]["code"] == "UNAUTHORIZED"


def test_a_call_past_the_clients_timeout_raises_its_request_timeout(published: Published, conninfo: str) -> None:
    """`_max_timeout` is sent as the `Timeout` header; a call still waiting at it is answered with
    the original's RequestTimeout, which the client raises as its own class, and changes nothing."""
    created = published.run(published.client.create({"phone": "79001230021"}))
    locked, release = threading.Event(), threading.Event()

    def hold_row_lock() -> None:
        with psycopg.connect(conninfo) as conn:
            conn.execute("SELECT 1 FROM customers WHERE id = %s FOR UPDATE", (created.id,))
            locked.set()
            release.wait(20)

    holder = threading.Thread(target=hold_row_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with pytest.raises(RequestTimeout) as timed_out:
            published.run(published.client.update(created.id, {"loyalty_enabled": True}, _max_timeout=1))
        assert (timed_out.value.status_code, timed_out.value.data["code"]) == (-32002, "TIMEOUT")
    finally:
        release.set()
        holder.join(20)
    assert published.run(published.client.get(created.id)).loyalty_enabled is False
