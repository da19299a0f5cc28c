-- The spans view of trace metrics (the SQLite store's 0016): a span's model, provider and
-- costs copied out of its attributes at ingest (the core's `span_analytics`), so a metric reads
-- columns instead of parsing attribute JSON per span. Rows stored before this migration get
-- the same values from their attributes. `ferroflow_try_json` reads text that may not be JSON
-- (an expectation's serialized value) without failing the query.
-- Never edit a migration once it has landed: add a new file.

ALTER TABLE spans ADD COLUMN model_name TEXT COLLATE "C";
ALTER TABLE spans ADD COLUMN model_provider TEXT COLLATE "C";
ALTER TABLE spans ADD COLUMN input_cost DOUBLE PRECISION;
ALTER TABLE spans ADD COLUMN output_cost DOUBLE PRECISION;
ALTER TABLE spans ADD COLUMN total_cost DOUBLE PRECISION;

CREATE FUNCTION ferroflow_try_json(value text) RETURNS json
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN value::json;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

-- A cost is a number, or a string that reads as a finite one.
CREATE FUNCTION ferroflow_cost(value json) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parsed double precision;
BEGIN
    IF json_typeof(value) = 'number' THEN
        RETURN (value::text)::double precision;
    ELSIF json_typeof(value) = 'string' THEN
        parsed := btrim(value #>> '{}')::double precision;
        IF parsed IN ('Infinity', '-Infinity', 'NaN') THEN
            RETURN NULL;
        END IF;
        RETURN parsed;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

UPDATE spans SET
    model_name = CASE json_typeof(a -> 'mlflow.llm.model')
        WHEN 'null' THEN NULL
        WHEN 'string' THEN left(a ->> 'mlflow.llm.model', 500)
        ELSE left((a -> 'mlflow.llm.model')::text, 500) END,
    model_provider = CASE json_typeof(a -> 'mlflow.llm.provider')
        WHEN 'null' THEN NULL
        WHEN 'string' THEN left(a ->> 'mlflow.llm.provider', 500)
        ELSE left((a -> 'mlflow.llm.provider')::text, 500) END,
    input_cost = ferroflow_cost(a #> '{mlflow.llm.cost,input_cost}'),
    output_cost = ferroflow_cost(a #> '{mlflow.llm.cost,output_cost}'),
    total_cost = ferroflow_cost(a #> '{mlflow.llm.cost,total_cost}')
FROM (SELECT span_key AS key, ferroflow_try_json(attributes) AS a FROM spans
      WHERE strpos(attributes, '"mlflow.llm.') > 0) parsed
WHERE spans.span_key = parsed.key AND json_typeof(parsed.a) = 'object';
