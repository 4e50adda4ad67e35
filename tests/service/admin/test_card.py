"""The search page and the customer card in the browser: what a person sees, and what the
database holds afterwards."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer
from tests.service.admin.seed import add, seed


def _customer(db: psycopg.Connection[Any], customer_id: int) -> dict[str, Any] | None:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("SELECT * FROM customers WHERE id = %s", (customer_id,)).fetchone()


def _shown_ids(page: Page) -> list[int]:
    return [int(v) for v in page.locator("table.results tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)")]


def test_two_filters_then_a_card_then_an_edit_is_shown_and_stored(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    people = seed(conninfo)
    # Казань (every third) and female (every second): every sixth customer, by id
    expected = [c["id"] for n, c in enumerate(people) if n % 6 == 0]

    page.goto(f"{live.url}/admin/search")
    page.get_by_label("Город").fill("Казань")
    page.get_by_label("Пол", exact=True).select_option("female")
    page.get_by_role("button", name="Search").click()

    expect(page.locator(".summary")).to_have_attribute("data-total", str(len(expected)))
    assert _shown_ids(page) == expected
    # the filters live in the query string, empty ones left out: the link shows the same page
    assert parse_qs(urlsplit(page.url).query) == {
        "f.city": ["Казань"],
        "f.gender": ["female"],
        "sort": ["id"],
        "order": ["asc"],
        "size": ["20"],
    }
    linked = page.context.new_page()
    linked.goto(page.url)
    assert _shown_ids(linked) == expected
    linked.close()

    target = expected[1]
    page.locator(f"tr[data-id='{target}'] a").click()
    expect(page.locator("h1")).to_have_text(f"Customer #{target}")
    page.get_by_label("Количество детей").fill("3")
    page.get_by_role("button", name="Save changes").click()

    expect(page.locator(".flash")).to_have_text("Saved.")
    expect(page.get_by_label("Количество детей")).to_have_value("3")
    stored = _customer(db, target)
    assert stored is not None and stored["profile"]["children_count"] == 3
    # the rest of the profile is kept as it was
    before = next(c for c in people if c["id"] == target)
    assert {k: v for k, v in stored["profile"].items() if k != "children_count"} == {
        k: v for k, v in before["profile"].items() if k != "children_count"
    }


def test_an_invalid_edit_shows_the_fields_errors_and_stores_nothing(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    [customer] = seed(conninfo, 1)
    page.goto(f"{live.url}/admin/customers/{customer['id']}")
    page.get_by_label("Имя").fill("Новое имя")
    page.get_by_label("Количество детей").fill("25")
    page.get_by_label("Размер обуви").fill("сорок")
    page.get_by_role("button", name="Save changes").click()

    expect(page.locator("p.error[role=alert]")).to_contain_text("Nothing was saved")
    children = page.locator("#profile-children_count-error")
    expect(children).to_contain_text("NUMBER_CONSTRAINT")
    expect(page.get_by_label("Количество детей")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#profile-shoe_size-error")).to_contain_text("TYPE_MISMATCH")
    # what was typed stays in the form, to be corrected
    expect(page.get_by_label("Имя")).to_have_value("Новое имя")
    expect(page.get_by_label("Количество детей")).to_have_value("25")

    stored = _customer(db, customer["id"])
    assert stored is not None
    assert stored["profile"] == customer["profile"]
    assert stored["updated_at"] == customer["updated_at"]


def test_block_unblock_contacts_and_delete_with_confirmation(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    first, second = add(conninfo, [{"phone": "79161234501", "email": "first@example.ru"}, {"phone": "79161234502"}])
    page.goto(f"{live.url}/admin/customers/{first['id']}")

    page.get_by_role("button", name="Block").click()
    expect(page.locator(".flash")).to_have_text("The customer is blocked.")
    expect(page.locator(".subtitle [data-field=blocked]")).to_have_text("blocked")
    assert _customer(db, first["id"])["blocked"] is True  # type: ignore[index]
    page.get_by_role("button", name="Unblock").click()
    expect(page.locator(".subtitle [data-field=blocked]")).to_have_count(0)
    assert _customer(db, first["id"])["blocked"] is False  # type: ignore[index]

    # a phone in a human format is stored as digits; a phone another customer has is refused beside the field
    page.get_by_label("New phone").fill("+7 (999) 000-11-22")
    page.get_by_role("button", name="Change the phone").click()
    expect(page.locator(".subtitle [data-field=phone]")).to_have_text("79990001122")
    page.get_by_label("New phone").fill("8 916 123-45-02")
    page.get_by_role("button", name="Change the phone").click()
    expect(page.locator("#new_phone-error")).to_contain_text("PHONE_EXISTS")
    assert _customer(db, first["id"])["phone"] == "79990001122"  # type: ignore[index]

    page.goto(f"{live.url}/admin/customers/{first['id']}")
    page.get_by_label("New email").fill("New.Address@Example.RU")
    page.get_by_role("button", name="Change the email").click()
    expect(page.locator("[data-field=email]")).to_contain_text("new.address@example.ru")
    expect(page.locator("[data-field=email]")).to_contain_text("not confirmed")
    page.get_by_role("button", name="Confirm the email").click()
    expect(page.locator("[data-field=email]")).to_contain_text("confirmed")
    stored = _customer(db, first["id"])
    assert stored is not None and stored["email"] == "new.address@example.ru" and stored["email_confirmed"] is True

    page.get_by_role("link", name="Delete…").click()
    expect(page.locator("h1")).to_have_text(f"Delete customer #{first['id']}?")
    page.get_by_role("link", name="Cancel").click()
    assert _customer(db, first["id"]) is not None
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("button", name="Delete the customer").click()
    expect(page.locator(".flash")).to_have_text("The customer is deleted.")
    assert _customer(db, first["id"]) is None
    assert _customer(db, second["id"]) is not None


def test_cards_and_groups_on_the_card(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    [customer] = add(conninfo, [{"phone": "79161234503"}])
    page.goto(f"{live.url}/admin/customers/{customer['id']}")

    page.get_by_label("Issue a card of type").select_option("APPLE")
    page.get_by_role("button", name="Issue", exact=True).click()
    expect(page.locator(".flash")).to_have_text("A card is issued.")
    page.get_by_label("Attach a physical card").fill("12345")
    page.get_by_role("button", name="Attach").click()
    expect(page.locator("#card_id-error")).to_contain_text("INVALID_CARD_FMT")
    page.get_by_label("Attach a physical card").fill("4410000000042")
    page.get_by_role("button", name="Attach").click()
    expect(page.locator("tr[data-card='4410000000042']")).to_contain_text("enabled")
    cards = db.execute(
        "SELECT id, type, enabled FROM cards WHERE customer_id = %s ORDER BY created, id", (customer["id"],)
    )
    stored = {row[1]: row for row in cards.fetchall()}
    assert set(stored) == {"APPLE", "PHYSICAL"} and stored["APPLE"][0].startswith("2")

    page.locator("tr[data-card='4410000000042']").get_by_role("button", name=re.compile("Deactivate")).click()
    expect(page.locator("tr[data-card='4410000000042']")).to_contain_text("deactivated")
    assert db.execute("SELECT enabled FROM cards WHERE id = '4410000000042'").fetchone() == (False,)

    page.get_by_role("button", name="Create a login code").click()
    expect(page.locator(".flash")).to_contain_text("Login code 0")

    page.get_by_label("Add to a new group named").fill("VIP <b>")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator(".chips li")).to_contain_text("VIP <b>")
    groups = db.execute(
        "SELECT g.name FROM customer_group_members m JOIN customer_groups g ON g.id = m.group_id"
        " WHERE m.customer_id = %s",
        (customer["id"],),
    ).fetchall()
    assert groups == [("VIP <b>",)]
    page.locator(".chips li").get_by_role("button", name=re.compile("Remove")).click()
    expect(page.locator(".chips li")).to_have_count(0)
    assert db.execute("SELECT count(*) FROM customer_group_members").fetchone() == (0,)


def test_the_lookup_box_finds_by_phone_email_card_and_id(
    admin_page: Page, live: LiveServer, conninfo: str, db: psycopg.Connection[Any]
) -> None:
    page = admin_page
    customer, _ = add(conninfo, [{"phone": "79161234504", "email": "Lookup@Example.ru"}, {"phone": "79161234505"}])
    db.execute("INSERT INTO cards (id, customer_id, type) VALUES ('4419999999999', %s, 'PHYSICAL')", (customer["id"],))
    for typed in (
        "+7 (916) 123-45-04",
        "8 916 123 45 04",
        "79161234504",
        "lookup@example.RU",
        "4419999999999",
        f"#{customer['id']}",
    ):
        page.goto(f"{live.url}/admin/search")
        page.get_by_label("Find a customer").fill(typed)
        page.get_by_label("Find a customer").press("Enter")
        expect(page).to_have_url(f"{live.url}/admin/customers/{customer['id']}", timeout=5000)
    page.goto(f"{live.url}/admin/search")
    page.get_by_label("Find a customer").fill("nobody@example.ru")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("main .error")).to_contain_text("No customer has")
