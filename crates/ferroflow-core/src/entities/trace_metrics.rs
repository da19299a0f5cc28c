//! Trace metrics (`traces/metrics`): aggregates of an experiment's traces over time, and the
//! correlation counts of two trace filters (`traces/calculate-filter-correlation`).

use crate::ids::ExperimentId;
use crate::search::traces::TraceKey;
use crate::search::Clause;

/// What a metric is computed over: one row per trace, per span (of the experiments' traces) or
/// per valid assessment (of their traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricView {
    Traces,
    Spans,
    Assessments,
}

/// A metric of any view (`trace_metrics::view_of` says which): the traces view's read a column
/// of the trace, the spans view's a span's, the assessments view's an assessment's.
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
    /// Spans view: the number of spans.
    SpanCount,
    /// Spans view: a span's duration in whole milliseconds (truncated).
    SpanLatency,
    /// Spans view: the costs a span's `mlflow.llm.cost` attribute reports.
    SpanInputCost,
    SpanOutputCost,
    SpanTotalCost,
    /// Assessments view: the number of valid assessments.
    AssessmentCount,
    /// Assessments view: a valid assessment's value as a number (`true`/`"yes"` 1, `false`/`"no"`
    /// 0, a finite number itself; other values have none).
    AssessmentValue,
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
    SpanName,
    SpanType,
    SpanStatus,
    SpanModelName,
    SpanModelProvider,
    AssessmentName,
    /// The assessment's value as JSON text (the store's; the wire writes it as Python's
    /// `json.dumps` does).
    AssessmentValue,
}

/// One `filters` entry: `trace.status = 'OK'`, `trace.tag.<key> = 'v'`, `trace.metadata.<key> = 'v'`
/// (any view); `span.name|status|type = 'v'` (spans view); `assessment.name|type = 'v'`
/// (assessments view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceMetricFilter {
    Status(String),
    Tag(String, String),
    Metadata(String, String),
    SpanName(String),
    SpanStatus(String),
    SpanType(String),
    AssessmentName(String),
    /// `feedback`, `expectation` or `issue`.
    AssessmentType(String),
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
    /// Inclusive bounds on the trace's start time (for the span cost metrics, on the span's
    /// start time, to the last nanosecond of `end_time_ms`). Buckets group traces and
    /// assessments by the trace's start time, spans by their own.
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

/// What the spans view reads of a span besides its own fields, taken from its attributes when
/// it is stored: the model it called and the costs it reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanAnalytics {
    pub model_name: Option<String>,
    pub model_provider: Option<String>,
    pub input_cost: Option<f64>,
    pub output_cost: Option<f64>,
    pub total_cost: Option<f64>,
}
