//! `ferroflow check`: an agent against the ResponsesAgent checklist, item by item.
//!
//! The target is a served agent, named by its endpoint (`http://host:port`) or by a
//! `models:/name@alias` URI (its logged model gives the endpoint and the signature). Each item
//! is ✓ (passed), ✗ (failed, with the reason) or – (not checkable for this target, with what
//! would make it checkable):
//!
//! 1. **input key** — a request with `input` is answered; one without it (`messages`) is
//!    refused with a 4xx.
//! 2. **response** — the answer is a well-formed ResponsesAgentResponse: `object: "response"`
//!    and a non-empty `output` of items, each of a known shape for its `type`.
//! 3. **stream** — `"stream": true` answers server-sent events, each a JSON event with a
//!    `type`, deltas with `item_id` and `delta`, `response.output_item.done` with an `item`, at
//!    least one finished item, no error event, and the closing `[DONE]`.
//! 4. **signature** — (models:/ only) the logged model's `MLmodel` has a signature, and it is
//!    the one MLflow infers for a ResponsesAgent (not written by hand).
//! 5. **trace** — (needs the tracking server, `MLFLOW_TRACKING_URI`) invoking returns a trace
//!    id (`x-mlflow-return-trace-id`) whose trace is on the server with an AGENT root span, and
//!    a TOOL span for each tool call the answer shows.
//! 6. **failing tool** — (needs `failing_question`, a question that makes a data tool fail)
//!    the trace shows a TOOL span in error, the tool's `function_call_output` carries the error,
//!    and the answer says the data is unavailable instead of answering.

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::agent::ResponsesAgentResponse;
use crate::config::Config;
use crate::genai::TraceSpan;
use crate::http::HttpClient;
use crate::models::{signature, Models};

/// Words an answer that admits missing data uses.
const UNAVAILABLE_WORDS: &[&str] = &[
    "unavailable",
    "not available",
    "could not",
    "couldn't",
    "cannot",
    "can't",
    "unable",
    "failed",
    "error",
    "no data",
    "don't have",
    "do not have",
];

/// What to ask the agent.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// An ordinary question (items 1–5).
    pub question: String,
    /// A question that makes one of the agent's data tools fail (item 6); `None` skips it.
    pub failing_question: Option<String>,
    /// How long to wait for a trace to reach the tracking server.
    pub trace_timeout: Duration,
    /// The tracking server (for `models:/` targets and the trace items).
    pub config: Config,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            question: "Hello!".to_string(),
            failing_question: None,
            trace_timeout: Duration::from_secs(15),
            config: Config::from_env(),
        }
    }
}

/// The outcome of one item.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    Fail,
    Skipped,
}

/// One checklist item and why it came out as it did.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckItem {
    pub name: &'static str,
    pub outcome: Outcome,
    pub reason: String,
}

/// Every item, in the checklist's order.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    pub target: String,
    pub endpoint: Option<String>,
    pub items: Vec<CheckItem>,
}

impl CheckReport {
    /// Whether no item failed.
    pub fn passed(&self) -> bool {
        self.items.iter().all(|item| item.outcome != Outcome::Fail)
    }

    pub fn item(&self, name: &str) -> Option<&CheckItem> {
        self.items.iter().find(|item| item.name == name)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "checking {}", self.target)?;
        if let Some(endpoint) = &self.endpoint {
            writeln!(f, "  endpoint {endpoint}")?;
        }
        for item in &self.items {
            let mark = match item.outcome {
                Outcome::Pass => "✓",
                Outcome::Fail => "✗",
                Outcome::Skipped => "–",
            };
            writeln!(f, "{mark} {}: {}", item.name, item.reason)?;
        }
        let failed = self.items.iter().filter(|item| item.outcome == Outcome::Fail).count();
        if failed == 0 {
            write!(f, "all checks passed")
        } else {
            write!(f, "{failed} check(s) failed")
        }
    }
}

/// Item names.
pub const INPUT_KEY: &str = "request uses the `input` key";
pub const RESPONSE: &str = "response is a well-formed ResponsesAgentResponse";
pub const STREAM: &str = "streaming events are well-formed";
pub const SIGNATURE: &str = "signature is present and auto-inferred";
pub const TRACE: &str = "invoking produces a trace with the expected span types";
pub const FAILING_TOOL: &str = "a data tool that fails says so instead of answering";

fn pass(name: &'static str, reason: impl Into<String>) -> CheckItem {
    CheckItem { name, outcome: Outcome::Pass, reason: reason.into() }
}

fn fail(name: &'static str, reason: impl Into<String>) -> CheckItem {
    CheckItem { name, outcome: Outcome::Fail, reason: reason.into() }
}

fn skip(name: &'static str, reason: impl Into<String>) -> CheckItem {
    CheckItem { name, outcome: Outcome::Skipped, reason: reason.into() }
}

/// Checks the agent at `target` (`models:/…` or `http(s)://…`).
pub async fn run(target: &str, options: &CheckOptions) -> CheckReport {
    let mut report = CheckReport { target: target.to_string(), endpoint: None, items: Vec::new() };
    let mut mlmodel: Result<Option<Value>, String> = Err("the target is an endpoint, not a logged model".into());
    let endpoint = if target.starts_with("http://") || target.starts_with("https://") {
        target.trim_end_matches('/').to_string()
    } else {
        let resolved = async {
            let models = Models::new(&options.config).map_err(|e| e.to_string())?;
            let logged = models.resolve(target).await.map_err(|e| e.to_string())?;
            let endpoint = logged
                .endpoint()
                .ok_or_else(|| format!("logged model {} has no serving endpoint tag", logged.model_id))?
                .to_string();
            mlmodel = models.get_mlmodel(&logged).await.map_err(|e| e.to_string());
            Ok::<_, String>(endpoint)
        }
        .await;
        match resolved {
            Ok(endpoint) => endpoint,
            Err(reason) => {
                for name in [INPUT_KEY, RESPONSE, STREAM, SIGNATURE, TRACE, FAILING_TOOL] {
                    report.items.push(fail(name, format!("cannot resolve {target}: {reason}")));
                }
                return report;
            }
        }
    };
    report.endpoint = Some(endpoint.clone());
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap_or_default();
    let tracking = HttpClient::new(&options.config).ok();

    let message = |text: &str| json!([{"role": "user", "content": text}]);
    let answer = invoke(&http, &endpoint, &json!({"input": message(&options.question)})).await;
    report.items.push(check_input_key(&http, &endpoint, &answer, &options.question).await);
    report.items.push(check_response(&answer));
    report
        .items
        .push(check_stream(&http, &endpoint, &json!({"input": message(&options.question), "stream": true})).await);
    report.items.push(match &mlmodel {
        _ if !target.starts_with("models:/") => {
            skip(SIGNATURE, "an endpoint has no logged model: check models:/<name>@<alias> to check its signature")
        }
        Ok(model) => check_signature(model.as_ref()),
        Err(reason) => fail(SIGNATURE, format!("cannot read the logged model's MLmodel: {reason}")),
    });
    report.items.push(match &tracking {
        None => skip(TRACE, "no tracking server: set MLFLOW_TRACKING_URI to the server the agent traces into"),
        Some(tracking) => {
            check_trace(tracking, &answer, options.trace_timeout).await.unwrap_or_else(|r| fail(TRACE, r))
        }
    });
    report.items.push(match (&options.failing_question, &tracking) {
        (None, _) => skip(FAILING_TOOL, "give a question that makes a data tool fail (--failing-question)"),
        (Some(_), None) => skip(FAILING_TOOL, "no tracking server: set MLFLOW_TRACKING_URI to read the agent's trace"),
        (Some(question), Some(tracking)) => {
            let answer = invoke(&http, &endpoint, &json!({"input": message(question)})).await;
            check_failing_tool(tracking, &answer, options.trace_timeout).await.unwrap_or_else(|r| fail(FAILING_TOOL, r))
        }
    });
    report
}

/// An answer: HTTP status and the body as JSON (or the error).
type Answer = Result<(u16, Value), String>;

async fn invoke(http: &reqwest::Client, endpoint: &str, body: &Value) -> Answer {
    let response = http
        .post(format!("{endpoint}/invocations"))
        .header(crate::serve::RETURN_TRACE_HEADER, "true")
        .json(body)
        .send()
        .await
        .map_err(|err| format!("POST {endpoint}/invocations failed: {err}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|err| format!("reading the answer failed: {err}"))?;
    let value = serde_json::from_slice(&bytes).map_err(|_| {
        format!("HTTP {status}, not JSON: {}", String::from_utf8_lossy(&bytes).chars().take(200).collect::<String>())
    })?;
    Ok((status, value))
}

async fn check_input_key(http: &reqwest::Client, endpoint: &str, answer: &Answer, question: &str) -> CheckItem {
    match answer {
        Ok((status, _)) if (200..300).contains(status) => {}
        Ok((status, body)) => return fail(INPUT_KEY, format!("a request with `input` got HTTP {status}: {body}")),
        Err(reason) => return fail(INPUT_KEY, format!("a request with `input` failed: {reason}")),
    }
    match invoke(http, endpoint, &json!({"messages": [{"role": "user", "content": question}]})).await {
        Ok((status, _)) if (400..500).contains(&status) => {
            pass(INPUT_KEY, format!("`input` is answered; `messages` without `input` is refused (HTTP {status})"))
        }
        Ok((status, _)) => {
            fail(INPUT_KEY, format!("a request without `input` (`messages`) was answered with HTTP {status}"))
        }
        Err(reason) => fail(INPUT_KEY, format!("a request without `input` was not refused cleanly: {reason}")),
    }
}

/// Why an output item is malformed, if it is.
fn item_problem(item: &Value) -> Option<String> {
    let kind = item.get("type").and_then(Value::as_str)?;
    let has_str = |key: &str| item.get(key).is_some_and(Value::is_string);
    match kind {
        "message" => {
            if !has_str("role") {
                return Some("a message item has no `role`".into());
            }
            match item.get("content") {
                Some(Value::String(_)) => None,
                Some(Value::Array(parts)) if parts.iter().all(|p| p.get("type").is_some_and(Value::is_string)) => None,
                _ => Some("a message item's `content` is not text or a list of typed parts".into()),
            }
        }
        "function_call" if !(has_str("call_id") && has_str("name") && has_str("arguments")) => {
            Some("a function_call item lacks `call_id`, `name` or `arguments`".into())
        }
        "function_call_output" if !(has_str("call_id") && has_str("output")) => {
            Some("a function_call_output item lacks `call_id` or `output`".into())
        }
        _ => None,
    }
}

fn check_response(answer: &Answer) -> CheckItem {
    let body = match answer {
        Ok((200..=299, body)) => body,
        Ok((status, body)) => return fail(RESPONSE, format!("HTTP {status}: {body}")),
        Err(reason) => return fail(RESPONSE, reason.clone()),
    };
    if body.get("object").and_then(Value::as_str) != Some("response") {
        return fail(
            RESPONSE,
            format!("`object` is {} instead of \"response\"", body.get("object").unwrap_or(&Value::Null)),
        );
    }
    let Some(output) = body.get("output").and_then(Value::as_array) else {
        return fail(RESPONSE, "the answer has no `output` list");
    };
    if output.is_empty() {
        return fail(RESPONSE, "`output` is empty: the agent answered nothing");
    }
    for item in output {
        if item.get("type").and_then(Value::as_str).is_none() {
            return fail(RESPONSE, format!("an output item has no `type`: {item}"));
        }
        if let Some(problem) = item_problem(item) {
            return fail(RESPONSE, problem);
        }
    }
    if let Err(err) = serde_json::from_value::<ResponsesAgentResponse>(body.clone()) {
        return fail(RESPONSE, format!("not a ResponsesAgentResponse: {err}"));
    }
    let kinds: Vec<&str> = output.iter().filter_map(|i| i["type"].as_str()).collect();
    pass(RESPONSE, format!("object \"response\", output items {kinds:?}"))
}

async fn check_stream(http: &reqwest::Client, endpoint: &str, body: &Value) -> CheckItem {
    let response = match http.post(format!("{endpoint}/invocations")).json(body).send().await {
        Ok(response) => response,
        Err(err) => return fail(STREAM, format!("the streaming request failed: {err}")),
    };
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let text = response.text().await.unwrap_or_default();
    if status != 200 {
        return fail(STREAM, format!("HTTP {status}: {}", text.chars().take(200).collect::<String>()));
    }
    if !content_type.starts_with("text/event-stream") {
        return fail(STREAM, format!("content type {content_type:?} is not text/event-stream"));
    }
    let data: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("data:")).map(str::trim).collect();
    if data.last() != Some(&"[DONE]") {
        return fail(STREAM, "the stream does not end with `data: [DONE]`");
    }
    let (mut deltas, mut done) = (0, 0);
    for (i, raw) in data[..data.len() - 1].iter().enumerate() {
        let Ok(event) = serde_json::from_str::<Value>(raw) else {
            return fail(STREAM, format!("event {i} is not JSON: {raw}"));
        };
        if let Some(error) = event.get("error") {
            return fail(STREAM, format!("event {i} is an error: {error}"));
        }
        if event.get("trace_id").is_some() && event.get("type").is_none() {
            continue;
        }
        let Some(kind) = event.get("type").and_then(Value::as_str) else {
            return fail(STREAM, format!("event {i} has no `type`: {raw}"));
        };
        match kind {
            "response.output_text.delta" => {
                if !event.get("item_id").is_some_and(Value::is_string)
                    || !event.get("delta").is_some_and(Value::is_string)
                {
                    return fail(STREAM, format!("delta event {i} lacks `item_id` or `delta`: {raw}"));
                }
                deltas += 1;
            }
            "response.output_item.done" => {
                let Some(item) = event.get("item").filter(|item| item.get("type").is_some()) else {
                    return fail(STREAM, format!("output_item.done event {i} has no typed `item`: {raw}"));
                };
                if let Some(problem) = item_problem(item) {
                    return fail(STREAM, format!("event {i}: {problem}"));
                }
                done += 1;
            }
            _ => {}
        }
    }
    if done == 0 {
        return fail(STREAM, "no `response.output_item.done` event: the stream finished no item");
    }
    pass(STREAM, format!("{} events ({deltas} text deltas, {done} finished items), then [DONE]", data.len() - 1))
}

fn check_signature(mlmodel: Option<&Value>) -> CheckItem {
    let Some(model) = mlmodel else {
        return fail(SIGNATURE, "the logged model has no MLmodel");
    };
    let Some(found) = model.get("signature").filter(|s| !s.is_null()) else {
        return fail(SIGNATURE, "the logged model has no signature");
    };
    let expected = signature::responses_agent_signature();
    let parse = |key: &str| found.get(key).and_then(Value::as_str).and_then(|t| serde_json::from_str::<Value>(t).ok());
    let same = |text: &str, key: &str| serde_json::from_str::<Value>(text).ok() == parse(key);
    match (same(&expected.inputs, "inputs"), same(&expected.outputs, "outputs")) {
        (true, true) => pass(SIGNATURE, "the ResponsesAgent signature, as MLflow infers it"),
        (false, _) => {
            fail(SIGNATURE, "the signature's inputs are not the ResponsesAgent's inferred ones (hand-written?)")
        }
        (_, false) => {
            fail(SIGNATURE, "the signature's outputs are not the ResponsesAgent's inferred ones (hand-written?)")
        }
    }
}

/// The trace of an answer, once the server has it (its root span and everything under it).
async fn wait_trace(
    tracking: &HttpClient,
    body: &Value,
    timeout: Duration,
) -> Result<(String, Vec<TraceSpan>), String> {
    let trace_id = body["metadata"]["trace_id"]
        .as_str()
        .ok_or("the answer has no metadata.trace_id although x-mlflow-return-trace-id was sent")?
        .to_string();
    let deadline = Instant::now() + timeout;
    let expected =
        body["output"].as_array().map(|o| o.iter().filter(|i| i["type"] == "function_call").count()).unwrap_or(0);
    loop {
        let spans = crate::genai::trace_spans(tracking, &trace_id).await;
        if let Ok(spans) = &spans {
            let tools = spans.iter().filter(|s| s.span_type == "TOOL").count();
            if spans.iter().any(|s| s.parent_id.is_none()) && tools >= expected {
                return Ok((trace_id, spans.clone()));
            }
        }
        if Instant::now() > deadline {
            return match spans {
                Ok(spans) => Ok((trace_id, spans)),
                Err(err) => Err(format!("trace {trace_id} is not on the tracking server: {err}")),
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn check_trace(tracking: &HttpClient, answer: &Answer, timeout: Duration) -> Result<CheckItem, String> {
    let Ok((200..=299, body)) = answer else {
        return Ok(fail(TRACE, "the agent did not answer, so there is no trace to check"));
    };
    let (trace_id, spans) = wait_trace(tracking, body, timeout).await?;
    let Some(root) = spans.iter().find(|s| s.parent_id.is_none()) else {
        return Ok(fail(TRACE, format!("trace {trace_id} has no root span")));
    };
    if root.span_type != "AGENT" {
        return Ok(fail(TRACE, format!("the root span {:?} is {} instead of AGENT", root.name, root.span_type)));
    }
    let calls =
        body["output"].as_array().map(|o| o.iter().filter(|i| i["type"] == "function_call").count()).unwrap_or(0);
    let tools = spans.iter().filter(|s| s.span_type == "TOOL").count();
    if tools < calls {
        return Ok(fail(
            TRACE,
            format!("the answer shows {calls} tool call(s) but the trace has {tools} TOOL span(s)"),
        ));
    }
    let mut types: Vec<&str> = spans.iter().map(|s| s.span_type.as_str()).collect();
    types.dedup();
    Ok(pass(TRACE, format!("trace {trace_id}: root {:?} AGENT, span types {types:?}", root.name)))
}

async fn check_failing_tool(tracking: &HttpClient, answer: &Answer, timeout: Duration) -> Result<CheckItem, String> {
    let body = match answer {
        Ok((200..=299, body)) => body,
        // Refusing with an error is saying so.
        Ok((status, body)) => return Ok(pass(FAILING_TOOL, format!("the agent refused with HTTP {status}: {body}"))),
        Err(reason) => return Ok(fail(FAILING_TOOL, reason.clone())),
    };
    let (_, spans) = wait_trace(tracking, body, timeout).await?;
    let failed: Vec<&TraceSpan> = spans.iter().filter(|s| s.span_type == "TOOL" && s.is_error()).collect();
    if failed.is_empty() {
        return Ok(fail(
            FAILING_TOOL,
            "the failing question made no TOOL span fail: pick a question the tool cannot answer",
        ));
    }
    let output = body["output"].as_array().cloned().unwrap_or_default();
    let reported = output.iter().filter(|i| i["type"] == "function_call_output").any(|item| {
        let text = item["output"].as_str().unwrap_or_default();
        match serde_json::from_str::<Value>(text) {
            Ok(value) => value.get("error").is_some() || value.get("data_produced") == Some(&Value::Bool(false)),
            Err(_) => text.to_lowercase().contains("error"),
        }
    });
    let answer_text: String = output
        .iter()
        .filter(|i| i["type"] == "message")
        .map(|i| match &i["content"] {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect(),
            _ => String::new(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    let lower = answer_text.to_lowercase();
    let admits = UNAVAILABLE_WORDS.iter().any(|word| lower.contains(word));
    let tool = &failed[0].name;
    match (reported, admits) {
        (true, true) => Ok(pass(FAILING_TOOL, format!("tool {tool:?} failed; the answer says so: {answer_text:?}"))),
        (false, _) => Ok(fail(
            FAILING_TOOL,
            format!("tool {tool:?} failed but no function_call_output carries the error; the answer: {answer_text:?}"),
        )),
        (true, false) => Ok(fail(
            FAILING_TOOL,
            format!("tool {tool:?} failed but the answer does not say the data is unavailable: {answer_text:?}"),
        )),
    }
}
