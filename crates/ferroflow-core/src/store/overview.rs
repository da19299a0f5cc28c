//! Reads the web UI needs that the API's own reads cannot answer in one query: experiment
//! summaries with counts, a trace's span skeleton without bodies, one span by id, traces
//! grouped by session.

use crate::entities::{ExperimentSummary, SessionSummary, SpanSummary, StoredSpan};
use crate::ids::{ExperimentId, SpanId, TraceId};
use crate::Result;

#[async_trait::async_trait]
pub trait OverviewStore: Send + Sync {
    /// Active experiments whose name contains `name_contains` (case-insensitive; empty for
    /// all), newest activity first, with their trace and run counts: one query, no per-row
    /// round trips.
    async fn experiment_summaries(&self, name_contains: &str, max_results: u64) -> Result<Vec<ExperimentSummary>>;
    /// Every span of a trace in start order, without attributes or events: what a tree and a
    /// waterfall draw. A missing trace is `RESOURCE_DOES_NOT_EXIST`.
    async fn span_skeleton(&self, trace_id: &TraceId) -> Result<Vec<SpanSummary>>;
    /// One span with its body. A missing span is `RESOURCE_DOES_NOT_EXIST`.
    async fn get_span(&self, trace_id: &TraceId, span_id: &SpanId) -> Result<StoredSpan>;
    /// The experiment's sessions (traces grouped by `mlflow.trace.session` metadata), the most
    /// recently active first.
    async fn sessions(&self, experiment_id: ExperimentId, max_results: u64) -> Result<Vec<SessionSummary>>;
}
