-- Logged models (MLflow 3). Their metrics are rows of `metrics` (0001) whose `model_id` is set.
-- Never edit a migration once it has landed: add a new file.

CREATE TABLE logged_models (
    model_id          TEXT COLLATE "C" PRIMARY KEY,
    experiment_id     BIGINT NOT NULL REFERENCES experiments(experiment_id),
    name              TEXT COLLATE "C" NOT NULL,
    artifact_location TEXT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    -- Short names: PENDING, READY, UPLOAD_FAILED (as search filters spell them).
    status            TEXT COLLATE "C" NOT NULL,
    model_type        TEXT COLLATE "C" NOT NULL DEFAULT '',
    source_run_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
    lifecycle_stage   TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX logged_models_by_experiment ON logged_models (experiment_id, creation_time DESC);

CREATE TABLE logged_model_params (
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models(model_id) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_tags (
    model_id TEXT COLLATE "C" NOT NULL REFERENCES logged_models(model_id) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (model_id, key)
);
