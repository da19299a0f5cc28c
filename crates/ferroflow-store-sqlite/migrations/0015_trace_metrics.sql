-- Trace metrics read one row per trace: the trace's name, session and token counts are copied
-- onto it from the tag and metadata rows (the child tables stay the truth for searches), kept in
-- step by triggers whoever writes them, and a covering index serves the metric scans of an
-- experiment over time without touching the wide trace rows.

ALTER TABLE traces ADD COLUMN trace_name TEXT;
ALTER TABLE traces ADD COLUMN session_id TEXT;
ALTER TABLE traces ADD COLUMN input_tokens INTEGER;
ALTER TABLE traces ADD COLUMN output_tokens INTEGER;
ALTER TABLE traces ADD COLUMN total_tokens INTEGER;
ALTER TABLE traces ADD COLUMN cache_read_input_tokens INTEGER;
ALTER TABLE traces ADD COLUMN cache_creation_input_tokens INTEGER;

CREATE TRIGGER trace_name_insert AFTER INSERT ON trace_tags WHEN new.key = 'mlflow.traceName' BEGIN
    UPDATE traces SET trace_name = new.value WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_name_update AFTER UPDATE ON trace_tags WHEN new.key = 'mlflow.traceName' BEGIN
    UPDATE traces SET trace_name = new.value WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_name_delete AFTER DELETE ON trace_tags WHEN old.key = 'mlflow.traceName' BEGIN
    UPDATE traces SET trace_name = NULL WHERE trace_id = old.trace_id;
END;

CREATE TRIGGER trace_session_insert AFTER INSERT ON trace_metadata WHEN new.key = 'mlflow.trace.session' BEGIN
    UPDATE traces SET session_id = new.value WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_session_update AFTER UPDATE ON trace_metadata WHEN new.key = 'mlflow.trace.session' BEGIN
    UPDATE traces SET session_id = new.value WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_session_delete AFTER DELETE ON trace_metadata WHEN old.key = 'mlflow.trace.session' BEGIN
    UPDATE traces SET session_id = NULL WHERE trace_id = old.trace_id;
END;

-- Token usage is JSON text; text that is not JSON (a client may write anything) counts as none.
CREATE TRIGGER trace_tokens_insert AFTER INSERT ON trace_metadata WHEN new.key = 'mlflow.trace.tokenUsage' BEGIN
    UPDATE traces SET
        input_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.input_tokens') END,
        output_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.output_tokens') END,
        total_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.total_tokens') END,
        cache_read_input_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.cache_read_input_tokens') END,
        cache_creation_input_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.cache_creation_input_tokens') END
    WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_tokens_update AFTER UPDATE ON trace_metadata WHEN new.key = 'mlflow.trace.tokenUsage' BEGIN
    UPDATE traces SET
        input_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.input_tokens') END,
        output_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.output_tokens') END,
        total_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.total_tokens') END,
        cache_read_input_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.cache_read_input_tokens') END,
        cache_creation_input_tokens = CASE WHEN json_valid(new.value) THEN json_extract(new.value, '$.cache_creation_input_tokens') END
    WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_tokens_delete AFTER DELETE ON trace_metadata WHEN old.key = 'mlflow.trace.tokenUsage' BEGIN
    UPDATE traces SET input_tokens = NULL, output_tokens = NULL, total_tokens = NULL,
        cache_read_input_tokens = NULL, cache_creation_input_tokens = NULL
    WHERE trace_id = old.trace_id;
END;

UPDATE traces SET trace_name = (SELECT value FROM trace_tags g WHERE g.trace_id = traces.trace_id AND g.key = 'mlflow.traceName');
UPDATE traces SET session_id = (SELECT value FROM trace_metadata m WHERE m.trace_id = traces.trace_id AND m.key = 'mlflow.trace.session');
UPDATE traces SET
    input_tokens = (SELECT CASE WHEN json_valid(value) THEN json_extract(value, '$.input_tokens') END FROM trace_metadata m
        WHERE m.trace_id = traces.trace_id AND m.key = 'mlflow.trace.tokenUsage'),
    output_tokens = (SELECT CASE WHEN json_valid(value) THEN json_extract(value, '$.output_tokens') END FROM trace_metadata m
        WHERE m.trace_id = traces.trace_id AND m.key = 'mlflow.trace.tokenUsage'),
    total_tokens = (SELECT CASE WHEN json_valid(value) THEN json_extract(value, '$.total_tokens') END FROM trace_metadata m
        WHERE m.trace_id = traces.trace_id AND m.key = 'mlflow.trace.tokenUsage'),
    cache_read_input_tokens = (SELECT CASE WHEN json_valid(value) THEN json_extract(value, '$.cache_read_input_tokens') END
        FROM trace_metadata m WHERE m.trace_id = traces.trace_id AND m.key = 'mlflow.trace.tokenUsage'),
    cache_creation_input_tokens = (SELECT CASE WHEN json_valid(value) THEN json_extract(value, '$.cache_creation_input_tokens') END
        FROM trace_metadata m WHERE m.trace_id = traces.trace_id AND m.key = 'mlflow.trace.tokenUsage');

CREATE INDEX traces_metrics ON traces (experiment_id, request_time, state, execution_duration, trace_name,
    session_id, input_tokens, output_tokens, total_tokens);
