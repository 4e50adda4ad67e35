"""Text holding the NUL character (U+0000) is a 422 naming the field over REST, wherever it is
sent: body, path or query. PostgreSQL's text and jsonb cannot store it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

NUL = "\u0000"


def _nul_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_FAILED"
    assert all(e["code"] == "INVALID_FORMAT" and "NUL" in e["message"] for e in body["errors"]), body
    return {e["field"] for e in body["errors"]}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"phone": "79161234567", "profile": {"first_name": f"I{NUL}van"}}, {"profile.first_name"}),
        ({"phone": "79161234567", "meta": {f"k{NUL}": "v", "tags": [f"a{NUL}"]}}, {"meta", "meta.tags"}),
        ({"phone": f"7916123{NUL}4567"}, {"phone"}),
    ],
)
def test_nul_in_a_body_names_the_field(
    api: httpx.Client, body: dict[str, Any], fields: set[str], count_customers: Any
) -> None:
    assert _nul_fields(api.post("/customers", json=body)) == fields
    assert count_customers() == 0


def test_nul_in_bodies_of_other_routes(api: httpx.Client) -> None:
    created = api.post("/customers", json={"phone": "79161234567"}).json()
    assert _nul_fields(api.patch(f"/customers/{created['id']}", json={"profile": {"city": f"Om{NUL}sk"}})) == {
        "profile.city"
    }
    assert _nul_fields(api.post("/groups", json={"name": f"g{NUL}"})) == {"name"}
    assert _nul_fields(api.post("/customers/find", json={"query": f"a{NUL}"})) == {"query"}
    assert api.get(f"/customers/{created['id']}").json() == created


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/customers/by-phone/7916123%004567", "phone"),
        ("/customers/by-email/a%00b@example.com", "email"),
        ("/customers/by-card/441%00", "card_id"),
        ("/jobs/history?job=brin%00", "job"),
        ("/jobs/brin%00/history", "name"),
    ],
)
def test_nul_in_path_and_query_names_the_parameter(api: httpx.Client, path: str, field: str) -> None:
    assert _nul_fields(api.get(path)) == {field}


def test_nul_in_card_paths(api: httpx.Client) -> None:
    created = api.post("/customers", json={"phone": "79161234567"}).json()
    assert _nul_fields(api.put(f"/customers/{created['id']}/cards/4410000%00")) == {"card_id"}
    assert _nul_fields(api.post(f"/customers/{created['id']}/cards/4410000%00/deactivate")) == {"card_id"}


def test_driver_errors_about_nul_translate_to_validation(conninfo: str) -> None:
    """A NUL that slipped past every entry point is still invalid input, not an internal error."""
    import psycopg

    from customers.db import translate
    from customers.errors import ValidationFailed

    caught = []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for sql, params in (("SELECT %s::text", (f"a{NUL}",)), ("SELECT %s::jsonb", ('{"a": "\\u0000"}',))):
            with pytest.raises(psycopg.Error) as raised:
                conn.execute(sql, params)
            caught.append(raised.value)
        with pytest.raises(psycopg.Error) as other:
            conn.execute("SELECT 1 / 0")
    for exc in caught:
        translated = translate(exc)
        assert isinstance(translated, ValidationFailed), exc
        assert translated.errors[0].code == "INVALID_FORMAT" and "NUL" in translated.errors[0].message
    assert translate(other.value) is other.value
