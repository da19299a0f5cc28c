//! The "current span": which span a new span is a child of.
//!
//! Spans are kept on *frames*. A frame is a small stack of open spans plus an optional base
//! span (the parent of everything started on it). Each thread has a root frame; a traced
//! future (an `async fn` under `#[trace]`, or a future given to [`TraceContext::attach`]) owns a
//! frame of its own and installs it as the thread's current frame for the length of each
//! `poll`, so the context follows the future across `.await` points and across worker
//! threads, and two tasks polled by the same thread never see each other's spans.
//!
//! Handing the context to a spawned task or thread is explicit:
//!
//! ```no_run
//! # async fn work() {}
//! let ctx = ferroflow_sdk::TraceContext::current();
//! tokio::spawn(ctx.attach(async { work().await }));         // a task
//! let ctx = ferroflow_sdk::TraceContext::current();
//! std::thread::spawn(move || ctx.run(|| { /* sync work */ })); // a thread
//! ```
//!
//! A task spawned without it starts a new trace (its spans have no parent).
//!
//! Across processes the context travels as a W3C `traceparent` header
//! ([`TraceContext::traceparent`], [`TraceContext::from_traceparent`]): spans started under a
//! context read from a request join the caller's trace, as children of the caller's span. The
//! caller's process owns that trace (it sends the trace record when its root ends); this side
//! only adds spans to it.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use super::span::{SpanInner, SpanRef};
use super::TraceShared;

/// The parent of the spans started on a frame when none of its own is open.
#[derive(Clone, Default)]
pub(crate) enum Base {
    #[default]
    None,
    /// A span of this process.
    Local(Arc<SpanInner>),
    /// A span of another process (from a `traceparent` header): its trace and span id.
    Remote(Arc<TraceShared>, u64),
}

#[derive(Default)]
pub(crate) struct Frame {
    /// Open spans entered on this frame, innermost last.
    stack: Mutex<Vec<Arc<SpanInner>>>,
    /// The parent of spans started on this frame when `stack` is empty.
    base: Base,
}

impl Frame {
    pub(crate) fn with_base(base: Base) -> Frame {
        Frame { stack: Mutex::new(Vec::new()), base }
    }

    fn stack(&self) -> std::sync::MutexGuard<'_, Vec<Arc<SpanInner>>> {
        self.stack.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn push(&self, span: Arc<SpanInner>) {
        self.stack().push(span);
    }

    /// Removes `span` (normally the innermost) from the stack.
    pub(crate) fn remove(&self, span: &Arc<SpanInner>) {
        let mut stack = self.stack();
        if let Some(index) = stack.iter().rposition(|open| Arc::ptr_eq(open, span)) {
            stack.remove(index);
        }
    }

    /// The innermost open span of this process (a remote base is not one).
    fn innermost(&self) -> Option<Arc<SpanInner>> {
        self.stack().last().cloned().or_else(|| match &self.base {
            Base::Local(span) => Some(span.clone()),
            _ => None,
        })
    }

    /// The trace and span id of the innermost span, without cloning the span itself.
    fn innermost_parent(&self) -> Option<(Arc<TraceShared>, u64)> {
        let stack = self.stack();
        match (stack.last(), &self.base) {
            (Some(span), _) | (None, Base::Local(span)) => Some((span.trace.clone(), span.span_id)),
            (None, Base::Remote(trace, span_id)) => Some((trace.clone(), *span_id)),
            (None, Base::None) => None,
        }
    }
}

thread_local! {
    static ROOT_FRAME: Arc<Frame> = Arc::new(Frame::default());
    static ENTERED_FRAME: RefCell<Option<Arc<Frame>>> = const { RefCell::new(None) };
}

/// The thread's current frame: the one a traced future installed, or the thread's root frame.
pub(crate) fn current_frame() -> Arc<Frame> {
    ENTERED_FRAME.with(|entered| entered.borrow().clone()).unwrap_or_else(|| ROOT_FRAME.with(Arc::clone))
}

/// Runs `f` on the thread's current frame without cloning its `Arc`.
#[inline]
pub(crate) fn with_current_frame<R>(f: impl FnOnce(&Frame) -> R) -> R {
    ENTERED_FRAME.with(|entered| match &*entered.borrow() {
        Some(frame) => f(frame),
        None => ROOT_FRAME.with(|root| f(root)),
    })
}

/// The innermost open span of the current context.
pub(crate) fn current_span_inner() -> Option<Arc<SpanInner>> {
    with_current_frame(Frame::innermost)
}

/// The trace and id of the innermost open span of the current context: what a new span needs
/// of its parent.
pub(crate) fn current_parent() -> Option<(Arc<TraceShared>, u64)> {
    with_current_frame(Frame::innermost_parent)
}

/// Installs a frame as the thread's current one until dropped.
pub(crate) struct Entered {
    previous: Option<Arc<Frame>>,
}

pub(crate) fn enter(frame: &Arc<Frame>) -> Entered {
    let previous = ENTERED_FRAME.with(|entered| entered.replace(Some(frame.clone())));
    Entered { previous }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ENTERED_FRAME.with(|entered| *entered.borrow_mut() = previous);
    }
}

/// Polls `future` with `frame` installed on every poll. A panic inside a poll is handed to
/// `on_panic` (which marks the span ERROR) and then resumed.
pub(crate) async fn poll_in_frame<F: Future>(
    frame: Arc<Frame>,
    future: F,
    on_panic: impl Fn(&(dyn std::any::Any + Send)),
) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |cx| {
        let _entered = enter(&frame);
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                on_panic(&*payload);
                resume_unwind(payload)
            }
        }
    })
    .await
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// A captured "current span", to make it the parent of work on another task or thread (or,
/// through a `traceparent` header, in another process).
#[derive(Clone, Default)]
pub struct TraceContext {
    base: Base,
}

impl std::fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.base {
            Base::Remote(trace, span_id) => f
                .debug_struct("TraceContext")
                .field("remote_trace", &format_args!("{:032x}", trace.trace_id))
                .field("remote_span", &format_args!("{span_id:016x}"))
                .finish(),
            Base::Local(span) => {
                f.debug_struct("TraceContext").field("span", &SpanRef { inner: Some(span.clone()) }).finish()
            }
            Base::None => f.debug_struct("TraceContext").field("span", &SpanRef::default()).finish(),
        }
    }
}

impl TraceContext {
    /// The context of the caller: its innermost open span (empty when there is none), or the
    /// remote parent it runs under.
    pub fn current() -> TraceContext {
        let base = with_current_frame(|frame| match frame.innermost() {
            Some(span) => Base::Local(span),
            None => frame.base.clone(),
        });
        TraceContext { base }
    }

    /// A context whose parent is the given span.
    pub fn of(span: &SpanRef) -> TraceContext {
        TraceContext { base: span.inner.clone().map(Base::Local).unwrap_or_default() }
    }

    /// Whether there is a span to be the parent.
    pub fn is_empty(&self) -> bool {
        matches!(self.base, Base::None)
    }

    /// The context as a W3C `traceparent` header value (`00-<trace id>-<span id>-01`), to send
    /// with a request so the callee's spans join this trace; `None` when there is no span.
    pub fn traceparent(&self) -> Option<String> {
        let (trace_id, span_id) = match &self.base {
            Base::None => return None,
            Base::Local(span) => (span.trace.trace_id, span.span_id),
            Base::Remote(trace, span_id) => (trace.trace_id, *span_id),
        };
        Some(format!("00-{trace_id:032x}-{span_id:016x}-01"))
    }

    /// The context a W3C `traceparent` header names: spans started under it belong to the
    /// caller's trace, as children of the caller's span. `None` for a malformed header (or an
    /// all-zero id, which the standard calls invalid) and when tracing is off.
    pub fn from_traceparent(header: &str) -> Option<TraceContext> {
        let (trace_id, span_id) = parse_traceparent(header)?;
        let exporter = &crate::tracer::global()?.exporter;
        let trace = Arc::new(TraceShared { trace_id, remote: true, exporter, meta: Mutex::new(None) });
        Some(TraceContext { base: Base::Remote(trace, span_id) })
    }

    /// Wraps a future so that spans started while it runs are children of this context, on
    /// whichever thread polls it. Use it for `tokio::spawn`.
    pub fn attach<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        let frame = Arc::new(Frame::with_base(self.base));
        poll_in_frame(frame, future, |_| {})
    }

    /// Runs `f` with this context current (for `std::thread::spawn` and sync callbacks).
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let frame = Arc::new(Frame::with_base(self.base.clone()));
        let _entered = enter(&frame);
        f()
    }
}

/// The `traceparent` header of the caller's current context (`None` outside any span): what
/// an outgoing request carries so the service it calls can join the trace.
pub fn current_traceparent() -> Option<String> {
    TraceContext::current().traceparent()
}

/// `version-traceid-spanid-flags`, lowercase hex; a future version may append fields.
fn parse_traceparent(header: &str) -> Option<(u128, u64)> {
    let mut parts = header.trim().split('-');
    let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |text: &str, len: usize| {
        text.len() == len && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = u128::from_str_radix(trace, 16).ok().filter(|id| *id != 0)?;
    let span_id = u64::from_str_radix(span, 16).ok().filter(|id| *id != 0)?;
    Some((trace_id, span_id))
}

/// Wraps a future so that it carries the caller's current span: shorthand for
/// `TraceContext::current().attach(future)`.
pub fn in_current_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    TraceContext::current().attach(future)
}

#[cfg(test)]
mod tests {
    use super::parse_traceparent;

    #[test]
    fn traceparent_headers_parse_as_the_w3c_format_says() {
        let ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(parse_traceparent(ok), Some((0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331)));
        // A later version may carry more fields after the flags.
        assert!(parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra").is_some());
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
    }
}
