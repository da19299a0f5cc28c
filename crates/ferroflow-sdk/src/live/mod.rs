//! Live spans and their context: the layer between the records (`crate::record`) and the API
//! (`crate::tracer`). [`span`] holds the live span and its guard, [`context`] which span is
//! current; here is what the spans of one trace share ([`TraceShared`]), including the
//! exporter handle their ended spans are submitted to.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use crate::export::Exporter;
use crate::record::{ids, Payload, SpanState, SpanStatus, SpanType, TokenUsage, TraceMeta};

pub(crate) mod context;
pub(crate) mod span;

use self::context::current_parent;
use self::span::SpanInner;

/// One trace's shared state: its id and what `update_current_trace` and the spans add to it.
pub(crate) struct TraceShared {
    pub trace_id: u128,
    /// The trace's root is another process's (it came in a `traceparent`): no root of it ends
    /// here.
    pub remote: bool,
    /// Where the trace's spans go when they end: the handle of the process's exporter (it lives
    /// in a `static` and is never dropped), so a span never looks up the global tracer.
    pub exporter: &'static Exporter,
    /// Made on the first update (most traces have none); taken when the root span ends.
    pub meta: Mutex<Option<Box<TraceMeta>>>,
}

impl TraceShared {
    pub(crate) fn meta(&self) -> std::sync::MutexGuard<'_, Option<Box<TraceMeta>>> {
        self.meta.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A span of this trace ended: adds its token usage to the trace's, and hands over the
    /// trace's data when it is the root.
    pub(crate) fn span_ended(&self, is_root: bool, usage: Option<TokenUsage>) -> Option<Box<TraceMeta>> {
        if !is_root && usage.is_none() {
            return None;
        }
        let mut meta = self.meta();
        if let Some(usage) = &usage {
            meta.get_or_insert_with(Default::default).token_usage.get_or_insert_with(TokenUsage::default).add(usage);
        }
        if is_root {
            meta.take()
        } else {
            None
        }
    }
}

/// A new span, child of the current context's innermost span or the root of a new trace.
pub(crate) fn new_span(
    exporter: &'static Exporter,
    name: Cow<'static, str>,
    span_type: SpanType,
    function_name: Option<&'static str>,
    inputs: Option<Payload>,
) -> Arc<SpanInner> {
    let (trace, parent_id) = match current_parent() {
        Some((trace, parent_id)) => (trace, Some(parent_id)),
        None => {
            (Arc::new(TraceShared { trace_id: ids::trace_id(), remote: false, exporter, meta: Mutex::new(None) }), None)
        }
    };
    Arc::new(SpanInner::new(
        trace,
        parent_id,
        SpanState {
            name,
            span_type,
            function_name,
            inputs,
            outputs: None,
            attributes: Vec::new(),
            events: Vec::new(),
            status: SpanStatus::Unset,
            token_usage: None,
        },
    ))
}
