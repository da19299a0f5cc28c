-- Links of traces to runs that were asked for before the trace arrived (asynchronous export
-- sends traces/link-to-run before StartTraceV3 or the spans). `trace_run_links` refers to
-- `traces`, so such a link waits here; the trigger moves it over in the same transaction that
-- inserts the trace row, whichever route (StartTraceV3, OTLP, traces.json) inserts it.
CREATE TABLE pending_trace_run_links (
    trace_id TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    PRIMARY KEY (trace_id, run_id)
) WITHOUT ROWID;

CREATE TRIGGER traces_take_pending_run_links AFTER INSERT ON traces
WHEN EXISTS (SELECT 1 FROM pending_trace_run_links WHERE trace_id = NEW.trace_id)
BEGIN
    INSERT OR IGNORE INTO trace_run_links (trace_id, run_id)
        SELECT trace_id, run_id FROM pending_trace_run_links WHERE trace_id = NEW.trace_id;
    DELETE FROM pending_trace_run_links WHERE trace_id = NEW.trace_id;
END;
