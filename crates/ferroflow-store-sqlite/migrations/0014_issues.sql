-- GenAI issues of an experiment (MLflow 3.11+). Lists are JSON arrays and metadata a JSON
-- object, as text: they are returned whole; the categories filter reads them with json_each.
CREATE TABLE issues (
    issue_id               TEXT PRIMARY KEY,
    experiment_id          INTEGER NOT NULL REFERENCES experiments(experiment_id),
    name                   TEXT NOT NULL,
    description            TEXT NOT NULL,
    status                 TEXT NOT NULL,
    severity               TEXT,
    root_causes            TEXT NOT NULL DEFAULT '[]',
    source_run_id          TEXT,
    categories             TEXT NOT NULL DEFAULT '[]',
    created_by             TEXT,
    created_timestamp      INTEGER NOT NULL,
    last_updated_timestamp INTEGER NOT NULL,
    last_seen_timestamp    INTEGER NOT NULL,
    last_updated_by        TEXT,
    metadata               TEXT NOT NULL DEFAULT '{}'
) WITHOUT ROWID;
CREATE INDEX issues_by_experiment ON issues (experiment_id, created_timestamp);
