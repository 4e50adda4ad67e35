"""Customers.cards.* and login codes driven by the original service's published client.

The client builds `Card(**result)` and `LoginCode(**result)`: a card or code with any other key
than the original's is a TypeError on the user's side. It does not convert the members, so
`created` is the date as the JSON carries it (`YYYY-MM-DD`) and `type` the type's name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN
from tests.service.rpc.published_client import (
    Card,
    CardType,
    Conflict,
    LoginCode,
    ModelValidationError,
    NotFound,
    Published,
    db_today,
    published_client,
)


@pytest.fixture
def published(live: LiveServer, clean_db: None) -> Iterator[Published]:
    """The published client as an admin of the live service, on an empty database."""
    with published_client(live.url, ADMIN_TOKEN) as opened:
        yield opened


def test_cards_are_created_attached_listed_and_resolve_their_customer(published: Published, conninfo: str) -> None:
    client, run = published.client, published.run
    owner = run(client.create({"phone": "79001240001"}))
    today = db_today(conninfo).isoformat()

    virtual = run(client.create_card(owner.id, CardType.VIRTUAL))
    assert type(virtual) is Card
    assert (virtual.customer_id, virtual.type, virtual.enabled, virtual.created) == (owner.id, "VIRTUAL", True, today)
    assert len(virtual.id) == 16 and virtual.id.startswith("1") and virtual.id.isdigit()
    apple = run(client.create_card(owner.id, CardType.APPLE))
    assert apple.type == "APPLE" and apple.id.startswith("2") and apple.id != virtual.id

    physical = run(client.add_card(owner.id, "4410000000017"))
    assert type(physical) is Card
    assert (physical.id, physical.customer_id, physical.type, physical.enabled, physical.created) == (
        "4410000000017",
        owner.id,
        "PHYSICAL",
        True,
        today,
    )

    listed = run(client.list_cards(owner.id))
    assert all(type(card) is Card for card in listed)
    assert [(card.id, card.type, card.enabled) for card in listed] == [
        (virtual.id, "VIRTUAL", True),
        (apple.id, "APPLE", True),
        ("4410000000017", "PHYSICAL", True),
    ]
    for card_id in (virtual.id, "4410000000017"):
        assert run(client.get_by_card(card_id)).id == owner.id


def test_deactivate_card_answers_true(published: Published) -> None:
    client, run = published.client, published.run
    owner = run(client.create({"phone": "79001240002"}))
    card = run(client.add_card(owner.id, "4410000000024"))
    assert run(client.deactivate_card(owner.id, card.id)) is True
    assert run(client.get_by_card(card.id)) is None
    assert [(c.id, c.enabled) for c in run(client.list_cards(owner.id))] == [(card.id, False)]


def test_card_errors_as_the_client_raises_them(published: Published) -> None:
    client, run = published.client, published.run
    owner = run(client.create({"phone": "79001240003"}))
    other = run(client.create({"phone": "79001240004"}))
    run(client.add_card(owner.id, "4410000000031"))

    with pytest.raises(ModelValidationError) as malformed:
        run(client.add_card(owner.id, "5550000000031"))
    assert malformed.value.data["code"] == "INVALID_CARD_FMT"
    with pytest.raises(Conflict) as taken:
        run(client.add_card(other.id, "4410000000031"))
    assert (taken.value.status_code, taken.value.data["code"]) == (409, "CARD_EXISTS")
    with pytest.raises(NotFound) as not_his:
        run(client.deactivate_card(other.id, "4410000000031"))
    assert not_his.value.data["code"] == "CARD_NOT_FOUND"
    with pytest.raises(NotFound) as no_customer:
        run(client.create_card(owner.id + 1000, CardType.VIRTUAL))
    assert no_customer.value.data["code"] == "CUSTOMER_NOT_FOUND"
    with pytest.raises(NotFound) as nobody_to_list:
        run(client.list_cards(owner.id + 1000))
    assert nobody_to_list.value.data["code"] == "CUSTOMER_NOT_FOUND"
    assert run(client.list_cards(other.id)) == []


def test_login_codes_resolve_while_they_are_the_customers_latest(published: Published) -> None:
    client, run = published.client, published.run
    owner = run(client.create({"phone": "79001240005"}))
    code = run(client.create_temp_card(owner.id))
    assert type(code) is LoginCode
    assert code.expires_after == 300  # login_code_ttl_seconds, default
    assert len(code.value) == 16 and code.value.startswith("0") and code.value.isdigit()
    assert run(client.get_by_card(code.value)).id == owner.id

    newer = run(client.create_temp_card(owner.id))
    assert newer.value != code.value
    assert run(client.get_by_card(newer.value)).id == owner.id
    assert run(client.get_by_card(code.value)) is None  # replaced by the newer code
    assert run(client.list_cards(owner.id)) == []  # codes are not cards
