//! Assessment rules (../shared/spec/mlflow-rest.md §9): server-made ids, validity and overrides, partial updates by
//! field mask. An assessment's body is any JSON the client sent and is returned exactly; these
//! functions only set the fields the server owns.

use crate::entities::{Assessment, AssessmentKind};
use crate::ids::TraceId;
use crate::{ids, time, Error, Result};
use serde_json::{Map, Value};

/// The text an assessment value is filtered by: strings as they are, other JSON as text.
pub fn value_text(body: &Map<String, Value>) -> Option<String> {
    let holder = body.get("feedback").or_else(|| body.get("expectation"))?;
    let value = holder.get("value").or_else(|| holder.get("serialized_value").and_then(|s| s.get("value")))?;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn kind_of(body: &Map<String, Value>) -> Result<AssessmentKind> {
    if body.get("feedback").is_some_and(|v| !v.is_null()) {
        Ok(AssessmentKind::Feedback)
    } else if body.get("expectation").is_some_and(|v| !v.is_null()) {
        Ok(AssessmentKind::Expectation)
    } else if body.get("issue").is_some_and(|v| !v.is_null()) {
        Ok(AssessmentKind::Issue)
    } else {
        Err(Error::invalid("An assessment must have exactly one of 'feedback', 'expectation' or 'issue'."))
    }
}

fn time_field(body: &Map<String, Value>, key: &str) -> Option<i64> {
    body.get(key).and_then(Value::as_str).and_then(|t| time::rfc3339_to_millis(t).ok())
}

/// An expectation whose `value` is an object or a list is kept as MLflow keeps it:
/// `serialized_value: {serialization_format: "JSON_FORMAT", value: <Python's JSON text>}`, which
/// is where the client reads such values back.
fn serialize_expectation_value(body: &mut Map<String, Value>) {
    let Some(Value::Object(expectation)) = body.get_mut("expectation") else { return };
    if !matches!(expectation.get("value"), Some(Value::Object(_) | Value::Array(_))) {
        return;
    }
    let Some(value) = expectation.remove("value") else { return };
    let serialized = serde_json::json!({
        "serialization_format": "JSON_FORMAT",
        "value": crate::traces::python_json(&as_protobuf_value(value)),
    });
    expectation.insert("serialized_value".into(), serialized);
}

/// The value as it is after passing through protobuf's `Value`, as the reference's does:
/// every number is a double (`2` is written `2.0`).
fn as_protobuf_value(value: Value) -> Value {
    match value {
        Value::Number(n) => n.as_f64().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number),
        Value::Array(items) => Value::Array(items.into_iter().map(as_protobuf_value).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, as_protobuf_value(v))).collect()),
        other => other,
    }
}

/// Builds a new assessment for `trace_id` from the client's body: assigns an `a-` id unless
/// one was given (StartTraceV3 carries client-made ids), fills times and `valid`.
pub fn new_assessment(trace_id: &TraceId, mut body: Map<String, Value>, keep_id: bool) -> Result<Assessment> {
    let name = body
        .get("assessment_name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid("Missing value for required parameter 'assessment_name'."))?
        .to_string();
    let kind = kind_of(&body)?;
    serialize_expectation_value(&mut body);
    let source_ok = body.get("source").and_then(Value::as_object).is_some_and(|s| s.contains_key("source_type"));
    if !source_ok {
        return Err(Error::invalid("Missing value for required parameter 'source' (with 'source_type')."));
    }
    let assessment_id = match body.get("assessment_id").and_then(Value::as_str) {
        Some(id) if keep_id && !id.is_empty() => id.to_string(),
        _ => ids::new_assessment_id(),
    };
    let now = time::now_millis();
    let create_time = time_field(&body, "create_time").unwrap_or(now);
    let last_update_time = time_field(&body, "last_update_time").unwrap_or(create_time);
    let valid = body.get("valid").and_then(Value::as_bool).unwrap_or(true);
    let overrides = body.get("overrides").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    body.insert("assessment_id".into(), Value::String(assessment_id.clone()));
    body.insert("trace_id".into(), Value::String(trace_id.to_string()));
    body.insert("create_time".into(), Value::String(time::millis_to_rfc3339(create_time)));
    body.insert("last_update_time".into(), Value::String(time::millis_to_rfc3339(last_update_time)));
    body.insert("valid".into(), Value::Bool(valid));
    Ok(Assessment {
        value_text: value_text(&body),
        assessment_id,
        trace_id: trace_id.clone(),
        name,
        kind,
        valid,
        overrides,
        create_time,
        last_update_time,
        body,
    })
}

/// `assessmentName` → `assessment_name`: field masks name fields in lowerCamelCase.
fn snake_case(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Applies an update: the fields named by `update_mask` (all given fields when it is empty)
/// replace the stored ones; ids and creation time stay; the update time moves on.
pub fn apply_update(existing: &Assessment, changes: &Map<String, Value>, update_mask: &str) -> Result<Assessment> {
    const FIXED: &[&str] = &["assessment_id", "trace_id", "create_time"];
    let mut body = existing.body.clone();
    let fields: Vec<String> = if update_mask.trim().is_empty() {
        changes.keys().cloned().collect()
    } else {
        update_mask.split(',').map(|p| snake_case(p.trim())).filter(|p| !p.is_empty()).collect()
    };
    for field in fields {
        if FIXED.contains(&field.as_str()) {
            continue;
        }
        match changes.get(&field) {
            Some(value) => {
                // A feedback replaces an expectation and the other way round.
                if field == "feedback" {
                    body.remove("expectation");
                } else if field == "expectation" {
                    body.remove("feedback");
                }
                body.insert(field, value.clone());
            }
            None => {
                body.remove(&field);
            }
        }
    }
    let now = time::now_millis().max(existing.last_update_time);
    body.insert("last_update_time".into(), Value::String(time::millis_to_rfc3339(now)));
    let name = body
        .get("assessment_name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid("An assessment must keep its 'assessment_name'."))?
        .to_string();
    let kind = kind_of(&body)?;
    serialize_expectation_value(&mut body);
    let valid = body.get("valid").and_then(Value::as_bool).unwrap_or(existing.valid);
    Ok(Assessment {
        assessment_id: existing.assessment_id.clone(),
        trace_id: existing.trace_id.clone(),
        name,
        kind,
        value_text: value_text(&body),
        valid,
        overrides: existing.overrides.clone(),
        create_time: existing.create_time,
        last_update_time: now,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn new_feedback_gets_server_fields() {
        let a = new_assessment(
            &TraceId::from_stored("tr-1"),
            body(json!({"assessment_name": "helpful", "source": {"source_type": "HUMAN", "source_id": "x"},
                        "feedback": {"value": true}, "assessment_id": "a-client"})),
            false,
        )
        .unwrap();
        assert!(a.assessment_id.starts_with("a-") && a.assessment_id != "a-client");
        assert_eq!(a.kind, AssessmentKind::Feedback);
        assert_eq!(a.value_text.as_deref(), Some("true"));
        assert_eq!(a.body["valid"], json!(true));
        assert_eq!(a.body["trace_id"], json!("tr-1"));
    }

    #[test]
    fn expectation_lists_use_serialized_values() {
        let a = new_assessment(
            &TraceId::from_stored("tr-1"),
            body(json!({"assessment_name": "facts", "source": {"source_type": "HUMAN"},
                        "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT", "value": "[\"a\"]"}}})),
            true,
        )
        .unwrap();
        assert_eq!(a.kind, AssessmentKind::Expectation);
        assert_eq!(a.value_text.as_deref(), Some("[\"a\"]"));
    }

    #[test]
    fn expectation_objects_become_serialized_values() {
        let a = new_assessment(
            &TraceId::from_stored("tr-1"),
            body(json!({"assessment_name": "facts", "source": {"source_type": "HUMAN"},
                        "expectation": {"value": {"k": [1, 2.5], "s": "x"}}})),
            true,
        )
        .unwrap();
        assert_eq!(
            a.body["expectation"],
            json!({"serialized_value": {"serialization_format": "JSON_FORMAT", "value": "{\"k\": [1.0, 2.5], \"s\": \"x\"}"}})
        );
        // Primitives stay as they are.
        let b = new_assessment(
            &TraceId::from_stored("tr-1"),
            body(json!({"assessment_name": "n", "source": {"source_type": "HUMAN"}, "expectation": {"value": 3}})),
            true,
        )
        .unwrap();
        assert_eq!(b.body["expectation"], json!({"value": 3}));
    }

    #[test]
    fn missing_parts_are_rejected() {
        assert!(new_assessment(
            &TraceId::from_stored("t"),
            body(json!({"source": {"source_type": "HUMAN"}, "feedback": {"value": 1}})),
            false
        )
        .is_err());
        assert!(new_assessment(
            &TraceId::from_stored("t"),
            body(json!({"assessment_name": "x", "feedback": {"value": 1}})),
            false
        )
        .is_err());
        assert!(new_assessment(
            &TraceId::from_stored("t"),
            body(json!({"assessment_name": "x", "source": {"source_type": "CODE"}})),
            false
        )
        .is_err());
    }

    #[test]
    fn updates_follow_the_mask() {
        let a = new_assessment(
            &TraceId::from_stored("tr-1"),
            body(json!({"assessment_name": "q", "source": {"source_type": "CODE"}, "feedback": {"value": 1.0}, "rationale": "old"})),
            false,
        )
        .unwrap();
        let changes = body(
            json!({"assessment_name": "q2", "feedback": {"value": 0.5}, "rationale": "new", "metadata": {"k": "v"}}),
        );
        let updated = apply_update(&a, &changes, "assessmentName,feedback,rationale").unwrap();
        assert_eq!(updated.name, "q2");
        assert_eq!(updated.body["rationale"], json!("new"));
        assert!(!updated.body.contains_key("metadata"));
        assert_eq!(updated.value_text.as_deref(), Some("0.5"));
        assert_eq!(updated.assessment_id, a.assessment_id);
    }
}
