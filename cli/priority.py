"""The importer's CPU priority: lowered, so that on a machine it shares with PostgreSQL the
server's sessions get the cores first.

A load's merge runs in one PostgreSQL session that nothing can run beside (see
`etl.chunk_merge`): it is the critical path. The importer's own threads (reading, validating,
serialising frames for COPY) can run whenever a core is free, so they take the lower priority.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_THREADS = Path("/proc/self/task")


def lower_priority(by: int) -> None:
    """Lower the CPU priority (raise the nice value) of every thread of this process by `by`,
    up to the lowest priority there is. Threads started later take their starter's priority.
    Linux keeps a priority per thread (the pool of polars threads runs already); elsewhere the
    process's own is lowered."""
    if by <= 0:
        return
    threads = [int(entry.name) for entry in _THREADS.iterdir()] if _THREADS.is_dir() else [0]
    for thread in threads:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            now = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, now + by))
