//! The areas not yet ported to PostgreSQL: every method answers `NOT_IMPLEMENTED` naming the
//! area, so a PostgreSQL-backed server serves what is ported and says clearly what is not
//! (never a wrong answer). An area leaves this file when its module lands: GenAI issues and
//! trace metrics remain.

use crate::PostgresStore;
use ferroflow_core::entities::*;
use ferroflow_core::store::{IssueStore, TraceMetricsStore};
use ferroflow_core::{Error, ErrorCode, Result};

fn pending(area: &str) -> Error {
    Error::new(ErrorCode::NotImplemented, format!("The PostgreSQL store does not support {area} yet"))
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
