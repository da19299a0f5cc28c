//! Automatic tracing of the calls an agent makes through the `async-openai` crate (feature
//! `async-openai`): a tower layer on that client's HTTP path, so every chat-completions and
//! Responses API call, streamed or not, becomes a `CHAT_MODEL` span as the SDK's own client
//! records it (`llm_span`), with no change to the calls themselves.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use async_openai::types::chat::CreateChatCompletionRequest;
//! let client = ferroflow_sdk::genai::openai::instrument(async_openai::Client::new());
//! let request: CreateChatCompletionRequest = serde_json::from_value(serde_json::json!({
//!     "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi!"}],
//! }))?;
//! let answer = client.chat().create(request).await?;   // a CHAT_MODEL span
//! # let _ = answer; Ok(()) }
//! ```
//!
//! [`instrument`] keeps the crate's own retry policy under the span (one span per call, its
//! retries inside); [`TracingLayer`] goes into a tower stack of your own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_openai::error::OpenAIError;
use async_openai::middleware::retry::OpenAIRetryLayer;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use futures::{Stream, StreamExt};
use reqwest_013 as reqwest;
use serde_json::Value;

use super::llm_span;
use crate::live::span::Span;

/// `client` with every chat-completions and Responses call traced (its HTTP path becomes
/// this crate's retry policy over a fresh `reqwest` client, under the tracing layer).
pub fn instrument<C: async_openai::config::Config>(client: async_openai::Client<C>) -> async_openai::Client<C> {
    let service = tower::ServiceBuilder::new()
        .layer(TracingLayer)
        .layer(OpenAIRetryLayer::default())
        .service(ReqwestService::new(reqwest::Client::new()));
    client.with_http_service(service)
}

/// The tower layer that traces LLM calls (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingLayer;

impl<S> tower::Layer<S> for TracingLayer {
    type Service = TracingService<S>;
    fn layer(&self, inner: S) -> TracingService<S> {
        TracingService { inner }
    }
}

/// The service [`TracingLayer`] makes.
#[derive(Debug, Clone)]
pub struct TracingService<S> {
    inner: S,
}

/// Which API a request calls, by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    ChatCompletions,
    Responses,
}

impl Api {
    fn of(path: &str) -> Option<Api> {
        let path = path.trim_end_matches('/');
        if path.ends_with("/chat/completions") {
            Some(Api::ChatCompletions)
        } else if path.ends_with("/responses") {
            Some(Api::Responses)
        } else {
            None
        }
    }

    fn span_name(self) -> &'static str {
        match self {
            Api::ChatCompletions => llm_span::CHAT_COMPLETIONS,
            Api::Responses => llm_span::RESPONSES,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> tower::Service<HttpRequestFactory> for TracingService<S>
where
    S: tower::Service<HttpRequestFactory, Response = reqwest::Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<OpenAIError>,
{
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        // The clone is the one that was made ready; keep a fresh clone for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            // Build the request once to see what it asks; the inner service builds its own.
            let request = factory.build().await?;
            let call = Api::of(request.url().path()).and_then(|api| {
                let body = request.body()?.as_bytes()?;
                Some((api, serde_json::from_slice::<Value>(body).ok()?))
            });
            let Some((api, body)) = call else {
                return inner.call(factory).await.map_err(Into::into);
            };
            let span = llm_span::start(api.span_name(), &body);
            let response = match inner.call(factory).await.map_err(Into::into) {
                Ok(response) => response,
                Err(err) => {
                    llm_span::fail(span, &err);
                    return Err(err);
                }
            };
            let status = response.status();
            if !status.is_success() {
                llm_span::fail(span, &format!("HTTP {status}"));
                return Ok(response);
            }
            let mut head = http::Response::builder().status(status).version(response.version());
            if let Some(headers) = head.headers_mut() {
                *headers = response.headers().clone();
            }
            let streamed = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
            let body = if streamed {
                let chunks = TracedChunks {
                    inner: response.bytes_stream().boxed(),
                    api,
                    parser: llm_span::SseParser::default(),
                    events: Vec::new(),
                    span: Some(span),
                };
                reqwest::Body::wrap_stream(chunks)
            } else {
                let bytes = match response.bytes().await {
                    Ok(bytes) => bytes,
                    Err(err) => {
                        llm_span::fail(span, &err);
                        return Err(OpenAIError::Reqwest(err));
                    }
                };
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(answer) => llm_span::finish(span, &answer),
                    Err(err) => llm_span::fail(span, &format!("the answer is not JSON: {err}")),
                }
                reqwest::Body::from(bytes)
            };
            let rebuilt = head.body(body).map_err(|err| OpenAIError::InvalidArgument(err.to_string()))?;
            Ok(reqwest::Response::from(rebuilt))
        })
    }
}

/// A streamed answer passed through unchanged while its events are kept; the span ends with
/// the stream (or when it is dropped), its outputs what the events make: one chat completion,
/// or the Responses API's completed response.
struct TracedChunks {
    inner: futures::stream::BoxStream<'static, Result<bytes::Bytes, reqwest::Error>>,
    api: Api,
    parser: llm_span::SseParser,
    events: Vec<Value>,
    span: Option<Span>,
}

impl TracedChunks {
    fn keep(&mut self, data: Vec<String>) {
        self.events.extend(data.iter().filter_map(|text| serde_json::from_str::<Value>(text).ok()));
    }

    fn end(&mut self, error: Option<&dyn std::fmt::Display>) {
        let Some(span) = self.span.take() else { return };
        let answer = match self.api {
            Api::ChatCompletions => llm_span::aggregate_chunks(&self.events),
            Api::Responses => self
                .events
                .iter()
                .rev()
                .find_map(|event| event.get("response").filter(|_| event["type"] == "response.completed"))
                .cloned()
                .unwrap_or(Value::Array(self.events.clone())),
        };
        match error {
            Some(err) => {
                span.set_outputs(&answer);
                llm_span::fail(span, err);
            }
            None => llm_span::finish(span, &answer),
        }
    }
}

impl Stream for TracedChunks {
    type Item = Result<bytes::Bytes, reqwest::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = this.inner.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(Some(Ok(bytes))) => {
                let data = this.parser.push(bytes);
                this.keep(data);
            }
            Poll::Ready(Some(Err(err))) => this.end(Some(err)),
            Poll::Ready(None) => {
                let data = this.parser.finish();
                this.keep(data);
                this.end(None);
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for TracedChunks {
    fn drop(&mut self) {
        self.end(None);
    }
}
