-- A trace's tags, metadata and assessments also live on its row, as the JSON arrays that trace
-- reads return, so that a page of records is read without a lookup per trace and child table.
-- Triggers keep the copies in step with the child tables, whoever writes them; the child tables
-- stay the truth that filters and order_by read.

ALTER TABLE traces ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE traces ADD COLUMN metadata_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE traces ADD COLUMN assessments_json TEXT NOT NULL DEFAULT '[]';

-- [[key, value], ...] in key order. Aggregates take the rows in the order of an ordered subquery
-- (no ORDER BY inside an aggregate, so older sqlite3 tools can still open the file).
CREATE TRIGGER trace_tags_json_insert AFTER INSERT ON trace_tags BEGIN
    UPDATE traces SET tags_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_tags WHERE trace_id = new.trace_id ORDER BY key)) WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_tags_json_update AFTER UPDATE ON trace_tags BEGIN
    UPDATE traces SET tags_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_tags WHERE trace_id = new.trace_id ORDER BY key)) WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_tags_json_delete AFTER DELETE ON trace_tags BEGIN
    UPDATE traces SET tags_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_tags WHERE trace_id = old.trace_id ORDER BY key)) WHERE trace_id = old.trace_id;
END;

CREATE TRIGGER trace_metadata_json_insert AFTER INSERT ON trace_metadata BEGIN
    UPDATE traces SET metadata_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_metadata WHERE trace_id = new.trace_id ORDER BY key)) WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_metadata_json_update AFTER UPDATE ON trace_metadata BEGIN
    UPDATE traces SET metadata_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_metadata WHERE trace_id = new.trace_id ORDER BY key)) WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER trace_metadata_json_delete AFTER DELETE ON trace_metadata BEGIN
    UPDATE traces SET metadata_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_metadata WHERE trace_id = old.trace_id ORDER BY key)) WHERE trace_id = old.trace_id;
END;

-- [[id, name, kind, value_text, valid, overrides, create_time, last_update_time, body], ...] in
-- creation order; bodies are stored JSON and are copied, not parsed.
CREATE TRIGGER assessments_json_insert AFTER INSERT ON assessments BEGIN
    UPDATE traces SET assessments_json = coalesce((SELECT '[' || group_concat(rtrim(json_array(assessment_id, name, kind, value_text, valid,
            overrides, create_time, last_update_time), ']') || ',' || body || ']', ',') || ']'
            FROM (SELECT * FROM assessments WHERE trace_id = new.trace_id ORDER BY create_time, rowid)), '[]')
        WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER assessments_json_update AFTER UPDATE ON assessments BEGIN
    UPDATE traces SET assessments_json = coalesce((SELECT '[' || group_concat(rtrim(json_array(assessment_id, name, kind, value_text, valid,
            overrides, create_time, last_update_time), ']') || ',' || body || ']', ',') || ']'
            FROM (SELECT * FROM assessments WHERE trace_id = new.trace_id ORDER BY create_time, rowid)), '[]')
        WHERE trace_id = new.trace_id;
END;
CREATE TRIGGER assessments_json_delete AFTER DELETE ON assessments BEGIN
    UPDATE traces SET assessments_json = coalesce((SELECT '[' || group_concat(rtrim(json_array(assessment_id, name, kind, value_text, valid,
            overrides, create_time, last_update_time), ']') || ',' || body || ']', ',') || ']'
            FROM (SELECT * FROM assessments WHERE trace_id = old.trace_id ORDER BY create_time, rowid)), '[]')
        WHERE trace_id = old.trace_id;
END;

UPDATE traces SET
    tags_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_tags WHERE trace_id = traces.trace_id ORDER BY key)),
    metadata_json = (SELECT json_group_array(json_array(key, value))
        FROM (SELECT key, value FROM trace_metadata WHERE trace_id = traces.trace_id ORDER BY key)),
    assessments_json = coalesce((SELECT '[' || group_concat(rtrim(json_array(assessment_id, name, kind, value_text, valid,
            overrides, create_time, last_update_time), ']') || ',' || body || ']', ',') || ']'
            FROM (SELECT * FROM assessments WHERE trace_id = traces.trace_id ORDER BY create_time, rowid)), '[]');
