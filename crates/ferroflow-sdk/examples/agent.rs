//! An agent on ferroflow-sdk, end to end: a `ResponsesAgent` that looks an order up with a
//! data tool, loads its prompt by alias from the prompt registry, and calls an LLM, all
//! traced. The "LLM" is a tiny fake OpenAI-compatible server the example starts itself on
//! 127.0.0.1, so it runs with nothing but a tracking server:
//!
//! ```sh
//! cargo run --release -p ferroflow -- server &                # or any MLflow server
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p ferroflow-sdk --example agent
//! ```
//!
//! It answers two questions: one about an order the tool finds (trace: AGENT `predict` →
//! TOOL `order_status` → LLM `chat_completion`), one about an order the tool cannot find (the
//! TOOL span is ERROR and the agent says the data is unavailable without asking the LLM).
//! Then it flushes and prints the trace ids; open them in the UI or with
//! `mlflow.get_trace(...)`. `MLFLOW_EXPERIMENT_NAME` picks the experiment (default
//! `ferroflow-sdk-example`).

use std::net::SocketAddr;

use axum::routing::post;
use axum::{Json, Router};
use ferroflow_sdk::agent::{
    function_call_item, text_output_item, AgentError, ResponsesAgent, ResponsesAgentExt, ResponsesAgentRequest,
    ResponsesAgentResponse,
};
use ferroflow_sdk::prompts::PromptTemplate;
use ferroflow_sdk::registry::Client;
use ferroflow_sdk::tools::run_data_tool;
use ferroflow_sdk::{current_span, trace, update_current_trace, Config, TraceUpdate};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const PROMPT: &str = "support-answer";

// ---- The fake LLM: POST /v1/chat/completions, OpenAI's shape. ----

async fn fake_chat_completions(Json(request): Json<Value>) -> Json<Value> {
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let status = last.split("status: ").nth(1).unwrap_or("unknown").trim();
    Json(json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": request["model"],
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": format!("Your order is {status}.")}}],
        "usage": {"prompt_tokens": last.len() / 4, "completion_tokens": 6, "total_tokens": last.len() / 4 + 6},
    }))
}

async fn start_fake_llm() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/v1/chat/completions", post(fake_chat_completions));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

// ---- The traced LLM call. ----

#[derive(Serialize, Deserialize, Clone, Debug)]
struct Message {
    role: String,
    content: String,
}

#[trace(span_type = "CHAT_MODEL", skip(http, base_url))]
async fn chat_completion(
    http: &reqwest::Client,
    base_url: &str,
    model: &str,
    messages: Vec<Message>,
) -> Result<String, reqwest::Error> {
    let answer: Value = http
        .post(format!("{base_url}/v1/chat/completions"))
        .json(&json!({"model": model, "messages": messages}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let usage = &answer["usage"];
    current_span().record_token_usage(
        usage["prompt_tokens"].as_u64().unwrap_or(0),
        usage["completion_tokens"].as_u64().unwrap_or(0),
    );
    current_span().set_attribute("model", model);
    Ok(answer["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string())
}

// ---- The data tool: a stand-in for a database. ----

#[derive(Debug)]
struct NotFound(u64);
impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "order {} is not in the orders database", self.0)
    }
}

async fn lookup_order(order_id: u64) -> Result<Value, NotFound> {
    match order_id {
        42 => Ok(json!({"order_id": 42, "status": "shipped", "carrier": "UPS"})),
        7 => Ok(json!({"order_id": 7, "status": "processing"})),
        other => Err(NotFound(other)),
    }
}

// ---- The agent. ----

struct SupportAgent {
    http: reqwest::Client,
    llm_url: String,
    registry: Client,
}

impl ResponsesAgent for SupportAgent {
    async fn predict(&self, request: ResponsesAgentRequest) -> Result<ResponsesAgentResponse, AgentError> {
        let question = request.last_user_text().ok_or("the request has no user message")?;
        let order_id: u64 = question
            .split(|c: char| !c.is_ascii_digit())
            .find_map(|word| word.parse().ok())
            .ok_or("no order number in the question")?;

        let arguments = json!({"order_id": order_id});
        let call = function_call_item("fc-1", "call-1", "order_status", arguments.to_string());
        let outcome = run_data_tool("order_status", "call-1", &arguments, lookup_order(order_id)).await;
        if !outcome.succeeded {
            // No data: say so. The LLM is not asked to fill the gap.
            let text = format!(
                "I could not look order {order_id} up right now ({}), so I cannot tell you its status.",
                outcome.error.unwrap_or_default()
            );
            return Ok(ResponsesAgentResponse::new(vec![call, outcome.item, text_output_item(text, "msg-1")]));
        }

        let prompt = self.registry.load_prompt(&format!("prompts:/{PROMPT}@production")).await?;
        let data = outcome.data.clone().unwrap_or_default();
        let system = prompt
            .format([("question", question.as_str()), ("status", data["status"].as_str().unwrap_or("unknown"))])?
            .text();
        let messages = vec![
            Message { role: "system".into(), content: "You answer order questions from data only.".into() },
            Message { role: "user".into(), content: system },
        ];
        let answer = chat_completion(&self.http, &self.llm_url, "fake-gpt", messages).await?;
        Ok(ResponsesAgentResponse::new(vec![call, outcome.item, text_output_item(answer, "msg-1")]))
    }
}

/// Loads the prompt by alias; on a fresh server, registers it first and points `production`
/// at it.
async fn ensure_prompt(registry: &Client) -> Result<(), ferroflow_sdk::Error> {
    match registry.load_prompt(&format!("prompts:/{PROMPT}@production")).await {
        Ok(prompt) => {
            println!("prompt {} found", prompt.uri());
            Ok(())
        }
        Err(err) if err.is_not_found() || err.error_code() == Some(ferroflow_sdk::ErrorCode::InvalidParameterValue) => {
            let template = PromptTemplate::Text("Customer question: {{question}}\nOrder status: {{status}}".into());
            let prompt = registry.register_prompt(PROMPT, template, "example prompt", &[]).await?;
            registry.set_prompt_alias(PROMPT, "production", prompt.version).await?;
            println!("registered {} and set alias production", prompt.uri());
            Ok(())
        }
        Err(err) => Err(err),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env();
    if !matches!(config.experiment, ferroflow_sdk::Experiment::Id(_) | ferroflow_sdk::Experiment::Name(_)) {
        config.experiment = ferroflow_sdk::Experiment::Name("ferroflow-sdk-example".into());
    }
    if config.tracking_uri.is_none() {
        return Err("set MLFLOW_TRACKING_URI, e.g. http://127.0.0.1:5000".into());
    }
    let registry = Client::new(&config)?;
    ferroflow_sdk::init(config)?;
    ensure_prompt(&registry).await?;

    let llm = start_fake_llm().await;
    let agent = SupportAgent { http: reqwest::Client::new(), llm_url: format!("http://{llm}"), registry };

    for (user, question) in [("alice", "Where is my order 42?"), ("bob", "What about order 1234?")] {
        let request = ResponsesAgentRequest::user_text(question);
        let response = ferroflow_sdk::in_current_context(async {
            let span = ferroflow_sdk::start_span("support-chat", ferroflow_sdk::SpanType::Chain);
            update_current_trace(
                TraceUpdate::new().user(user).session(format!("{user}-session")).tag("example", "agent"),
            );
            let trace_id = span.trace_id();
            let response = agent.invoke(request).await;
            span.set_outputs(&response.as_ref().map(|r| r.output.len()).unwrap_or(0));
            (trace_id, response)
        })
        .await;
        let (trace_id, response) = response;
        let text = response
            .map_err(|err| err.to_string())?
            .output
            .last()
            .map(|item| serde_json::to_value(item).unwrap_or_default())
            .unwrap_or_default();
        println!("{question}\n  -> {}\n  trace {}", text["content"][0]["text"], trace_id.unwrap_or_default());
    }

    let report = ferroflow_sdk::flush_async().await;
    println!(
        "exported: {} spans and {} traces delivered, {} lost",
        report.spans_delivered,
        report.traces_delivered,
        report.lost()
    );
    if report.lost() > 0 {
        return Err(format!("some spans were not delivered: {:?}", report.last_error).into());
    }
    Ok(())
}
