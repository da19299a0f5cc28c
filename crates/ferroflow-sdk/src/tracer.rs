//! The tracer: the process-wide tracing state, starting spans, trace-level updates and
//! `flush`.
//!
//! One tracer per process, made on first use from the environment ([`crate::Config::from_env`])
//! or installed earlier with [`crate::init`]. With tracing off (no tracking URI) there is no
//! tracer: starting a span is one atomic load and a branch, and nothing is allocated.
//!
//! The top layer of the SDK: it hands its exporter (`crate::export`) to the live spans it
//! starts (`crate::live`), which fill in records (`crate::record`).

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::export::{Exporter, FlushReport, Sink};
use crate::live::context::{
    current_frame, current_span_inner, panic_message, poll_in_frame, with_current_frame, Base, Frame,
};
use crate::live::new_span;
use crate::live::span::{set_attribute_value, Span, SpanRef};
use crate::record::capture::{capture, Fields};
use crate::record::{linked_prompts_json, Payload, SpanType, LINKED_PROMPTS_KEY};

pub(crate) struct TracerInner {
    pub exporter: Exporter,
    /// What the tracer was made from: the evaluation harness records runs and assessments
    /// on the same server and experiment its traces go to.
    pub config: Config,
}

static GLOBAL: OnceLock<Option<Arc<TracerInner>>> = OnceLock::new();

/// The process's tracer, made from the environment on first use; `None` when tracing is off.
#[inline]
pub(crate) fn global() -> Option<&'static Arc<TracerInner>> {
    GLOBAL.get_or_init(|| start(Config::from_env(), None)).as_ref()
}

fn start(config: Config, sink: Option<Sink>) -> Option<Arc<TracerInner>> {
    if !config.tracing_enabled && sink.is_none() {
        return None;
    }
    let sink = sink.unwrap_or_else(|| Sink::from_config(&config));
    let exporter = Exporter::start(&config, sink);
    Some(Arc::new(TracerInner { exporter, config }))
}

/// Returned by [`init`] when the tracer was already made (by an earlier `init` or by a span
/// started before it).
#[derive(Debug, thiserror::Error)]
#[error("ferroflow_sdk tracing is already initialized; call init() before the first span")]
pub struct AlreadyInitialized;

/// Installs the process's tracer from `config`. Call it before the first span; without it the
/// tracer is made from the environment on first use.
pub fn init(config: Config) -> Result<(), AlreadyInitialized> {
    install(config, None)
}

pub(crate) fn install(config: Config, sink: Option<Sink>) -> Result<(), AlreadyInitialized> {
    let mut made = false;
    GLOBAL.get_or_init(|| {
        made = true;
        start(config, sink)
    });
    if made {
        Ok(())
    } else {
        Err(AlreadyInitialized)
    }
}

/// The configuration of the process's tracer (`None` when tracing is off).
pub(crate) fn tracer_config() -> Option<&'static Config> {
    global().map(|tracer| &tracer.config)
}

/// Whether spans are being recorded in this process.
pub fn is_enabled() -> bool {
    global().is_some()
}

/// Starts a span, child of the current one (or the root of a new trace). It ends when the
/// returned guard is dropped; while it is open, spans started in the same context are its
/// children.
///
/// ```no_run
/// use ferroflow_sdk::{start_span, SpanType};
/// let span = start_span("chat", SpanType::Llm);
/// span.set_inputs(&serde_json::json!({"messages": [{"role": "user", "content": "hi"}]}));
/// span.set_attribute("model", "fake-model");
/// span.record_token_usage(10, 5);
/// span.set_outputs("hello!");
/// ```
pub fn start_span(name: impl Into<Cow<'static, str>>, span_type: SpanType) -> Span {
    let Some(tracer) = global() else {
        return Span::disabled();
    };
    let inner = new_span(&tracer.exporter, name.into(), span_type, None, None);
    let frame = current_frame();
    frame.push(inner.clone());
    Span { span: SpanRef { inner: Some(inner) }, frame: Some(frame) }
}

/// A span that is a child of the current one (or the root of a new trace) but does not
/// become current itself: spans started while it is open are not its children. What an LLM
/// call's span is (MLflow's autolog starts those without context); it ends when dropped.
pub(crate) fn start_detached_span(name: impl Into<Cow<'static, str>>, span_type: SpanType) -> Span {
    let Some(tracer) = global() else {
        return Span::disabled();
    };
    let inner = new_span(&tracer.exporter, name.into(), span_type, None, None);
    Span { span: SpanRef { inner: Some(inner) }, frame: None }
}

/// The innermost open span of the caller's context (a no-op handle when there is none), to set
/// attributes from inside a `#[trace]` function.
pub fn current_span() -> SpanRef {
    if global().is_none() {
        return SpanRef::default();
    }
    SpanRef { inner: current_span_inner() }
}

/// Trace-level fields to set on the current trace; see [`update_current_trace`].
#[derive(Debug, Clone, Default)]
pub struct TraceUpdate {
    tags: Vec<(String, String)>,
    metadata: Vec<(String, String)>,
    user: Option<String>,
    session: Option<String>,
    client_request_id: Option<String>,
}

impl TraceUpdate {
    pub fn new() -> TraceUpdate {
        TraceUpdate::default()
    }
    /// A trace tag (mutable on the server later, searchable as `tags.<key>`).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }
    pub fn tags<K: Into<String>, V: Into<String>>(mut self, tags: impl IntoIterator<Item = (K, V)>) -> Self {
        self.tags.extend(tags.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }
    /// Trace metadata (immutable once the trace is logged).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.push((key.into(), value.into()));
        self
    }
    /// The end user (`mlflow.trace.user`).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }
    /// The conversation (`mlflow.trace.session`).
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }
    pub fn client_request_id(mut self, id: impl Into<String>) -> Self {
        self.client_request_id = Some(id.into());
        self
    }
}

/// Sets tags, metadata, user and session of the caller's current trace (like Python's
/// `mlflow.update_current_trace`). Returns false when there is no current trace.
pub fn update_current_trace(update: TraceUpdate) -> bool {
    let Some(span) = (if global().is_some() { current_span_inner() } else { None }) else {
        return false;
    };
    let mut meta = span.trace.meta();
    let meta = meta.get_or_insert_with(Default::default);
    meta.tags.extend(update.tags);
    meta.metadata.extend(update.metadata);
    if let Some(user) = update.user {
        meta.user = Some(user);
    }
    if let Some(session) = update.session {
        meta.session = Some(session);
    }
    if let Some(id) = update.client_request_id {
        meta.client_request_id = Some(id);
    }
    true
}

/// A prompt version was loaded: when that happens inside a trace, link it to the trace, as
/// `mlflow.genai.load_prompt` does (the trace tag and the current span's attribute
/// `mlflow.linkedPrompts`, and `POST /api/2.0/mlflow/traces/link-prompts` once the trace is
/// exported). Nothing happens outside a trace.
pub(crate) fn link_prompt(name: &str, version: u64) {
    if global().is_none() {
        return;
    }
    let Some(span) = current_span_inner() else {
        return;
    };
    let entry = (name.to_string(), version.to_string());
    {
        let mut meta = span.trace.meta();
        let meta = meta.get_or_insert_with(Default::default);
        if !meta.linked_prompts.contains(&entry) {
            meta.linked_prompts.push(entry.clone());
        }
    }
    // The span's own list: the one in its attribute (if any) plus this version.
    let mut state = span.lock();
    let mut listed: Vec<(String, String)> = state
        .attributes
        .iter()
        .find(|(key, _)| key == LINKED_PROMPTS_KEY)
        .and_then(|(_, value)| value.as_str())
        .and_then(|text| serde_json::from_str::<Vec<serde_json::Value>>(text).ok())
        .unwrap_or_default()
        .iter()
        .filter_map(|item| Some((item["name"].as_str()?.to_string(), item["version"].as_str()?.to_string())))
        .collect();
    if !listed.contains(&entry) {
        listed.push(entry);
    }
    let value = serde_json::Value::String(linked_prompts_json(&listed));
    set_attribute_value(&mut state, LINKED_PROMPTS_KEY.to_string(), value);
}

/// Waits (at most 30 s) until every span that ended before the call has been delivered or
/// given up on, and returns the exporter's counts. Blocks the calling thread; in async code use
/// [`flush_async`].
pub fn flush() -> FlushReport {
    flush_timeout(Duration::from_secs(30))
}

/// [`flush`] with a time limit of your own; `timed_out` in the report says if it was reached.
pub fn flush_timeout(timeout: Duration) -> FlushReport {
    match global() {
        Some(tracer) => tracer.exporter.flush_blocking(timeout),
        None => FlushReport::default(),
    }
}

/// [`flush`] for async code: does not block the runtime's thread.
pub async fn flush_async() -> FlushReport {
    match global() {
        Some(tracer) => tracer.exporter.flush_async(Duration::from_secs(30)).await,
        None => FlushReport::default(),
    }
}

/// The exporter's counts so far, without waiting.
pub fn export_stats() -> FlushReport {
    match global() {
        Some(tracer) => tracer.exporter.report(false),
        None => FlushReport::default(),
    }
}

// ---- What `#[trace]` expands to calls (through `crate::__private`). ----

/// The static facts of a traced function.
pub struct FnMeta {
    pub name: &'static str,
    pub span_type: SpanType,
    pub function_name: &'static str,
}

/// The inputs of a traced function, filled in only when tracing is on: `(name, value)` pairs
/// (scalars kept as they are), made into a JSON object by the exporter thread.
pub struct Inputs {
    pub(crate) fields: Fields,
    /// Replaces the fields (a tool's arguments given as one object).
    pub(crate) value: Option<serde_json::Value>,
}

impl Inputs {
    #[inline]
    pub fn insert<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        self.fields.push(key, capture(value));
    }

    fn into_payload(self) -> Payload {
        match self.value {
            Some(value) => Payload::Value(value.into()),
            None => Payload::Fields(self.fields),
        }
    }
}

/// The span of one call of a traced function. Ends when the output is recorded, or when
/// dropped (an unwinding panic, a cancelled future).
pub struct FnSpan {
    pub(crate) span: SpanRef,
}

impl FnSpan {
    #[inline]
    pub fn start(meta: &'static FnMeta, inputs: impl FnOnce(&mut Inputs)) -> FnSpan {
        let Some(tracer) = global() else {
            return FnSpan { span: SpanRef { inner: None } };
        };
        let mut collected = Inputs { fields: Fields::default(), value: None };
        inputs(&mut collected);
        let inner = new_span(
            &tracer.exporter,
            Cow::Borrowed(meta.name),
            meta.span_type.clone(),
            Some(meta.function_name),
            Some(collected.into_payload()),
        );
        FnSpan { span: SpanRef { inner: Some(inner) } }
    }

    /// Runs a sync body inside the span; a panic marks the span ERROR and goes on unwinding.
    #[inline]
    pub fn run_sync<R>(&self, body: impl FnOnce() -> R) -> R {
        let Some(inner) = &self.span.inner else {
            return body();
        };
        // The body runs on this thread and restores any frame it enters before it returns (or
        // unwinds), so the current frame after it is the one the span was pushed on.
        with_current_frame(|frame| frame.push(inner.clone()));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
        with_current_frame(|frame| frame.remove(inner));
        match result {
            Ok(value) => value,
            Err(payload) => {
                inner.record_exception("panic", &panic_message(&*payload));
                std::panic::resume_unwind(payload)
            }
        }
    }

    pub fn finish_unit(&self) {
        if let Some(inner) = &self.span.inner {
            inner.end();
        }
    }

    pub fn finish_output<T: Serialize + ?Sized>(&self, output: &T) {
        if let Some(inner) = &self.span.inner {
            let value = capture(output);
            inner.end_with(|state| state.outputs = Some(value));
        }
    }

    pub fn finish_error<E: std::fmt::Display + ?Sized>(&self, error: &E) {
        if let Some(inner) = &self.span.inner {
            inner.record_exception(std::any::type_name::<E>(), &error.to_string());
            inner.end();
        }
    }
}

impl Drop for FnSpan {
    fn drop(&mut self) {
        if let Some(inner) = &self.span.inner {
            inner.end_on_drop(true);
        }
    }
}

/// Awaits an `async fn` body inside its span, with the span's context installed on every poll.
pub async fn instrument<F: std::future::Future>(span: &FnSpan, body: F) -> F::Output {
    let Some(inner) = &span.span.inner else {
        return body.await;
    };
    let frame = Arc::new(Frame::with_base(Base::Local(inner.clone())));
    let on_panic = |payload: &(dyn std::any::Any + Send)| {
        inner.record_exception("panic", &panic_message(payload));
    };
    poll_in_frame(frame, body, on_panic).await
}
