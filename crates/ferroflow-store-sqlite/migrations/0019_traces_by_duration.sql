-- "Slowest first" (order_by execution_time_ms DESC, the UI's latency order): the page is read in
-- index order and stops after max_results rows instead of sorting every trace of the experiment.
-- Its columns follow the search's full ORDER BY (duration, then time, then id).
CREATE INDEX traces_by_experiment_duration ON traces (experiment_id, execution_duration DESC, request_time DESC, trace_id);
