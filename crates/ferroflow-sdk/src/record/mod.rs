//! The leaf of the SDK: what a span *is*, independent of how it is made or sent. MLflow's span
//! types, statuses, events and token usage, the recorded state of a span, the finished record
//! the exporter sends ([`EndedSpan`] → [`SpanRecord`]), the trace-level data sent with a root
//! ([`TraceMeta`]), MLflow's attribute keys, the clock, ids ([`ids`]) and the cheap capture of
//! values ([`capture`]).
//!
//! Nothing here depends on another SDK module: `export` sends these records, `live` fills them
//! in, `tracer` is the API over both.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use self::capture::{Captured, Fields};

pub(crate) mod capture;
pub(crate) mod ids;

/// MLflow's span types (`mlflow.spanType`), plus any type of your own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SpanType {
    Llm,
    ChatModel,
    Chain,
    Agent,
    Tool,
    Retriever,
    Embedding,
    Reranker,
    Parser,
    Memory,
    Evaluator,
    Guardrail,
    Task,
    Workflow,
    Unknown,
    /// A type MLflow does not name, recorded verbatim.
    Custom(Cow<'static, str>),
}

impl SpanType {
    /// The wire spelling (`"LLM"`, `"CHAT_MODEL"`, …).
    pub fn as_str(&self) -> &str {
        match self {
            SpanType::Llm => "LLM",
            SpanType::ChatModel => "CHAT_MODEL",
            SpanType::Chain => "CHAIN",
            SpanType::Agent => "AGENT",
            SpanType::Tool => "TOOL",
            SpanType::Retriever => "RETRIEVER",
            SpanType::Embedding => "EMBEDDING",
            SpanType::Reranker => "RERANKER",
            SpanType::Parser => "PARSER",
            SpanType::Memory => "MEMORY",
            SpanType::Evaluator => "EVALUATOR",
            SpanType::Guardrail => "GUARDRAIL",
            SpanType::Task => "TASK",
            SpanType::Workflow => "WORKFLOW",
            SpanType::Unknown => "UNKNOWN",
            SpanType::Custom(name) => name,
        }
    }

    /// Every type MLflow names, in the order of its docs.
    pub const ALL: [SpanType; 15] = [
        SpanType::Llm,
        SpanType::ChatModel,
        SpanType::Chain,
        SpanType::Agent,
        SpanType::Tool,
        SpanType::Retriever,
        SpanType::Embedding,
        SpanType::Reranker,
        SpanType::Parser,
        SpanType::Memory,
        SpanType::Evaluator,
        SpanType::Guardrail,
        SpanType::Task,
        SpanType::Workflow,
        SpanType::Unknown,
    ];
}

impl fmt::Display for SpanType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status a span ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpanStatus {
    Unset,
    Ok,
    /// `STATUS_CODE_ERROR` with its message (`"Type: message"`, as Python writes it).
    Error(String),
}

/// A span event (`span.add_event`); an error is the event `exception`.
#[derive(Debug, Clone)]
pub(crate) struct SpanEvent {
    pub name: String,
    pub time_unix_nano: u64,
    pub attributes: Vec<(String, Value)>,
}

/// Token counts of one LLM call (`mlflow.chat.tokenUsage`); summed per trace into
/// `mlflow.trace.tokenUsage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

impl TokenUsage {
    pub fn new(input_tokens: u64, output_tokens: u64) -> TokenUsage {
        TokenUsage { input_tokens, output_tokens, total_tokens: input_tokens + output_tokens }
    }

    pub(crate) fn add(&mut self, other: &TokenUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
    }
}

pub(crate) const TOKEN_USAGE_KEY: &str = "mlflow.chat.tokenUsage";

/// The mutable part of a live span.
pub(crate) struct SpanState {
    pub name: Cow<'static, str>,
    pub span_type: SpanType,
    pub function_name: Option<&'static str>,
    pub inputs: Option<Payload>,
    pub outputs: Option<Captured>,
    pub attributes: Vec<(String, Value)>,
    pub events: Vec<SpanEvent>,
    pub status: SpanStatus,
    pub token_usage: Option<TokenUsage>,
}

/// Recorded inputs: a traced function's arguments by name, or one value.
pub(crate) enum Payload {
    Fields(Fields),
    Value(Captured),
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Fields(fields) => fields.serialize(serializer),
            Payload::Value(value) => value.serialize(serializer),
        }
    }
}

/// A span as it ended, queued for the exporter by the caller: its state moved out as it was
/// recorded (scalars, argument fields), turned into a [`SpanRecord`] on the exporter thread.
pub(crate) struct EndedSpan {
    pub trace_id: u128,
    /// The trace's root is another process's (see `TraceShared::remote`).
    pub remote: bool,
    pub span_id: u64,
    pub parent_id: Option<u64>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub state: SpanState,
    /// The trace's data, for the root span (`None` as well when nothing was set on it).
    pub meta: Option<Box<TraceMeta>>,
}

impl EndedSpan {
    pub(crate) fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }

    /// The record the exporter sends, with the trace's data when this is the root.
    pub(crate) fn into_record(self) -> (SpanRecord, Option<TraceMeta>) {
        let state = self.state;
        let meta = self.parent_id.is_none().then(|| self.meta.map(|meta| *meta).unwrap_or_default());
        let record = SpanRecord {
            trace_id: self.trace_id,
            remote: self.remote,
            span_id: self.span_id,
            parent_id: self.parent_id,
            start_unix_nano: self.start_unix_nano,
            end_unix_nano: self.end_unix_nano,
            state: FinishedState {
                name: state.name,
                span_type: state.span_type,
                function_name: state.function_name,
                inputs: state.inputs,
                outputs: state.outputs,
                attributes: state.attributes,
                events: state.events,
                status: match state.status {
                    SpanStatus::Unset => SpanStatus::Ok,
                    status => status,
                },
            },
        };
        (record, meta)
    }
}

/// The state of a finished span, as the exporter sends it.
pub(crate) struct FinishedState {
    pub name: Cow<'static, str>,
    pub span_type: SpanType,
    pub function_name: Option<&'static str>,
    pub inputs: Option<Payload>,
    pub outputs: Option<Captured>,
    pub attributes: Vec<(String, Value)>,
    pub events: Vec<SpanEvent>,
    pub status: SpanStatus,
}

/// A finished span, as the exporter sends it.
pub(crate) struct SpanRecord {
    pub trace_id: u128,
    /// The trace's root is another process's: the exporter keeps no sizes for it.
    pub remote: bool,
    pub span_id: u64,
    pub parent_id: Option<u64>,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
    pub state: FinishedState,
}

pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// The JSON value of anything `Serialize`; a value that fails to serialize is recorded as the
/// text of the failure rather than lost silently.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|err| Value::String(format!("<not serializable: {err}>")))
}

/// Trace-level data, sent with the root span and turned into the trace record.
#[derive(Debug, Clone, Default)]
pub(crate) struct TraceMeta {
    pub tags: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub user: Option<String>,
    pub session: Option<String>,
    pub client_request_id: Option<String>,
    pub token_usage: Option<TokenUsage>,
    /// Prompt versions loaded inside the trace, `(name, version)` in load order: the trace tag
    /// `mlflow.linkedPrompts` and the `link-prompts` call after the trace record.
    pub linked_prompts: Vec<(String, String)>,
}

/// The span attribute and trace tag that list linked prompt versions.
pub(crate) const LINKED_PROMPTS_KEY: &str = "mlflow.linkedPrompts";

/// `[{"name": ..., "version": ...}, ...]` as Python writes the `mlflow.linkedPrompts` values.
pub(crate) fn linked_prompts_json(prompts: &[(String, String)]) -> String {
    let list: Vec<serde_json::Value> =
        prompts.iter().map(|(name, version)| serde_json::json!({"name": name, "version": version})).collect();
    ferroflow_proto::encoding::python_json(&list)
}
