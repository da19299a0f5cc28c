//! Issues: wire ⇄ domain.

use ferroflow_core::entities::Issue;
use ferroflow_core::{issues as rules, Result};
use ferroflow_proto::issues::IssueOut;
use serde_json::Value;

pub fn issue_out(issue: Issue) -> IssueOut {
    IssueOut {
        issue_id: issue.issue_id,
        experiment_id: issue.experiment_id.to_string(),
        name: issue.name,
        description: issue.description,
        status: issue.status,
        severity: issue.severity,
        root_causes: issue.root_causes,
        source_run_id: issue.source_run_id,
        created_timestamp: issue.created_timestamp,
        last_updated_timestamp: issue.last_updated_timestamp,
        created_by: issue.created_by,
        categories: issue.categories,
        trace_count: issue.trace_count,
        last_seen_timestamp: issue.last_seen_timestamp,
        last_updated_by: issue.last_updated_by,
        metadata: issue.metadata.into_iter().collect(),
    }
}

/// A metadata map as the client sends it: an object of strings, in its order; anything else
/// gets MLflow's metadata message.
pub fn issue_metadata(value: Option<&Value>) -> Result<Vec<(String, String)>> {
    let entries = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| value.as_str().map(|text| (key.clone(), text.to_string())))
            .collect::<Option<Vec<_>>>(),
        Some(_) => None,
    };
    let entries = entries.ok_or_else(rules::invalid_metadata)?;
    rules::metadata(&entries)?;
    Ok(entries)
}
