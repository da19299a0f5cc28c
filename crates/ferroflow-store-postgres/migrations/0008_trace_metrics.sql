-- Trace metrics (the SQLite store's 0015). SQLite copies a trace's name, session and token
-- counts onto its row with triggers; here a metrics query reads them from the tag and metadata
-- rows by their primary keys, so there is nothing to keep in step. This function reads one
-- count out of the token-usage text as SQLite's json_extract does, never failing a query on
-- text a client wrote: NULL when the text is not a JSON object or the member is not a number.
-- Never edit a migration once it has landed: add a new file.

CREATE FUNCTION ferroflow_token_count(usage text, member text) RETURNS double precision
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    parsed jsonb;
BEGIN
    parsed := usage::jsonb;
    IF jsonb_typeof(parsed) = 'object' AND jsonb_typeof(parsed -> member) = 'number' THEN
        RETURN (parsed ->> member)::double precision;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;
