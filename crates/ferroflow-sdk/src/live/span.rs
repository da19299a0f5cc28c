//! The live span: [`SpanRef`] (a handle to set inputs, outputs and attributes), the guard
//! that ends it ([`Span`]), and the trace state its spans share ([`TraceShared`]).
//!
//! A live span is an `Arc<SpanInner>` whose mutable state sits behind a `Mutex`, so that the
//! function running inside it (through [`crate::current_span`]), its guard and other threads
//! can all set attributes. Ending is idempotent: the first end wins, later ones do nothing.
//!
//! What a span costs the caller is kept small: arguments and return values are recorded as
//! scalars when they are ones ([`crate::record::capture`]); ending moves the state out under
//! the one lock and queues it ([`EndedSpan`]) on the exporter handle its trace holds, with the
//! ids as integers; the exporter thread makes the JSON, the hex ids and the OTLP of it. The
//! span's own allocations are freed on the caller's thread, where the allocator reuses them
//! for the next span.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;

use super::context::Frame;
use super::TraceShared;
use crate::record::capture::capture;
use crate::record::{
    now_unix_nanos, to_json, EndedSpan, Payload, SpanEvent, SpanState, SpanStatus, SpanType, TokenUsage,
    TOKEN_USAGE_KEY,
};

pub(crate) struct SpanInner {
    pub trace: Arc<TraceShared>,
    pub span_id: u64,
    /// `None` for the root span of a trace.
    pub parent_id: Option<u64>,
    pub start_unix_nano: u64,
    /// The first end wins; kept outside the lock so that checking it is one atomic load.
    pub ended: AtomicBool,
    pub state: Mutex<SpanState>,
}

impl SpanInner {
    pub(crate) fn new(trace: Arc<TraceShared>, parent_id: Option<u64>, state: SpanState) -> SpanInner {
        SpanInner {
            trace,
            span_id: crate::record::ids::span_id(),
            parent_id,
            start_unix_nano: now_unix_nanos(),
            ended: AtomicBool::new(false),
            state: Mutex::new(state),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SpanState> {
        // A panic while the lock was held leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Ends the span (once) and hands it to the exporter.
    pub(crate) fn end(&self) {
        self.end_with(|_| {});
    }

    /// Applies `last` to the state and ends the span, under one lock (once; a later end does
    /// nothing, `last` included). The state is moved out as recorded: the exporter thread
    /// makes the JSON and OTLP of it, and this thread frees the span's own memory, so that
    /// the allocator recycles it here.
    pub(crate) fn end_with(&self, last: impl FnOnce(&mut SpanState)) {
        let end = now_unix_nanos();
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let state = {
            let mut state = self.lock();
            last(&mut state);
            SpanState {
                name: std::mem::take(&mut state.name),
                span_type: std::mem::replace(&mut state.span_type, SpanType::Unknown),
                function_name: state.function_name,
                inputs: state.inputs.take(),
                outputs: state.outputs.take(),
                attributes: std::mem::take(&mut state.attributes),
                events: std::mem::take(&mut state.events),
                status: std::mem::replace(&mut state.status, SpanStatus::Unset),
                token_usage: state.token_usage,
            }
        };
        let meta = self.trace.span_ended(self.parent_id.is_none(), state.token_usage);
        self.trace.exporter.submit(EndedSpan {
            trace_id: self.trace.trace_id,
            remote: self.trace.remote,
            span_id: self.span_id,
            parent_id: self.parent_id,
            start_unix_nano: self.start_unix_nano,
            end_unix_nano: end.max(self.start_unix_nano),
            state,
            meta,
        });
    }

    /// Ends the span when its guard goes away before it was ended. An unwinding panic marks it
    /// ERROR (unless an error is already recorded: the panic's own message is better); a guard
    /// dropped otherwise, unended, is a future that never finished (a time-out, a `select!`
    /// that lost), recorded as the event `cancelled` when `cancellable`. The one drop path of
    /// [`Span`] and of `#[trace]`'s span.
    pub(crate) fn end_on_drop(&self, cancellable: bool) {
        if self.is_ended() {
            return;
        }
        if std::thread::panicking() {
            let already_error = matches!(self.lock().status, SpanStatus::Error(_));
            if !already_error {
                self.record_exception("panic", "the thread panicked while the span was open");
            }
        } else if cancellable {
            self.lock().events.push(SpanEvent {
                name: "cancelled".to_string(),
                time_unix_nano: now_unix_nanos(),
                attributes: Vec::new(),
            });
        }
        self.end();
    }

    pub(crate) fn record_exception(&self, type_name: &str, message: &str) {
        let stacktrace = std::backtrace::Backtrace::capture();
        let mut attributes = vec![
            ("exception.message".to_string(), Value::String(message.to_string())),
            ("exception.type".to_string(), Value::String(type_name.to_string())),
        ];
        if stacktrace.status() == std::backtrace::BacktraceStatus::Captured {
            attributes.push(("exception.stacktrace".to_string(), Value::String(stacktrace.to_string())));
        }
        let mut state = self.lock();
        state.events.push(SpanEvent { name: "exception".to_string(), time_unix_nano: now_unix_nanos(), attributes });
        state.status = SpanStatus::Error(format!("{type_name}: {message}"));
    }
}

/// A live span: set its inputs, outputs and attributes. Get one from [`Span`] (which ends it
/// when dropped) or from [`crate::current_span`]. When tracing is off every method does
/// nothing, cheaply.
#[derive(Clone, Default)]
pub struct SpanRef {
    pub(crate) inner: Option<Arc<SpanInner>>,
}

impl fmt::Debug for SpanRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("SpanRef(disabled)"),
            Some(inner) => write!(f, "SpanRef({} / {:016x})", self.trace_id().unwrap_or_default(), inner.span_id),
        }
    }
}

impl SpanRef {
    /// Whether this span records anything (false when tracing is off).
    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// MLflow's id of the trace (`tr-<32 hex>`), when recording.
    pub fn trace_id(&self) -> Option<String> {
        self.inner.as_ref().map(|inner| crate::record::ids::mlflow_trace_id(inner.trace.trace_id))
    }

    /// The span id (16 lowercase hex digits), when recording.
    pub fn span_id(&self) -> Option<String> {
        self.inner.as_ref().map(|inner| format!("{:016x}", inner.span_id))
    }

    /// Sets `mlflow.spanInputs`.
    pub fn set_inputs<T: Serialize + ?Sized>(&self, inputs: &T) {
        if let Some(inner) = &self.inner {
            let value = capture(inputs);
            inner.lock().inputs = Some(Payload::Value(value));
        }
    }

    /// Sets `mlflow.spanOutputs`.
    pub fn set_outputs<T: Serialize + ?Sized>(&self, outputs: &T) {
        if let Some(inner) = &self.inner {
            let value = capture(outputs);
            inner.lock().outputs = Some(value);
        }
    }

    /// Sets one attribute (a later value for the same key replaces the earlier one).
    pub fn set_attribute<T: Serialize + ?Sized>(&self, key: impl Into<String>, value: &T) {
        if let Some(inner) = &self.inner {
            let value = to_json(value);
            set_attribute_value(&mut inner.lock(), key.into(), value);
        }
    }

    /// Sets several attributes.
    pub fn set_attributes<K, V, I>(&self, attributes: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Serialize,
    {
        if let Some(inner) = &self.inner {
            let values: Vec<(String, Value)> =
                attributes.into_iter().map(|(key, value)| (key.into(), to_json(&value))).collect();
            let mut state = inner.lock();
            for (key, value) in values {
                set_attribute_value(&mut state, key, value);
            }
        }
    }

    /// Records the token counts of an LLM call (`mlflow.chat.tokenUsage`); the trace's
    /// `mlflow.trace.tokenUsage` is the sum over its spans.
    pub fn record_token_usage(&self, input_tokens: u64, output_tokens: u64) {
        self.record_usage(TokenUsage::new(input_tokens, output_tokens));
    }

    /// Like [`SpanRef::record_token_usage`], with a total of your own.
    pub fn record_usage(&self, usage: TokenUsage) {
        if let Some(inner) = &self.inner {
            let value = to_json(&usage);
            let mut state = inner.lock();
            state.token_usage = Some(usage);
            set_attribute_value(&mut state, TOKEN_USAGE_KEY.to_string(), value);
        }
    }

    /// Adds an event with plain attributes.
    pub fn add_event<K, V, I>(&self, name: impl Into<String>, attributes: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Serialize,
    {
        if let Some(inner) = &self.inner {
            let attributes = attributes.into_iter().map(|(key, value)| (key.into(), to_json(&value))).collect();
            inner.lock().events.push(SpanEvent { name: name.into(), time_unix_nano: now_unix_nanos(), attributes });
        }
    }

    /// Marks the span ERROR with an `exception` event carrying the error's type and message.
    pub fn record_error<E: fmt::Display + ?Sized>(&self, error: &E) {
        if let Some(inner) = &self.inner {
            inner.record_exception(short_type_name::<E>(), &error.to_string());
        }
    }

    /// Marks the span ERROR with an `exception` event of the given type and message.
    pub fn record_exception(&self, type_name: &str, message: &str) {
        if let Some(inner) = &self.inner {
            inner.record_exception(type_name, message);
        }
    }

    /// Renames the span.
    pub fn set_name(&self, name: impl Into<String>) {
        if let Some(inner) = &self.inner {
            inner.lock().name = Cow::Owned(name.into());
        }
    }

    /// Changes the span type.
    pub fn set_span_type(&self, span_type: SpanType) {
        if let Some(inner) = &self.inner {
            inner.lock().span_type = span_type;
        }
    }
}

pub(crate) fn set_attribute_value(state: &mut SpanState, key: String, value: Value) {
    match state.attributes.iter_mut().find(|(existing, _)| *existing == key) {
        Some(slot) => slot.1 = value,
        None => state.attributes.push((key, value)),
    }
}

/// `std::any::type_name` without the generic arguments' module paths being too long: the
/// full path of the outer type, e.g. `std::io::error::Error` or `anyhow::Error`.
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    std::any::type_name::<T>()
}

/// A span that ends when dropped (or at [`Span::end`]). While it is alive, spans started on the
/// same task or thread are its children. Made by [`crate::start_span`].
///
/// In async code a `Span` may be held across `.await` inside a `#[trace]` function or a future
/// wrapped with [`crate::TraceContext::attach`]: the context travels with that future, not with
/// the thread.
#[must_use = "a span ends when dropped; bind it with `let span = ...`"]
pub struct Span {
    pub(crate) span: SpanRef,
    pub(crate) frame: Option<Arc<Frame>>,
}

impl Span {
    pub(crate) fn disabled() -> Span {
        Span { span: SpanRef { inner: None }, frame: None }
    }

    /// Ends the span now.
    pub fn end(self) {
        drop(self);
    }

    /// A handle that outlives the guard's borrow (e.g. to move into a closure).
    pub fn handle(&self) -> SpanRef {
        self.span.clone()
    }
}

impl std::ops::Deref for Span {
    type Target = SpanRef;
    fn deref(&self) -> &SpanRef {
        &self.span
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.span, f)
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(inner) = &self.span.inner {
            if let Some(frame) = &self.frame {
                frame.remove(inner);
            }
            // A guard is dropped on scope exit, never "cancelled".
            inner.end_on_drop(false);
        }
    }
}
