-- The model registry: registered models (prompts included), versions, tags and aliases.
-- Never edit a migration once it has landed: add a new file.

-- Children reference a model by its integer id, not its name, so that a rename is one UPDATE.
CREATE TABLE registered_models (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    creation_time     INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    description       TEXT
);

-- Tag tables keep their rowid: tags come back in the order they were first set.
CREATE TABLE registered_model_tags (
    rm_id INTEGER NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (rm_id, key)
);

-- A deleted version keeps its row (redacted, `deleted = 1`) so its number is never given again.
CREATE TABLE model_versions (
    rm_id             INTEGER NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    version           INTEGER NOT NULL,
    creation_time     INTEGER NOT NULL,
    last_updated_time INTEGER NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    current_stage     TEXT NOT NULL DEFAULT 'None',
    source            TEXT NOT NULL,
    -- Where the files are when `source` had to be resolved (`models:/m-...`).
    storage_location  TEXT,
    run_id            TEXT NOT NULL DEFAULT '',
    run_link          TEXT NOT NULL DEFAULT '',
    model_id          TEXT,
    deleted           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rm_id, version)
);
CREATE INDEX model_versions_by_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    rm_id   INTEGER NOT NULL,
    version INTEGER NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (rm_id, version, key),
    FOREIGN KEY (rm_id, version) REFERENCES model_versions(rm_id, version) ON DELETE CASCADE
);

CREATE TABLE registered_model_aliases (
    rm_id   INTEGER NOT NULL REFERENCES registered_models(id) ON DELETE CASCADE,
    alias   TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (rm_id, alias)
);
