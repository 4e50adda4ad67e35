"""What the JSON-RPC layer costs: lookups over /public/rpc against the same lookups over REST.

Starts an embedded PostgreSQL in a temp dir and the service under uvicorn on loopback, loads
`--customers` customers (each with one card) through RPC batches, then times sequential
keep-alive requests:

  reference   GET /customers/{id}                      (REST)
  rpc         Customers.get                            (one call per request)
  rpc batch   Customers.get, `--batch` calls a request (time per call)
  by card     Customers.get_by_card                    (one call per request)

and prints each as a ratio to the reference run in the same process, with the absolute numbers.

    .venv/bin/python bench/rpc_overhead.py --customers 2000 --requests 2000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import uvicorn

from cli.app import create_app
from customers import db
from customers.config import load_settings


def start(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def rpc_body(method: str, **params: Any) -> dict[str, Any]:
    return {"id": 0, "method": method, "params": params}


def timed(label: str, calls: int, run: Callable[[], None], repeats: int) -> float:
    """Best of `repeats` runs, in microseconds per call."""
    results = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        results.append((time.perf_counter() - started) / calls * 1e6)
    best = min(results)
    print(f"  {label:<12} {best:8.1f} µs/call (best of {repeats}; median {statistics.median(results):.1f})")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rpc-bench-") as tmp:
        data_dir = Path(tmp)
        db.start_embedded(data_dir / "pg", delete_on_exit=True)
        settings = load_settings(customers_data_dir=data_dir, auth_tokens="")
        with psycopg.connect(db.resolve(settings).conninfo, autocommit=True) as conn:
            db.migrate(conn)
        server, thread, url = start(create_app(settings))
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                ids, card_ids = load(client, args.customers)
                rng = random.Random(7)
                picks = [rng.choice(ids) for _ in range(args.requests)]
                card_picks = [rng.choice(card_ids) for _ in range(args.requests)]
                rpc_bodies = [orjson.dumps(rpc_body("Customers.get", id=i)) for i in picks]
                card_bodies = [orjson.dumps(rpc_body("Customers.get_by_card", card_id=c)) for c in card_picks]
                batches = [
                    orjson.dumps([rpc_body("Customers.get", id=i) for i in picks[n : n + args.batch]])
                    for n in range(0, len(picks), args.batch)
                ]

                def rest() -> None:
                    for i in picks:
                        assert client.get(f"/customers/{i}").status_code == 200

                def rpc_single() -> None:
                    for body in rpc_bodies:
                        assert "result" in client.post("/public/rpc", content=body).json()

                def rpc_batch() -> None:
                    for body in batches:
                        assert all("result" in a for a in client.post("/public/rpc", content=body).json())

                def by_card() -> None:
                    for body in card_bodies:
                        assert client.post("/public/rpc", content=body).json()["result"] is not None

                rest()  # warm the pool, the caches and the connection
                print(
                    f"{args.customers} customers with one card each; "
                    f"{args.requests} lookups per run, sequential, keep-alive"
                )
                reference = timed("REST get", args.requests, rest, args.repeats)
                for label, run in (
                    ("rpc get", rpc_single),
                    (f"rpc batch {args.batch}", rpc_batch),
                    ("rpc by card", by_card),
                ):
                    value = timed(label, args.requests, run, args.repeats)
                    print(f"  {'':<12} ratio to REST get: {value / reference:.2f}")
        finally:
            server.should_exit = True
            thread.join(10)
            db.stop_embedded(data_dir / "pg")


def load(client: httpx.Client, count: int) -> tuple[list[int], list[str]]:
    """Create `count` customers and one VIRTUAL card each, through RPC batches."""
    ids: list[int] = []
    for start_at in range(0, count, 500):
        batch = [
            rpc_body("Customers.create", customer={"phone": f"79{n:09d}", "profile": {"first_name": f"N{n}"}})
            for n in range(start_at, min(count, start_at + 500))
        ]
        ids += [a["result"]["id"] for a in client.post("/public/rpc", content=orjson.dumps(batch)).json()]
    cards: list[str] = []
    for n in range(0, len(ids), 500):
        batch = [rpc_body("Customers.cards.create", customer_id=i, card_type=None) for i in ids[n : n + 500]]
        cards += [a["result"]["id"] for a in client.post("/public/rpc", content=orjson.dumps(batch)).json()]
    return ids, cards


if __name__ == "__main__":
    main()
