//! The areas not yet ported to PostgreSQL: every method answers `NOT_IMPLEMENTED` naming the
//! area, so a PostgreSQL-backed server serves what is ported and says clearly what is not
//! (never a wrong answer). An area leaves this file when its module lands: traces (with
//! assessments), trace metrics, issues and the web UI's overview reads remain.

use crate::PostgresStore;
use ferroflow_core::entities::*;
use ferroflow_core::search::traces::TraceKey;
use ferroflow_core::store::{IssueStore, OverviewStore, SearchQuery, TraceMetricsStore, TraceStore};
use ferroflow_core::{Error, ErrorCode, Result};
use futures::stream::BoxStream;

fn pending(area: &str) -> Error {
    Error::new(ErrorCode::NotImplemented, format!("The PostgreSQL store does not support {area} yet"))
}

#[async_trait::async_trait]
impl TraceStore for PostgresStore {
    async fn ingest_spans(
        &self,
        _experiment_id: ExperimentId,
        _run_id: Option<&RunId>,
        _traces: &[TraceSpans],
    ) -> Result<()> {
        Err(pending("traces"))
    }
    async fn start_trace(&self, _info: &TraceInfo) -> Result<TraceInfo> {
        Err(pending("traces"))
    }
    async fn get_trace_info(&self, _trace_id: &TraceId) -> Result<TraceInfo> {
        Err(pending("traces"))
    }
    async fn get_trace_infos(&self, _trace_ids: &[TraceId]) -> Result<Vec<TraceInfo>> {
        Err(pending("traces"))
    }
    fn stream_spans(&self, _trace_id: &TraceId) -> BoxStream<'static, Result<StoredSpan>> {
        Box::pin(futures::stream::once(async { Err(pending("traces")) }))
    }
    async fn search_traces(
        &self,
        _experiment_ids: &[ExperimentId],
        _query: &SearchQuery<TraceKey>,
    ) -> Result<Page<TraceInfo>> {
        Err(pending("traces"))
    }
    async fn set_trace_tag(&self, _trace_id: &TraceId, _key: &str, _value: &str) -> Result<()> {
        Err(pending("traces"))
    }
    async fn delete_trace_tag(&self, _trace_id: &TraceId, _key: &str) -> Result<()> {
        Err(pending("traces"))
    }
    async fn delete_traces(&self, _experiment_id: ExperimentId, _which: &TraceDeletion) -> Result<u64> {
        Err(pending("traces"))
    }
    async fn link_traces_to_run(&self, _trace_ids: &[TraceId], _run_id: &RunId) -> Result<()> {
        Err(pending("traces"))
    }
    async fn link_prompts(
        &self,
        _trace_id: &TraceId,
        _merge: &(dyn for<'a> Fn(Option<&'a str>) -> Result<String> + Send + Sync),
    ) -> Result<()> {
        Err(pending("traces"))
    }
    async fn create_assessment(&self, _assessment: &Assessment) -> Result<Assessment> {
        Err(pending("traces"))
    }
    async fn get_assessment(&self, _trace_id: &TraceId, _assessment_id: &str) -> Result<Assessment> {
        Err(pending("traces"))
    }
    async fn update_assessment(
        &self,
        _trace_id: &TraceId,
        _assessment_id: &str,
        _update: &(dyn for<'a> Fn(&'a Assessment) -> Result<Assessment> + Send + Sync),
    ) -> Result<Assessment> {
        Err(pending("traces"))
    }
    async fn delete_assessment(&self, _trace_id: &TraceId, _assessment_id: &str) -> Result<()> {
        Err(pending("traces"))
    }
}

#[async_trait::async_trait]
impl OverviewStore for PostgresStore {
    async fn experiment_summaries(&self, _name_contains: &str, _max_results: u64) -> Result<Vec<ExperimentSummary>> {
        Err(pending("overview"))
    }
    async fn span_skeleton(&self, _trace_id: &TraceId) -> Result<Vec<SpanSummary>> {
        Err(pending("overview"))
    }
    async fn get_span(&self, _trace_id: &TraceId, _span_id: &SpanId) -> Result<StoredSpan> {
        Err(pending("overview"))
    }
    async fn sessions(&self, _experiment_id: ExperimentId, _max_results: u64) -> Result<Vec<SessionSummary>> {
        Err(pending("overview"))
    }
}

#[async_trait::async_trait]
impl IssueStore for PostgresStore {
    async fn create_issue(&self, _issue: &Issue) -> Result<Issue> {
        Err(pending("issues"))
    }
    async fn get_issue(&self, _issue_id: &str) -> Result<Issue> {
        Err(pending("issues"))
    }
    async fn update_issue(
        &self,
        _issue_id: &str,
        _update: &(dyn for<'a> Fn(&'a Issue) -> Result<Issue> + Send + Sync),
    ) -> Result<Issue> {
        Err(pending("issues"))
    }
    async fn search_issues(&self, _search: &IssueSearch) -> Result<IssuePage> {
        Err(pending("issues"))
    }
}

#[async_trait::async_trait]
impl TraceMetricsStore for PostgresStore {
    async fn query_trace_metrics(&self, _query: &TraceMetricsQuery) -> Result<Vec<MetricRow>> {
        Err(pending("trace metrics"))
    }
    async fn trace_filter_correlation(&self, _query: &CorrelationQuery) -> Result<CorrelationCounts> {
        Err(pending("trace metrics"))
    }
}
