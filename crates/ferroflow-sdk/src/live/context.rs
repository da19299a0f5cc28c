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

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use super::span::{SpanInner, SpanRef};
use super::TraceShared;

#[derive(Default)]
pub(crate) struct Frame {
    /// Open spans entered on this frame, innermost last.
    stack: Mutex<Vec<Arc<SpanInner>>>,
    /// The parent of spans started on this frame when `stack` is empty.
    base: Option<Arc<SpanInner>>,
}

impl Frame {
    pub(crate) fn with_base(base: Option<Arc<SpanInner>>) -> Frame {
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

    fn innermost(&self) -> Option<Arc<SpanInner>> {
        self.stack().last().cloned().or_else(|| self.base.clone())
    }

    /// The trace and span id of the innermost span, without cloning the span itself.
    fn innermost_parent(&self) -> Option<(Arc<TraceShared>, u64)> {
        let stack = self.stack();
        stack.last().or(self.base.as_ref()).map(|span| (span.trace.clone(), span.span_id))
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

/// A captured "current span", to make it the parent of work on another task or thread.
#[derive(Clone, Default)]
pub struct TraceContext {
    span: Option<Arc<SpanInner>>,
}

impl std::fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceContext").field("span", &SpanRef { inner: self.span.clone() }).finish()
    }
}

impl TraceContext {
    /// The context of the caller: its innermost open span (empty when there is none).
    pub fn current() -> TraceContext {
        TraceContext { span: current_span_inner() }
    }

    /// A context whose parent is the given span.
    pub fn of(span: &SpanRef) -> TraceContext {
        TraceContext { span: span.inner.clone() }
    }

    /// Whether there is a span to be the parent.
    pub fn is_empty(&self) -> bool {
        self.span.is_none()
    }

    /// Wraps a future so that spans started while it runs are children of this context, on
    /// whichever thread polls it. Use it for `tokio::spawn`.
    pub fn attach<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        let frame = Arc::new(Frame::with_base(self.span));
        poll_in_frame(frame, future, |_| {})
    }

    /// Runs `f` with this context current (for `std::thread::spawn` and sync callbacks).
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let frame = Arc::new(Frame::with_base(self.span.clone()));
        let _entered = enter(&frame);
        f()
    }
}

/// Wraps a future so that it carries the caller's current span: shorthand for
/// `TraceContext::current().attach(future)`.
pub fn in_current_context<F: Future>(future: F) -> impl Future<Output = F::Output> {
    TraceContext::current().attach(future)
}
