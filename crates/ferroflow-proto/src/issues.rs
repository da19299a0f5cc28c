//! GenAI issues (MLflow 3.11+) under `/api/3.0/mlflow/issues`: create, get, update (PATCH)
//! and search, as the 3.18 client sends and reads them.

use crate::de;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateIssue {
    pub experiment_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub root_causes: Vec<String>,
    pub source_run_id: Option<String>,
    pub created_by: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub categories: Vec<String>,
    pub issue_id: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub last_seen_timestamp: Option<i64>,
    /// A string map; kept as JSON so a wrong-typed entry gets MLflow's metadata message.
    pub metadata: Option<Value>,
}

/// `PATCH /issues/{issue_id}`; the body repeats the id.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UpdateIssue {
    pub issue_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    /// Present (even empty) replaces the categories; absent leaves them.
    pub categories: Option<Vec<String>>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub last_seen_timestamp: Option<i64>,
    pub last_updated_by: Option<String>,
    pub metadata: Option<Value>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub delete_metadata_keys: Vec<String>,
}

/// `GET /issues/{issue_id}`: the id is in the path.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GetIssue {
    pub issue_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchIssues {
    pub experiment_id: Option<String>,
    pub filter_string: Option<String>,
    #[serde(deserialize_with = "de::opt_i64")]
    pub max_results: Option<i64>,
    pub page_token: Option<String>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub include_trace_count: Option<bool>,
    pub name: Option<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub statuses: Vec<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub severities: Vec<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub categories: Vec<String>,
    #[serde(deserialize_with = "de::vec_or_one")]
    pub order_by: Vec<String>,
    #[serde(deserialize_with = "de::opt_bool")]
    pub include_total_count: Option<bool>,
    pub view: Option<String>,
}

/// An issue as the server returns it; int64 fields are JSON numbers, as MLflow writes them.
#[derive(Debug, Serialize)]
pub struct IssueOut {
    pub issue_id: String,
    pub experiment_id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub root_causes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    pub created_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_count: Option<i64>,
    pub last_seen_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The answer of create, get and update.
#[derive(Debug, Serialize)]
pub struct IssueResponse {
    pub issue: IssueOut,
}

#[derive(Debug, Serialize)]
pub struct SearchIssuesResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<IssueOut>,
    /// Always written, empty on the last page, as the reference does.
    pub next_page_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
}
