"""The composition root: the `customers` command and the HTTP application as it is served.

The only package that knows every other one. It wires the entry folders (`service`, `etl`,
`jobs`) to the core (`customers`); they import only the core, never each other, never this.
"""

import os

# polars sizes its thread pool once, when it is first imported, from POLARS_MAX_THREADS. The
# commands share the machine with PostgreSQL (an import's copying and merging sessions take a
# core each, the served application's workers one each): half the cores go to polars unless the
# environment says otherwise. On 2 cores a 1,000,000-row CSV import ran 5% faster with one
# polars thread than with two (docs/import.md, "The balance of the work").
os.environ.setdefault("POLARS_MAX_THREADS", str(max(1, (os.cpu_count() or 2) // 2)))
