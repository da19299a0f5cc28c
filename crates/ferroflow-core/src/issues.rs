//! Issue rules that need no storage: MLflow's checks of names, statuses, severities, ids,
//! lists, metadata and timestamps (with its messages), a new issue, how an update changes an
//! issue, the `filter_string` and `order_by` of a search and its page tokens.

use crate::entities::{ExperimentId, Issue, IssueFilter, IssueFilterKey, IssueOrderKey, IssueUpdate};
use crate::search::filter::{self, ParseOptions};
use crate::search::{Comparator, Literal};
use crate::{time, Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub const STATUSES: &[&str] = &["pending", "rejected", "resolved"];
/// Lowest first: a search with no order puts the highest severity first.
pub const SEVERITIES: &[&str] = &["not_an_issue", "low", "medium", "high"];
pub const DEFAULT_MAX_RESULTS: i64 = 100;
pub const MAX_RESULTS: i64 = 50_000;
const MAX_LIST: usize = 100;
const MAX_ITEM: usize = 250;
const MAX_METADATA_VALUE: usize = 65_536;
const MAX_ACTOR: usize = 255;

/// Python's `repr` of a string, as MLflow's messages quote values.
fn repr(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

pub fn status(value: &str) -> Result<()> {
    if STATUSES.contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(format!("Invalid issue status: {}", repr(value))))
    }
}

pub fn severity(value: &str) -> Result<()> {
    if SEVERITIES.contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(format!("Invalid issue severity: {}", repr(value))))
    }
}

pub fn name(value: &str) -> Result<()> {
    if (1..=MAX_ITEM).contains(&value.chars().count()) {
        Ok(())
    } else {
        Err(Error::invalid("Issue name must contain 1 to 250 characters"))
    }
}

pub fn last_seen_timestamp(value: i64) -> Result<()> {
    if value >= 0 {
        Ok(())
    } else {
        Err(Error::invalid("last_seen_timestamp must be nonnegative milliseconds"))
    }
}

/// A client-chosen id: `iss-` and 1 to 32 letters, digits, `_` or `-`.
pub fn issue_id(value: &str) -> Result<()> {
    let rest = value.strip_prefix("iss-").unwrap_or("");
    let ok = (1..=32).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("issue_id must be iss-* and at most 36 characters"))
    }
}

/// `created_by` and `last_updated_by`: at most 255 characters.
pub fn actor(field: &str, value: &str) -> Result<()> {
    if value.chars().count() <= MAX_ACTOR {
        Ok(())
    } else {
        Err(Error::invalid(format!("Invalid {field}")))
    }
}

/// `categories` and `delete_metadata_keys`: at most 100 strings of 1 to 250 characters.
pub fn string_list(field: &str, values: &[String]) -> Result<()> {
    if values.len() <= MAX_LIST && values.iter().all(|v| (1..=MAX_ITEM).contains(&v.chars().count())) {
        Ok(())
    } else {
        Err(Error::invalid(format!("{field} must contain at most 100 nonempty strings of at most 250 characters")))
    }
}

pub fn metadata(entries: &[(String, String)]) -> Result<()> {
    let ok = entries.len() <= MAX_LIST
        && entries.iter().all(|(key, value)| {
            (1..=MAX_ITEM).contains(&key.chars().count()) && value.chars().count() <= MAX_METADATA_VALUE
        });
    if ok {
        Ok(())
    } else {
        Err(invalid_metadata())
    }
}

/// Metadata that is not a map of strings, or too large.
pub fn invalid_metadata() -> Error {
    Error::invalid("metadata must be a string map with at most 100 entries")
}

pub fn new_issue_id() -> String {
    format!("iss-{}", crate::ids::new_hex_id())
}

/// What a create request carries, checked by [`new_issue`].
#[derive(Debug, Clone, Default)]
pub struct NewIssue {
    pub issue_id: Option<String>,
    pub name: String,
    pub description: String,
    pub status: Option<String>,
    pub severity: Option<String>,
    pub root_causes: Vec<String>,
    pub source_run_id: Option<String>,
    pub categories: Vec<String>,
    pub created_by: Option<String>,
    pub last_seen_timestamp: Option<i64>,
    pub metadata: Vec<(String, String)>,
}

/// The issue a create request makes, checked in MLflow's order: status, severity, name,
/// last-seen time, id, creator, categories, metadata. The creator is also the last updater.
pub fn new_issue(new: NewIssue, experiment_id: ExperimentId) -> Result<Issue> {
    let status_value = new.status.unwrap_or_else(|| "pending".to_string());
    status(&status_value)?;
    if let Some(value) = &new.severity {
        severity(value)?;
    }
    name(&new.name)?;
    if let Some(value) = new.last_seen_timestamp {
        last_seen_timestamp(value)?;
    }
    if let Some(value) = &new.issue_id {
        issue_id(value)?;
    }
    if let Some(value) = &new.created_by {
        actor("created_by", value)?;
    }
    string_list("categories", &new.categories)?;
    metadata(&new.metadata)?;
    let now = time::now_millis();
    Ok(Issue {
        issue_id: new.issue_id.unwrap_or_else(new_issue_id),
        experiment_id,
        name: new.name,
        description: new.description,
        status: status_value,
        severity: new.severity,
        root_causes: new.root_causes,
        source_run_id: new.source_run_id,
        categories: new.categories,
        last_updated_by: new.created_by.clone(),
        created_by: new.created_by,
        created_timestamp: now,
        last_updated_timestamp: now,
        last_seen_timestamp: new.last_seen_timestamp.unwrap_or(now),
        metadata: new.metadata,
        trace_count: None,
    })
}

/// Checks an update before the issue is read, in MLflow's order.
pub fn check_update(update: &IssueUpdate) -> Result<()> {
    if let Some(value) = &update.status {
        status(value)?;
    }
    if let Some(value) = &update.severity {
        severity(value)?;
    }
    if let Some(value) = &update.name {
        name(value)?;
    }
    if let Some(value) = update.last_seen_timestamp {
        last_seen_timestamp(value)?;
    }
    if let Some(value) = &update.last_updated_by {
        actor("last_updated_by", value)?;
    }
    if let Some(values) = &update.categories {
        string_list("categories", values)?;
    }
    string_list("delete_metadata_keys", &update.delete_metadata_keys)?;
    metadata(&update.metadata)?;
    if update.metadata.iter().any(|(key, _)| update.delete_metadata_keys.contains(key)) {
        return Err(Error::invalid("Cannot update and delete the same key"));
    }
    Ok(())
}

/// The issue after `update`: given fields replace (categories deduplicated), the last-seen
/// time never moves back, metadata merges per key (deletions after additions), the update time
/// moves on.
pub fn apply_update(existing: &Issue, update: &IssueUpdate) -> Result<Issue> {
    let mut issue = existing.clone();
    if let Some(value) = &update.status {
        issue.status.clone_from(value);
    }
    if let Some(value) = &update.name {
        issue.name.clone_from(value);
    }
    if let Some(value) = &update.description {
        issue.description.clone_from(value);
    }
    if let Some(value) = &update.severity {
        issue.severity = Some(value.clone());
    }
    if let Some(values) = &update.categories {
        issue.categories.clear();
        for value in values {
            if !issue.categories.contains(value) {
                issue.categories.push(value.clone());
            }
        }
    }
    if let Some(value) = update.last_seen_timestamp {
        issue.last_seen_timestamp = issue.last_seen_timestamp.max(value);
    }
    if let Some(value) = &update.last_updated_by {
        issue.last_updated_by = Some(value.clone());
    }
    for (key, value) in &update.metadata {
        match issue.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1.clone_from(value),
            None => issue.metadata.push((key.clone(), value.clone())),
        }
    }
    issue.metadata.retain(|(key, _)| !update.delete_metadata_keys.contains(key));
    metadata(&issue.metadata)?;
    issue.last_updated_timestamp = time::now_millis();
    Ok(issue)
}

/// The checks of a search's lists and view, in MLflow's order.
pub fn check_search(
    name: Option<&str>,
    statuses: &[String],
    severities: &[String],
    categories: &[String],
    order_by: &[String],
    view: Option<&str>,
) -> Result<()> {
    if name.is_some_and(|name| name.chars().count() > MAX_ITEM) {
        return Err(Error::invalid("name must be a string of at most 250 characters"));
    }
    for (field, values) in [("statuses", statuses), ("severities", severities), ("order_by", order_by)] {
        if values.len() > MAX_LIST {
            return Err(Error::invalid(format!("{field} must be a list of at most 100 strings")));
        }
    }
    string_list("categories", categories)?;
    statuses.iter().try_for_each(|value| status(value))?;
    severities.iter().try_for_each(|value| severity(value))?;
    if !matches!(view, None | Some("basic" | "full")) {
        return Err(Error::invalid("view must be basic or full"));
    }
    Ok(())
}

/// `status = 'x' AND source_run_id != 'y'`: the only fields and comparators issues filter on.
pub fn parse_filter(text: &str) -> Result<Vec<IssueFilter>> {
    let options = ParseOptions { allow_double_quoted_values: true };
    filter::parse(text, options)?
        .into_iter()
        .map(|clause| {
            let key = match (clause.prefix.is_none(), clause.key.as_str()) {
                (true, "status") => IssueFilterKey::Status,
                (true, "source_run_id") => IssueFilterKey::SourceRunId,
                _ => {
                    return Err(Error::invalid(format!(
                        "Invalid filter field '{}'. Supported fields: {{'status', 'source_run_id'}}",
                        clause.identifier()
                    )))
                }
            };
            let equal = match clause.comparator {
                Comparator::Eq => true,
                Comparator::Ne => false,
                other => {
                    return Err(Error::invalid(format!(
                        "Invalid comparator '{}'. Supported comparators: {{'=', '!='}}",
                        other.as_str()
                    )))
                }
            };
            let value = match &clause.value {
                Literal::Str(_) | Literal::Num(_) => clause.value.as_text().unwrap_or_default().trim().to_string(),
                _ => return Err(Error::invalid("Invalid comparison: expected 3 tokens")),
            };
            Ok(IssueFilter { key, equal, value })
        })
        .collect()
}

/// `name`, `status DESC`, …: MLflow's issue `order_by` entries.
pub fn order_by(entries: &[String]) -> Result<Vec<(IssueOrderKey, bool)>> {
    entries
        .iter()
        .map(|entry| {
            let invalid = || Error::invalid(format!("Invalid issue order_by: {}", repr(entry)));
            let words: Vec<&str> = entry.split_whitespace().collect();
            let ascending = match words.get(1).map(|w| w.to_ascii_uppercase()).as_deref() {
                None | Some("ASC") => true,
                Some("DESC") => false,
                _ => return Err(invalid()),
            };
            let key = match words.first().copied() {
                Some("name") => IssueOrderKey::Name,
                Some("status") => IssueOrderKey::Status,
                Some("severity") => IssueOrderKey::Severity,
                Some("created_timestamp") => IssueOrderKey::CreatedTimestamp,
                Some("last_updated_timestamp") => IssueOrderKey::LastUpdatedTimestamp,
                Some("last_seen_timestamp") => IssueOrderKey::LastSeenTimestamp,
                _ => return Err(invalid()),
            };
            if words.len() > 2 {
                return Err(invalid());
            }
            Ok((key, ascending))
        })
        .collect()
}

/// A digest of everything that shapes a search's result set, so a page token is refused by a
/// different query (FNV-1a: a fingerprint, not a secret).
pub fn query_fingerprint(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The token of the page at `offset`: base64 of `{"offset": N, "query": "<fingerprint>"}`, or
/// of `{"offset": N}` alone for a search that uses none of the 3.18 fields (`tied` false), as
/// older servers wrote it.
pub fn encode_page_token(offset: u64, fingerprint: &str, tied: bool) -> String {
    if tied {
        STANDARD.encode(format!("{{\"offset\": {offset}, \"query\": \"{fingerprint}\"}}"))
    } else {
        crate::search::page_token::encode(offset)
    }
}

/// The offset a token carries. A token of another query or an unreadable one is refused; one
/// without a query only where [`encode_page_token`] would write one so (`tied` false).
pub fn decode_page_token(token: Option<&str>, fingerprint: &str, tied: bool) -> Result<u64> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(0) };
    let invalid = || Error::invalid("Invalid page token or token does not match the issue query");
    let bytes = STANDARD.decode(token).map_err(|_| invalid())?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    match json.get("query") {
        None if !tied => {}
        Some(query) if query.as_str() == Some(fingerprint) => {}
        _ => return Err(invalid()),
    }
    json.get("offset").and_then(serde_json::Value::as_u64).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> Issue {
        Issue {
            issue_id: "iss-1".into(),
            experiment_id: ExperimentId::DEFAULT,
            name: "n".into(),
            description: "d".into(),
            status: "pending".into(),
            severity: None,
            root_causes: vec![],
            source_run_id: None,
            categories: vec![],
            created_by: None,
            created_timestamp: 1,
            last_updated_timestamp: 1,
            last_seen_timestamp: 50,
            last_updated_by: None,
            metadata: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            trace_count: None,
        }
    }

    #[test]
    fn checks_use_mlflows_messages() {
        assert_eq!(status("bogus").unwrap_err().message, "Invalid issue status: 'bogus'");
        assert_eq!(severity("urgent").unwrap_err().message, "Invalid issue severity: 'urgent'");
        assert!(issue_id("iss-abc_1").is_ok());
        assert!(issue_id("iss-").is_err() && issue_id("x-1").is_err());
        assert!(name("").is_err());
        assert_eq!(order_by(&["severity DESC".into()]).unwrap(), vec![(IssueOrderKey::Severity, false)]);
        assert_eq!(order_by(&["bogus".into()]).unwrap_err().message, "Invalid issue order_by: 'bogus'");
        let bad = vec![String::new()];
        assert!(string_list("categories", &bad).unwrap_err().message.starts_with("categories must contain"));
    }

    #[test]
    fn filters_take_status_and_source_run() {
        let parsed = parse_filter("status = 'pending' AND source_run_id != 'r1'").unwrap();
        assert_eq!(parsed.len(), 2);
        assert!(parsed[0].equal && !parsed[1].equal);
        assert_eq!(parsed[1].value, "r1");
        assert!(parse_filter("name = 'x'").unwrap_err().message.starts_with("Invalid filter field 'name'"));
        assert!(parse_filter("status LIKE 'x'").unwrap_err().message.starts_with("Invalid comparator 'LIKE'"));
    }

    #[test]
    fn page_tokens_belong_to_their_query() {
        let token = encode_page_token(5, "abc", true);
        assert_eq!(decode_page_token(Some(&token), "abc", true).unwrap(), 5);
        assert!(decode_page_token(Some(&token), "other", true).is_err());
        assert!(decode_page_token(Some("!!"), "abc", true).is_err());
        assert_eq!(decode_page_token(None, "abc", true).unwrap(), 0);
        let plain = encode_page_token(7, "abc", false);
        assert_eq!(decode_page_token(Some(&plain), "abc", false).unwrap(), 7);
        assert!(decode_page_token(Some(&plain), "abc", true).is_err());
    }

    #[test]
    fn updates_merge_metadata_and_keep_last_seen() {
        let update = IssueUpdate {
            status: Some("resolved".into()),
            categories: Some(vec!["x".into(), "x".into(), "y".into()]),
            last_seen_timestamp: Some(10),
            metadata: vec![("a".into(), "9".into()), ("c".into(), "3".into())],
            delete_metadata_keys: vec!["b".into()],
            ..IssueUpdate::default()
        };
        check_update(&update).unwrap();
        let updated = apply_update(&issue(), &update).unwrap();
        assert_eq!(updated.status, "resolved");
        assert_eq!(updated.categories, vec!["x".to_string(), "y".to_string()]);
        assert_eq!(updated.last_seen_timestamp, 50);
        assert_eq!(updated.metadata, vec![("a".into(), "9".into()), ("c".into(), "3".into())]);
        let overlap = IssueUpdate {
            metadata: vec![("a".into(), "1".into())],
            delete_metadata_keys: vec!["a".into()],
            ..IssueUpdate::default()
        };
        assert_eq!(check_update(&overlap).unwrap_err().message, "Cannot update and delete the same key");
    }
}
