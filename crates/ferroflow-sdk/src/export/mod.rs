//! The background exporter: a thread of its own (with a single-threaded tokio runtime) that
//! takes finished spans off a bounded queue and sends them, so that nothing on the caller's
//! path waits for the network.
//!
//! * **Queue.** `submit` never blocks: past `max_queue` waiting spans the span is dropped and
//!   counted in `spans_dropped` (and, for a root span, its trace record in `traces_dropped`).
//!   The caller's side is kept short: the ended span (its state as recorded: scalars and
//!   argument fields, no JSON trees) is pushed onto a vector behind a mutex that only the
//!   exporter also takes, briefly, to swap the vector out. The exporter is woken only when it
//!   is idle (one atomic load otherwise), and after a batch it lingers [`LINGER`] so that a
//!   busy program wakes it about once per batch, not per span. The JSON and OTLP of the spans
//!   and the trace records are built on the exporter thread.
//! * **Batches.** The exporter takes whatever is waiting (up to `max_batch` spans) and sends one
//!   OTLP request, children and roots together, then the StartTraceV3 record of each trace whose
//!   root was in the batch: the order the Python client uses in synchronous mode. The record
//!   carries `mlflow.trace.sizeBytes` / `mlflow.trace.sizeStats` computed as Python does (the
//!   exporter sizes every span it sends and keeps the sizes per trace until the root comes).
//!   A trace in which prompt versions were loaded ([`crate::registry::Client::load_prompt`])
//!   has the tag `mlflow.linkedPrompts`, and after its record the exporter calls
//!   `POST /api/2.0/mlflow/traces/link-prompts` (best effort: a failure is logged and kept as
//!   `last_error`, the trace still counts as delivered).
//! * **Retries.** A request that fails on the connection, times out, or gets 408, 429, 500,
//!   502, 503 or 504 is retried `max_retries` times with exponential backoff; then its spans are
//!   counted in `spans_failed` (or its trace in `traces_failed`). Other answers fail at once.
//! * **Flush.** [`crate::flush`] waits until everything submitted before it is delivered or
//!   given up on, and returns the counts: nothing is lost silently.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Notify;

use crate::config::{Config, Experiment, ExportTarget};
use crate::http::HttpClient;
use crate::record::ids::mlflow_trace_id;
use crate::record::{EndedSpan, SpanRecord, TraceMeta};

pub(crate) mod mlflow;
pub(crate) mod otlp;

/// The exporter's counts since the tracer started (diff two reports for a window).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Spans the server acknowledged.
    pub spans_delivered: u64,
    /// Spans given up on after the retries (or refused by the server).
    pub spans_failed: u64,
    /// Spans never sent because the queue was full.
    pub spans_dropped: u64,
    /// Trace records (StartTraceV3; for plain OTLP, root spans) acknowledged.
    pub traces_delivered: u64,
    pub traces_failed: u64,
    pub traces_dropped: u64,
    /// The flush gave up waiting before the exporter caught up.
    pub timed_out: bool,
    /// The last export error, if any, for the log.
    pub last_error: Option<String>,
}

impl FlushReport {
    /// Spans and trace records that did not reach the server.
    pub fn lost(&self) -> u64 {
        self.spans_failed + self.spans_dropped + self.traces_failed + self.traces_dropped
    }
}

#[derive(Default)]
struct Stats {
    spans_delivered: AtomicU64,
    spans_failed: AtomicU64,
    spans_dropped: AtomicU64,
    traces_delivered: AtomicU64,
    traces_failed: AtomicU64,
    traces_dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    fn error(&self, message: String) {
        tracing::warn!(target: "ferroflow_sdk::export", "{message}");
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(message);
    }
}

/// Where the worker sends batches.
pub(crate) enum Sink {
    Mlflow {
        http: HttpClient,
        experiment: Experiment,
    },
    Otlp {
        client: reqwest::Client,
        endpoint: String,
        headers: Vec<(String, String)>,
        auth: crate::config::Auth,
    },
    /// Keeps what would have been sent (tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Memory(Arc<Mutex<Captured>>),
    Discard,
}

/// What a `Sink::Memory` saw.
#[derive(Default)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Captured {
    pub requests: Vec<ExportTraceServiceRequest>,
    pub trace_infos: Vec<Value>,
    /// `link-prompts` bodies.
    pub prompt_links: Vec<Value>,
}

impl Sink {
    pub(crate) fn from_config(config: &Config) -> Sink {
        match &config.export {
            ExportTarget::Discard => Sink::Discard,
            ExportTarget::Mlflow => match HttpClient::new(config) {
                Ok(http) => Sink::Mlflow { http, experiment: config.experiment.clone() },
                Err(err) => {
                    tracing::warn!(target: "ferroflow_sdk::export", "tracing disabled: {err}");
                    Sink::Discard
                }
            },
            ExportTarget::Otlp { endpoint, headers } => match crate::http::build_client(config) {
                Ok(client) => Sink::Otlp {
                    client,
                    endpoint: endpoint.clone(),
                    headers: headers.clone(),
                    auth: config.auth.clone(),
                },
                Err(err) => {
                    tracing::warn!(target: "ferroflow_sdk::export", "tracing disabled: {err}");
                    Sink::Discard
                }
            },
        }
    }
}

enum Waiter {
    Blocking(std::sync::mpsc::Sender<()>),
    Async(tokio::sync::oneshot::Sender<()>),
}

impl Waiter {
    fn done(self) {
        match self {
            Waiter::Blocking(tx) => {
                let _ = tx.send(());
            }
            Waiter::Async(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

/// How long the exporter waits after a batch smaller than `max_batch` before taking the next
/// one (a flush cuts it short): under load, spans arrive in batches and the exporter is not
/// woken per span.
pub(crate) const LINGER: Duration = Duration::from_millis(2);

/// What the callers hand over: finished spans and flush requests, in order.
#[derive(Default)]
struct Pending {
    spans: Vec<EndedSpan>,
    waiters: Vec<Waiter>,
}

/// The state the callers and the exporter thread share.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the exporter.
    notify: Notify,
    /// The exporter is running (or already woken): submitting need not wake it.
    awake: AtomicBool,
    /// The exporter thread could not start or has stopped: nothing would be delivered.
    dead: AtomicBool,
    stats: Stats,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        // `awake` is read after the caller's push (and the exporter clears it before it looks
        // at the queue one last time), so either the exporter sees the span or we wake it.
        if !self.awake.load(Ordering::SeqCst) && !self.awake.swap(true, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }
}

/// The handle the tracer keeps: the queue's sending end and the counts.
pub(crate) struct Exporter {
    shared: Arc<Shared>,
    max_queue: usize,
}

#[derive(Clone, Copy)]
struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Exporter {
    pub(crate) fn start(config: &Config, sink: Sink) -> Exporter {
        let shared = Arc::new(Shared::default());
        shared.awake.store(true, Ordering::SeqCst);
        let worker = Worker {
            sink,
            shared: shared.clone(),
            max_batch: config.max_batch,
            retry: RetryPolicy {
                max_retries: config.max_retries,
                initial_backoff: config.initial_backoff,
                max_backoff: config.max_backoff,
            },
            experiment_id: None,
            trace_sizes: HashMap::new(),
        };
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new().name("ferroflow-sdk-exporter".to_string()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
            match runtime {
                Ok(runtime) => runtime.block_on(worker.run()),
                Err(err) => tracing::warn!(
                    target: "ferroflow_sdk::export",
                    "could not start the exporter runtime: {err}"
                ),
            }
            thread_shared.stop();
        });
        if let Err(err) = spawned {
            tracing::warn!(target: "ferroflow_sdk::export", "could not start the exporter thread: {err}");
            shared.stop();
        }
        Exporter { shared, max_queue: config.max_queue }
    }

    /// Queues an ended span (the exporter builds its record, and for a root span the trace
    /// record). Never blocks on the network; the lock is held for a `Vec::push`.
    pub(crate) fn submit(&self, span: EndedSpan) {
        let shared = &*self.shared;
        let refused = {
            let mut pending = shared.pending();
            if pending.spans.len() < self.max_queue && !shared.dead.load(Ordering::Relaxed) {
                pending.spans.push(span);
                None
            } else {
                Some(span)
            }
        };
        match refused {
            None => shared.wake(),
            Some(span) => {
                Stats::add(&shared.stats.spans_dropped, 1);
                if span.is_root() {
                    Stats::add(&shared.stats.traces_dropped, 1);
                }
            }
        }
    }

    pub(crate) fn report(&self, timed_out: bool) -> FlushReport {
        let s = &self.shared.stats;
        FlushReport {
            spans_delivered: s.spans_delivered.load(Ordering::Relaxed),
            spans_failed: s.spans_failed.load(Ordering::Relaxed),
            spans_dropped: s.spans_dropped.load(Ordering::Relaxed),
            traces_delivered: s.traces_delivered.load(Ordering::Relaxed),
            traces_failed: s.traces_failed.load(Ordering::Relaxed),
            traces_dropped: s.traces_dropped.load(Ordering::Relaxed),
            timed_out,
            last_error: s.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Queues a flush request behind everything submitted so far and wakes the exporter.
    fn request_flush(&self, waiter: Waiter) -> bool {
        let shared = &*self.shared;
        {
            let mut pending = shared.pending();
            if shared.dead.load(Ordering::Relaxed) {
                return false;
            }
            pending.waiters.push(waiter);
        }
        // Always notify: the exporter may be lingering, which a flush cuts short.
        shared.awake.store(true, Ordering::SeqCst);
        shared.notify.notify_one();
        true
    }

    pub(crate) fn flush_blocking(&self, timeout: Duration) -> FlushReport {
        let (tx, rx) = std::sync::mpsc::channel();
        if !self.request_flush(Waiter::Blocking(tx)) {
            return self.report(true);
        }
        let timed_out = rx.recv_timeout(timeout).is_err();
        self.report(timed_out)
    }

    pub(crate) async fn flush_async(&self, timeout: Duration) -> FlushReport {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.request_flush(Waiter::Async(tx)) {
            return self.report(true);
        }
        let timed_out = if tokio::runtime::Handle::try_current().is_ok() {
            !matches!(tokio::time::timeout(timeout, rx).await, Ok(Ok(())))
        } else {
            rx.await.is_err()
        };
        self.report(timed_out)
    }
}

impl Shared {
    /// The exporter is gone: count what is still queued as dropped and release the waiters.
    fn stop(&self) {
        let pending = {
            let mut pending = self.pending();
            self.dead.store(true, Ordering::Relaxed);
            std::mem::take(&mut *pending)
        };
        let roots = pending.spans.iter().filter(|span| span.is_root()).count();
        Stats::add(&self.stats.spans_dropped, pending.spans.len());
        Stats::add(&self.stats.traces_dropped, roots);
        for waiter in pending.waiters {
            waiter.done();
        }
    }
}

struct Worker {
    sink: Sink,
    shared: Arc<Shared>,
    max_batch: usize,
    retry: RetryPolicy,
    /// The experiment's id once known (looked up by name on first export when needed).
    experiment_id: Option<String>,
    /// Sizes of the spans of traces whose root has not been exported yet (for the trace
    /// record's `mlflow.trace.sizeBytes`).
    trace_sizes: HashMap<u128, Vec<usize>>,
}

/// Traces with spans sized but no root yet; past this the sizes are forgotten (a root that
/// never comes, say a process that died mid-trace, must not grow the map forever), and those
/// traces count only later spans. Spans under another process's root are never sized.
const MAX_SIZED_TRACES: usize = 10_000;

impl Worker {
    /// Sizes every span of the batch; for each root, the sizes of its trace's spans so far.
    fn span_sizes(&mut self, batch: &[(SpanRecord, Option<TraceMeta>)]) -> Vec<Vec<usize>> {
        batch
            .iter()
            .map(|(record, _)| {
                if record.remote {
                    // No root of this trace ends here, so nothing would ever take its sizes.
                    return Vec::new();
                }
                let size = mlflow::span_json_size(record);
                if record.parent_id.is_some() {
                    if self.trace_sizes.len() >= MAX_SIZED_TRACES && !self.trace_sizes.contains_key(&record.trace_id) {
                        self.trace_sizes.clear();
                    }
                    self.trace_sizes.entry(record.trace_id).or_default().push(size);
                    Vec::new()
                } else {
                    let mut sizes = self.trace_sizes.remove(&record.trace_id).unwrap_or_default();
                    sizes.push(size);
                    sizes
                }
            })
            .collect()
    }
}

/// Why one request did not go through.
enum SendError {
    /// Worth trying again (connection error, time-out, 408/429/5xx but 501).
    Transient(String),
    /// The server refused it; trying again would not help.
    Permanent(String),
}

impl Worker {
    async fn run(mut self) {
        let shared = self.shared.clone();
        // Two vectors swapped with the shared one, so that their capacity is reused.
        let mut spans: Vec<EndedSpan> = Vec::new();
        let mut waiters: Vec<Waiter> = Vec::new();
        loop {
            {
                let mut pending = shared.pending();
                std::mem::swap(&mut pending.spans, &mut spans);
                std::mem::swap(&mut pending.waiters, &mut waiters);
            }
            if spans.is_empty() && waiters.is_empty() {
                // Idle: say so, look once more (a caller that saw `awake` still set did not
                // wake us), then sleep until woken.
                shared.awake.store(false, Ordering::SeqCst);
                let idle = {
                    let pending = shared.pending();
                    pending.spans.is_empty() && pending.waiters.is_empty()
                };
                if idle {
                    shared.notify.notified().await;
                }
                shared.awake.store(true, Ordering::SeqCst);
                continue;
            }
            let full = spans.len() >= self.max_batch;
            let mut ended = spans.drain(..);
            loop {
                let batch: Vec<_> = ended.by_ref().take(self.max_batch.max(1)).map(EndedSpan::into_record).collect();
                if batch.is_empty() {
                    break;
                }
                self.export(batch).await;
            }
            drop(ended);
            let flushed = !waiters.is_empty();
            for waiter in waiters.drain(..) {
                waiter.done();
            }
            if !full && !flushed {
                // Let the next batch gather; a flush (which always notifies) ends this early.
                let _ = tokio::time::timeout(LINGER, shared.notify.notified()).await;
            }
        }
    }

    async fn export(&mut self, batch: Vec<(SpanRecord, Option<TraceMeta>)>) {
        let n_spans = batch.len();
        let n_traces = batch.iter().filter(|(_, meta)| meta.is_some()).count();
        let sizes = match &self.sink {
            Sink::Mlflow { .. } | Sink::Memory(_) => self.span_sizes(&batch),
            Sink::Otlp { .. } | Sink::Discard => Vec::new(),
        };
        match &self.sink {
            Sink::Discard => {
                Stats::add(&self.shared.stats.spans_delivered, n_spans);
                Stats::add(&self.shared.stats.traces_delivered, n_traces);
            }
            Sink::Memory(captured) => {
                let experiment_id = "0";
                let spans = batch.iter().map(|(r, _)| otlp::span_to_proto(r, None)).collect();
                let mut captured = captured.lock().unwrap_or_else(|p| p.into_inner());
                captured.requests.push(otlp::export_request(spans));
                for ((record, meta), sizes) in batch.iter().zip(&sizes) {
                    if let Some(meta) = meta {
                        let body = mlflow::start_trace_body(record, meta, experiment_id, sizes);
                        captured.trace_infos.push(serde_json::to_value(body).unwrap_or_default());
                        if let Some(body) = mlflow::link_prompts_body(record, meta) {
                            captured.prompt_links.push(serde_json::to_value(body).unwrap_or_default());
                        }
                    }
                }
                Stats::add(&self.shared.stats.spans_delivered, n_spans);
                Stats::add(&self.shared.stats.traces_delivered, n_traces);
            }
            Sink::Otlp { client, endpoint, headers, auth } => {
                let spans = batch.iter().map(|(r, meta)| otlp::span_to_proto(r, meta.as_ref())).collect();
                let body = otlp::export_request(spans).encode_to_vec();
                let result = send_with_retry(self.retry, || {
                    let mut request =
                        client.post(endpoint).header("content-type", "application/x-protobuf").body(body.clone());
                    for (key, value) in headers {
                        request = request.header(key.as_str(), value.as_str());
                    }
                    crate::http::with_auth(request, auth)
                })
                .await;
                self.count(result, n_spans, n_traces, "OTLP export");
            }
            Sink::Mlflow { .. } => self.export_mlflow(batch, sizes, n_spans, n_traces).await,
        }
    }

    fn count(&self, result: Result<(), SendError>, n_spans: usize, n_traces: usize, what: &str) {
        match result {
            Ok(()) => {
                Stats::add(&self.shared.stats.spans_delivered, n_spans);
                Stats::add(&self.shared.stats.traces_delivered, n_traces);
            }
            Err(SendError::Transient(message) | SendError::Permanent(message)) => {
                Stats::add(&self.shared.stats.spans_failed, n_spans);
                Stats::add(&self.shared.stats.traces_failed, n_traces);
                self.shared.stats.error(format!("{what} of {n_spans} span(s) failed: {message}"));
            }
        }
    }

    async fn export_mlflow(
        &mut self,
        batch: Vec<(SpanRecord, Option<TraceMeta>)>,
        sizes: Vec<Vec<usize>>,
        n_spans: usize,
        n_traces: usize,
    ) {
        let Sink::Mlflow { http, experiment } = &self.sink else {
            return;
        };
        let experiment_id = match &self.experiment_id {
            Some(id) => id.clone(),
            None => match resolve_experiment(http, experiment).await {
                Ok(id) => {
                    self.experiment_id = Some(id.clone());
                    id
                }
                Err(message) => {
                    Stats::add(&self.shared.stats.spans_failed, n_spans);
                    Stats::add(&self.shared.stats.traces_failed, n_traces);
                    self.shared.stats.error(format!("could not resolve the experiment: {message}"));
                    return;
                }
            },
        };

        let spans = batch.iter().map(|(r, _)| otlp::span_to_proto(r, None)).collect();
        let body = otlp::export_request(spans).encode_to_vec();
        let result = send_with_retry(self.retry, || {
            http.request(Method::POST, "/v1/traces")
                .header("content-type", "application/x-protobuf")
                .header("x-mlflow-experiment-id", experiment_id.as_str())
                .body(body.clone())
        })
        .await;
        self.count(result, n_spans, 0, "OTLP span upload");

        for ((record, meta), sizes) in batch.iter().zip(&sizes) {
            let Some(meta) = meta else { continue };
            let body = mlflow::start_trace_body(record, meta, &experiment_id, sizes);
            let result =
                send_with_retry(self.retry, || http.request(Method::POST, "/api/3.0/mlflow/traces").json(&body)).await;
            let logged = result.is_ok();
            self.count(result, 0, 1, "StartTraceV3");
            // Then, like the Python client, link the prompt versions loaded in the trace: best
            // effort (a failure is logged and kept as `last_error`, the trace still counts as
            // delivered).
            let Some(links) = mlflow::link_prompts_body(record, meta).filter(|_| logged) else {
                continue;
            };
            let result = send_with_retry(self.retry, || {
                http.request(Method::POST, "/api/2.0/mlflow/traces/link-prompts").json(&links)
            })
            .await;
            if let Err(SendError::Transient(message) | SendError::Permanent(message)) = result {
                self.shared
                    .stats
                    .error(format!("linking prompts to trace {} failed: {message}", mlflow_trace_id(record.trace_id)));
            }
        }
    }
}

/// The experiment's id: given, `"0"` for the default one, or looked up by name (created when
/// missing, as `mlflow.set_experiment` does).
pub(crate) async fn resolve_experiment(http: &HttpClient, experiment: &Experiment) -> Result<String, String> {
    let name = match experiment {
        Experiment::Default => return Ok("0".to_string()),
        Experiment::Id(id) => return Ok(id.clone()),
        Experiment::Name(name) => name,
    };
    let lookup = |http: HttpClient, name: String| async move {
        http.call(Method::GET, "/api/2.0/mlflow/experiments/get-by-name", &[("experiment_name", name.as_str())], None)
            .await
    };
    let found = match lookup(http.clone(), name.clone()).await {
        Ok(found) => Some(found),
        Err(err) if err.is_not_found() => None,
        Err(err) => return Err(err.to_string()),
    };
    let id = match found {
        Some(found) => found["experiment"]["experiment_id"].as_str().map(str::to_string),
        None => {
            let body = serde_json::json!({ "name": name });
            match http.call(Method::POST, "/api/2.0/mlflow/experiments/create", &[], Some(&body)).await {
                Ok(created) => created["experiment_id"].as_str().map(str::to_string),
                Err(err) if err.error_code() == Some(crate::ErrorCode::ResourceAlreadyExists) => {
                    let found = lookup(http.clone(), name.clone()).await.map_err(|e| e.to_string())?;
                    found["experiment"]["experiment_id"].as_str().map(str::to_string)
                }
                Err(err) => return Err(err.to_string()),
            }
        }
    };
    id.ok_or_else(|| format!("the server did not return the id of experiment {name:?}"))
}

fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

async fn send_with_retry(policy: RetryPolicy, make: impl Fn() -> reqwest::RequestBuilder) -> Result<(), SendError> {
    let mut delay = policy.initial_backoff;
    let mut attempt = 0;
    loop {
        let outcome = match make().send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                let message = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
                if retryable(status) {
                    SendError::Transient(message)
                } else {
                    SendError::Permanent(message)
                }
            }
            Err(err) => SendError::Transient(err.to_string()),
        };
        match outcome {
            SendError::Transient(_) if attempt < policy.max_retries => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(policy.max_backoff);
            }
            outcome => return Err(outcome),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The exporter on its own: records made by hand, no tracer, no live span.

    use super::*;
    use crate::record::capture::{capture, Captured as CapturedValue};
    use crate::record::{Payload, SpanState, SpanStatus, SpanType, TokenUsage};

    fn ended(trace_id: u128, span_id: u64, parent_id: Option<u64>, name: &'static str) -> EndedSpan {
        EndedSpan {
            trace_id,
            remote: false,
            span_id,
            parent_id,
            start_unix_nano: 1_000_000_000,
            end_unix_nano: 1_250_000_000,
            state: SpanState {
                name: name.into(),
                span_type: SpanType::Tool,
                function_name: None,
                inputs: Some(Payload::Value(capture("question"))),
                outputs: Some(CapturedValue::Str("answer".into())),
                attributes: Vec::new(),
                events: Vec::new(),
                status: SpanStatus::Unset,
                token_usage: None,
            },
            meta: None,
        }
    }

    #[test]
    fn exports_records_without_a_tracer() {
        let captured = Arc::new(Mutex::new(Captured::default()));
        let exporter = Exporter::start(&Config::default(), Sink::Memory(captured.clone()));
        let trace_id = 0x48dd06a2abcf02c365ac80b6c6c01bee;
        exporter.submit(ended(trace_id, 2, Some(1), "child"));
        let mut root = ended(trace_id, 1, None, "root");
        root.meta = Some(Box::new(TraceMeta {
            user: Some("alice".into()),
            token_usage: Some(TokenUsage::new(3, 4)),
            linked_prompts: vec![("qa".into(), "2".into())],
            ..TraceMeta::default()
        }));
        exporter.submit(root);
        let report = exporter.flush_blocking(Duration::from_secs(10));
        assert_eq!((report.spans_delivered, report.traces_delivered, report.lost()), (2, 1, 0));

        let captured = captured.lock().unwrap();
        let spans: Vec<_> = captured.requests.iter().flat_map(|r| &r.resource_spans[0].scope_spans[0].spans).collect();
        assert_eq!(spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["child", "root"]);
        assert_eq!(spans[1].trace_id, trace_id.to_be_bytes().to_vec());
        let info = &captured.trace_infos[0]["trace"]["trace_info"];
        assert_eq!(info["trace_id"], "tr-48dd06a2abcf02c365ac80b6c6c01bee");
        assert_eq!(info["state"], "OK");
        assert_eq!(info["execution_duration"], "0.250s");
        assert_eq!(info["trace_metadata"]["mlflow.trace.user"], "alice");
        assert_eq!(
            info["trace_metadata"]["mlflow.trace.tokenUsage"],
            r#"{"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}"#
        );
        assert_eq!(info["tags"]["mlflow.traceName"], "root");
        assert_eq!(info["tags"]["mlflow.linkedPrompts"], r#"[{"name": "qa", "version": "2"}]"#);
        assert_eq!(captured.prompt_links.len(), 1);
    }

    /// Spans of traces whose root is another process's (served requests under a caller's
    /// `traceparent`) are never sized: however many go by, a local trace still counts every
    /// one of its spans in `mlflow.trace.sizeBytes`.
    #[test]
    fn spans_under_a_remote_root_never_push_a_local_trace_out_of_the_sizes() {
        let size_bytes = |remote_traces: u128| -> Value {
            let captured = Arc::new(Mutex::new(Captured::default()));
            let config = Config { max_queue: 2 * MAX_SIZED_TRACES, ..Config::default() };
            let exporter = Exporter::start(&config, Sink::Memory(captured.clone()));
            let trace_id = 0x48dd06a2abcf02c365ac80b6c6c01bee;
            exporter.submit(ended(trace_id, 2, Some(1), "child"));
            for remote in 0..remote_traces {
                let mut served = ended(remote + 1, 5, Some(4), "served");
                served.remote = true;
                exporter.submit(served);
            }
            exporter.submit(ended(trace_id, 1, None, "root"));
            let report = exporter.flush_blocking(Duration::from_secs(30));
            assert_eq!(report.lost(), 0);
            let captured = captured.lock().unwrap();
            assert_eq!(captured.trace_infos.len(), 1, "a remote trace got a record");
            captured.trace_infos[0]["trace"]["trace_info"]["trace_metadata"]["mlflow.trace.sizeBytes"].clone()
        };
        let alone = size_bytes(0);
        assert!(alone.is_string(), "{alone}");
        assert_eq!(size_bytes(MAX_SIZED_TRACES as u128 + 1), alone);
    }
}
