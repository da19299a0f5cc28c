-- GenAI issues of an experiment (the SQLite store's 0014). Lists are JSON arrays and metadata a
-- JSON object, as text in the format both stores share (ferroflow_store_common::issues); the
-- categories filter reads them as jsonb.
-- Never edit a migration once it has landed: add a new file.

CREATE TABLE issues (
    issue_id               TEXT COLLATE "C" PRIMARY KEY,
    experiment_id          BIGINT NOT NULL REFERENCES experiments(experiment_id),
    name                   TEXT COLLATE "C" NOT NULL,
    description            TEXT NOT NULL,
    status                 TEXT COLLATE "C" NOT NULL,
    severity               TEXT COLLATE "C",
    root_causes            TEXT NOT NULL DEFAULT '[]',
    source_run_id          TEXT COLLATE "C",
    categories             TEXT NOT NULL DEFAULT '[]',
    created_by             TEXT COLLATE "C",
    created_timestamp      BIGINT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL,
    last_seen_timestamp    BIGINT NOT NULL,
    last_updated_by        TEXT COLLATE "C",
    metadata               TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX issues_by_experiment ON issues (experiment_id, created_timestamp);
