"""A scheduler process whose only job takes longer than its interval, for the signal and
crash tests: `python -m tests.jobs.sleepy_scheduler` (database from the environment)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from customers import db
from customers.config import load_settings
from jobs.runner import Job, RunContext
from jobs.scheduler import serve
from jobs.triggers import load_jobs_settings


async def nap(run: RunContext) -> dict[str, Any]:
    for step in range(10):
        run.progress("napping", step, 10)
        await run.conn.execute("SELECT pg_sleep(0.3)")
    return {"slept": 3.0}


NAP = Job("nap", nap, "every 1s", "test: three seconds of sleep")

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    settings = load_settings()
    sys.exit(serve(settings, db.resolve(settings).conninfo, jobs_settings=load_jobs_settings(), timetable=(NAP,)))
