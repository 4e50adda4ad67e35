"""The rebuild's bulk path: documents encoded by PostgreSQL (prefix tags included) land in the
index as the write path would write them, replies are counted off a raw socket with every
refusal noticed, and a rebuild whose writes are refused leaves the old index serving."""

from __future__ import annotations

import re

import httpx
import pytest
import redis
from pydantic import SecretStr

from customers import search
from customers.config import Settings
from customers.search.bulk import RawStream, SearchIndexError, encode_command
from customers.search.client import SearchUnavailable
from customers.search.schema import PREFIX_MIN, PREFIX_TAG_MAX, SEP
from customers.search.state import IndexState
from tests.factories import add_customers


def _prefixes(words: list[str]) -> set[str]:
    return {w[:n] for w in words for n in range(PREFIX_MIN, min(len(w), PREFIX_TAG_MAX) + 1)}


def test_rebuilt_documents_carry_every_prefix_once(env: Settings, conninfo: str, rclient: redis.Redis) -> None:
    names = ["Анна-Мария Аннабель", "Я", "Ли", "Константинопольский", "Olga  olga OLGAnna", None]
    cities = ["Санкт-Петербург", "Ко", "М", None, "Москва", "Ростов-на-Дону"]
    rows = add_customers(
        conninfo,
        [
            {
                "phone": f"+7 913 000-00{i:02d}",
                "profile": {k: v for k, v in (("first_name", name), ("city", city)) if v is not None},
            }
            for i, (name, city) in enumerate(zip(names, cities, strict=False))
        ],
    )
    result = search.migrate_index(env)
    assert result.documents == len(rows)
    for row, name, city in zip(rows, names, cities, strict=False):
        doc = rclient.hgetall(IndexState.doc_key(result.index, row["id"]))
        words = re.findall(r"\w+", name.lower()) if name else []
        expected_first = _prefixes(words)
        assert set(doc.get("_p_first_name", "").split(SEP)) - {""} == expected_first, name
        assert (
            len(doc.get("_p_first_name", "").split(SEP)) == len(expected_first) or not expected_first
        )  # no duplicates
        expected_city = _prefixes([city.lower()]) if city else set()
        assert set(doc.get("_p_city", "").split(SEP)) - {""} == expected_city, city
        assert doc["phone"] == row["phone"]
        if name:
            assert doc["first_name"] == " ".join(words)
    report = search.check_consistency(env, sample=100)
    assert report.consistent and report.sampled == len(rows), report


def _settings(env: Settings, **update: object) -> Settings:
    return env.model_copy(update=update)


def test_stream_counts_replies_and_refusals_across_reads(env: Settings, rclient: redis.Redis) -> None:
    incr, refused = encode_command(("INCR", "stream:n")), encode_command(("NOSUCHCOMMAND", "x"))
    stream = RawStream(env)
    stream.READ = 64  # tiny reads: replies and error lines split between them
    stream.buffer = bytearray(64)
    sent = errors = 0
    for chunk in range(40):
        bad = chunk % 3  # 0, 1 or 2 refusals in a chunk, at its start, middle or end
        commands = [incr] * 500
        for k in range(bad):
            commands.insert((k * 251 + chunk) % len(commands), refused)
        stream.send((len(commands), b"".join(commands)))
        sent += 500
        errors += bad
    stream.close()
    assert stream.failed == errors
    assert int(rclient.get("stream:n")) == sent


def test_stream_refuses_a_value_reply(env: Settings, rclient: redis.Redis) -> None:
    rclient.set("stream:v", "1")
    stream = RawStream(env)
    with pytest.raises(SearchIndexError, match="value"):
        stream.send((1, encode_command(("GET", "stream:v"))))
        stream.close()


def test_stream_selects_the_database_and_authenticates(env: Settings, rclient: redis.Redis) -> None:
    stream = RawStream(_settings(env, services_redis_db=3))
    stream.send((1, encode_command(("SET", "stream:db", "3"))))
    stream.close()
    assert rclient.get("stream:db") is None
    other = redis.Redis(host=env.services_redis_host, port=env.services_redis_port, db=3, protocol=2)
    try:
        assert other.get("stream:db") == b"3"
        other.delete("stream:db")
    finally:
        other.close()
    rclient.config_set("requirepass", "s3cret")
    try:
        with pytest.raises(SearchUnavailable):
            RawStream(_settings(env, services_redis_password=SecretStr("wrong")))
        stream = RawStream(_settings(env, services_redis_password=SecretStr("s3cret")))
        stream.send((1, encode_command(("SET", "stream:auth", "yes"))))
        stream.close()
        assert stream.failed == 0
    finally:
        rclient.execute_command("AUTH", "s3cret")
        rclient.config_set("requirepass", "")
    assert rclient.get("stream:auth") == "yes"


def test_refused_writes_abandon_the_rebuild_and_the_old_index_serves(
    search_api: httpx.Client, search_settings: Settings, conninfo: str, rclient: redis.Redis
) -> None:
    rows = add_customers(
        conninfo, [{"phone": f"+7 913 100-{i:04d}", "profile": {"first_name": "Пётр"}} for i in range(120)]
    )
    search.init_index(search_settings, load_docs=True)
    old = rclient.get(IndexState.CURRENT)
    blocked: list[str] = []

    def block_the_last(done: int, total: int) -> None:
        # a string where the last customer's hash must go: the server refuses that write
        if not blocked:
            building = rclient.get(IndexState.BUILDING)
            blocked.append(IndexState.doc_key(building, rows[-1]["id"]))
            rclient.set(blocked[0], "in the way")

    with pytest.raises(SearchIndexError, match="refused 1 "):
        search.migrate_index(search_settings.model_copy(update={"search_chunk_size": 50}), progress=block_the_last)
    assert rclient.get(IndexState.CURRENT) == old and rclient.get(IndexState.BUILDING) is None
    assert set(rclient.smembers(IndexState.INDEXES)) == {old}
    found = search_api.post("/customers/find", json={"limit": 0}).json()
    assert (found["total"], found["engine"]) == (120, "redisearch")
    rclient.delete(blocked[0])
    result = search.migrate_index(search_settings)
    assert result.previous == old and result.documents == 120
