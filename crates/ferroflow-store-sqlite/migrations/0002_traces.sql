-- Traces, their tags and metadata, spans (with a trigram full-text index), assessments and
-- trace-to-run links. Never edit a migration once it has landed: add a new file.

-- `trace_key` grows with each new trace, so spans keyed by it are appended to their indexes
-- instead of being scattered by random trace ids.
CREATE TABLE traces (
    trace_key          INTEGER PRIMARY KEY,
    trace_id           TEXT NOT NULL UNIQUE,
    experiment_id      INTEGER NOT NULL REFERENCES experiments(experiment_id),
    client_request_id  TEXT,
    request_time       INTEGER NOT NULL,
    execution_duration INTEGER,
    state              TEXT NOT NULL,
    request_preview    TEXT,
    response_preview   TEXT,
    -- StartTraceV3 arrived: the client's record wins over what root spans say.
    finalized          INTEGER NOT NULL DEFAULT 0,
    -- The root span arrived.
    root_seen          INTEGER NOT NULL DEFAULT 0,
    has_spans          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX traces_by_experiment_time ON traces (experiment_id, request_time DESC, trace_id);
CREATE INDEX traces_by_client_request ON traces (client_request_id) WHERE client_request_id IS NOT NULL;

CREATE TABLE trace_tags (
    trace_id TEXT NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (trace_id, key)
) WITHOUT ROWID;
CREATE INDEX trace_tags_by_key ON trace_tags (key, value);

CREATE TABLE trace_metadata (
    trace_id TEXT NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (trace_id, key)
) WITHOUT ROWID;
CREATE INDEX trace_metadata_by_key ON trace_metadata (key, value);

-- One row a span. `attributes` is a JSON object of canonical attribute values (what span
-- filters and the full-text index read); `extra` holds events, links and trace state in the
-- read format, when a span has any.
CREATE TABLE spans (
    -- Only grows (AUTOINCREMENT), so the text indexer's progress mark is never passed by a
    -- reused id.
    span_key       INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_key      INTEGER NOT NULL REFERENCES traces(trace_key) ON DELETE CASCADE,
    span_id        TEXT NOT NULL,
    parent_span_id TEXT,
    name           TEXT NOT NULL,
    span_type      TEXT,
    kind           INTEGER NOT NULL DEFAULT 1,
    status         TEXT NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    start_time_ns  INTEGER NOT NULL,
    end_time_ns    INTEGER NOT NULL,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    total_tokens   INTEGER,
    attributes     TEXT NOT NULL,
    extra          TEXT,
    UNIQUE (trace_key, span_id)
);
-- Span filters run per candidate trace through these two; no index on name or type, which
-- would cost every ingest more than it saves a search.
CREATE INDEX spans_by_trace_start ON spans (trace_key, start_time_ns, span_id);

-- `trace.text`: substring search through a trigram index. Indexing runs in the background in
-- large batches (it costs more than storing the span), so a commit does not wait for it;
-- `indexed_key` marks how far it got, and searches scan the few spans past the mark.
CREATE VIRTUAL TABLE span_text USING fts5(
    name, attributes, content='spans', content_rowid='span_key', tokenize='trigram', detail='none'
);
CREATE TABLE span_text_progress (
    id          INTEGER PRIMARY KEY CHECK (id = 0),
    indexed_key INTEGER NOT NULL
);
INSERT INTO span_text_progress (id, indexed_key) VALUES (0, 0);
-- Indexed spans leave or change the index with their row; the rest are not in it yet.
CREATE TRIGGER spans_text_delete AFTER DELETE ON spans
WHEN old.span_key <= (SELECT indexed_key FROM span_text_progress) BEGIN
    INSERT INTO span_text (span_text, rowid, name, attributes) VALUES ('delete', old.span_key, old.name, old.attributes);
END;
CREATE TRIGGER spans_text_update AFTER UPDATE ON spans
WHEN old.span_key <= (SELECT indexed_key FROM span_text_progress) BEGIN
    INSERT INTO span_text (span_text, rowid, name, attributes) VALUES ('delete', old.span_key, old.name, old.attributes);
    INSERT INTO span_text (rowid, name, attributes) VALUES (new.span_key, new.name, new.attributes);
END;

CREATE TABLE assessments (
    assessment_id    TEXT PRIMARY KEY,
    trace_id         TEXT NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    kind             TEXT NOT NULL,
    -- Strings as they are, anything else as JSON text: what feedback/expectation filters compare.
    value_text       TEXT,
    valid            INTEGER NOT NULL DEFAULT 1,
    overrides        TEXT,
    create_time      INTEGER NOT NULL,
    last_update_time INTEGER NOT NULL,
    -- The assessment as the client sent it, with the server's fields set.
    body             TEXT NOT NULL
);
CREATE INDEX assessments_by_trace ON assessments (trace_id, create_time);
CREATE INDEX assessments_by_name ON assessments (kind, name, trace_id);

CREATE TABLE trace_run_links (
    trace_id TEXT NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    run_id   TEXT NOT NULL,
    PRIMARY KEY (trace_id, run_id)
) WITHOUT ROWID;
CREATE INDEX trace_run_links_by_run ON trace_run_links (run_id);
