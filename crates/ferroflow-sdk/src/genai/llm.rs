//! A small client for OpenAI-compatible chat-completions endpoints, what the LLM judges call.
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
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

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

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    temperature: f64,
    response_format: Value,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ResponseMessage,
}

#[derive(Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
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
    /// JSON object answer.
    pub async fn chat(&self, model: &str, messages: &[ChatMessage]) -> Result<ChatAnswer> {
        let model = model_name(model);
        let body = ChatRequest {
            model,
            messages,
            temperature: 0.0,
            response_format: serde_json::json!({"type": "json_object"}),
        };
        let url = format!("{}/chat/completions", self.base_url);
        let _permit = self.limit.acquire().await.map_err(|_| Error::Config("the judge client was closed".into()))?;
        let mut delay = self.initial_backoff;
        let mut attempt = 0;
        loop {
            let mut request = self.http.post(&url).json(&body);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            let retry_after = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let response: ChatResponse = response
                        .json()
                        .await
                        .map_err(|err| Error::Protocol { url: url.clone(), message: err.to_string() })?;
                    let content =
                        response.choices.into_iter().next().and_then(|choice| choice.message.content).ok_or_else(
                            || Error::Protocol { url: url.clone(), message: "no message in the answer".into() },
                        )?;
                    let usage = response.usage;
                    return Ok(ChatAnswer {
                        content,
                        input_tokens: usage.as_ref().and_then(|u| u.prompt_tokens),
                        output_tokens: usage.as_ref().and_then(|u| u.completion_tokens),
                    });
                }
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

/// The model name of a model URI: `openai:/gpt-4o-mini` → `gpt-4o-mini`.
pub fn model_name(uri: &str) -> &str {
    uri.split_once(":/").map_or(uri, |(_, name)| name.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn model_uris() {
        assert_eq!(model_name("openai:/gpt-4o-mini"), "gpt-4o-mini");
        assert_eq!(model_name("gpt-4o"), "gpt-4o");
    }
}
