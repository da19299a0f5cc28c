-- Traces, spans, their tags and metadata, assessments and run links: the SQLite store's 0002,
-- 0007, 0010 and 0012 in one; its 0009 (the trigram index) is `pg_trgm` here and its 0011 (JSON
-- copies of a trace's children kept by triggers) is not needed (reads build them).
-- Never edit a migration once it has landed: add a new file.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE traces (
    trace_key          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trace_id           TEXT COLLATE "C" NOT NULL UNIQUE,
    experiment_id      BIGINT NOT NULL REFERENCES experiments(experiment_id),
    client_request_id  TEXT COLLATE "C",
    request_time       BIGINT NOT NULL,
    execution_duration BIGINT,
    state              TEXT COLLATE "C" NOT NULL,
    request_preview    TEXT,
    response_preview   TEXT,
    -- StartTraceV3 arrived: the client's record wins over what root spans say.
    finalized          BIGINT NOT NULL DEFAULT 0,
    -- The root span arrived.
    root_seen          BIGINT NOT NULL DEFAULT 0,
    has_spans          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX traces_by_experiment_time ON traces (experiment_id, request_time DESC, trace_id);
CREATE INDEX traces_by_client_request ON traces (client_request_id) WHERE client_request_id IS NOT NULL;

CREATE TABLE trace_tags (
    trace_id TEXT COLLATE "C" NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (trace_id, key)
);
CREATE INDEX trace_tags_by_key ON trace_tags (key, value);

CREATE TABLE trace_metadata (
    trace_id TEXT COLLATE "C" NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (trace_id, key)
);
CREATE INDEX trace_metadata_by_key ON trace_metadata (key, value);

CREATE TABLE spans (
    span_key       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trace_key      BIGINT NOT NULL REFERENCES traces(trace_key) ON DELETE CASCADE,
    span_id        TEXT COLLATE "C" NOT NULL,
    parent_span_id TEXT COLLATE "C",
    name           TEXT COLLATE "C" NOT NULL,
    span_type      TEXT COLLATE "C",
    kind           BIGINT NOT NULL DEFAULT 1,
    status         TEXT COLLATE "C" NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    start_time_ns  BIGINT NOT NULL,
    end_time_ns    BIGINT NOT NULL,
    input_tokens   BIGINT,
    output_tokens  BIGINT,
    total_tokens   BIGINT,
    attributes     TEXT COLLATE "C" NOT NULL,
    extra          TEXT,
    UNIQUE (trace_key, span_id)
);
CREATE INDEX spans_by_trace_start ON spans (trace_key, start_time_ns, span_id);
-- `trace.text`: trigram indexes answer ILIKE '%…%' on names and attributes.
CREATE INDEX spans_name_trgm ON spans USING gin (name gin_trgm_ops);
CREATE INDEX spans_attributes_trgm ON spans USING gin (attributes gin_trgm_ops);

-- `seq` orders assessments made in the same millisecond (SQLite's rowid).
CREATE TABLE assessments (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY,
    assessment_id    TEXT COLLATE "C" PRIMARY KEY,
    trace_id         TEXT COLLATE "C" NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    name             TEXT COLLATE "C" NOT NULL,
    kind             TEXT COLLATE "C" NOT NULL,
    -- Strings as they are, anything else as JSON text: what feedback/expectation filters compare.
    value_text       TEXT COLLATE "C",
    valid            INTEGER NOT NULL DEFAULT 1,
    overrides        TEXT,
    create_time      BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL,
    -- The assessment as the client sent it, with the server's fields set (JSON text).
    body             TEXT NOT NULL
);
CREATE INDEX assessments_by_trace ON assessments (trace_id, create_time);
CREATE INDEX assessments_by_name ON assessments (kind, name, trace_id);
CREATE INDEX assessments_by_value ON assessments (kind, name, value_text, trace_id) WHERE valid = 1;

CREATE TABLE trace_run_links (
    trace_id TEXT COLLATE "C" NOT NULL REFERENCES traces(trace_id) ON DELETE CASCADE,
    run_id   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (trace_id, run_id)
);
CREATE INDEX trace_run_links_by_run ON trace_run_links (run_id);

-- A link to a run asked for before its trace arrived waits here; the trigger moves it over in
-- the transaction that inserts the trace row.
CREATE TABLE pending_trace_run_links (
    trace_id TEXT COLLATE "C" NOT NULL,
    run_id   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (trace_id, run_id)
);

CREATE FUNCTION traces_take_pending_run_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pending_trace_run_links WHERE trace_id = NEW.trace_id) THEN
        INSERT INTO trace_run_links (trace_id, run_id)
            SELECT trace_id, run_id FROM pending_trace_run_links WHERE trace_id = NEW.trace_id
            ON CONFLICT DO NOTHING;
        DELETE FROM pending_trace_run_links WHERE trace_id = NEW.trace_id;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER traces_take_pending_run_links AFTER INSERT ON traces
    FOR EACH ROW EXECUTE FUNCTION traces_take_pending_run_links();

-- The JSON array a text holds, or an empty one when the text is not a JSON array.
CREATE FUNCTION ferroflow_json_array(text) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parsed jsonb;
BEGIN
    parsed := $1::jsonb;
    IF jsonb_typeof(parsed) = 'array' THEN
        RETURN parsed;
    END IF;
    RETURN '[]'::jsonb;
EXCEPTION WHEN others THEN
    RETURN '[]'::jsonb;
END;
$$;

-- A text's leading number as SQLite's CAST(x AS REAL) reads it; 0 when there is none.
CREATE FUNCTION ferroflow_to_float(text) RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN $1::double precision;
EXCEPTION WHEN others THEN
    RETURN coalesce(substring($1 from '^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')::double precision, 0);
END;
$$;
