-- "Slowest first" (order_by execution_time_ms DESC, the UI's latency order), as the SQLite
-- store's 0019: the page is read in index order instead of sorting every trace of the experiment.
CREATE INDEX IF NOT EXISTS traces_by_experiment_duration
    ON traces (experiment_id, execution_duration DESC, request_time DESC, trace_id);
