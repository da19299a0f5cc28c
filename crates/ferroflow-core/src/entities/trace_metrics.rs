//! Trace metrics (`traces/metrics`): aggregates of an experiment's traces over time, and the
//! correlation counts of two trace filters (`traces/calculate-filter-correlation`).

use crate::ids::ExperimentId;
use crate::search::traces::TraceKey;
use crate::search::Clause;

/// What a metric is computed over; only traces are served (see `trace_metrics::view`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricView {
    Traces,
    Spans,
    Assessments,
}

/// A metric of the traces view, each read from one column of the trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMetric {
    TraceCount,
    SessionCount,
    Latency,
    InputTokens,
    OutputTokens,
    TotalTokens,
    CacheReadInputTokens,
    CacheCreationInputTokens,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// 0 to 100, interpolated linearly between neighbours (numpy's default).
    Percentile(f64),
}

/// What a metric may be grouped by, besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceDimension {
    TraceName,
    TraceStatus,
}

/// One `filters` entry: `trace.status = 'OK'`, `trace.tag.<key> = 'v'`, `trace.metadata.<key> = 'v'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceMetricFilter {
    Status(String),
    Tag(String, String),
    Metadata(String, String),
}

#[derive(Debug, Clone)]
pub struct TraceMetricsQuery {
    pub experiment_ids: Vec<ExperimentId>,
    pub metric: TraceMetric,
    pub aggregations: Vec<Aggregation>,
    pub dimensions: Vec<TraceDimension>,
    pub filters: Vec<TraceMetricFilter>,
    /// Bucket width; the buckets start at multiples of it since the epoch.
    pub time_interval_ms: Option<i64>,
    /// Inclusive bounds on the trace's start time.
    pub start_time_ms: Option<i64>,
    pub end_time_ms: Option<i64>,
    pub max_results: u64,
}

/// One group of a metrics answer: its bucket start (when bucketed), its dimension values in
/// the query's order, and one value per aggregation (`None` where SQL gave none).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub bucket_ms: Option<i64>,
    pub dimensions: Vec<String>,
    pub values: Vec<Option<f64>>,
}

/// The traces a correlation looks at, and the two filters it compares.
#[derive(Debug, Clone)]
pub struct CorrelationQuery {
    pub experiment_ids: Vec<ExperimentId>,
    pub base: Vec<Clause<TraceKey>>,
    pub filter1: Vec<Clause<TraceKey>>,
    pub filter2: Vec<Clause<TraceKey>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CorrelationCounts {
    pub total: i64,
    pub filter1: i64,
    pub filter2: i64,
    pub joint: i64,
}
