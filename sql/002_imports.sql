-- Bulk import runs: one row per file given to `customers import` (etl/), written before the load
-- starts and completed when it ends. Staging tables of a run are named import_staging_<id>; a run
-- that died leaves status 'running' and, at most, such a table (dropped by the cleanup job).
CREATE TABLE import_runs (
    id           bigserial PRIMARY KEY,
    file         text NOT NULL,                -- absolute path as given to the importer
    size         bigint NOT NULL,              -- bytes
    checksum     text,                         -- sha256 hex of the file's bytes
    format       text NOT NULL CHECK (format IN ('csv', 'parquet')),
    mode         text NOT NULL CHECK (mode IN ('insert', 'upsert', 'update')),
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'succeeded', 'failed', 'dry_run')),
    rows_read    bigint NOT NULL DEFAULT 0,
    inserted     bigint NOT NULL DEFAULT 0,
    updated      bigint NOT NULL DEFAULT 0,
    unchanged    bigint NOT NULL DEFAULT 0,
    rejected     bigint NOT NULL DEFAULT 0,
    duplicates   bigint NOT NULL DEFAULT 0,
    report       jsonb,                        -- the full report printed by the command
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    committed_at timestamptz,                  -- when the merge into customers committed
    error        text                          -- one line, for status 'failed'
);

CREATE INDEX import_runs_started_at ON import_runs (started_at);
CREATE INDEX import_runs_checksum ON import_runs (checksum);
