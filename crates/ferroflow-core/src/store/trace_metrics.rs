//! [`TraceMetricsStore`]: aggregates over traces, computed by the store in one statement each.

use crate::entities::{CorrelationCounts, CorrelationQuery, MetricRow, TraceMetricsQuery};
use crate::Result;

#[async_trait::async_trait]
pub trait TraceMetricsStore: Send + Sync {
    /// One row per group (time bucket first, then the dimensions, in that order), groups with a
    /// missing dimension left out, at most `max_results` rows. Traces without the metric's
    /// value do not count; without dimensions or buckets there is one row (or none when an
    /// aggregate has nothing to work on).
    async fn query_trace_metrics(&self, query: &TraceMetricsQuery) -> Result<Vec<MetricRow>>;
    /// How many traces match the base filters, each of the two filters on top of them, and both.
    async fn trace_filter_correlation(&self, query: &CorrelationQuery) -> Result<CorrelationCounts>;
}
