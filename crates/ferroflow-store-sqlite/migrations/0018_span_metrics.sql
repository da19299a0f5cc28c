-- The spans view of trace metrics groups spans by the model and provider they called and sums
-- the costs they report: copied out of the span's attributes at ingest (the store computes them
-- with the core's `span_analytics`), so a metric reads columns rather than parsing attribute
-- JSON per span. Rows stored before this migration get the same values from their attributes.

ALTER TABLE spans ADD COLUMN model_name TEXT;
ALTER TABLE spans ADD COLUMN model_provider TEXT;
ALTER TABLE spans ADD COLUMN input_cost REAL;
ALTER TABLE spans ADD COLUMN output_cost REAL;
ALTER TABLE spans ADD COLUMN total_cost REAL;

-- A string attribute as it is, another value as its JSON text, cut to 500 characters; a cost
-- is a number, or a string that reads as a finite one.
UPDATE spans SET
    model_name = CASE json_type(attributes, '$."mlflow.llm.model"')
        WHEN 'null' THEN NULL
        WHEN 'text' THEN substr(json_extract(attributes, '$."mlflow.llm.model"'), 1, 500)
        ELSE substr(attributes -> '$."mlflow.llm.model"', 1, 500) END,
    model_provider = CASE json_type(attributes, '$."mlflow.llm.provider"')
        WHEN 'null' THEN NULL
        WHEN 'text' THEN substr(json_extract(attributes, '$."mlflow.llm.provider"'), 1, 500)
        ELSE substr(attributes -> '$."mlflow.llm.provider"', 1, 500) END
WHERE json_valid(attributes) AND instr(attributes, '"mlflow.llm.') > 0;

UPDATE spans SET
    input_cost = CASE json_type(attributes, '$."mlflow.llm.cost".input_cost')
        WHEN 'integer' THEN json_extract(attributes, '$."mlflow.llm.cost".input_cost')
        WHEN 'real' THEN json_extract(attributes, '$."mlflow.llm.cost".input_cost')
        WHEN 'text' THEN CASE WHEN trim(json_extract(attributes, '$."mlflow.llm.cost".input_cost')) GLOB '*[0-9]*'
            THEN CAST(trim(json_extract(attributes, '$."mlflow.llm.cost".input_cost')) AS REAL) END END,
    output_cost = CASE json_type(attributes, '$."mlflow.llm.cost".output_cost')
        WHEN 'integer' THEN json_extract(attributes, '$."mlflow.llm.cost".output_cost')
        WHEN 'real' THEN json_extract(attributes, '$."mlflow.llm.cost".output_cost')
        WHEN 'text' THEN CASE WHEN trim(json_extract(attributes, '$."mlflow.llm.cost".output_cost')) GLOB '*[0-9]*'
            THEN CAST(trim(json_extract(attributes, '$."mlflow.llm.cost".output_cost')) AS REAL) END END,
    total_cost = CASE json_type(attributes, '$."mlflow.llm.cost".total_cost')
        WHEN 'integer' THEN json_extract(attributes, '$."mlflow.llm.cost".total_cost')
        WHEN 'real' THEN json_extract(attributes, '$."mlflow.llm.cost".total_cost')
        WHEN 'text' THEN CASE WHEN trim(json_extract(attributes, '$."mlflow.llm.cost".total_cost')) GLOB '*[0-9]*'
            THEN CAST(trim(json_extract(attributes, '$."mlflow.llm.cost".total_cost')) AS REAL) END END
WHERE json_valid(attributes) AND json_type(attributes, '$."mlflow.llm.cost"') = 'object';
