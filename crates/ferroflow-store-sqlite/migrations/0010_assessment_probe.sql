-- Feedback and expectation filters that match many traces probe each candidate trace for a
-- valid assessment of that kind, name and value: this index answers the probe without
-- touching the table (`assessments_by_trace` would need a table read per candidate).
CREATE INDEX assessments_by_trace_value ON assessments (trace_id, kind, name, value_text) WHERE valid = 1;
