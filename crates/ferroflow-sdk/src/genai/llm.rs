//! A small client for OpenAI-compatible chat-completions endpoints: what the LLM judges call,
//! and a traced LLM client for agents ([`ChatClient::chat_completion`],
//! [`ChatClient::chat_completion_stream`]). Every call is a `CHAT_MODEL` span (see
//! `llm_span`), a streamed answer recorded as the one completion its chunks make.
//!
//! A model is named by a URI, `openai:/<model>` (a bare model name means the same). The base
//! URL is `OPENAI_BASE_URL` (or `OPENAI_API_BASE`, which the Python client reads), default
//! `https://api.openai.com/v1`; the key is `OPENAI_API_KEY`. A call that fails on the
//! connection, or gets 408, 429 or a 5xx, is retried with exponential backoff; at most
//! `max_concurrency` calls are in flight at once per client, so a large evaluation does not
//! flood the endpoint.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::llm_span;
use crate::error::{Error, Result};
use crate::live::span::Span;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: "system".into(), content: content.into() }
    }
    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage { role: "user".into(), content: content.into() }
    }
}

/// The answer of one call: the assistant's text and the token counts the endpoint reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAnswer {
    pub content: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// An OpenAI-compatible chat-completions client (cheap to clone: clones share the connection
/// pool and the concurrency limit).
#[derive(Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    limit: Arc<Semaphore>,
    max_retries: u32,
    initial_backoff: Duration,
}

impl std::fmt::Debug for ChatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatClient").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

/// Concurrent judge calls per client unless set otherwise.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;

impl ChatClient {
    /// A client from `OPENAI_BASE_URL` / `OPENAI_API_BASE` and `OPENAI_API_KEY`.
    pub fn from_env() -> ChatClient {
        let base_url = std::env::var("OPENAI_BASE_URL")
            .or_else(|_| std::env::var("OPENAI_API_BASE"))
            .ok()
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| "https://api.openai.com/v1".to_string());
        let api_key = std::env::var("OPENAI_API_KEY").ok().filter(|key| !key.is_empty());
        ChatClient::new(base_url, api_key)
    }

    pub fn new(base_url: impl Into<String>, api_key: Option<String>) -> ChatClient {
        ChatClient {
            http: reqwest::Client::builder()
                .user_agent(crate::http::USER_AGENT)
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap_or_default(),
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key,
            limit: Arc::new(Semaphore::new(DEFAULT_MAX_CONCURRENCY)),
            max_retries: 5,
            initial_backoff: Duration::from_millis(250),
        }
    }

    /// At most `limit` calls in flight at once (at least one).
    pub fn max_concurrency(mut self, limit: usize) -> ChatClient {
        self.limit = Arc::new(Semaphore::new(limit.max(1)));
        self
    }

    /// Retries of a call that failed on the connection or got 408/429/5xx, and the first
    /// delay (doubled each time, up to 30 s; a `Retry-After` in seconds is honoured).
    pub fn retries(mut self, max_retries: u32, initial_backoff: Duration) -> ChatClient {
        self.max_retries = max_retries;
        self.initial_backoff = initial_backoff;
        self
    }

    /// One chat completion of `model` (`openai:/gpt-4o-mini` or `gpt-4o-mini`), asking for a
    /// JSON object answer: the judges' call.
    pub async fn chat(&self, model: &str, messages: &[ChatMessage]) -> Result<ChatAnswer> {
        let request = json!({
            "model": model_name(model),
            "messages": messages,
            "temperature": 0.0,
            "response_format": {"type": "json_object"},
        });
        let url = self.url();
        let response = self.chat_completion(&request).await?;
        let content = response["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| Error::Protocol { url, message: "no message in the answer".into() })?
            .to_string();
        let usage = &response["usage"];
        Ok(ChatAnswer {
            content,
            input_tokens: usage["prompt_tokens"].as_u64(),
            output_tokens: usage["completion_tokens"].as_u64(),
        })
    }

    /// One chat completion: `request` is the chat-completions body as the OpenAI API takes it
    /// (`model`, `messages`, `tools`, `temperature`, …), the answer the completion it returns.
    /// Traced as a `CHAT_MODEL` span with the messages, parameters, tool calls and token usage.
    pub async fn chat_completion(&self, request: &Value) -> Result<Value> {
        let span = llm_span::start(llm_span::CHAT_COMPLETIONS, request);
        let result = async {
            let _permit = self.permit().await?;
            let response = self.send(request).await?;
            response.json::<Value>().await.map_err(|err| Error::Protocol { url: self.url(), message: err.to_string() })
        }
        .await;
        match &result {
            Ok(completion) => llm_span::finish(span, completion),
            Err(err) => llm_span::fail(span, err),
        }
        result
    }

    /// A streamed chat completion (`"stream": true` is set, and usage asked for in the last
    /// chunk): the chunks as they arrive. The call's span ends with the stream, its outputs
    /// the one completion the chunks make.
    pub async fn chat_completion_stream(&self, request: &Value) -> Result<ChatCompletionStream> {
        let mut body = request.clone();
        if let Value::Object(fields) = &mut body {
            fields.insert("stream".into(), Value::Bool(true));
            fields.entry("stream_options").or_insert_with(|| json!({"include_usage": true}));
        }
        let span = llm_span::start(llm_span::CHAT_COMPLETIONS, &body);
        let opened = async {
            let permit = self.permit().await?;
            Ok::<_, Error>((self.send(&body).await?, permit))
        }
        .await;
        match opened {
            Ok((response, permit)) => Ok(ChatCompletionStream {
                url: self.url(),
                response,
                parser: llm_span::SseParser::default(),
                pending: std::collections::VecDeque::new(),
                chunks: Vec::new(),
                span: Some(span),
                done: false,
                _permit: permit,
            }),
            Err(err) => {
                llm_span::fail(span, &err);
                Err(err)
            }
        }
    }

    fn url(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }

    async fn permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.limit.clone().acquire_owned().await.map_err(|_| Error::Config("the chat client was closed".into()))
    }

    /// Posts `body`, retrying connection failures and 408/429/5xx answers with backoff; the
    /// first successful answer.
    async fn send(&self, body: &Value) -> Result<reqwest::Response> {
        let url = self.url();
        let mut delay = self.initial_backoff;
        let mut attempt = 0;
        loop {
            let mut request = self.http.post(&url).json(body);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            let retry_after = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = response.text().await.unwrap_or_default();
                    let retryable = matches!(status.as_u16(), 408 | 429) || status.is_server_error();
                    if !retryable || attempt >= self.max_retries {
                        return Err(Error::Protocol {
                            url,
                            message: format!("HTTP {status}: {}", text.chars().take(300).collect::<String>()),
                        });
                    }
                    retry_after
                }
                Err(source) if attempt >= self.max_retries => return Err(Error::Transport { url, source }),
                Err(_) => None,
            };
            attempt += 1;
            tokio::time::sleep(retry_after.unwrap_or(delay).min(Duration::from_secs(30))).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
}

/// The chunks of a streamed chat completion ([`ChatClient::chat_completion_stream`]), read
/// with [`ChatCompletionStream::next`] or as a [`futures::Stream`] with
/// [`ChatCompletionStream::into_stream`]. Its span ends when the stream ends or is dropped,
/// with what arrived by then.
pub struct ChatCompletionStream {
    url: String,
    response: reqwest::Response,
    parser: llm_span::SseParser,
    pending: std::collections::VecDeque<Value>,
    chunks: Vec<Value>,
    span: Option<Span>,
    done: bool,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl std::fmt::Debug for ChatCompletionStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatCompletionStream").field("url", &self.url).field("chunks", &self.chunks.len()).finish()
    }
}

impl ChatCompletionStream {
    /// The next chunk (`None` at the end of the stream).
    pub async fn next(&mut self) -> Option<Result<Value>> {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                self.chunks.push(chunk.clone());
                return Some(Ok(chunk));
            }
            if self.done {
                self.end(None);
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => {
                    let events = self.parser.push(&bytes);
                    if let Err(err) = self.take_events(events) {
                        self.done = true;
                        self.end(Some(&err));
                        return Some(Err(err));
                    }
                }
                Ok(None) => {
                    let events = self.parser.finish();
                    let taken = self.take_events(events);
                    self.done = true;
                    if let Err(err) = taken {
                        self.end(Some(&err));
                        return Some(Err(err));
                    }
                }
                Err(source) => {
                    let err = Error::Transport { url: self.url.clone(), source };
                    self.done = true;
                    self.end(Some(&err));
                    return Some(Err(err));
                }
            }
        }
    }

    /// The whole answer: reads the rest of the stream and returns the one completion its chunks
    /// make (what the span records).
    pub async fn completion(mut self) -> Result<Value> {
        while let Some(chunk) = self.next().await {
            chunk?;
        }
        Ok(llm_span::aggregate_chunks(&self.chunks))
    }

    /// The chunks as a [`futures::Stream`].
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Value>> + Send {
        futures::stream::unfold(self, |mut stream| async move { stream.next().await.map(|chunk| (chunk, stream)) })
    }

    /// Parses the events' data into `pending` chunks.
    fn take_events(&mut self, events: Vec<String>) -> Result<()> {
        for data in events {
            let chunk: Value = serde_json::from_str(&data).map_err(|err| Error::Protocol {
                url: self.url.clone(),
                message: format!("a chunk is not JSON: {err}"),
            })?;
            if let Some(error) = chunk.get("error") {
                return Err(Error::Protocol {
                    url: self.url.clone(),
                    message: format!("error in the stream: {error}"),
                });
            }
            self.pending.push_back(chunk);
        }
        if self.parser.done {
            self.done = true;
        }
        Ok(())
    }

    fn end(&mut self, error: Option<&Error>) {
        if let Some(span) = self.span.take() {
            let completion = llm_span::aggregate_chunks(&self.chunks);
            match error {
                Some(err) => {
                    span.set_outputs(&completion);
                    llm_span::fail(span, err);
                }
                None => llm_span::finish(span, &completion),
            }
        }
    }
}

impl Drop for ChatCompletionStream {
    fn drop(&mut self) {
        self.end(None);
    }
}

/// The model name of a model URI: `openai:/gpt-4o-mini` → `gpt-4o-mini`.
pub fn model_name(uri: &str) -> &str {
    uri.split_once(":/").map_or(uri, |(_, name)| name.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceContext;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A real HTTP endpoint: answers 429 then 503 to the first two calls, then the verdict;
    /// keeps the number of calls and the most it saw in flight at once.
    #[derive(Default)]
    struct Endpoint {
        calls: AtomicUsize,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    async fn serve(endpoint: Arc<Endpoint>, failures: usize) -> String {
        use axum::http::StatusCode;
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            post(move |axum::Json(body): axum::Json<Value>| {
                let endpoint = endpoint.clone();
                async move {
                    let n = endpoint.calls.fetch_add(1, Ordering::SeqCst);
                    let now = endpoint.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    endpoint.max_in_flight.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    endpoint.in_flight.fetch_sub(1, Ordering::SeqCst);
                    if n < failures {
                        let status =
                            if n == 0 { StatusCode::TOO_MANY_REQUESTS } else { StatusCode::SERVICE_UNAVAILABLE };
                        return (status, axum::Json(serde_json::json!({"error": {"message": "busy"}})));
                    }
                    let content = serde_json::json!({"result": "yes", "rationale": body["model"]}).to_string();
                    (
                        StatusCode::OK,
                        axum::Json(serde_json::json!({
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                            "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
                        })),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}/v1")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn retries_busy_answers_with_backoff() {
        let endpoint = Arc::new(Endpoint::default());
        let base = serve(endpoint.clone(), 2).await;
        let client = ChatClient::new(base, Some("k".into())).retries(3, Duration::from_millis(5));
        let answer = client.chat("openai:/gpt-4o-mini", &[ChatMessage::user("hi")]).await.unwrap();
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 3);
        assert_eq!(answer.content, r#"{"result":"yes","rationale":"gpt-4o-mini"}"#);
        assert_eq!((answer.input_tokens, answer.output_tokens), (Some(11), Some(3)));

        // Out of retries: the last answer's status is the error.
        let endpoint = Arc::new(Endpoint::default());
        let base = serve(endpoint.clone(), 10).await;
        let client = ChatClient::new(base, None).retries(1, Duration::from_millis(5));
        let err = client.chat("m", &[ChatMessage::user("hi")]).await.unwrap_err();
        assert!(err.to_string().contains("503"), "{err}");
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_limit_is_in_flight() {
        let endpoint = Arc::new(Endpoint::default());
        let base = serve(endpoint.clone(), 0).await;
        let client = ChatClient::new(base, None).max_concurrency(2);
        let calls = (0..6).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.chat("m", &[ChatMessage::user("hi")]).await })
        });
        for call in futures::future::join_all(calls).await {
            call.unwrap().unwrap();
        }
        assert_eq!(endpoint.calls.load(Ordering::SeqCst), 6);
        assert_eq!(endpoint.max_in_flight.load(Ordering::SeqCst), 2);
    }

    /// A real streaming endpoint: the answer in server-sent events, a tool call split over two
    /// chunks, the usage in the last chunk.
    async fn serve_stream() -> String {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            post(|axum::Json(body): axum::Json<Value>| async move {
                assert_eq!(body["stream"], true);
                assert_eq!(body["stream_options"]["include_usage"], true);
                let chunks = [
                    json!({"id": "c1", "model": "m-1", "created": 1, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Let me "}}]}),
                    json!({"id": "c1", "model": "m-1", "created": 1, "choices": [{"index": 0, "delta": {"content": "add.", "tool_calls": [
                        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\":"}}]}}]}),
                    json!({"id": "c1", "model": "m-1", "created": 1, "choices": [{"index": 0, "delta": {"tool_calls": [
                        {"index": 0, "function": {"arguments": " 1}"}}]}, "finish_reason": "tool_calls"}]}),
                    json!({"id": "c1", "model": "m-1", "created": 1, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}}),
                ];
                let mut text: String = chunks.iter().map(|c| format!("data: {c}\r\n\r\n")).collect();
                text.push_str("data: [DONE]\n\n");
                ([("content-type", "text/event-stream")], text)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{address}/v1")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_call_is_one_chat_model_span() {
        use crate::tracing_tests::{attr, captured, trace_of};
        captured();
        let client = ChatClient::new(serve_stream().await, None);
        let request = json!({
            "model": "m", "temperature": 0.5,
            "messages": [{"role": "user", "content": "1 + 0?"}],
            "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}],
        });
        let (trace_id, completion) = TraceContext::default()
            .attach(async {
                let parent = crate::start_span("agent", crate::SpanType::Agent);
                let mut stream = client.chat_completion_stream(&request).await.unwrap();
                let mut seen = 0;
                while let Some(chunk) = stream.next().await {
                    chunk.unwrap();
                    seen += 1;
                }
                assert_eq!(seen, 4);
                drop(stream);
                // Not traced: a judge call inside a scorer when scorer tracing is off.
                let quiet = llm_span::with_llm_tracing(false, client.chat_completion_stream(&request)).await.unwrap();
                let completion = quiet.completion().await.unwrap();
                (parent.trace_id().unwrap(), completion)
            })
            .await;
        assert_eq!(completion["choices"][0]["message"]["content"], "Let me add.");

        let (spans, _) = trace_of(&trace_id);
        assert_eq!(spans.len(), 2, "the agent span and one call");
        let call = spans.iter().find(|s| s.name == "Completions").unwrap();
        let agent = spans.iter().find(|s| s.name == "agent").unwrap();
        assert_eq!(call.parent_span_id, agent.span_id);
        assert_eq!(attr(call, "mlflow.spanType"), Some(json!({"stringValue": "CHAT_MODEL"})));
        assert_eq!(attr(call, "mlflow.llm.model"), Some(json!({"stringValue": "m-1"})));
        assert_eq!(attr(call, "mlflow.message.format"), Some(json!({"stringValue": "openai"})));
        assert_eq!(attr(call, "temperature"), Some(json!({"doubleValue": 0.5})));
        assert!(attr(call, "mlflow.chat.tools").is_some());
        assert!(attr(call, "messages").is_none(), "messages are inputs, not a parameter");
        assert_eq!(
            attr(call, "mlflow.chat.tokenUsage"),
            Some(json!({"kvlistValue": {"values": [
                {"key": "input_tokens", "value": {"intValue": "9"}},
                {"key": "output_tokens", "value": {"intValue": "4"}},
                {"key": "total_tokens", "value": {"intValue": "13"}}]}}))
        );
        let outputs = serde_json::to_string(&attr(call, "mlflow.spanOutputs")).unwrap();
        assert!(outputs.contains("Let me add.") && outputs.contains("{\\\"a\\\": 1}"), "{outputs}");
    }

    #[test]
    fn model_uris() {
        assert_eq!(model_name("openai:/gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(model_name("gpt-4o"), "gpt-4o");
    }
}
