//! `serve(agent, addr)`: an HTTP server for any [`ResponsesAgent`], speaking the contract
//! MLflow's agent server speaks for a ResponsesAgent, so the same clients and checks work:
//!
//! * `POST /invocations` — `{"input": [...], ...}` → the `ResponsesAgentResponse` JSON; with
//!   `"stream": true`, server-sent events: one `data: <event JSON>` per stream event, then
//!   `data: [DONE]`. An agent failure mid-stream is sent as `data: {"error": "..."}` then
//!   `data: [DONE]`.
//! * `POST /responses` — the same, for OpenAI clients pointed at the server (`base_url`):
//!   `input` may also be a plain string (one user message), as the Responses API allows.
//! * `GET /health` (`{"status": "healthy"}`), `GET /ping`, `GET /agent/info`.
//!
//! Every request is one trace: its root is the AGENT span of [`ResponsesAgentExt::invoke`]
//! (or `invoke_stream`) with the `openai` message format. With the header
//! `x-mlflow-return-trace-id: true` the trace id comes back in the response's
//! `metadata.trace_id` (or, streaming, as one more event `{"trace_id": ...}` before `[DONE]`).
//! A request with a W3C `traceparent` header (as [`crate::RemoteAgent`] and MLflow's
//! `get_tracing_context_headers_for_http_request` send) is not a trace of its own: its spans
//! join the caller's trace, under the caller's span.
//!
//! A request that is not JSON, has no `input`, or has fields of the wrong type is a 400 whose
//! body says why: `{"detail": "...", "error": {"message": "...", "type": "invalid_request_error"}}`
//! (`detail` as MLflow's server writes it, `error` as OpenAI clients read it).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde_json::{json, Map, Value};

use crate::agent::{
    AgentError, ResponsesAgent, ResponsesAgentExt, ResponsesAgentRequest, ResponsesAgentResponse,
    ResponsesAgentStreamEvent,
};
use crate::{current_span, TraceContext};

/// The header asking for the trace id in the answer (MLflow's agent-server spelling).
pub const RETURN_TRACE_HEADER: &str = "x-mlflow-return-trace-id";

/// The span attribute naming the message format of the agent's inputs and outputs.
const MESSAGE_FORMAT_KEY: &str = "mlflow.message.format";

/// Serves `agent` on `addr` (e.g. `"127.0.0.1:8000"`) until the process ends.
pub async fn serve<A: ResponsesAgent + 'static>(agent: A, addr: impl tokio::net::ToSocketAddrs) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, agent).await
}

/// Serves `agent` on a listener already bound (bind port 0 and read `local_addr()` to pick a
/// free port).
pub async fn serve_on<A: ResponsesAgent + 'static>(listener: tokio::net::TcpListener, agent: A) -> std::io::Result<()> {
    axum::serve(listener, router(agent)).await
}

/// The routes, to mount in an application of your own.
pub fn router<A: ResponsesAgent + 'static>(agent: A) -> Router {
    let state = Arc::new(agent);
    Router::new()
        .route("/invocations", post(invocations::<A>))
        .route("/responses", post(responses::<A>))
        .route("/health", get(|| async { Json(json!({"status": "healthy"})) }))
        .route("/ping", get(|| async { (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "\n") }))
        .route(
            "/agent/info",
            get(|| async {
                Json(json!({
                    "name": "ferroflow_agent_server",
                    "use_case": "agent",
                    "agent_api": "responses",
                    "ferroflow_sdk_version": env!("CARGO_PKG_VERSION"),
                }))
            }),
        )
        .with_state(state)
}

async fn invocations<A: ResponsesAgent + 'static>(
    State(agent): State<Arc<A>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(agent, &headers, &body, false).await
}

async fn responses<A: ResponsesAgent + 'static>(
    State(agent): State<Arc<A>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(agent, &headers, &body, true).await
}

/// A request read from the body: the agent's request and whether it asked for a stream.
#[derive(Debug)]
pub(crate) struct ParsedRequest {
    pub(crate) request: ResponsesAgentRequest,
    pub(crate) stream: bool,
}

/// Reads a request body as MLflow's server does (`stream` taken out, the rest validated as a
/// `ResponsesAgentRequest`); `string_input` lets `input` be a plain string.
pub(crate) fn parse_request(body: &[u8], string_input: bool) -> Result<ParsedRequest, String> {
    let value: Value = serde_json::from_slice(body).map_err(|err| format!("Invalid JSON in request body: {err}"))?;
    let Value::Object(mut fields) = value else {
        return Err("Invalid parameters for ResponsesAgent: the request body must be a JSON object".to_string());
    };
    let stream = match fields.remove("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => stream,
        Some(other) => {
            return Err(format!("Invalid parameters for ResponsesAgent: `stream` must be a boolean, got {other}"))
        }
    };
    match fields.get("input") {
        None => {
            let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
            return Err(format!(
                "Invalid parameters for ResponsesAgent: the request has no `input` (a list of input items); \
                 it has the keys {keys:?}"
            ));
        }
        Some(Value::String(text)) if string_input => {
            let text = text.clone();
            fields.insert("input".to_string(), json!([{"role": "user", "content": text}]));
        }
        Some(Value::Array(_)) => {}
        Some(other) => {
            return Err(format!("Invalid parameters for ResponsesAgent: `input` must be a list of items, got {other}"))
        }
    }
    let request = serde_json::from_value(Value::Object(fields))
        .map_err(|err| format!("Invalid parameters for ResponsesAgent: {err}"))?;
    Ok(ParsedRequest { request, stream })
}

fn error_response(status: StatusCode, message: &str) -> Response {
    let kind = if status.is_client_error() { "invalid_request_error" } else { "server_error" };
    (status, Json(json!({"detail": message, "error": {"message": message, "type": kind}}))).into_response()
}

async fn handle<A: ResponsesAgent + 'static>(
    agent: Arc<A>,
    headers: &HeaderMap,
    body: &[u8],
    string_input: bool,
) -> Response {
    let parsed = match parse_request(body, string_input) {
        Ok(parsed) => parsed,
        Err(reason) => return error_response(StatusCode::BAD_REQUEST, &reason),
    };
    let return_trace_id =
        headers.get(RETURN_TRACE_HEADER).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let parent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::from_traceparent)
        .unwrap_or_default();
    if parsed.stream {
        return stream_response(agent, parsed.request, return_trace_id, parent);
    }
    let traced = Traced { agent: &*agent, trace_id: Mutex::default() };
    match parent.attach(traced.invoke(parsed.request)).await {
        Ok(response) => {
            let mut value = serde_json::to_value(&response).unwrap_or(Value::Null);
            if return_trace_id {
                if let (Some(id), Value::Object(object)) = (traced.trace_id(), &mut value) {
                    let metadata = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(metadata) = metadata {
                        metadata.insert("trace_id".to_string(), Value::String(id));
                    }
                }
            }
            Json(value).into_response()
        }
        Err(err) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string()),
    }
}

/// Runs the traced stream on a task of its own (the stream borrows the agent) and sends each
/// event as a server-sent event.
fn stream_response<A: ResponsesAgent + 'static>(
    agent: Arc<A>,
    request: ResponsesAgentRequest,
    return_trace_id: bool,
    parent: TraceContext,
) -> Response {
    let (sender, receiver) = futures::channel::mpsc::channel::<Bytes>(16);
    tokio::spawn(parent.attach(async move {
        let mut sender = sender;
        let traced = Traced { agent: &*agent, trace_id: Mutex::default() };
        let mut events = std::pin::pin!(traced.invoke_stream(request));
        while let Some(event) = events.next().await {
            let data = match event {
                Ok(event) => serde_json::to_string(&event).unwrap_or_default(),
                Err(err) => json!({"error": err.to_string()}).to_string(),
            };
            if futures::SinkExt::send(&mut sender, sse(&data)).await.is_err() {
                return; // the client went away
            }
        }
        if return_trace_id {
            if let Some(id) = traced.trace_id() {
                let _ = futures::SinkExt::send(&mut sender, sse(&json!({"trace_id": id}).to_string())).await;
            }
        }
        let _ = futures::SinkExt::send(&mut sender, sse("[DONE]")).await;
    }));
    let body = Body::from_stream(receiver.map(Ok::<_, Infallible>));
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

fn sse(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// The served agent seen through its root span: marks the span's message format and keeps
/// its trace id for the answer.
struct Traced<'a, A: ?Sized> {
    agent: &'a A,
    trace_id: Mutex<Option<String>>,
}

impl<A: ?Sized> Traced<'_, A> {
    fn note_span(&self) {
        let span = current_span();
        span.set_attribute(MESSAGE_FORMAT_KEY, "openai");
        *self.trace_id.lock().unwrap_or_else(|p| p.into_inner()) = span.trace_id();
    }

    fn trace_id(&self) -> Option<String> {
        self.trace_id.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<A: ResponsesAgent + ?Sized> ResponsesAgent for Traced<'_, A> {
    async fn predict(&self, request: ResponsesAgentRequest) -> Result<ResponsesAgentResponse, AgentError> {
        self.note_span();
        self.agent.predict(request).await
    }

    fn predict_stream(
        &self,
        request: ResponsesAgentRequest,
    ) -> impl Stream<Item = Result<ResponsesAgentStreamEvent, AgentError>> + Send {
        self.note_span();
        self.agent.predict_stream(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_read_as_mlflow_reads_them() {
        let parsed =
            parse_request(br#"{"input": [{"role": "user", "content": "hi"}], "stream": true}"#, false).unwrap();
        assert!(parsed.stream);
        assert_eq!(parsed.request.last_user_text().as_deref(), Some("hi"));

        let missing = parse_request(br#"{"messages": []}"#, false).unwrap_err();
        assert!(missing.contains("no `input`") && missing.contains("messages"), "{missing}");
        let not_json = parse_request(b"{", false).unwrap_err();
        assert!(not_json.starts_with("Invalid JSON"), "{not_json}");
        let wrong = parse_request(br#"{"input": "hi"}"#, false).unwrap_err();
        assert!(wrong.contains("`input` must be a list"), "{wrong}");
        let wrong_type = parse_request(br#"{"input": [], "temperature": "hot"}"#, false).unwrap_err();
        assert!(wrong_type.contains("invalid type"), "{wrong_type}");
        let stream = parse_request(br#"{"input": [], "stream": "yes"}"#, false).unwrap_err();
        assert!(stream.contains("`stream` must be a boolean"), "{stream}");

        let text = parse_request(br#"{"input": "hello", "model": "m"}"#, true).unwrap();
        assert_eq!(text.request.last_user_text().as_deref(), Some("hello"));
        assert_eq!(text.request.extra["model"], "m");
    }
}
