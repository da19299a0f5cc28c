//! `ferroflow-sdk`: a Rust SDK for MLflow-compatible tracking servers (`ferroflow server` or a
//! stock `mlflow server`). It speaks MLflow's own wire protocol, so traces made here read back
//! with the Python client (`mlflow.get_trace`, `search_traces`) like any other.
//!
//! # Map
//!
//! * [`config`]: settings from `MLFLOW_TRACKING_URI` (`http://` or `https://`),
//!   `MLFLOW_EXPERIMENT_NAME`/`_ID`, `MLFLOW_TRACKING_TOKEN` or `_USERNAME`/`_PASSWORD` (sent on
//!   every request), or from [`Config::builder`].
//! * Tracing: [`macro@trace`] on sync and async functions, [`start_span`] guards,
//!   [`current_span`], [`update_current_trace`], [`TraceContext`] to hand the current span
//!   to a spawned task or thread, and [`flush`] with its [`FlushReport`]. Inside, in layers that
//!   only import downwards: `record` (what a span is: types, ids, clock, capture, the finished
//!   record and trace data) → `export` (the background exporter: OTLP protobuf to
//!   `/v1/traces` plus the StartTraceV3 record, or plain OTLP to any collector; it knows
//!   records, config and HTTP only) → `live` (live spans and the current-span context; a
//!   trace holds the exporter handle its spans end into) → `tracer` (the API).
//! * [`agent`]: the `ResponsesAgent` contract (OpenAI Responses API shapes, as MLflow's
//!   `ResponsesAgent` infers them) and its traced entry points.
//! * [`genai`]: `evaluate` with custom scorers and LLM judges, recorded as
//!   `mlflow.genai.evaluate` records it; LLM calls traced as CHAT_MODEL spans (the SDK's own
//!   OpenAI-compatible `ChatClient`, and the `async-openai` crate with that cargo feature).
//! * [`serve`]: `serve(agent, addr)`, any `ResponsesAgent` behind MLflow's `/invocations`
//!   contract and the OpenAI Responses API (`/responses`), one trace per request.
//! * [`models`]: log a served agent as a logged model with the inferred ResponsesAgent
//!   signature, register it, and `load_agent("models:/name@alias")` back as a `ResponsesAgent`.
//! * [`check`]: the agent checklist behind `ferroflow check`.
//! * [`tools`]: data tools that fail loudly: an error output saying no data was produced,
//!   never a made-up answer.
//! * [`prompts`] and [`registry`]: the prompt registry (`load_prompt("prompts:/name@alias")`,
//!   `register_prompt`, aliases, search) and registered-model aliases, with a cache.
//!
//! # Tracing in one minute
//!
//! ```no_run
//! use ferroflow_sdk::{trace, start_span, update_current_trace, SpanType, TraceUpdate};
//!
//! #[trace(span_type = "TOOL")]
//! fn add(a: i64, b: i64) -> i64 { a + b }
//!
//! #[trace(name = "agent", span_type = "AGENT", skip(api_key), rename(q = "question"))]
//! async fn answer(q: String, api_key: &str) -> Result<String, std::io::Error> {
//!     update_current_trace(TraceUpdate::new().user("alice").session("s-1").tag("env", "dev"));
//!     let span = start_span("llm-call", SpanType::Llm);
//!     span.set_inputs(&serde_json::json!({"messages": [{"role": "user", "content": q}]}));
//!     span.record_token_usage(10, 5);
//!     span.set_outputs("42");
//!     drop(span);
//!     Ok(format!("{}", add(40, 2)))
//! }
//! # async fn run() {
//! answer("what is 40 + 2?".into(), "secret").await.unwrap();
//! let report = ferroflow_sdk::flush_async().await;   // before the process exits
//! assert_eq!(report.lost(), 0);
//! # }
//! ```
//!
//! * **Arguments** whose type implements `Serialize` become the span's inputs (an object keyed
//!   by argument name; `self` is left out); `skip(a, b)`, `skip_all` and `rename(a = "key")`
//!   adjust that. Arguments of other types are left out silently.
//! * **The return value** becomes the outputs when it is `Serialize` (`skip_output` turns this
//!   off). A `Result` whose error implements `Display` marks the span ERROR on `Err`, with an
//!   `exception` event (type and message), as Python does for an exception. A panic does the
//!   same and keeps unwinding.
//! * **`span_type`**: one of MLflow's types (`"LLM"`, `"CHAT_MODEL"`, `"CHAIN"`, `"AGENT"`,
//!   `"TOOL"`, `"RETRIEVER"`, `"EMBEDDING"`, `"RERANKER"`, `"PARSER"`, `"MEMORY"`,
//!   `"EVALUATOR"`, `"GUARDRAIL"`, `"TASK"`, `"WORKFLOW"`, `"UNKNOWN"`, the default) or
//!   `custom("MY_TYPE")`.
//! * **Context** follows `.await` (each traced future carries it); a spawned task or thread gets
//!   it only when handed over with [`TraceContext`] (see its docs). Nothing on the caller's path
//!   touches the network; with no tracking URI, tracing is off and a traced call costs a few
//!   nanoseconds.
//! * **Delivery**: call [`flush`] (or [`flush_async`]) before the process exits; its report
//!   counts what was delivered, failed after retries, or dropped from a full queue.

// `#[trace]` expands to `::ferroflow_sdk::...`; this makes that path work inside the crate too.
extern crate self as ferroflow_sdk;

pub mod agent;
pub mod check;
pub mod config;
mod error;
mod export;
pub mod genai;
mod http;
mod live;
pub mod models;
pub mod prompts;
mod record;
pub mod registry;
pub mod serve;
pub mod tools;
mod tracer;
#[cfg(test)]
mod tracing_tests;

#[doc(hidden)]
pub mod __private;

pub use config::{Auth, Config, ConfigBuilder, Experiment, ExportTarget};
pub use error::{Error, ErrorCode, Result};
pub use export::FlushReport;
pub use ferroflow_sdk_macros::trace;
pub use live::context::{current_traceparent, in_current_context, TraceContext};
pub use live::span::{Span, SpanRef};
pub use record::{SpanType, TokenUsage};
pub use tracer::{
    current_span, export_stats, flush, flush_async, flush_timeout, init, is_enabled, start_span, update_current_trace,
    AlreadyInitialized, TraceUpdate,
};
