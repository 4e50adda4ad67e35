-- Scheduled maintenance: the history of job runs, statistics snapshots, staging tables seen by
-- the import cleanup.

-- One row per run of a job, whoever started it (the scheduler leader, `customers jobs run`, the
-- HTTP admin). A run is 'running' only while the connection that recorded it holds the job's
-- advisory lock; the leader marks runs whose process died as 'interrupted'.
CREATE TABLE job_runs (
    id            bigserial PRIMARY KEY,
    job           text NOT NULL,
    origin        text NOT NULL CHECK (origin IN ('schedule', 'cli', 'http')),
    -- the trigger's fire time, for scheduled runs: a slot is run at most once across processes
    scheduled_for timestamptz,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    started_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at   timestamptz,
    result        jsonb,
    error         text,
    progress      jsonb,
    host          text NOT NULL,
    pid           integer NOT NULL,
    backend_pid   integer NOT NULL,
    CONSTRAINT job_runs_finished CHECK ((status = 'running') = (finished_at IS NULL)),
    CONSTRAINT job_runs_slot_scheduled CHECK ((origin = 'schedule') = (scheduled_for IS NOT NULL))
);

CREATE UNIQUE INDEX job_runs_slot_key ON job_runs (job, scheduled_for) WHERE scheduled_for IS NOT NULL;
CREATE INDEX job_runs_job_started ON job_runs (job, started_at DESC);
CREATE INDEX job_runs_started ON job_runs (started_at DESC);
CREATE INDEX job_runs_running ON job_runs (id) WHERE status = 'running';

-- Basic statistics computed by the stats-refresh job; the newest row is served.
CREATE TABLE stats_snapshots (
    id          bigserial PRIMARY KEY,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    duration_ms integer NOT NULL,
    stats       jsonb NOT NULL
);

CREATE INDEX stats_snapshots_taken ON stats_snapshots (taken_at DESC);

-- Staging tables of the import without a run record to date them: the cleanup drops them a day
-- after it first saw them.
CREATE TABLE import_cleanup_seen (
    table_name text PRIMARY KEY,
    first_seen timestamptz NOT NULL DEFAULT now()
);
