"""Groups.* driven by the original service's published client.

Groups come back as the client's `Group` struct (`created` a date); memberships are counts; the
members of a group and the groups of a customer are lists of ids. The client's `groups_delete`
sends `Groups.update` with only the id: the service answers it as any call missing a required
parameter, and the group stays; `Groups.delete` itself, called by name, answers true."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from tests.conftest import LiveServer
from tests.helpers import ADMIN_TOKEN
from tests.service.rpc.published_client import Group, InvalidParams, NotFound, Published, db_today, published_client


@pytest.fixture
def published(live: LiveServer, clean_db: None) -> Iterator[Published]:
    """The published client as an admin of the live service, on an empty database."""
    with published_client(live.url, ADMIN_TOKEN) as opened:
        yield opened


def fields_of(group: Any) -> dict[str, Any]:
    """A group as the client converted it, as a dict of its fields."""
    assert type(group) is Group, type(group)
    return msgspec.structs.asdict(group)


def customers(published: Published, count: int) -> list[int]:
    """Ids of `count` new customers, created with the client."""
    return [published.run(published.client.create({"phone": f"7900125{n:04d}"})).id for n in range(1, count + 1)]


def test_groups_are_created_updated_and_listed(published: Published, conninfo: str) -> None:
    client, run = published.client, published.run
    today = db_today(conninfo)
    plain = fields_of(run(client.groups_create("VIP")))
    assert plain == {"created": today, "id": plain["id"], "name": "VIP", "meta": {}}
    tagged = fields_of(run(client.groups_create("  Сотрудники  ", {"discount": 10, "note": "staff"})))
    assert tagged == {
        "created": today,
        "id": tagged["id"],
        "name": "Сотрудники",
        "meta": {"discount": 10, "note": "staff"},
    }

    updated = fields_of(run(client.groups_update(tagged["id"], {"discount": 15})))
    assert updated == {**tagged, "meta": {"discount": 15}}  # meta replaced, not merged

    third = fields_of(run(client.groups_create("Новые", {})))
    assert [fields_of(g) for g in run(client.groups_list())] == [plain, updated, third]
    assert [fields_of(g) for g in run(client.groups_list(offset=1, limit=1))] == [updated]
    assert run(client.groups_list(offset=5, limit=10)) == []

    with pytest.raises(NotFound) as missing:
        run(client.groups_update(third["id"] + 1000, {}))
    assert missing.value.data["code"] == "GROUP_NOT_FOUND"


def test_groups_delete_of_the_published_client_leaves_the_group(published: Published) -> None:
    client, run = published.client, published.run
    group = run(client.groups_create("Удаляемая", {"keep": True}))
    # the client's defect: it sends Groups.update with the id alone
    with pytest.raises(InvalidParams) as refused:
        run(client.groups_delete(group.id))
    assert refused.value.status_code == -32602
    assert [(e["field"], e["code"]) for e in refused.value.data["errors"]] == [("meta", "MISSING")]
    assert [fields_of(g) for g in run(client.groups_list())] == [fields_of(group)]


def test_groups_delete_called_by_name_answers_true(published: Published) -> None:
    client, run = published.client, published.run
    group = run(client.groups_create("Удаляемая"))
    kept = run(client.groups_create("Остаётся"))
    [member] = customers(published, 1)
    run(client.groups_customers_add(group.id, [member]))

    # the working call the docs show
    assert run(client.call("Groups.delete", {"id": group.id})) is True
    assert [g.id for g in run(client.groups_list())] == [kept.id]
    assert run(client.get(member)) is not None  # the customers stay


def test_memberships_are_counted(published: Published) -> None:
    client, run = published.client, published.run
    vip = run(client.groups_create("VIP"))
    staff = run(client.groups_create("Сотрудники"))
    ids = customers(published, 4)

    assert run(client.groups_customers_add(vip.id, ids[:3])) == 3
    assert run(client.groups_customers_add(vip.id, [ids[0], ids[3]])) == 1  # members already are not counted
    assert run(client.groups_customers_remove(vip.id, [ids[1], ids[1]])) == 1
    assert run(client.groups_customers_remove(vip.id, [ids[1]])) == 0

    both = [{"id": ids[0], "groups": [vip.id, staff.id]}, {"id": ids[1], "groups": [staff.id]}]
    assert run(client.groups_add_customer_groups(both)) == 2  # ids[0] already was in vip
    assert run(client.groups_remove_customer_groups([{"id": ids[0], "groups": [vip.id, staff.id]}])) == 2

    with pytest.raises(NotFound) as missing:
        run(client.groups_customers_add(vip.id, [ids[0], ids[3] + 1000]))
    assert (missing.value.data["code"], missing.value.data["ids"]) == ("CUSTOMER_NOT_FOUND", [ids[3] + 1000])


def test_members_of_a_group_are_listed_as_ids(published: Published) -> None:
    client, run = published.client, published.run
    group = run(client.groups_create("VIP"))
    ids = customers(published, 4)
    run(client.groups_customers_add(group.id, [ids[3], ids[0], ids[2]]))

    assert run(client.groups_customers_list(group.id, offset=0, limit=100)) == [ids[0], ids[2], ids[3]]
    assert run(client.groups_customers_list(group.id, offset=1, limit=1)) == [ids[2]]
    assert run(client.groups_customers_list(group.id, offset=3, limit=10)) == []


def test_members_of_a_group_with_the_clients_default_page(published: Published) -> None:
    client, run = published.client, published.run
    group = run(client.groups_create("VIP"))
    ids = customers(published, 2)
    run(client.groups_customers_add(group.id, ids))
    # the client sends offset 0 and limit 10000 unless told otherwise
    assert run(client.groups_customers_list(group.id)) == ids


def test_groups_of_a_customer_are_listed_as_ids(published: Published) -> None:
    client, run = published.client, published.run
    first, second, third = (run(client.groups_create(name)) for name in ("A", "B", "C"))
    [customer, loner] = customers(published, 2)
    run(client.groups_add_customer_groups([{"id": customer, "groups": [third.id, first.id]}]))

    assert run(client.groups_customer_get_groups(customer)) == [first.id, third.id]
    assert run(client.groups_customer_get_groups(loner)) == []
    assert second.id not in run(client.groups_customer_get_groups(customer))


def test_groups_of_an_unknown_customer_are_null(published: Published) -> None:
    [customer] = customers(published, 1)
    assert published.run(published.client.groups_customer_get_groups(customer + 1000)) is None
