//! The areas not yet ported to PostgreSQL: every method answers `NOT_IMPLEMENTED` naming the
//! area, so a PostgreSQL-backed server serves what is ported and says clearly what is not
//! (never a wrong answer). An area leaves this file when its module lands.

use crate::PostgresStore;
use ferroflow_core::auth::{ApiToken, Grant, Permission, ResourceType, User};
use ferroflow_core::entities::*;
use ferroflow_core::search::datasets::DatasetKey;
use ferroflow_core::search::traces::TraceKey;
use ferroflow_core::store::{AuthStore, EvaluationStore, IssueStore, OverviewStore, SearchQuery, TraceStore};
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
impl EvaluationStore for PostgresStore {
    async fn create_evaluation_dataset(&self, _dataset: &NewEvaluationDataset) -> Result<EvaluationDataset> {
        Err(pending("evaluation"))
    }
    async fn get_evaluation_dataset(&self, _dataset_id: &str) -> Result<EvaluationDataset> {
        Err(pending("evaluation"))
    }
    async fn delete_evaluation_dataset(&self, _dataset_id: &str) -> Result<()> {
        Err(pending("evaluation"))
    }
    async fn search_evaluation_datasets(
        &self,
        _experiment_ids: &[ExperimentId],
        _query: &SearchQuery<DatasetKey>,
    ) -> Result<Page<EvaluationDataset>> {
        Err(pending("evaluation"))
    }
    async fn set_evaluation_dataset_tags(&self, _dataset_id: &str, _tags: &[Tag]) -> Result<()> {
        Err(pending("evaluation"))
    }
    async fn delete_evaluation_dataset_tag(&self, _dataset_id: &str, _key: &str) -> Result<()> {
        Err(pending("evaluation"))
    }
    async fn upsert_dataset_records(
        &self,
        _dataset_id: &str,
        _records: &[RecordUpsert],
        _updated_by: Option<&str>,
    ) -> Result<UpsertCounts> {
        Err(pending("evaluation"))
    }
    async fn get_dataset_records(
        &self,
        _dataset_id: &str,
        _max_results: u64,
        _after: Option<&RecordCursor>,
    ) -> Result<RecordPage> {
        Err(pending("evaluation"))
    }
    async fn delete_dataset_records(&self, _dataset_id: &str, _record_ids: &[String]) -> Result<u64> {
        Err(pending("evaluation"))
    }
    async fn get_dataset_experiment_ids(&self, _dataset_id: &str) -> Result<Vec<ExperimentId>> {
        Err(pending("evaluation"))
    }
    async fn add_dataset_to_experiments(
        &self,
        _dataset_id: &str,
        _experiment_ids: &[ExperimentId],
    ) -> Result<EvaluationDataset> {
        Err(pending("evaluation"))
    }
    async fn remove_dataset_from_experiments(
        &self,
        _dataset_id: &str,
        _experiment_ids: &[ExperimentId],
    ) -> Result<EvaluationDataset> {
        Err(pending("evaluation"))
    }
    async fn register_scorer(
        &self,
        _experiment_id: ExperimentId,
        _name: &str,
        _serialized_scorer: &str,
    ) -> Result<ScorerVersion> {
        Err(pending("evaluation"))
    }
    async fn list_scorers(&self, _experiment_ids: &[ExperimentId]) -> Result<Vec<ScorerVersion>> {
        Err(pending("evaluation"))
    }
    async fn list_scorer_versions(&self, _experiment_id: ExperimentId, _name: &str) -> Result<Vec<ScorerVersion>> {
        Err(pending("evaluation"))
    }
    async fn get_scorer(
        &self,
        _experiment_id: ExperimentId,
        _name: &str,
        _version: Option<i32>,
    ) -> Result<ScorerVersion> {
        Err(pending("evaluation"))
    }
    async fn delete_scorer(&self, _experiment_id: ExperimentId, _name: &str, _version: Option<i32>) -> Result<()> {
        Err(pending("evaluation"))
    }
    async fn get_online_scoring_configs(&self, _scorer_ids: &[String]) -> Result<Vec<OnlineScoringConfig>> {
        Err(pending("evaluation"))
    }
    async fn upsert_online_scoring_config(
        &self,
        _experiment_id: ExperimentId,
        _name: &str,
        _sample_rate: f64,
        _filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig> {
        Err(pending("evaluation"))
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
impl AuthStore for PostgresStore {
    async fn create_user(&self, _username: &str, _password_hash: &str, _is_admin: bool) -> Result<User> {
        Err(pending("auth"))
    }
    async fn get_user(&self, _username: &str) -> Result<User> {
        Err(pending("auth"))
    }
    async fn get_user_by_id(&self, _user_id: i64) -> Result<User> {
        Err(pending("auth"))
    }
    async fn list_users(&self) -> Result<Vec<User>> {
        Err(pending("auth"))
    }
    async fn count_users(&self) -> Result<u64> {
        Err(pending("auth"))
    }
    async fn update_user_password(&self, _username: &str, _password_hash: &str) -> Result<()> {
        Err(pending("auth"))
    }
    async fn update_user_admin(&self, _username: &str, _is_admin: bool) -> Result<()> {
        Err(pending("auth"))
    }
    async fn delete_user(&self, _username: &str) -> Result<()> {
        Err(pending("auth"))
    }
    async fn grant(
        &self,
        _user_id: i64,
        _resource_type: ResourceType,
        _resource_id: &str,
        _permission: Permission,
    ) -> Result<()> {
        Err(pending("auth"))
    }
    async fn revoke(&self, _user_id: i64, _resource_type: ResourceType, _resource_id: &str) -> Result<()> {
        Err(pending("auth"))
    }
    async fn get_grant(
        &self,
        _user_id: i64,
        _resource_type: ResourceType,
        _resource_id: &str,
    ) -> Result<Option<Permission>> {
        Err(pending("auth"))
    }
    async fn list_grants(&self, _user_id: i64) -> Result<Vec<Grant>> {
        Err(pending("auth"))
    }
    async fn rename_grants(&self, _resource_type: ResourceType, _old_id: &str, _new_id: &str) -> Result<()> {
        Err(pending("auth"))
    }
    async fn create_token(&self, _user_id: i64, _name: &str, _secret_hash: &str) -> Result<ApiToken> {
        Err(pending("auth"))
    }
    async fn find_token(&self, _secret_hash: &str) -> Result<Option<(ApiToken, User)>> {
        Err(pending("auth"))
    }
    async fn list_tokens(&self, _user_id: i64) -> Result<Vec<ApiToken>> {
        Err(pending("auth"))
    }
    async fn revoke_token(&self, _user_id: i64, _token_id: i64) -> Result<()> {
        Err(pending("auth"))
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
