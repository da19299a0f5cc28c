//! An issue's columns as both backends keep them: its lists (root causes, categories) as a
//! JSON array of strings and its metadata as a JSON object of strings in insertion order, and
//! the SQL ranks that order a search by severity or status (plain `CASE` text, the same in
//! both dialects).

use crate::corrupt;
use ferroflow_core::issues::{SEVERITIES, STATUSES};
use ferroflow_core::Result;
use serde_json::{Map, Value};

/// The column's text for a list.
pub fn encode_list(values: &[String]) -> String {
    Value::Array(values.iter().cloned().map(Value::String).collect()).to_string()
}

/// A list column read back.
pub fn decode_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| corrupt("issue list", e))
}

/// The column's text for metadata entries (later entries of a key win, as a JSON object).
pub fn encode_metadata(entries: &[(String, String)]) -> String {
    let map: Map<String, Value> = entries.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    Value::Object(map).to_string()
}

/// A metadata column read back, in the order it was written.
pub fn decode_metadata(text: &str) -> Result<Vec<(String, String)>> {
    let map: Map<String, Value> = serde_json::from_str(text).map_err(|e| corrupt("issue metadata", e))?;
    map.into_iter()
        .map(|(key, value)| match value {
            Value::String(value) => Ok((key, value)),
            other => Err(corrupt("issue metadata", format!("the value of '{key}' is not a string: {other}"))),
        })
        .collect()
}

/// `column`'s severity as a number for ordering: none or unknown lowest.
pub fn severity_rank_sql(column: &str) -> String {
    rank_sql(column, SEVERITIES, -1)
}

/// `column`'s status as a number for ordering: pending, rejected, resolved, then unknown.
pub fn status_rank_sql(column: &str) -> String {
    rank_sql(column, STATUSES, STATUSES.len() as i64)
}

fn rank_sql(column: &str, names: &[&str], otherwise: i64) -> String {
    let mut sql = format!("(CASE {column}");
    for (rank, name) in names.iter().enumerate() {
        sql.push_str(&format!(" WHEN '{name}' THEN {rank}"));
    }
    sql.push_str(&format!(" ELSE {otherwise} END)"));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_metadata_round_trip_in_order() {
        let list = vec!["a \"quoted\"".to_string(), "ü".to_string()];
        assert_eq!(decode_list(&encode_list(&list)).unwrap(), list);
        let metadata = vec![("z".to_string(), "1".to_string()), ("a".to_string(), "2".to_string())];
        assert_eq!(decode_metadata(&encode_metadata(&metadata)).unwrap(), metadata);
        assert!(decode_list("not json").is_err());
        assert!(decode_metadata("{\"k\": 1}").is_err());
    }

    #[test]
    fn ranks_follow_the_core_orders() {
        assert_eq!(
            severity_rank_sql("i.severity"),
            "(CASE i.severity WHEN 'not_an_issue' THEN 0 WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE -1 END)"
        );
        assert!(status_rank_sql("s").ends_with("WHEN 'resolved' THEN 2 ELSE 3 END)"));
    }
}
