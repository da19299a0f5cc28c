//! `/experiments/{id}/traces/{trace_id}`: the span tree with its waterfall (drawn and windowed
//! by `app.js` from a compact skeleton: ids, parents, names, timings, no bodies), the selected
//! span's details (`?span=`; other spans' details are fetched one at a time from
//! `.../spans/{span_id}`), a chat view for LLM spans, tags, metadata, assessments and the form
//! that adds human feedback through the same core path as the REST API.

use crate::access::Viewer;
use crate::format;
use crate::layout::{self, OrPage, PageResult, UiError};
use crate::pages::experiment_id;
use crate::pages::traces::{assessment_value, tabs, total_tokens};
use crate::Ui;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use ferroflow_core::entities::{Assessment, SpanEvent, SpanStatus, SpanSummary, StoredSpan, TraceInfo};
use ferroflow_core::ids::{SpanId, TraceId};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Deserialize, Default)]
pub struct TraceQuery {
    span: Option<String>,
}

/// The skeleton as the script reads it: `[id, parent index or -1, name, type, status, start µs
/// from the trace's start, duration µs]` per span, in start order.
fn skeleton_json(spans: &[SpanSummary]) -> (String, i64) {
    let index: std::collections::HashMap<&str, usize> =
        spans.iter().enumerate().map(|(i, s)| (s.span_id.as_str(), i)).collect();
    let t0 = spans.iter().map(|s| s.start_time_ns).min().unwrap_or(0);
    let rows: Vec<Value> = spans
        .iter()
        .map(|s| {
            let parent = s.parent_span_id.as_ref().and_then(|p| index.get(p.as_str())).map_or(-1, |&i| i as i64);
            let status = match s.status {
                SpanStatus::Unset => 0,
                SpanStatus::Ok => 1,
                SpanStatus::Error => 2,
            };
            json!([
                s.span_id.as_str(),
                parent,
                s.name,
                s.span_type.as_deref().unwrap_or(""),
                status,
                (s.start_time_ns - t0) / 1000,
                (s.end_time_ns - s.start_time_ns).max(0) / 1000
            ])
        })
        .collect();
    (Value::Array(rows).to_string(), t0)
}

async fn load(ui: &Ui, experiment: &str, trace: &str) -> Result<(TraceInfo, TraceId), UiError> {
    let experiment = experiment_id(ui, experiment)?;
    let trace_id = TraceId::parse(trace).or_page(ui)?;
    let info = ui.store.get_trace_info(&trace_id).await.or_page(ui)?;
    if info.experiment_id != experiment {
        let message = format!("Trace with ID {trace_id} not found in experiment {experiment}.");
        return Err(UiError::new(ui, ferroflow_core::Error::not_found(message)));
    }
    Ok((info, trace_id))
}

pub async fn page(
    State(ui): State<Ui>,
    viewer: Viewer,
    Path((experiment, trace)): Path<(String, String)>,
    Query(query): Query<TraceQuery>,
) -> PageResult {
    let (info, trace_id) = load(&ui, &experiment, &trace).await?;
    let can_edit = viewer.can_edit_experiment(&info.experiment_id.to_string()).await.or_page(&ui)?;
    let skeleton = ui.store.span_skeleton(&trace_id).await.or_page(&ui)?;
    let wanted = query.span.as_deref().filter(|s| !s.is_empty());
    let selected = match wanted {
        Some(span) => Some(SpanId::parse(span).or_page(&ui)?),
        None => skeleton.iter().find(|s| s.parent_span_id.is_none()).or(skeleton.first()).map(|s| s.span_id.clone()),
    };
    let detail = match &selected {
        Some(span_id) => Some(ui.store.get_span(&trace_id, span_id).await.or_page(&ui)?),
        None => None,
    };
    let (skeleton_text, _) = skeleton_json(&skeleton);
    let experiment_text = info.experiment_id.to_string();
    let base = ui.url(&format!("/experiments/{experiment_text}/traces/{trace_id}"));
    let name = info.tag(ferroflow_core::entities::TAG_TRACE_NAME).unwrap_or(trace_id.as_str()).to_string();
    let crumbs = [
        ("Experiments", ui.url("/experiments")),
        ("Traces", ui.url(&format!("/experiments/{experiment_text}/traces"))),
    ];
    let body = html! {
        (tabs(&ui, &experiment_text, "Traces"))
        dl.facts {
            dt { "Trace ID" } dd.mono { (trace_id) }
            dt { "Status" } dd { span.(format!("state {}", info.state.as_str().to_lowercase())) { (info.state.as_str()) } }
            dt { "Started" } dd { (format::when(info.request_time)) }
            @if let Some(ms) = info.execution_duration { dt { "Latency" } dd { (format::duration_ms(ms as f64)) } }
            @if let Some(n) = total_tokens(&info) { dt { "Tokens" } dd { (n) } }
            dt { "Spans" } dd { (skeleton.len()) }
            @if let Some(run) = info.metadata_value(ferroflow_core::entities::META_SOURCE_RUN) {
                dt { "Run" } dd { a href=(ui.url(&format!("/experiments/{experiment_text}/runs/{run}"))) { (run) } }
            }
            @if let Some(prompts) = linked_prompts(&info) {
                dt { "Prompts" } dd {
                    @for (name, version) in prompts {
                        a.chip href=(ui.url(&format!("/prompts/{}", crate::pages::traces::percent(&name)))) { (name) " v" (version) }
                    }
                }
            }
            @if let Some(session) = info.metadata_value(ferroflow_core::entities::META_TRACE_SESSION) {
                dt { "Session" } dd { a href=(ui.url(&format!("/experiments/{experiment_text}/sessions/{}", crate::pages::traces::percent(session)))) { (session) } }
            }
        }
        div.trace-view {
            section.tree-pane aria-label="Span tree" {
                div #span-tree tabindex="0" role="tree" aria-label="Spans"
                    data-base=(base) data-selected=(selected.as_ref().map(|s| s.as_str()).unwrap_or("")) {
                    script #skeleton type="application/json" { (format::json_data_block(&skeleton_text)) }
                    noscript { p { "The span tree needs JavaScript; the selected span is shown beside it." } }
                }
            }
            section #span-detail.detail-pane aria-live="polite" {
                @if let Some(span) = &detail { (span_detail(span)) }
                @else { p.empty { "This trace has no spans yet." } }
            }
        }
        div.columns {
            section {
                h2 { "Assessments" }
                (assessments(&info.assessments))
                h3 { "Add feedback" }
                @if can_edit {
                    form.feedback method="post" action=(format!("{base}/feedback")) {
                        @if let Some(token) = viewer.csrf_token() { input type="hidden" name="csrf" value=(token); }
                        label { "Name" input name="name" value="quality" required; }
                        label { "Value" input name="value" placeholder="true, 0.8 or text" required; }
                        label { "Rationale" textarea name="rationale" rows="2" {} }
                        label { "Your name" input name="source_id" placeholder="reviewer" value=(viewer.username().unwrap_or("")); }
                        button type="submit" { "Save feedback" }
                    }
                } @else {
                    p.empty { "Adding feedback needs EDIT on this experiment." }
                }
            }
            section {
                h2 { "Tags" }
                (pairs(&info.tags))
                h2 { "Metadata" }
                (pairs(&info.metadata))
            }
        }
    };
    Ok(layout::page(&ui, &name, &crumbs, body))
}

/// `(name, version)` of the prompts the trace used (its `mlflow.linkedPrompts` tag).
fn linked_prompts(info: &TraceInfo) -> Option<Vec<(String, String)>> {
    let tag = info.tag(ferroflow_core::entities::TAG_LINKED_PROMPTS)?;
    let items: Vec<Value> = serde_json::from_str(tag).ok()?;
    let pairs: Vec<(String, String)> = items
        .iter()
        .filter_map(|p| {
            let version = match p.get("version")? {
                Value::String(v) => v.clone(),
                other => other.to_string(),
            };
            Some((p.get("name")?.as_str()?.to_string(), version))
        })
        .collect();
    (!pairs.is_empty()).then_some(pairs)
}

fn pairs(items: &[(String, String)]) -> Markup {
    html! {
        @if items.is_empty() { p.empty { "None." } }
        @else {
            table.kv { tbody { @for (k, v) in items { tr { th { (k) } td { (v) } } } } }
        }
    }
}

fn assessments(items: &[Assessment]) -> Markup {
    html! {
        @if items.is_empty() { p.empty { "No assessments yet." } }
        @else {
            ul.assessments {
                @for a in items {
                    @let source = a.body.get("source");
                    li.invalid[!a.valid] {
                        span.chip { (a.kind.as_str()) } " "
                        strong { (a.name) } ": " span.value { (assessment_value(a)) }
                        @if let Some(r) = a.body.get("rationale").and_then(Value::as_str) { p.rationale { (r) } }
                        p.source {
                            (source.and_then(|s| s.get("source_type")).and_then(Value::as_str).unwrap_or(""))
                            @if let Some(id) = source.and_then(|s| s.get("source_id")).and_then(Value::as_str) { " · " (id) }
                            " · " (format::when(a.create_time))
                            @if !a.valid { " · overridden" }
                        }
                    }
                }
            }
        }
    }
}

/// Attributes shown in their own sections rather than in the attribute list.
const SHOWN_APART: &[&str] =
    &["mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.chat.tokenUsage", "mlflow.traceRequestId"];

fn span_detail(span: &StoredSpan) -> Markup {
    let attributes: Map<String, Value> = serde_json::from_str(&span.attributes).unwrap_or_default();
    let get = |key: &str| attributes.get(key).map(format::decoded);
    let span_type = get("mlflow.spanType").and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let inputs = get("mlflow.spanInputs");
    let outputs = get("mlflow.spanOutputs");
    let events = &span.events;
    let chat = if matches!(span_type.as_str(), "LLM" | "CHAT_MODEL") {
        chat_messages(inputs.as_ref(), outputs.as_ref())
    } else {
        Vec::new()
    };
    let rest: Map<String, Value> = attributes
        .iter()
        .filter(|(k, _)| !SHOWN_APART.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), format::decoded(v)))
        .collect();
    let duration = (span.end_time_ns - span.start_time_ns) as f64 / 1e6;
    html! {
        h2.span-name { (span.name) }
        p.span-meta {
            @if !span_type.is_empty() { span.chip { (span_type) } " " }
            span.(format!("state {}", span.status.as_str().to_lowercase())) { (span.status.as_str()) }
            " · " (format::duration_ms(duration)) " · " span.mono { (span.span_id) }
        }
        @if !span.status_message.is_empty() { p.error { (span.status_message) } }
        @if let Some(usage) = get("mlflow.chat.tokenUsage") {
            p.tokens { "Tokens: "
                @for (k, v) in usage.as_object().into_iter().flatten() { span.chip { (k) " " (v.to_string()) } " " }
            }
        }
        @if !chat.is_empty() {
            h3 { "Conversation" }
            div.chat {
                @for m in &chat { (m) }
            }
        }
        h3 { "Inputs" }
        @if let Some(v) = &inputs { (format::json(v)) } @else { p.empty { "None." } }
        h3 { "Outputs" }
        @if let Some(v) = &outputs { (format::json(v)) } @else { p.empty { "None." } }
        @let exceptions: Vec<&SpanEvent> = events.iter().filter(|e| e.name == "exception").collect();
        @if !exceptions.is_empty() {
            h3 { "Exceptions" }
            @for e in exceptions {
                @let attrs = event_attributes(e);
                div.exception {
                    strong { (attrs.get("exception.type").and_then(Value::as_str).unwrap_or("Exception")) } ": "
                    (attrs.get("exception.message").and_then(Value::as_str).unwrap_or(""))
                    @if let Some(trace) = attrs.get("exception.stacktrace").and_then(Value::as_str) { pre { (trace) } }
                }
            }
        }
        h3 { "Attributes" }
        (format::json(&Value::Object(rest)))
        @if !events.is_empty() {
            h3 { "Events" }
            @let readable: Vec<Value> = events.iter().map(|e| json!({"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": event_attributes(e)})).collect();
            (format::json(&Value::Array(readable)))
        }
    }
}

/// An event's attributes as one object (a repeated key shows its last value).
fn event_attributes(event: &SpanEvent) -> Value {
    Value::Object(event.attributes.iter().cloned().collect())
}

/// Text of a message's content: a string, or the text parts of a list.
fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or(p.as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn message(role: &str, text: &str, tool_calls: &[Value]) -> Markup {
    html! {
        div.(format!("msg role-{}", role.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>())) {
            div.role { (role) }
            @if !text.is_empty() { div.text { (text) } }
            @for call in tool_calls {
                @let function = call.get("function").unwrap_or(call);
                div.tool-call {
                    "→ tool call " strong { (function.get("name").and_then(Value::as_str).unwrap_or("?")) }
                    pre { (content_text(function.get("arguments"))) }
                }
            }
        }
    }
}

/// The conversation of an LLM span: chat-completions `messages` in, `choices` (or a message,
/// or Responses-style `output` items) out.
fn chat_messages(inputs: Option<&Value>, outputs: Option<&Value>) -> Vec<Markup> {
    let mut out = Vec::new();
    let listed = |v: &Value| -> Option<Vec<Value>> {
        v.get("messages")
            .or_else(|| v.get("input"))
            .and_then(Value::as_array)
            .cloned()
            .or_else(|| v.as_array().filter(|items| items.iter().all(|m| m.get("role").is_some())).cloned())
    };
    for m in inputs.and_then(listed).unwrap_or_default() {
        let calls = m.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
        let role = m.get("role").and_then(Value::as_str).unwrap_or("message");
        out.push(message(role, &content_text(m.get("content")), &calls));
    }
    if let Some(outputs) = outputs {
        let mut replies: Vec<Value> = outputs
            .get("choices")
            .and_then(Value::as_array)
            .map(|choices| choices.iter().filter_map(|c| c.get("message").cloned()).collect())
            .unwrap_or_default();
        if replies.is_empty() && outputs.get("role").is_some() {
            replies.push(outputs.clone());
        }
        for item in outputs.get("output").and_then(Value::as_array).into_iter().flatten() {
            match item.get("type").and_then(Value::as_str) {
                Some("function_call") => {
                    replies.push(json!({"role": "assistant", "tool_calls": [{"function": {"name": item.get("name"), "arguments": item.get("arguments")}}]}))
                }
                _ if item.get("role").is_some() => replies.push(item.clone()),
                _ => {}
            }
        }
        for m in replies {
            let calls = m.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
            let role = m.get("role").and_then(Value::as_str).unwrap_or("assistant");
            out.push(message(role, &content_text(m.get("content")), &calls));
        }
    }
    out
}

/// The details of one span, as an HTML fragment the tree swaps in.
pub async fn span_fragment(
    State(ui): State<Ui>,
    Path((experiment, trace, span)): Path<(String, String, String)>,
) -> PageResult {
    let (_, trace_id) = load(&ui, &experiment, &trace).await?;
    let span_id = SpanId::parse(&span).or_page(&ui)?;
    let span = ui.store.get_span(&trace_id, &span_id).await.or_page(&ui)?;
    Ok(span_detail(&span))
}

#[derive(Deserialize)]
pub struct FeedbackForm {
    name: String,
    value: String,
    #[serde(default)]
    rationale: String,
    #[serde(default)]
    source_id: String,
    /// The user's CSRF token, when sign-in is on.
    #[serde(default)]
    csrf: String,
}

/// A value typed in the form: JSON (`true`, `0.8`, `{"a":1}`) when it reads as JSON, text
/// otherwise.
fn typed_value(text: &str) -> Value {
    let text = text.trim();
    match serde_json::from_str::<Value>(text) {
        Ok(value) if !value.is_string() => value,
        _ => Value::String(text.to_string()),
    }
}

/// Adds a HUMAN feedback assessment, built and stored as `POST .../assessments` does, then
/// shows the trace again.
pub async fn add_feedback(
    State(ui): State<Ui>,
    viewer: Viewer,
    Path((experiment, trace)): Path<(String, String)>,
    Form(form): Form<FeedbackForm>,
) -> Result<Response, UiError> {
    viewer.check_csrf(&form.csrf).or_page(&ui)?;
    let (info, trace_id) = load(&ui, &experiment, &trace).await?;
    let source_id = if form.source_id.trim().is_empty() { "ui" } else { form.source_id.trim() };
    let mut body = json!({
        "assessment_name": form.name.trim(),
        "source": {"source_type": "HUMAN", "source_id": source_id},
        "feedback": {"value": typed_value(&form.value)},
    });
    if !form.rationale.trim().is_empty() {
        body["rationale"] = Value::String(form.rationale.trim().to_string());
    }
    let body = body.as_object().cloned().unwrap_or_default();
    let assessment = ferroflow_core::assessments::new_assessment(&trace_id, body, false).or_page(&ui)?;
    ui.store.create_assessment(&assessment).await.or_page(&ui)?;
    let back = ui.url(&format!("/experiments/{}/traces/{trace_id}", info.experiment_id));
    Ok(Redirect::to(&back).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_typed_like_json() {
        assert_eq!(typed_value("true"), json!(true));
        assert_eq!(typed_value(" 0.5 "), json!(0.5));
        assert_eq!(typed_value("good answer"), json!("good answer"));
        assert_eq!(typed_value("\"quoted\""), json!("\"quoted\""));
    }

    #[test]
    fn chat_view_reads_messages_choices_and_tool_calls() {
        let inputs = json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi <there>"}]}]});
        let outputs = json!({"choices": [{"message": {"role": "assistant", "content": null,
            "tool_calls": [{"function": {"name": "search", "arguments": "{\"q\": 1}"}}]}}]});
        let html: String = chat_messages(Some(&inputs), Some(&outputs)).into_iter().map(|m| m.0).collect();
        assert!(html.contains("hi &lt;there&gt;"), "{html}");
        assert!(html.contains("role-assistant") && html.contains("<strong>search</strong>"), "{html}");
    }

    #[test]
    fn skeleton_points_children_at_parent_indexes() {
        let span = |id: &str, parent: Option<&str>, start: i64| SpanSummary {
            span_id: SpanId::from_stored(id),
            parent_span_id: parent.map(SpanId::from_stored),
            name: format!("n{id}"),
            span_type: None,
            status: SpanStatus::Ok,
            start_time_ns: start,
            end_time_ns: start + 5000,
            total_tokens: None,
        };
        let (text, t0) =
            skeleton_json(&[span("a", None, 1000), span("b", Some("a"), 3000), span("c", Some("zz"), 4000)]);
        assert_eq!(t0, 1000);
        let rows: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(rows[1], json!(["b", 0, "nb", "", 1, 2, 5]));
        // A parent that never arrived makes the span a root.
        assert_eq!(rows[2][1], json!(-1));
    }
}
