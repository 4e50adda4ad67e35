-- Search index: rebuilds catch up the writes made meanwhile by updated_at.
CREATE INDEX IF NOT EXISTS idx_customers_updated_at ON customers (updated_at);

-- Every init / rebuild of the search index, for `customers search status` and the jobs.
CREATE TABLE IF NOT EXISTS search_index_runs (
    id          bigserial PRIMARY KEY,
    index_name  text NOT NULL,
    action      text NOT NULL CHECK (action IN ('init', 'migrate')),
    dialect     text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    documents   bigint,
    error       text
);
CREATE INDEX IF NOT EXISTS search_index_runs_finished ON search_index_runs (finished_at DESC);
