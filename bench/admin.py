"""Admin page benchmark: the server time of the search page's first page and of the customer
card at a million customers, with search off (PostgreSQL) and on (RediSearch), and the size of
each page with its assets.

    .venv/bin/python bench/admin.py [--customers 1000000] [--requests 200] [--no-search]

In one run, on a private embedded PostgreSQL (and a private redis-server with Debian's
RediSearch module, unless --no-search or it is not installed):
1. generates N customers with INSERT ... SELECT over generate_series (set-based: a few
   statements of 250,000 rows, profile fields of the default questionnaire), then ANALYZE;
2. starts the service as it is served (`cli.app:service` under uvicorn, its own process, open
   mode: no tokens), once with search off, once with search on after `migrate_index`;
3. requests, one after the other, the search page's first page (no filters, sorted by id), a
   page with two filters (city and gender; for information, it has no target), and the card of
   a random customer, and reports the median and the 99th percentile of the server's time (its
   `Server-Timing: app`, from the route's start to its response) and of the time seen by the
   client, against the target of 300 ms, and how many search pages PostgreSQL answered;
4. adds up the bytes of each page and of the assets it references.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the script's own folder leads the import path, and bench/http would shadow the standard
# library's `http` there: the project root takes its place
sys.path[0] = str(ROOT)

import httpx  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402

from customers import db, search  # noqa: E402
from customers.config import Settings  # noqa: E402

MODULE = "/usr/lib/redis/modules/redisearch.so"
TARGET_MS = 300.0
FIRST = ["Иван", "Пётр", "Сергей", "Алексей", "Елена", "Ольга", "Наталья", "Мария", "Анна", "Татьяна"]
LAST = ["Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Соколов", "Новиков", "Морозов", "Волков"]
CITIES = ["Москва", "Санкт-Петербург", "Новосибирск", "Екатеринбург", "Казань", "Самара", "Омск", "Пермь"]
INTERESTS = ["sport", "travel", "cooking", "books", "music", "cinema", "garden", "pets"]


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(values: list[str]) -> str:
    return f"({_array(values)})[1 + floor(random() * {len(values)})::int]"


GENERATE = f"""
INSERT INTO customers (phone, email, email_confirmed, blocked, profile, meta, loyalty_enabled, created)
SELECT '79' || lpad(g::text, 9, '0'),
       CASE WHEN g %% 10 < 6 THEN 'user' || g || '@example.ru' END,
       g %% 10 < 3,
       g %% 50 = 0,
       jsonb_strip_nulls(jsonb_build_object(
         'first_name', {_pick(FIRST)},
         'last_name', CASE WHEN random() < 0.9 THEN {_pick(LAST)} END,
         'birth_date', CASE WHEN random() < 0.85 THEN (date '1950-01-01' + (random() * 20000)::int)::text END,
         'gender', (ARRAY['male', 'female'])[1 + (random() < 0.5)::int],
         'city', CASE WHEN random() < 0.9 THEN {_pick(CITIES)} END,
         'children_count', CASE WHEN random() < 0.5 THEN floor(random() * 4)::int END,
         'interests', CASE WHEN random() < 0.5 THEN jsonb_build_array({_pick(INTERESTS)}) END,
         'car_owner', CASE WHEN random() < 0.5 THEN random() < 0.4 END
       )),
       jsonb_build_object('registration_channel', (ARRAY['store', 'web', 'app'])[1 + g %% 3]),
       random() < 0.9,
       current_date - (random() * 3650)::int
  FROM generate_series(%s::int, %s::int) AS g
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--loadmodule", MODULE],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(300):
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.05)
    raise SystemExit("redis-server did not start")


def start_service(workdir: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "CUSTOMERS_DATA_DIR": str(workdir),
        "AUTH_TOKENS": "",
        "PYTHONPATH": str(ROOT),
        **extra_env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "cli.app:service", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not start")


def server_ms(response: httpx.Response) -> dict[str, float]:
    """The page's Server-Timing: `app` (the whole route), and for the search page the time spent
    in the database and in Redis."""
    parts = dict(re.findall(r"(\w+);dur=([0-9.]+)", response.headers.get("server-timing", "")))
    if "app" not in parts:
        raise SystemExit(f"no Server-Timing on {response.url}")
    return {name: float(ms) for name, ms in parts.items()}


def timed(client: httpx.Client, paths: list[str]) -> dict[str, float]:
    server: list[float] = []
    in_db: list[float] = []
    in_redis: list[float] = []
    seen: list[float] = []
    by_postgresql = 0
    for path in paths[: max(5, len(paths) // 10)]:  # warm-up: caches, the questionnaire, the pool
        client.get(path)
    for path in paths:
        started = time.perf_counter()
        response = client.get(path)
        seen.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
        timing = server_ms(response)
        server.append(timing["app"])
        in_db.append(timing.get("database", 0.0))
        in_redis.append(timing.get("redis", 0.0))
        by_postgresql += 'data-engine="postgresql"' in response.text
    return {
        "n": len(paths),
        "by_postgresql": by_postgresql,
        "server_p50": percentile(server, 50),
        "server_p99": percentile(server, 99),
        "db_p50": percentile(in_db, 50),
        "redis_p50": percentile(in_redis, 50),
        "client_p50": percentile(seen, 50),
        "client_p99": percentile(seen, 99),
    }


def page_weight(client: httpx.Client, path: str) -> tuple[int, dict[str, int]]:
    """The page's HTML and every asset it references (scripts, styles), in bytes."""
    html = client.get(path)
    assets = {}
    for ref in re.findall(r'(?:src|href)="(/admin/static/[^"]+)"', html.text):
        assets[ref.split("?")[0].rsplit("/", 1)[-1]] = len(client.get(ref).content)
    return len(html.content), assets


def measure(url: str, ids: list[int], requests: int, engine: str) -> list[tuple[str, dict[str, float]]]:
    rng = random.Random(11)
    cases = {
        "search, first page (no filters, by id)": ["/admin/search"] * requests,
        "search, city + gender (no target)": [
            f"/admin/search?f.city={rng.choice(CITIES)}&f.gender={rng.choice(['male', 'female'])}"
            for _ in range(requests)
        ],
        "customer card (random id)": [f"/admin/customers/{rng.choice(ids)}" for _ in range(requests)],
    }
    results = []
    with httpx.Client(base_url=url, timeout=60) as client:
        engine_seen = re.search(r'data-engine="(\w+)"', client.get("/admin/search").text)
        if engine_seen is None or engine_seen.group(1) != engine:
            raise SystemExit(f"the search page was answered by {engine_seen and engine_seen.group(1)}, not {engine}")
        for name, paths in cases.items():
            results.append((name, timed(client, paths)))
    return results


def report(title: str, results: list[tuple[str, dict[str, float]]]) -> None:
    print(
        f"\n{title}\n(ms; server = Server-Timing app, the route's whole time; client = round trip on loopback; "
        "db, redis = the search's own time there; by PG = search pages PostgreSQL answered)"
    )
    print(
        f"{'page':<42}{'n':>5}{'server p50':>12}{'server p99':>12}{'client p50':>12}{'client p99':>12}"
        f"{'db p50':>8}{'redis p50':>10}{'by PG':>7}  target"
    )
    for name, r in results:
        if "no target" in name:
            verdict = "-"
        else:
            verdict = "ok" if r["server_p50"] < TARGET_MS and r["server_p99"] < TARGET_MS else "MISSED"
            verdict = f"< {TARGET_MS:.0f}: {verdict}"
        print(
            f"{name:<42}{r['n']:>5}{r['server_p50']:>12.1f}{r['server_p99']:>12.1f}"
            f"{r['client_p50']:>12.1f}{r['client_p99']:>12.1f}{r['db_p50']:>8.1f}{r['redis_p50']:>10.1f}"
            f"{r['by_postgresql']:>7}  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--no-search", action="store_true", help="Measure with search off only.")
    parser.add_argument("--keep", action="store_true", help="Keep the data directory.")
    args = parser.parse_args()

    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    workdir = Path(tempfile.mkdtemp(prefix="bench_admin_"))
    os.chmod(workdir, 0o755)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        settings = Settings(customers_data_dir=workdir)
        db.start_embedded(workdir / "pg", delete_on_exit=not args.keep)
        conninfo = db.resolve(settings).conninfo
        with psycopg.connect(conninfo, autocommit=True) as conn:
            db.migrate(conn)
            started = time.perf_counter()
            step = 250_000
            for low in range(1, args.customers + 1, step):
                conn.execute(GENERATE, (low, min(args.customers, low + step - 1)))
            conn.execute("VACUUM ANALYZE customers")
            print(f"generated {args.customers:,} customers in {time.perf_counter() - started:.1f} s", flush=True)
            ids = [r[0] for r in conn.execute("SELECT id FROM customers TABLESAMPLE SYSTEM (1) LIMIT 5000")]

        service, url = start_service(workdir, {})
        processes.append(service)
        with httpx.Client(base_url=url, timeout=60) as client:
            print("\npage weight (bytes: the HTML, then each asset it references)")
            for path in ("/admin/search", f"/admin/customers/{ids[0]}", "/admin/jobs"):
                html, assets = page_weight(client, path)
                total = html + sum(assets.values())
                listed = ", ".join(f"{name} {size:,}" for name, size in assets.items())
                print(f"  {path:<28} html {html:,} + {listed} = {total:,} ({total / 1024:.0f} KB; budget 200 KB)")
        off = measure(url, ids, args.requests, "postgresql")
        service.terminate()
        service.wait(30)
        report(f"search off (PostgreSQL), {args.customers:,} customers", off)

        if args.no_search or shutil.which("redis-server") is None or not Path(MODULE).is_file():
            print("\nsearch on: skipped (--no-search, or no redis-server with Debian's RediSearch module)")
            return
        redis_process, port = start_redis(workdir)
        processes.append(redis_process)
        on_settings = settings.model_copy(
            update={"search_enabled": True, "services_redis_host": "127.0.0.1", "services_redis_port": port}
        )
        started = time.perf_counter()
        result = search.migrate_index(on_settings)
        print(f"\nindexed {result.documents:,} customers in {time.perf_counter() - started:.1f} s", flush=True)
        service, url = start_service(
            workdir,
            {"SEARCH_ENABLED": "true", "SERVICES_REDIS_HOST": "127.0.0.1", "SERVICES_REDIS_PORT": str(port)},
        )
        processes.append(service)
        on = measure(url, ids, args.requests, "redisearch")
        version = redis.Redis(port=port).info("server")["redis_version"]
        report(f"search on (redis-server {version}, Debian's RediSearch module), {args.customers:,} customers", on)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
        if not args.keep:
            db.stop_embedded(workdir / "pg")
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"\nload average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
