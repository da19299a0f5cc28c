-- Evaluation datasets (with records, tags, experiment links) and registered scorers.
-- Never edit a migration once it has landed: add a new file.

CREATE TABLE evaluation_datasets (
    dataset_id       TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    schema           TEXT,
    profile          TEXT,
    digest           TEXT NOT NULL,
    created_time     INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    created_by       TEXT,
    last_updated_by  TEXT
) WITHOUT ROWID;
CREATE INDEX evaluation_datasets_by_created ON evaluation_datasets (created_time DESC, dataset_id DESC);
CREATE INDEX evaluation_datasets_by_name ON evaluation_datasets (name);

-- A rowid table on purpose: tags come back in the order they were first set.
CREATE TABLE evaluation_dataset_tags (
    dataset_id TEXT NOT NULL REFERENCES evaluation_datasets(dataset_id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    UNIQUE (dataset_id, key)
);

-- A rowid table on purpose: experiment ids come back in the order they were linked.
CREATE TABLE evaluation_dataset_experiments (
    dataset_id    TEXT NOT NULL REFERENCES evaluation_datasets(dataset_id) ON DELETE CASCADE,
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    UNIQUE (dataset_id, experiment_id)
);
CREATE INDEX evaluation_dataset_experiments_by_experiment ON evaluation_dataset_experiments (experiment_id, dataset_id);

-- JSON columns hold the client's JSON as text. `input_key` is the canonical text of `inputs`
-- (keys sorted), the upsert key; `content_hash` feeds the dataset digest.
CREATE TABLE evaluation_dataset_records (
    dataset_record_id TEXT PRIMARY KEY,
    dataset_id        TEXT NOT NULL REFERENCES evaluation_datasets(dataset_id) ON DELETE CASCADE,
    input_key         TEXT NOT NULL,
    inputs            TEXT NOT NULL,
    outputs           TEXT,
    expectations      TEXT,
    tags              TEXT NOT NULL DEFAULT '{}',
    source            TEXT,
    content_hash      INTEGER NOT NULL,
    created_time      INTEGER NOT NULL,
    last_update_time  INTEGER NOT NULL,
    created_by        TEXT,
    last_updated_by   TEXT,
    UNIQUE (dataset_id, input_key)
) WITHOUT ROWID;
CREATE INDEX evaluation_dataset_records_in_order ON evaluation_dataset_records (dataset_id, created_time, dataset_record_id);

-- One row per (experiment, name); its id survives new versions until every version is gone.
CREATE TABLE scorers (
    scorer_id     TEXT PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    scorer_name   TEXT NOT NULL,
    UNIQUE (experiment_id, scorer_name)
) WITHOUT ROWID;

CREATE TABLE scorer_versions (
    scorer_id         TEXT NOT NULL REFERENCES scorers(scorer_id) ON DELETE CASCADE,
    scorer_version    INTEGER NOT NULL,
    serialized_scorer TEXT NOT NULL,
    creation_time     INTEGER NOT NULL,
    PRIMARY KEY (scorer_id, scorer_version)
) WITHOUT ROWID;

-- At most one online config per scorer, as the client assumes.
CREATE TABLE online_scoring_configs (
    online_scoring_config_id TEXT PRIMARY KEY,
    scorer_id                TEXT NOT NULL UNIQUE REFERENCES scorers(scorer_id) ON DELETE CASCADE,
    experiment_id            INTEGER NOT NULL,
    sample_rate              REAL NOT NULL,
    filter_string            TEXT
) WITHOUT ROWID;
