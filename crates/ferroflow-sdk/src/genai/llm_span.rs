//! How one LLM call is traced, whichever client made it (the SDK's own [`super::ChatClient`],
//! the judges through it, or the `async-openai` crate behind the `async-openai` feature): a
//! `CHAT_MODEL` span as MLflow's OpenAI autolog records one.
//!
//! The span is a child of the caller's current span (or the root of a new trace) but never
//! becomes current itself, as autolog's spans are started without context. Its inputs are
//! the request body; every request field but the messages is also an attribute (the call's
//! parameters: `model`, `temperature`, `tools`, …); `mlflow.message.format` is `openai`,
//! `mlflow.chat.tools` the request's tools, `mlflow.llm.model` the model the answer names
//! (else the request's); the outputs are the completion, and its usage is the span's
//! `mlflow.chat.tokenUsage`. A streamed answer is put back together into one completion
//! ([`aggregate_chunks`]) before it is recorded.

use serde_json::{json, Map, Value};

use crate::live::span::Span;
use crate::{SpanType, TokenUsage};

const MESSAGE_FORMAT: &str = "mlflow.message.format";
const CHAT_TOOLS: &str = "mlflow.chat.tools";
const MODEL: &str = "mlflow.llm.model";

/// The span name of a chat-completions call (MLflow names it after the OpenAI client's class).
pub(crate) const CHAT_COMPLETIONS: &str = "Completions";
/// The span name of a Responses API call.
#[cfg(feature = "async-openai")]
pub(crate) const RESPONSES: &str = "Responses";

// Whether LLM calls made by the current task are traced: the evaluation harness turns it off
// for its scorers when scorer tracing is off, so judge calls leave no stray traces.
tokio::task_local! {
    static LLM_TRACING: bool;
}

/// Runs `future` with LLM-call tracing on or off for everything it awaits.
pub(crate) async fn with_llm_tracing<F: std::future::Future>(enabled: bool, future: F) -> F::Output {
    LLM_TRACING.scope(enabled, future).await
}

/// The span of one call, started now (a disabled span when tracing is off).
pub(crate) fn start(name: &'static str, request: &Value) -> Span {
    if !LLM_TRACING.try_with(|on| *on).unwrap_or(true) {
        return Span::disabled();
    }
    let span = crate::tracer::start_detached_span(name, SpanType::ChatModel);
    if !span.is_recording() {
        return span;
    }
    span.set_inputs(request);
    if let Value::Object(fields) = request {
        for (key, value) in fields {
            if key != "messages" && key != "input" {
                span.set_attribute(key.clone(), value);
            }
        }
        if let Some(tools) = fields.get("tools").filter(|tools| tools.as_array().is_some_and(|t| !t.is_empty())) {
            span.set_attribute(CHAT_TOOLS, tools);
        }
        if let Some(model) = fields.get("model").and_then(Value::as_str) {
            span.set_attribute(MODEL, model);
        }
    }
    span.set_attribute(MESSAGE_FORMAT, "openai");
    span
}

/// Records the answer (a chat completion or a Responses API response) and ends the span.
pub(crate) fn finish(span: Span, response: &Value) {
    if !span.is_recording() {
        return;
    }
    span.set_outputs(response);
    if let Some(model) = response.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) {
        span.set_attribute(MODEL, model);
    }
    if let Some(usage) = token_usage(response.get("usage")) {
        span.record_usage(usage);
    }
}

/// Records a failed call and ends the span.
pub(crate) fn fail(span: Span, error: &(impl std::fmt::Display + ?Sized)) {
    span.record_error(error);
}

/// MLflow's token usage from an OpenAI `usage` object (chat completions name the counts
/// `prompt_tokens` / `completion_tokens`, the Responses API `input_tokens` / `output_tokens`).
pub(crate) fn token_usage(usage: Option<&Value>) -> Option<TokenUsage> {
    let usage = usage?;
    let count = |names: [&str; 2]| names.iter().find_map(|name| usage.get(*name).and_then(Value::as_u64));
    let input = count(["prompt_tokens", "input_tokens"]);
    let output = count(["completion_tokens", "output_tokens"]);
    if input.is_none() && output.is_none() {
        return None;
    }
    let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
    let total = usage.get("total_tokens").and_then(Value::as_u64).unwrap_or(input + output);
    Some(TokenUsage { input_tokens: input, output_tokens: output, total_tokens: total })
}

/// The data of server-sent events as their bytes arrive, in any cut: the text of each
/// complete event's `data:` lines, up to `data: [DONE]`.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buffer: Vec<u8>,
    /// `data: [DONE]` was read.
    pub done: bool,
}

impl SseParser {
    /// Adds `bytes`; the data of the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some((length, separator)) = event_end(&self.buffer) {
            let event: Vec<u8> = self.buffer.drain(..length + separator).take(length).collect();
            let text = String::from_utf8_lossy(&event);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|data| data.strip_prefix(' ').unwrap_or(data))
                .collect();
            if data.is_empty() || self.done {
                continue;
            }
            let data = data.join("\n");
            if data.trim() == "[DONE]" {
                self.done = true;
            } else {
                events.push(data);
            }
        }
        events
    }

    /// The end of the body: a last event without its blank line still counts.
    pub fn finish(&mut self) -> Vec<String> {
        self.push(b"\n\n")
    }
}

/// Where the first complete event of a buffer ends: its length and the length of the blank
/// line after it.
fn event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// One chat completion made of the chunks of a streamed answer: each choice's content
/// concatenated, its tool calls assembled by index (arguments concatenated), the last
/// finish reason, and the id, model, creation time and usage the chunks carried.
pub(crate) fn aggregate_chunks(chunks: &[Value]) -> Value {
    struct Choice {
        index: u64,
        role: String,
        content: String,
        has_content: bool,
        tool_calls: Vec<Map<String, Value>>,
        finish_reason: Value,
    }
    let mut choices: Vec<Choice> = Vec::new();
    let mut head = Map::new();
    let mut usage = Value::Null;
    for chunk in chunks {
        for key in ["id", "model", "created", "system_fingerprint"] {
            if let Some(value) = chunk.get(key).filter(|v| !v.is_null()) {
                head.insert(key.to_string(), value.clone());
            }
        }
        if let Some(found) = chunk.get("usage").filter(|u| !u.is_null()) {
            usage = found.clone();
        }
        for delta_choice in chunk.get("choices").and_then(Value::as_array).into_iter().flatten() {
            let index = delta_choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            let position = match choices.iter().position(|c| c.index == index) {
                Some(position) => position,
                None => {
                    choices.push(Choice {
                        index,
                        role: "assistant".into(),
                        content: String::new(),
                        has_content: false,
                        tool_calls: Vec::new(),
                        finish_reason: Value::Null,
                    });
                    choices.len() - 1
                }
            };
            let choice = &mut choices[position];
            if let Some(reason) = delta_choice.get("finish_reason").filter(|r| !r.is_null()) {
                choice.finish_reason = reason.clone();
            }
            let Some(delta) = delta_choice.get("delta") else { continue };
            if let Some(role) = delta.get("role").and_then(Value::as_str) {
                choice.role = role.to_string();
            }
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                choice.content.push_str(text);
                choice.has_content = true;
            }
            for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                merge_tool_call(&mut choice.tool_calls, call);
            }
        }
    }
    let choices: Vec<Value> = choices
        .into_iter()
        .map(|choice| {
            let mut message = json!({"role": choice.role});
            message["content"] = if choice.has_content || choice.tool_calls.is_empty() {
                Value::String(choice.content)
            } else {
                Value::Null
            };
            if !choice.tool_calls.is_empty() {
                message["tool_calls"] = Value::Array(choice.tool_calls.into_iter().map(Value::Object).collect());
            }
            let finish_reason =
                if choice.finish_reason.is_null() { Value::String("stop".into()) } else { choice.finish_reason };
            json!({"index": choice.index, "message": message, "finish_reason": finish_reason})
        })
        .collect();
    let mut completion = head;
    completion.insert("object".into(), Value::String("chat.completion".into()));
    completion.insert("choices".into(), Value::Array(choices));
    if !usage.is_null() {
        completion.insert("usage".into(), usage);
    }
    Value::Object(completion)
}

/// Adds one streamed tool-call delta to the calls assembled so far (matched by `index`).
fn merge_tool_call(calls: &mut Vec<Map<String, Value>>, delta: &Value) {
    let index = delta.get("index").and_then(Value::as_u64).unwrap_or(calls.len() as u64);
    let position = match calls.iter().position(|c| c.get("index").and_then(Value::as_u64) == Some(index)) {
        Some(position) => position,
        None => {
            let mut call = Map::new();
            call.insert("index".into(), json!(index));
            call.insert("type".into(), json!("function"));
            call.insert("function".into(), json!({"name": "", "arguments": ""}));
            calls.push(call);
            calls.len() - 1
        }
    };
    let call = &mut calls[position];
    if let Some(id) = delta.get("id").filter(|v| !v.is_null()) {
        call.insert("id".into(), id.clone());
    }
    if let Some(kind) = delta.get("type").filter(|v| !v.is_null()) {
        call.insert("type".into(), kind.clone());
    }
    if let Some(function) = delta.get("function") {
        let target = call.entry("function").or_insert_with(|| json!({"name": "", "arguments": ""}));
        for key in ["name", "arguments"] {
            if let Some(part) = function.get(key).and_then(Value::as_str) {
                let joined = format!("{}{part}", target[key].as_str().unwrap_or_default());
                target[key] = Value::String(joined);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_chunks_become_one_completion() {
        let chunks = [
            json!({"id": "c1", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
            json!({"id": "c1", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {"content": "lo"}}]}),
            json!({"id": "c1", "model": "m", "created": 1, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"id": "c1", "model": "m", "created": 1, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ];
        let completion = aggregate_chunks(&chunks);
        assert_eq!(
            completion,
            json!({
                "id": "c1", "model": "m", "created": 1, "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            })
        );
        assert_eq!(token_usage(completion.get("usage")), Some(TokenUsage::new(3, 2)));
    }

    #[test]
    fn streamed_tool_calls_are_assembled() {
        let chunks = [
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}}]}),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        ];
        let completion = aggregate_chunks(&chunks);
        let message = &completion["choices"][0]["message"];
        assert_eq!(message["content"], Value::Null);
        assert_eq!(
            message["tool_calls"],
            json!([{"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 1}"}}])
        );
        assert_eq!(completion["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn events_are_read_in_any_cut() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: {\"a\"").is_empty());
        assert_eq!(parser.push(b": 1}\r\n\r\nevent: x\ndata: 2\n\ndata: [DO"), ["{\"a\": 1}", "2"]);
        assert!(!parser.done);
        assert!(parser.push(b"NE]\n\ndata: late\n\n").is_empty());
        assert!(parser.done);
        let mut tail = SseParser::default();
        assert_eq!(tail.push(b"data: 3"), Vec::<String>::new());
        assert_eq!(tail.finish(), ["3"]);
    }

    #[test]
    fn usage_of_both_apis() {
        let responses = json!({"input_tokens": 7, "output_tokens": 4, "total_tokens": 11});
        assert_eq!(token_usage(Some(&responses)), Some(TokenUsage::new(7, 4)));
        assert_eq!(token_usage(Some(&json!({}))), None);
        assert_eq!(token_usage(None), None);
    }
}
