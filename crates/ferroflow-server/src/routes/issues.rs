//! GenAI issue RPCs under `/api/3.0/mlflow/issues` (MLflow 3.11+): create, get, update and
//! search. The checks and their order follow the reference: the request's required fields,
//! then the issue rules in core, then what only the store can tell.

use crate::auth::Caller;
use crate::convert;
use crate::error::ApiResult;
use crate::extract::Rpc;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use ferroflow_core::entities::{IssueSearch, IssueUpdate};
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::issues::{self as rules, NewIssue};
use ferroflow_core::validation;
use ferroflow_proto::issues::*;

/// The signed-in user, who is the creator or updater whatever the body says.
fn username(caller: Option<Extension<Caller>>) -> Option<String> {
    caller.map(|Extension(Caller(user))| user.username)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

pub async fn create(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
    Rpc(request): Rpc<CreateIssue>,
) -> ApiResult<Json<IssueResponse>> {
    let name = validation::required("name", request.name.as_deref())?.to_string();
    let description = validation::required("description", request.description.as_deref())?.to_string();
    let experiment_id = validation::required("experiment_id", request.experiment_id.as_deref())?;
    if let Some(value) = request.last_seen_timestamp {
        rules::last_seen_timestamp(value)?;
    }
    let metadata = convert::issue_metadata(request.metadata.as_ref())?;
    let new = NewIssue {
        issue_id: request.issue_id,
        name,
        description,
        status: request.status,
        severity: request.severity,
        root_causes: request.root_causes,
        source_run_id: non_empty(request.source_run_id),
        categories: request.categories,
        created_by: username(caller).or(non_empty(request.created_by)),
        last_seen_timestamp: request.last_seen_timestamp,
        metadata,
    };
    let issue = rules::new_issue(new, ExperimentId::parse(experiment_id)?)?;
    let stored = state.store.create_issue(&issue).await?;
    Ok(Json(IssueResponse { issue: convert::issue_out(stored) }))
}

pub async fn get(
    State(state): State<AppState>,
    Path(issue_id): Path<String>,
    Rpc(_request): Rpc<GetIssue>,
) -> ApiResult<Json<IssueResponse>> {
    let issue = state.store.get_issue(&issue_id).await?;
    Ok(Json(IssueResponse { issue: convert::issue_out(issue) }))
}

pub async fn update(
    State(state): State<AppState>,
    Path(issue_id): Path<String>,
    caller: Option<Extension<Caller>>,
    Rpc(request): Rpc<UpdateIssue>,
) -> ApiResult<Json<IssueResponse>> {
    // The reference reads the id from the body too, and requires it there.
    validation::required("issue_id", request.issue_id.as_deref())?;
    if let Some(value) = request.last_seen_timestamp {
        rules::last_seen_timestamp(value)?;
    }
    let update = IssueUpdate {
        name: request.name,
        description: request.description,
        status: request.status,
        severity: request.severity,
        categories: request.categories,
        last_seen_timestamp: request.last_seen_timestamp,
        last_updated_by: username(caller).or(non_empty(request.last_updated_by)),
        metadata: convert::issue_metadata(request.metadata.as_ref())?,
        delete_metadata_keys: request.delete_metadata_keys,
    };
    rules::check_update(&update)?;
    let issue = state.store.update_issue(&issue_id, &|existing| rules::apply_update(existing, &update)).await?;
    Ok(Json(IssueResponse { issue: convert::issue_out(issue) }))
}

pub async fn search(
    State(state): State<AppState>,
    Rpc(request): Rpc<SearchIssues>,
) -> ApiResult<Json<SearchIssuesResponse>> {
    let max_results =
        validation::max_results("issues/search", request.max_results, rules::DEFAULT_MAX_RESULTS, rules::MAX_RESULTS)?;
    rules::check_search(
        request.name.as_deref(),
        &request.statuses,
        &request.severities,
        &request.categories,
        &request.order_by,
        request.view.as_deref(),
    )?;
    let experiment_id = non_empty(request.experiment_id);
    let filter_string = non_empty(request.filter_string);
    let include_trace_count = request.include_trace_count.unwrap_or(false);
    let include_total_count = request.include_total_count.unwrap_or(false);
    // A search that uses none of the 3.18 fields keeps the older token form.
    let tied = request.name.is_some()
        || !request.statuses.is_empty()
        || !request.severities.is_empty()
        || !request.categories.is_empty()
        || !request.order_by.is_empty()
        || request.view.is_some()
        || include_total_count;
    let sorted = |values: &[String]| {
        let mut values: Vec<String> = values.to_vec();
        values.sort();
        values.dedup();
        values.join("\u{1}")
    };
    let categories: Vec<String> = request.categories.iter().map(|c| c.trim().to_lowercase()).collect();
    let fingerprint = rules::query_fingerprint(&[
        experiment_id.as_deref().unwrap_or("\u{0}"),
        filter_string.as_deref().unwrap_or("\u{0}"),
        request.name.as_deref().unwrap_or("\u{0}"),
        &sorted(&request.statuses),
        &sorted(&request.severities),
        &sorted(&categories),
        &request.order_by.join("\u{1}"),
        if include_trace_count { "t" } else { "f" },
        if include_total_count { "t" } else { "f" },
        request.view.as_deref().unwrap_or("\u{0}"),
    ]);
    let offset = rules::decode_page_token(request.page_token.as_deref(), &fingerprint, tied)?;
    let search = IssueSearch {
        experiment_id: experiment_id.as_deref().map(ExperimentId::parse).transpose()?,
        filters: rules::parse_filter(filter_string.as_deref().unwrap_or(""))?,
        name: request.name,
        statuses: request.statuses,
        severities: request.severities,
        categories: request.categories,
        order_by: rules::order_by(&request.order_by)?,
        max_results: max_results as u64,
        offset,
        include_trace_count,
        include_total_count,
        basic: request.view.as_deref() == Some("basic"),
    };
    let page = state.store.search_issues(&search).await?;
    Ok(Json(SearchIssuesResponse {
        issues: page.issues.into_iter().map(convert::issue_out).collect(),
        next_page_token: page
            .next_offset
            .map(|offset| rules::encode_page_token(offset, &fingerprint, tied))
            .unwrap_or_default(),
        total_count: page.total_count.map(|count| count as i64),
    }))
}
