//! GenAI issues (MLflow 3.11+): quality or operational problems found in an experiment's
//! traces, with a status, a severity and categories.

use crate::ids::ExperimentId;

/// One issue as stored and returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub issue_id: String,
    pub experiment_id: ExperimentId,
    pub name: String,
    pub description: String,
    /// `pending`, `rejected` or `resolved`.
    pub status: String,
    /// `not_an_issue`, `low`, `medium` or `high`.
    pub severity: Option<String>,
    /// Deprecated by MLflow, still stored and returned; empty is none.
    pub root_causes: Vec<String>,
    pub source_run_id: Option<String>,
    pub categories: Vec<String>,
    pub created_by: Option<String>,
    pub created_timestamp: i64,
    pub last_updated_timestamp: i64,
    /// The latest observation; the creation time unless told otherwise, never moving back.
    pub last_seen_timestamp: i64,
    pub last_updated_by: Option<String>,
    /// String metadata in insertion order, updated per key.
    pub metadata: Vec<(String, String)>,
    /// Traces whose `issue` assessments name this issue; only when a search asks for it.
    pub trace_count: Option<i64>,
}

/// The fields an update may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct IssueUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub severity: Option<String>,
    /// `Some(empty)` clears the categories.
    pub categories: Option<Vec<String>>,
    pub last_seen_timestamp: Option<i64>,
    pub last_updated_by: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub delete_metadata_keys: Vec<String>,
}

/// What an issue search may order by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueOrderKey {
    /// Case-insensitive.
    Name,
    /// By rank: pending, rejected, resolved.
    Status,
    /// By rank, none lowest.
    Severity,
    CreatedTimestamp,
    LastUpdatedTimestamp,
    LastSeenTimestamp,
}

/// A field an issue `filter_string` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueFilterKey {
    Status,
    SourceRunId,
}

/// One `filter_string` comparison: `key = value` (`equal`) or `key != value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueFilter {
    pub key: IssueFilterKey,
    pub equal: bool,
    pub value: String,
}

/// An issue search: filters are ANDed, the values of one filter ORed.
#[derive(Debug, Clone, Default)]
pub struct IssueSearch {
    pub experiment_id: Option<ExperimentId>,
    pub filters: Vec<IssueFilter>,
    /// A case-insensitive literal substring of the name.
    pub name: Option<String>,
    pub statuses: Vec<String>,
    pub severities: Vec<String>,
    /// Any of these categories, ignoring case and surrounding spaces.
    pub categories: Vec<String>,
    /// `(key, ascending)`, the id (descending) breaking ties; empty: severity (highest
    /// first), the trace count when asked for, then newest first.
    pub order_by: Vec<(IssueOrderKey, bool)>,
    pub max_results: u64,
    pub offset: u64,
    pub include_trace_count: bool,
    pub include_total_count: bool,
    /// The `basic` view: an empty description, no root causes, no metadata.
    pub basic: bool,
}

/// A page of issues.
#[derive(Debug, Clone)]
pub struct IssuePage {
    pub issues: Vec<Issue>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u64>,
    pub total_count: Option<u64>,
}
