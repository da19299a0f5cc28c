-- Evaluation datasets, their records, registered scorers and online scoring configs.
-- Never edit a migration once it has landed: add a new file.

CREATE TABLE evaluation_datasets (
    dataset_id       TEXT COLLATE "C" PRIMARY KEY,
    name             TEXT COLLATE "C" NOT NULL,
    schema           TEXT,
    profile          TEXT,
    digest           TEXT NOT NULL,
    created_time     BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL,
    created_by       TEXT COLLATE "C",
    last_updated_by  TEXT COLLATE "C"
);
CREATE INDEX evaluation_datasets_by_created ON evaluation_datasets (created_time DESC, dataset_id DESC);
CREATE INDEX evaluation_datasets_by_name ON evaluation_datasets (name);

-- `seq` stands for SQLite's rowid: tags and experiment links come back in the order first set.
CREATE TABLE evaluation_dataset_tags (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    dataset_id TEXT COLLATE "C" NOT NULL REFERENCES evaluation_datasets(dataset_id) ON DELETE CASCADE,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT COLLATE "C" NOT NULL,
    UNIQUE (dataset_id, key)
);

CREATE TABLE evaluation_dataset_experiments (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    dataset_id    TEXT COLLATE "C" NOT NULL REFERENCES evaluation_datasets(dataset_id) ON DELETE CASCADE,
    experiment_id BIGINT NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    UNIQUE (dataset_id, experiment_id)
);
CREATE INDEX evaluation_dataset_experiments_by_experiment ON evaluation_dataset_experiments (experiment_id, dataset_id);

CREATE TABLE evaluation_dataset_records (
    dataset_record_id TEXT COLLATE "C" PRIMARY KEY,
    dataset_id        TEXT COLLATE "C" NOT NULL REFERENCES evaluation_datasets(dataset_id) ON DELETE CASCADE,
    input_key         TEXT COLLATE "C" NOT NULL,
    inputs            TEXT NOT NULL,
    outputs           TEXT,
    expectations      TEXT,
    tags              TEXT NOT NULL DEFAULT '{}',
    source            TEXT,
    content_hash      BIGINT NOT NULL,
    created_time      BIGINT NOT NULL,
    last_update_time  BIGINT NOT NULL,
    created_by        TEXT,
    last_updated_by   TEXT,
    UNIQUE (dataset_id, input_key)
);
CREATE INDEX evaluation_dataset_records_in_order ON evaluation_dataset_records (dataset_id, created_time, dataset_record_id);

CREATE TABLE scorers (
    scorer_id     TEXT COLLATE "C" PRIMARY KEY,
    experiment_id BIGINT NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
    scorer_name   TEXT COLLATE "C" NOT NULL,
    UNIQUE (experiment_id, scorer_name)
);

CREATE TABLE scorer_versions (
    scorer_id         TEXT COLLATE "C" NOT NULL REFERENCES scorers(scorer_id) ON DELETE CASCADE,
    scorer_version    INTEGER NOT NULL,
    serialized_scorer TEXT NOT NULL,
    creation_time     BIGINT NOT NULL,
    PRIMARY KEY (scorer_id, scorer_version)
);

CREATE TABLE online_scoring_configs (
    online_scoring_config_id TEXT PRIMARY KEY,
    scorer_id                TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES scorers(scorer_id) ON DELETE CASCADE,
    experiment_id            BIGINT NOT NULL,
    sample_rate              DOUBLE PRECISION NOT NULL,
    filter_string            TEXT
);
