//! Traces, spans and assessments: what an agent call leaves behind.

use crate::ids::{ExperimentId, SpanId, TraceId};
use serde_json::{Map, Value};

/// Trace tags the server owns: a client cannot set them through StartTraceV3 or span
/// attributes.
pub const SYSTEM_TRACE_TAGS: &[&str] = &[
    "mlflow.artifactLocation",
    "mlflow.trace.spansLocation",
    "mlflow.trace.archiveLocation",
    "mlflow.trace.archivalFailure",
];
pub const TAG_ARTIFACT_LOCATION: &str = "mlflow.artifactLocation";
pub const TAG_SPANS_LOCATION: &str = "mlflow.trace.spansLocation";
pub const TAG_TRACE_NAME: &str = "mlflow.traceName";
pub const TAG_LINKED_PROMPTS: &str = "mlflow.linkedPrompts";
pub const SPANS_IN_TRACKING_STORE: &str = "TRACKING_STORE";
pub const META_INFO_FINALIZED: &str = "mlflow.trace.infoFinalized";
pub const META_SOURCE_RUN: &str = "mlflow.sourceRun";
pub const META_TOKEN_USAGE: &str = "mlflow.trace.tokenUsage";
pub const META_TRACE_USER: &str = "mlflow.trace.user";
pub const META_TRACE_SESSION: &str = "mlflow.trace.session";
pub const META_SCHEMA_VERSION: &str = "mlflow.trace_schema.version";
/// Previews are cut to this many characters, as the reference server does.
pub const PREVIEW_MAX_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceState {
    Unspecified,
    Ok,
    Error,
    InProgress,
}

impl TraceState {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceState::Unspecified => "STATE_UNSPECIFIED",
            TraceState::Ok => "OK",
            TraceState::Error => "ERROR",
            TraceState::InProgress => "IN_PROGRESS",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "STATE_UNSPECIFIED" | "0" => Some(TraceState::Unspecified),
            "OK" | "1" => Some(TraceState::Ok),
            "ERROR" | "2" => Some(TraceState::Error),
            "IN_PROGRESS" | "3" => Some(TraceState::InProgress),
            _ => None,
        }
    }
}

/// The trace record (TraceInfoV3) without its spans.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceInfo {
    pub trace_id: TraceId,
    pub experiment_id: ExperimentId,
    pub client_request_id: Option<String>,
    /// Epoch milliseconds of the root span's start.
    pub request_time: i64,
    pub execution_duration: Option<i64>,
    pub state: TraceState,
    pub request_preview: Option<String>,
    pub response_preview: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub assessments: Vec<Assessment>,
}

impl TraceInfo {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    Unset,
    Ok,
    Error,
}

impl SpanStatus {
    /// The OTLP status code name, as span filters compare it.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Unset => "UNSET",
            SpanStatus::Ok => "OK",
            SpanStatus::Error => "ERROR",
        }
    }
    pub fn parse(text: &str) -> SpanStatus {
        match text {
            "OK" => SpanStatus::Ok,
            "ERROR" => SpanStatus::Error,
            _ => SpanStatus::Unset,
        }
    }
}

/// The OpenTelemetry span kind (the numbers are OTLP's `SpanKind` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// OTLP's number for the kind; numbers it does not define are `Unspecified`.
    pub fn from_number(number: i64) -> SpanKind {
        match number {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }
    pub fn number(self) -> i64 {
        self as i64
    }
    const ALL: [SpanKind; 6] = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    /// The kind named by its OTLP JSON enum name.
    pub fn parse(name: &str) -> Option<SpanKind> {
        SpanKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
    /// The enum name OTLP's JSON form uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
            SpanKind::Internal => "SPAN_KIND_INTERNAL",
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            SpanKind::Producer => "SPAN_KIND_PRODUCER",
            SpanKind::Consumer => "SPAN_KIND_CONSUMER",
        }
    }
}

/// Token counts of one LLM span (`mlflow.chat.tokenUsage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
}

/// One span on its way into the store.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    /// `tr-<32 hex>`.
    pub trace_id: TraceId,
    /// 16 lowercase hex.
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub span_type: Option<String>,
    pub status: SpanStatus,
    pub status_message: String,
    pub start_time_ns: i64,
    pub end_time_ns: i64,
    /// Every attribute as a JSON value (MLflow's canonical form), in arrival order.
    pub attributes: Map<String, Value>,
    pub token_usage: Option<TokenUsage>,
    pub kind: SpanKind,
    /// For a root span, its inputs and outputs (`mlflow.spanInputs` / `mlflow.spanOutputs`) as
    /// JSON text the way the client writes it, from which the trace's previews are cut. The
    /// wire layer writes them (the text is an encoding: Python's `json.dumps`).
    pub inputs_text: Option<String>,
    pub outputs_text: Option<String>,
    /// The W3C `tracestate` of the span's context, when it has one.
    pub trace_state: Option<String>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
}

/// Something that happened during a span (an error is the event `exception`, with
/// `exception.type`, `exception.message` and `exception.stacktrace`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub time_unix_nano: u64,
    /// Plain JSON values, in arrival order (a key may repeat, as OTLP allows).
    pub attributes: Vec<(String, Value)>,
}

/// A link from a span to another span, of this trace or another. The ids are the raw OTel
/// bytes as sent: a link may name a span of a system that is not MLflow's.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanLink {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub attributes: Vec<(String, Value)>,
}

/// A span as stored, on its way out: enough to write the read format without the store
/// knowing it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub kind: SpanKind,
    pub start_time_ns: i64,
    pub end_time_ns: i64,
    pub status: SpanStatus,
    pub status_message: String,
    /// The attributes as a JSON object text of canonical values.
    pub attributes: String,
    pub trace_state: Option<String>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
}

impl SpanRecord {
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key)
    }
}

/// What a root span tells about its trace, for traces whose record was not (yet) sent by
/// StartTraceV3.
#[derive(Debug, Clone, PartialEq)]
pub struct RootSummary {
    pub request_time: i64,
    pub execution_duration: i64,
    pub state: TraceState,
    pub request_preview: Option<String>,
    pub response_preview: Option<String>,
    /// `mlflow.traceTag.<key>` attributes of the root, as trace tags.
    pub tags: Vec<(String, String)>,
    /// Metadata derived from OTel conventions (`session.id`, `user.id`).
    pub metadata: Vec<(String, String)>,
}

/// The spans of one trace in one ingest batch, with what they say about the trace.
#[derive(Debug, Clone)]
pub struct TraceSpans {
    pub trace_id: TraceId,
    pub spans: Vec<SpanRecord>,
    /// Earliest span start in the batch, epoch ms: the trace's time until its root arrives.
    pub earliest_start_ms: i64,
    pub root: Option<RootSummary>,
}

/// Where assessment values are judged from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssessmentKind {
    Feedback,
    Expectation,
    Issue,
}

impl AssessmentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AssessmentKind::Feedback => "feedback",
            AssessmentKind::Expectation => "expectation",
            AssessmentKind::Issue => "issue",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "feedback" => Some(AssessmentKind::Feedback),
            "expectation" => Some(AssessmentKind::Expectation),
            "issue" => Some(AssessmentKind::Issue),
            _ => None,
        }
    }
}

/// A feedback, expectation or issue attached to a trace.
///
/// `body` is the assessment as the client sent it (any JSON value passes through untouched);
/// the other fields are what the server reads, indexes and sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub assessment_id: String,
    pub trace_id: TraceId,
    pub name: String,
    pub kind: AssessmentKind,
    /// The value as JSON text, for `feedback.<name>` / `expectation.<name>` filters.
    pub value_text: Option<String>,
    pub valid: bool,
    pub overrides: Option<String>,
    pub create_time: i64,
    pub last_update_time: i64,
    pub body: Map<String, Value>,
}

/// A span without its body (attributes, events): a node of the UI's span tree.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanSummary {
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub span_type: Option<String>,
    pub status: SpanStatus,
    pub start_time_ns: i64,
    pub end_time_ns: i64,
    pub total_tokens: Option<i64>,
}

/// One session of an experiment: the traces sharing a `mlflow.trace.session` value.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub session_id: String,
    pub trace_count: i64,
    /// Epoch ms of the first and the last trace.
    pub first_time: i64,
    pub last_time: i64,
}

/// How a trace deletion picks its traces.
#[derive(Debug, Clone)]
pub enum TraceDeletion {
    Ids(Vec<TraceId>),
    OlderThan { max_timestamp_millis: i64, max_traces: Option<i64> },
}
