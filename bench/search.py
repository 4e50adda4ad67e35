"""Search benchmark: rebuild throughput against a raw pipelined write, and find latency over HTTP.

    .venv/bin/python bench/search.py [--customers 1000000] [--queries 300]

In one run, on a private embedded PostgreSQL and a private redis-server with Debian's
RediSearch module (or the server given by --redis-host/--redis-port):
1. generates N customers with one INSERT ... SELECT (profile fields of the default
   questionnaire, some missing);
2. reference: the very documents the rebuild writes, fetched and encoded (RESP) beforehand,
   written into an index of the same schema over one socket by the rebuild's own writer
   (`RawStream`: the next chunk sent before the previous chunk's replies are read, replies
   counted, not parsed) — nothing but the server's own work is timed; it runs before and
   after the rebuild (the machine is shared) and the rebuild is compared with the mean of the
   two; before each timed step the server is let finish freeing the index dropped before it
   (2.x frees it in the background, seconds of CPU at 1M);
3. `migrate_index` (the rebuild as shipped: keyset chunks, documents computed by PostgreSQL,
   next chunk prepared while the current one is written), timed end to end;
4. the service under uvicorn (own process), `POST /customers/find` timed from the client, with
   the time spent in Redis and PostgreSQL taken from its Server-Timing header, so the service's
   own overhead is reported apart: phone lookup, city + birth-year range, first-name prefix,
   sorted deep page (offset 10,000).
Figures are ratios against the reference of the same run, plus absolute numbers.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# the script's own folder leads the import path, and bench/http (the HTTP benchmark package)
# would shadow the standard library's `http` there: the project root takes its place
sys.path[0] = str(ROOT)

import contextlib  # noqa: E402

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from customers import db, search  # noqa: E402
from customers.config import Settings  # noqa: E402
from customers.search.bulk import RawStream  # noqa: E402
from customers.search.client import pairs, probe  # noqa: E402
from customers.search.documents import encoded_sql  # noqa: E402
from customers.search.lifecycle import unlink_documents  # noqa: E402
from customers.search.schema import IndexSchema  # noqa: E402
from customers.search.session import load_questionnaire  # noqa: E402

MODULE = "/usr/lib/redis/modules/redisearch.so"
LOG = Path(tempfile.gettempdir()) / "bench_search_redis.log"
FIRST = [
    "Иван",
    "Пётр",
    "Сергей",
    "Алексей",
    "Андрей",
    "Дмитрий",
    "Михаил",
    "Николай",
    "Владимир",
    "Александр",
    "Елена",
    "Ольга",
    "Наталья",
    "Мария",
    "Анна",
    "Татьяна",
    "Ирина",
    "Светлана",
    "Екатерина",
    "Юлия",
    "Oleg",
    "Anna",
    "Maria",
    "Ivan",
    "Kirill",
    "Артём",
    "Максим",
    "Егор",
    "Полина",
    "Дарья",
    "Ксения",
    "Виктория",
    "Алина",
    "Роман",
    "Глеб",
    "Тимур",
    "Руслан",
    "Марина",
    "Вера",
    "Любовь",
]
LAST = [
    "Иванов",
    "Петров",
    "Сидоров",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
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
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
    "Сергеев",
    "Кузьмин",
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
    "Саратов",
    "Тюмень",
    "Тольятти",
    "Ижевск",
    "Барнаул",
    "Ульяновск",
    "Иркутск",
    "Хабаровск",
    "Ярославль",
    "Владивосток",
    "Махачкала",
    "Томск",
    "Оренбург",
    "Кемерово",
]
STORES = ["ТЦ Европа", "Мега", "Store #1", "Гагаринский", "Атриум", "Охотный ряд"]
INTERESTS = ["sport", "travel", "cooking", "books", "music", "cinema", "garden", "pets"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sql_array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def pick(values: list[str]) -> str:
    return f"({sql_array(values)})[1 + floor(random() * {len(values)})::int]"


GENERATE = f"""
INSERT INTO customers (phone, email, profile, meta, loyalty_enabled, created, updated_at)
SELECT '79' || lpad(g::text, 9, '0'),
       CASE WHEN random() < 0.6 THEN 'user' || g || '@example.ru' END,
       jsonb_strip_nulls(jsonb_build_object(
         'first_name', CASE WHEN random() < 0.95 THEN {pick(FIRST)} END,
         'last_name', CASE WHEN random() < 0.9 THEN {pick(LAST)} END,
         'birth_date', CASE WHEN random() < 0.85 THEN (date '1950-01-01' + (random() * 20000)::int)::text END,
         'gender', CASE WHEN random() < 0.8 THEN (ARRAY['male', 'female'])[1 + (random() < 0.5)::int] END,
         'city', CASE WHEN random() < 0.9 THEN {pick(CITIES)} END,
         'children_count', CASE WHEN random() < 0.5 THEN floor(random() * 4)::int END,
         'interests', CASE WHEN random() < 0.5 THEN jsonb_build_array({pick(INTERESTS)}, {pick(INTERESTS)}) END,
         'favourite_store', CASE WHEN random() < 0.3 THEN {pick(STORES)} END,
         'car_owner', CASE WHEN random() < 0.5 THEN random() < 0.4 END
       )),
       CASE WHEN random() < 0.5 THEN jsonb_build_object('legacy_id', 'L-' || g) ELSE '{{}}'::jsonb END,
       random() < 0.9,
       date '2015-01-01' + (random() * 3900)::int,
       now() - interval '1 day'
  FROM generate_series(%s::int, %s::int) AS g
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_redis(workdir: Path, module_args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(LOG),
            "--loadmodule",
            MODULE,
            *module_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port)
    for _ in range(300):
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def wait_idle(client: redis.Redis) -> None:
    """Until the server's own CPU use stops: a dropped index is freed in the background on
    2.x (1.6-1.8 s of CPU at 200k documents), which would land on whatever is timed next."""

    def used() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    last = used()
    for _ in range(240):
        time.sleep(0.5)
        now = used()
        if now - last < 0.05:
            return
        last = now


def reference_write(settings: Settings, conninfo: str, chunk: int) -> tuple[int, float]:
    """The same documents, encoded beforehand (not timed), written into an index of the same
    schema over one socket: chunk k+1 is sent before chunk k's replies are read."""
    # no timeout and no retry: redis-py 8 defaults to a 5 s timeout and retries a timed-out
    # command (dropping this index took longer at 1M and the resent drop found no index)
    client = redis.Redis(
        host=settings.services_redis_host,
        port=settings.services_redis_port,
        protocol=2,
        socket_timeout=None,
        retry=None,
    )
    dialect = probe(client)
    index = "customers_vref-0"
    with psycopg.connect(conninfo) as conn:
        schema = IndexSchema.from_questionnaire(load_questionnaire(conn))
        client.execute_command(*dialect.create(index, "cs:ref-0:", schema.declaration()))
        sql, per_row = encoded_sql(dialect, index, schema, "id > %(after)s", fresh=True)
        packed: list[tuple[int, bytes]] = []
        after = 0
        while True:
            rows = conn.execute(sql, {"after": after, "limit": chunk}).fetchall()
            if not rows:
                break
            packed.append((len(rows) * per_row, "".join(r[1] for r in rows).encode()))
            after = rows[-1][0]
    documents = sum(n for n, _ in packed) // per_row
    wait_idle(client)
    started = time.perf_counter()
    stream = RawStream(settings)  # the rebuild's own writer: a socket, replies counted
    for chunk_packed in packed:
        stream.send(chunk_packed)
    stream.close()
    seconds = time.perf_counter() - started
    if stream.failed:
        raise SystemExit(f"the server refused {stream.failed} reference writes")
    try:
        indexed = dialect.num_docs(pairs(client.execute_command("FT.INFO", index)))
    except redis.ResponseError as exc:
        raise SystemExit(f"the reference index vanished: {exc} (see {LOG})") from exc
    client.execute_command(*dialect.drop(index))
    unlink_documents(client, index)
    client.close()
    if indexed != documents:
        raise SystemExit(f"the reference index holds {indexed} of {documents} documents")
    return documents, seconds


def timed_finds(url: str, name: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    totals, in_redis, in_db, overhead = [], [], [], []
    hits = fallbacks = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for body in bodies[:20]:  # warm-up
            client.post("/customers/find", json=body)
        for body in bodies:
            started = time.perf_counter()
            response = client.post("/customers/find", json=body)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text
            result = response.json()
            if result["engine"] != "redisearch":
                fallbacks += 1
                print(f"  answered by PostgreSQL: {result['fallback']}", flush=True)
            hits += len(result["items"])
            timing = dict(part.strip().split(";dur=") for part in response.headers["server-timing"].split(","))
            r, d = float(timing.get("redis", 0)), float(timing.get("database", 0))
            totals.append(elapsed)
            in_redis.append(r)
            in_db.append(d)
            overhead.append(elapsed - r - d)
    return {
        "query": name,
        "n": len(bodies),
        "avg_hits": hits / len(bodies),
        "fallbacks": fallbacks,
        "p50": percentile(totals, 50),
        "p99": percentile(totals, 99),
        "redis_p50": percentile(in_redis, 50),
        "redis_p99": percentile(in_redis, 99),
        "db_p50": percentile(in_db, 50),
        "overhead_p50": percentile(overhead, 50),
        "overhead_p99": percentile(overhead, 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--redis-host")
    parser.add_argument("--redis-port", type=int)
    parser.add_argument("--keep", action="store_true", help="Keep the data directory.")
    parser.add_argument("--module-args", default="", help="Arguments for the private server's RediSearch module.")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench_search_"))
    os.chmod(workdir, 0o755)
    redis_process = None
    service = None
    try:
        if args.redis_host:
            host, port = args.redis_host, args.redis_port or 6379
        else:
            redis_process, port = start_redis(workdir, args.module_args.split())
            host = "127.0.0.1"
        settings = Settings(
            customers_data_dir=workdir,
            search_enabled=True,
            services_redis_host=host,
            services_redis_port=port,
            search_chunk_size=args.chunk,
            search_max_window=10_020,
        )
        db.start_embedded(workdir / "pg", delete_on_exit=not args.keep)
        conninfo = db.resolve(settings).conninfo
        with psycopg.connect(conninfo, autocommit=True) as conn:
            db.migrate(conn)
            started = time.perf_counter()
            step = 100_000
            for low in range(1, args.customers + 1, step):
                conn.execute(GENERATE, (low, min(args.customers, low + step - 1)))
            conn.execute("ANALYZE customers")
            print(f"generated {args.customers:,} customers in {time.perf_counter() - started:.1f}s", flush=True)

        # the machine is shared: the reference runs before and after the rebuild, and the
        # rebuild is compared with their mean
        documents, seconds = reference_write(settings, conninfo, args.chunk)
        before = documents / seconds
        print(
            f"reference 1 (pre-encoded pipelined writes): {documents:,} docs in {seconds:.1f}s = {before:,.0f} docs/s",
            flush=True,
        )
        search.init_index(settings)  # an empty index, so that migrate replaces one
        wait_idle(redis.Redis(host=host, port=port))
        result = search.migrate_index(settings)
        rebuild = result.documents / result.seconds
        print(
            f"rebuild (migrate_index, end to end): {result.documents:,} docs in {result.seconds:.1f}s "
            f"= {rebuild:,.0f} docs/s",
            flush=True,
        )
        try:
            documents, seconds = reference_write(settings, conninfo, args.chunk)
            after = documents / seconds
            print(
                f"reference 2 (pre-encoded pipelined writes): {documents:,} docs in {seconds:.1f}s "
                f"= {after:,.0f} docs/s",
                flush=True,
            )
            reference = (before + after) / 2
        except SystemExit as exc:
            print(f"reference 2 failed: {exc}", flush=True)
            reference = before
        print(f"rebuild / reference = {rebuild / reference:.2f} (target >= 0.8)", flush=True)

        wait_idle(redis.Redis(host=host, port=port))  # the reference's index freed before queries are timed
        port_http = free_port()
        env = {
            **os.environ,
            "CUSTOMERS_DATA_DIR": str(workdir),
            "SEARCH_ENABLED": "true",
            "SERVICES_REDIS_HOST": host,
            "SERVICES_REDIS_PORT": str(port),
            "SEARCH_MAX_WINDOW": "10020",
            "AUTH_TOKENS": "",
            "PYTHONPATH": str(ROOT),
        }
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "cli.app:service",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port_http),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port_http}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        rng = random.Random(7)
        n = args.queries
        with psycopg.connect(conninfo) as conn:
            phones = [r[0] for r in conn.execute("SELECT phone FROM customers TABLESAMPLE SYSTEM (1) LIMIT %s", (n,))]
        phones = (phones * (n // max(1, len(phones)) + 1))[:n]
        cases = {
            "phone lookup": [{"filters": [{"kind": "phone", "condition": "eq", "value": "+" + p}]} for p in phones],
            "city + birth-year range": [
                {
                    "filters": [
                        {"kind": "city", "condition": "eq", "value": rng.choice(CITIES)},
                        {"kind": "birth_date", "condition": "between", "value": [f"{y}-01-01", f"{y}-12-31"]},
                    ],
                    "limit": 20,
                }
                for y in (rng.randint(1950, 2003) for _ in range(n))
            ],
            "first-name prefix (3 letters)": [
                {
                    "filters": [{"kind": "first_name", "condition": "prefix", "value": rng.choice(FIRST)[:3]}],
                    "limit": 20,
                }
                for _ in range(n)
            ],
            "sorted deep page (all, by created, offset 10,000)": [
                {"sort_key": "created", "sort_order": rng.choice(["desc", "asc"]), "offset": 10_000, "limit": 20}
                for _ in range(n // 3)
            ],
            "loyal (90%), same deep page (no target)": [
                {
                    "filters": [{"kind": "loyalty_enabled", "condition": "eq", "value": True}],
                    "sort_key": "created",
                    "sort_order": rng.choice(["desc", "asc"]),
                    "offset": 10_000,
                    "limit": 20,
                }
                for _ in range(n // 3)
            ],
        }
        # the deep pages must be PostgreSQL's pages: same ids in the same order, same total
        with psycopg.connect(conninfo) as conn, httpx.Client(base_url=url, timeout=60) as http:
            for order, offset in (("asc", 10_000), ("desc", 10_000), ("asc", 9_990), ("desc", 123)):
                body = {"sort_key": "created", "sort_order": order, "offset": offset, "limit": 20}
                got = http.post("/customers/find", json=body).json()
                sql = f"SELECT id FROM customers ORDER BY created {order}, id LIMIT 20 OFFSET %s"
                want = [r[0] for r in conn.execute(sql, (offset,))]
                count = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
                same = [c["id"] for c in got["items"]] == want and got["total"] == count
                print(
                    f"deep page {order} offset {offset:,}: "
                    f"{'same as PostgreSQL' if same else 'DIFFERS from PostgreSQL'} "
                    f"(engine {got['engine']})",
                    flush=True,
                )
                if not same:
                    raise SystemExit("a deep page differs from PostgreSQL's")
        print(f"\nfind over HTTP, {args.customers:,} customers ({n} queries each, sequential; ms)")
        print(
            f"{'query':<48}{'p50':>8}{'p99':>8}{'redis p50':>11}{'redis p99':>11}{'pg p50':>8}"
            f"{'service p50':>13}{'service p99':>13}{'hits':>7}{'by pg':>7}"
        )
        for name, bodies in cases.items():
            s = timed_finds(url, name, bodies)
            print(
                f"{name:<48}{s['p50']:>8.2f}{s['p99']:>8.2f}{s['redis_p50']:>11.2f}{s['redis_p99']:>11.2f}"
                f"{s['db_p50']:>8.2f}{s['overhead_p50']:>13.2f}{s['overhead_p99']:>13.2f}{s['avg_hits']:>7.1f}{s['fallbacks']:>7}",
                flush=True,
            )
        info = redis.Redis(host=host, port=port).info("memory")
        print(f"\nRedis memory: {info['used_memory_human']}; dialect {search.index_status(settings)['dialect']}")
    finally:
        if service is not None:
            service.terminate()
            service.wait(10)
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(30)
        with contextlib.suppress(Exception):  # best effort on the way out
            db.stop_embedded(workdir / "pg")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
