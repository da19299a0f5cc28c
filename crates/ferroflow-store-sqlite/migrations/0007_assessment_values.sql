-- Feedback and expectation filters read (kind, name, value) of valid assessments: this index
-- answers them without touching the table.
CREATE INDEX assessments_by_value ON assessments (kind, name, value_text, trace_id) WHERE valid = 1;
