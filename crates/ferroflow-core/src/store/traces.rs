//! Traces, spans and assessments.

use super::SearchQuery;
use crate::entities::{Assessment, Page, StoredSpan, TraceDeletion, TraceInfo, TraceSpans};
use crate::ids::{ExperimentId, RunId, TraceId};
use crate::search::traces::TraceKey;
use crate::Result;
use futures::stream::BoxStream;

#[async_trait::async_trait]
pub trait TraceStore: Send + Sync {
    /// Writes every span of a batch in one transaction, creating trace records on first sight
    /// and filling them from root spans when StartTraceV3 has not finalized them. Re-sent spans
    /// replace themselves. `run_id` links every trace of the batch to a run.
    async fn ingest_spans(
        &self,
        experiment_id: ExperimentId,
        run_id: Option<&RunId>,
        traces: Vec<TraceSpans>,
    ) -> Result<()>;

    /// StartTraceV3: an idempotent upsert of the trace record, merged with spans that came
    /// first or come later. The client's times, state and previews win. Returns the stored
    /// record.
    async fn start_trace(&self, info: &TraceInfo) -> Result<TraceInfo>;

    async fn get_trace_info(&self, trace_id: &TraceId) -> Result<TraceInfo>;
    /// Missing ids are left out.
    async fn get_trace_infos(&self, trace_ids: &[TraceId]) -> Result<Vec<TraceInfo>>;
    /// A trace's spans in start order, streamed in chunks so that a huge trace is never held
    /// whole.
    fn stream_spans(&self, trace_id: &TraceId) -> BoxStream<'static, Result<StoredSpan>>;

    async fn search_traces(
        &self,
        experiment_ids: &[ExperimentId],
        query: &SearchQuery<TraceKey>,
    ) -> Result<Page<TraceInfo>>;

    async fn set_trace_tag(&self, trace_id: &TraceId, key: &str, value: &str) -> Result<()>;
    async fn delete_trace_tag(&self, trace_id: &TraceId, key: &str) -> Result<()>;
    /// Returns how many traces were deleted.
    async fn delete_traces(&self, experiment_id: ExperimentId, which: &TraceDeletion) -> Result<u64>;
    async fn link_traces_to_run(&self, trace_ids: &[TraceId], run_id: &RunId) -> Result<()>;
    /// Rewrites the trace's `mlflow.linkedPrompts` tag in one transaction: `merge` (the
    /// core's [`crate::traces::merge_linked_prompts`] with the request's pairs, written back as
    /// the wire's text) makes the new value from the stored one, if any.
    async fn link_prompts(
        &self,
        trace_id: &TraceId,
        merge: &(dyn for<'a> Fn(Option<&'a str>) -> Result<String> + Send + Sync),
    ) -> Result<()>;

    /// Stores a new assessment; when it overrides another, that one becomes invalid.
    async fn create_assessment(&self, assessment: &Assessment) -> Result<Assessment>;
    async fn get_assessment(&self, trace_id: &TraceId, assessment_id: &str) -> Result<Assessment>;
    /// Read, change and write in one transaction, so that concurrent updates never lose one:
    /// `update` (the core's [`crate::assessments::apply_update`] with the request's changes)
    /// makes the new assessment from the stored one. Returns what was stored.
    async fn update_assessment(
        &self,
        trace_id: &TraceId,
        assessment_id: &str,
        update: &(dyn for<'a> Fn(&'a Assessment) -> Result<Assessment> + Send + Sync),
    ) -> Result<Assessment>;
    async fn delete_assessment(&self, trace_id: &TraceId, assessment_id: &str) -> Result<()>;
}
