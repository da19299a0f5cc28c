//! Trace ingest rules: the one path every span takes into the store, whichever route it came
//! by (OTLP over HTTP protobuf or JSON, OTLP over gRPC, the Rust SDK).
//!
//! Spans are grouped by trace; a root span tells the trace's state, time, duration, previews
//! and tags (`mlflow.traceTag.<key>`), which the store applies unless StartTraceV3 already
//! finalized the trace record.

use crate::entities::*;
use crate::ids::{ExperimentId, RunId, TraceId};
use crate::store::Store;
use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;

/// Writes a batch of spans for one experiment: groups them by trace, summarizes roots, and
/// stores everything in one transaction.
pub async fn ingest_spans(
    store: &dyn Store,
    experiment_id: ExperimentId,
    run_id: Option<&RunId>,
    spans: Vec<SpanRecord>,
) -> Result<usize> {
    if spans.is_empty() {
        return Ok(0);
    }
    let count = spans.len();
    let traces = group_by_trace(spans);
    store.ingest_spans(experiment_id, run_id, traces).await?;
    Ok(count)
}

/// Groups spans by trace id, keeping first-seen order, and summarizes each trace's root.
pub fn group_by_trace(spans: Vec<SpanRecord>) -> Vec<TraceSpans> {
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    let mut traces: Vec<TraceSpans> = Vec::new();
    for span in spans {
        let position = *index.entry(span.trace_id.clone()).or_insert_with(|| {
            traces.push(TraceSpans {
                trace_id: span.trace_id.clone(),
                spans: Vec::new(),
                earliest_start_ms: i64::MAX,
                root: None,
            });
            traces.len() - 1
        });
        let trace = &mut traces[position];
        trace.earliest_start_ms = trace.earliest_start_ms.min(span.start_time_ns / 1_000_000);
        if span.is_root() {
            trace.root = Some(root_summary(&span));
        }
        trace.spans.push(span);
    }
    traces
}

/// What a root span says about its trace.
pub fn root_summary(root: &SpanRecord) -> RootSummary {
    let state = match root.status {
        SpanStatus::Error => TraceState::Error,
        SpanStatus::Ok | SpanStatus::Unset => TraceState::Ok,
    };
    let preview = |text: &Option<String>| text.as_deref().map(|text| truncate_chars(text, PREVIEW_MAX_CHARS));
    let mut tags = Vec::new();
    for (key, value) in &root.attributes {
        if let Some(tag) = key.strip_prefix("mlflow.traceTag.") {
            if !SYSTEM_TRACE_TAGS.contains(&tag) {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                tags.push((tag.to_string(), text));
            }
        }
    }
    let mut metadata = Vec::new();
    for (attribute, key) in [("session.id", META_TRACE_SESSION), ("user.id", META_TRACE_USER)] {
        if let Some(Value::String(value)) = root.attribute(attribute) {
            metadata.push((key.to_string(), value.clone()));
        }
    }
    RootSummary {
        request_time: root.start_time_ns / 1_000_000,
        // Both ends in whole milliseconds first, as the reference does: a 0.7 ms root that
        // crosses a millisecond boundary lasted 1 ms, as the request time plus the duration
        // must give the end's millisecond.
        execution_duration: (root.end_time_ns / 1_000_000 - root.start_time_ns / 1_000_000).max(0),
        state,
        request_preview: preview(&root.inputs_text),
        response_preview: preview(&root.outputs_text),
        tags,
        metadata,
    }
}

/// MLflow's canonical form of an attribute that arrived as an OTLP string: producers that
/// write MLflow's internal representation send every value as JSON text, so one layer is
/// removed when the text is JSON for a string, object or array. Numbers and booleans inside
/// strings stay strings, as in the reference server.
pub fn canonical_string_attribute(text: String) -> Value {
    let first = text.trim_start().chars().next();
    if !matches!(first, Some('"') | Some('{') | Some('[')) {
        return Value::String(text);
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(parsed @ (Value::String(_) | Value::Object(_) | Value::Array(_))) => parsed,
        _ => Value::String(text),
    }
}

/// Token counts from an `mlflow.chat.tokenUsage` value.
pub fn token_usage(value: &Value) -> Option<TokenUsage> {
    let object = value.as_object()?;
    let get = |key: &str| object.get(key).and_then(Value::as_i64).unwrap_or(0);
    let usage = TokenUsage {
        input_tokens: get("input_tokens"),
        output_tokens: get("output_tokens"),
        total_tokens: get("total_tokens"),
    };
    Some(usage)
}

/// The entries of the trace's `mlflow.linkedPrompts` tag after linking `prompts` (`(name,
/// version)` pairs): the entries of `current` (the tag's value, if any) in their order, then
/// each pair not among them yet. A version is compared as text, whether the stored entry holds
/// it as a string or a number. A value that is not a JSON list is an error rather than being
/// overwritten. Writing the list back as text is the caller's (a wire encoding: the server
/// writes it as Python's JSON).
pub fn merge_linked_prompts(current: Option<&str>, prompts: &[(String, String)]) -> Result<Vec<Value>> {
    let mut entries: Vec<Value> = match current {
        Some(text) => serde_json::from_str(text).map_err(|_| {
            Error::invalid(format!("The trace's '{TAG_LINKED_PROMPTS}' tag is not a JSON list: '{text}'"))
        })?,
        None => Vec::new(),
    };
    for (name, version) in prompts {
        let present = entries.iter().any(|entry| {
            let stored_version =
                entry.get("version").map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            entry.get("name").and_then(Value::as_str) == Some(name) && stored_version.as_deref() == Some(version)
        });
        if !present {
            entries.push(serde_json::json!({"name": name, "version": version}));
        }
    }
    Ok(entries)
}

/// The first `max` characters of `text`.
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((byte, _)) => text[..byte].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn linked_prompts_merge_keeps_order_and_skips_known_pairs() {
        use super::merge_linked_prompts;
        use serde_json::json;
        let pair = |name: &str, version: &str| (name.to_string(), version.to_string());
        let first = merge_linked_prompts(None, &[pair("a", "1"), pair("b", "2"), pair("a", "1")]).unwrap();
        assert_eq!(first, [json!({"name": "a", "version": "1"}), json!({"name": "b", "version": "2"})]);
        // A number version stored by another writer is the same version as its text.
        let stored = r#"[{"name": "a", "version": 1}]"#;
        let merged = merge_linked_prompts(Some(stored), &[pair("a", "1"), pair("a", "2")]).unwrap();
        assert_eq!(merged, [json!({"name": "a", "version": 1}), json!({"name": "a", "version": "2"})]);
        assert!(merge_linked_prompts(Some("not json"), &[pair("a", "1")]).is_err());
        assert!(merge_linked_prompts(Some(r#"{"name": "a"}"#), &[pair("a", "1")]).is_err());
    }

    use super::*;
    use serde_json::json;

    fn span(id: &str, parent: Option<&str>, attributes: Value) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_stored("tr-1"),
            span_id: crate::ids::SpanId::from_stored(id),
            parent_span_id: parent.map(crate::ids::SpanId::from_stored),
            name: id.into(),
            span_type: None,
            status: SpanStatus::Ok,
            status_message: String::new(),
            start_time_ns: 2_000_000_000,
            end_time_ns: 2_500_000_000,
            attributes: attributes.as_object().cloned().unwrap_or_default(),
            token_usage: None,
            kind: SpanKind::Internal,
            inputs_text: None,
            outputs_text: None,
            trace_state: None,
            events: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn canonical_strings() {
        assert_eq!(canonical_string_attribute("\"LLM\"".into()), json!("LLM"));
        assert_eq!(canonical_string_attribute("{\"prompt\": \"hi\"}".into()), json!({"prompt": "hi"}));
        assert_eq!(canonical_string_attribute("[1, 2]".into()), json!([1, 2]));
        assert_eq!(canonical_string_attribute("20".into()), json!("20"));
        assert_eq!(canonical_string_attribute("true".into()), json!("true"));
        assert_eq!(canonical_string_attribute("plain text".into()), json!("plain text"));
        assert_eq!(canonical_string_attribute("{not json".into()), json!("{not json"));
    }

    #[test]
    fn root_summary_from_attributes() {
        let mut root = span(
            "a",
            None,
            json!({"mlflow.spanInputs": {"q": "x"}, "mlflow.spanOutputs": "y", "mlflow.traceTag.env": "prod",
                   "mlflow.traceTag.mlflow.artifactLocation": "nope", "session.id": "s1"}),
        );
        root.inputs_text = Some(r#"{"q": "x"}"#.to_string());
        root.outputs_text = Some("y".repeat(PREVIEW_MAX_CHARS + 5));
        let summary = root_summary(&root);
        assert_eq!(summary.request_time, 2000);
        assert_eq!(summary.execution_duration, 500);
        assert_eq!(summary.state, TraceState::Ok);
        assert_eq!(summary.request_preview.as_deref(), Some(r#"{"q": "x"}"#));
        assert_eq!(summary.response_preview, Some("y".repeat(PREVIEW_MAX_CHARS)));
        assert_eq!(summary.tags, vec![("env".to_string(), "prod".to_string())]);
        // 0.752 ms across a millisecond boundary: 1 ms, both ends floored first.
        (root.start_time_ns, root.end_time_ns) = (2_000_600_000, 2_001_352_000);
        assert_eq!((root_summary(&root).request_time, root_summary(&root).execution_duration), (2000, 1));
        assert_eq!(summary.metadata, vec![(META_TRACE_SESSION.to_string(), "s1".to_string())]);
    }

    #[test]
    fn grouping_keeps_roots_and_earliest_start() {
        let mut child = span("b", Some("a"), json!({}));
        child.start_time_ns = 1_000_000_000;
        let traces = group_by_trace(vec![child, span("a", None, json!({}))]);
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].earliest_start_ms, 1000);
        assert!(traces[0].root.is_some());
        assert_eq!(traces[0].spans.len(), 2);
    }

    #[test]
    fn previews_are_truncated_by_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hi", 5), "hi");
    }
}
