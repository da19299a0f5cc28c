//! A Rust agent served over HTTP with `ferroflow_sdk::serve`: MLflow's `/invocations`
//! contract for a ResponsesAgent, the OpenAI Responses API at `/responses`, `/health`, `/ping`.
//! Every request is a trace in the tracking server of `MLFLOW_TRACKING_URI` (when set).
//!
//! ```sh
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p ferroflow-sdk --example serve_agent -- --port 8000
//! curl -s localhost:8000/invocations -d '{"input": [{"role": "user", "content": "Where is order 42?"}]}'
//! ```
//!
//! The agent answers order questions with a data tool (orders 42 and 7 exist; any other number
//! makes the tool fail, and the agent says the data is unavailable); other questions are echoed.
//! It streams its answer word by word.
//!
//! ```text
//! serve_agent [--port N]                  # 0 (the default) picks a free port
//!             [--flaw no-output|bad-stream|tool-answers-anyway]
//!             [--register NAME [--alias A]... [--no-signature]]
//! serve_agent call <models:/name@alias | http://endpoint> <question> [--stream] [--traced]
//! ```
//!
//! It prints one JSON line `{"listening": "http://127.0.0.1:<port>"}` once it accepts requests.
//! `--register NAME` first logs the agent as a logged model of the experiment
//! (`MLFLOW_EXPERIMENT_NAME`), with the ResponsesAgent signature and its serving endpoint,
//! registers it as a version of model NAME and points each `--alias` at it; it prints
//! `{"model_id", "version", "aliases"}`. `call` loads an agent with `load_agent` and prints its
//! response (or, with `--stream`, each event) as JSON lines; with `--traced` the call runs
//! under a span `client` (the served agent's spans join its trace) and a last line
//! `{"trace_id": ...}` names the trace.
//!
//! The flaws make deliberately broken agents for `ferroflow check`: `no-output` answers with
//! no output items, `bad-stream` streams events missing their fields, `tool-answers-anyway`
//! makes up an answer when the data tool fails, `--no-signature` logs the model without a
//! signature.

use ferroflow_sdk::agent::{
    function_call_item, output_item_done, text_delta, text_output_item, AgentError, Item, ResponsesAgent,
    ResponsesAgentRequest, ResponsesAgentResponse, ResponsesAgentStreamEvent,
};
use ferroflow_sdk::tools::run_data_tool;
use ferroflow_sdk::{Config, SpanType};
use futures::{Stream, StreamExt};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    NoOutput,
    BadStream,
    ToolAnswersAnyway,
}

#[derive(Debug)]
struct NotFound(u64);
impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "order {} is not in the orders database", self.0)
    }
}

async fn lookup_order(order_id: u64) -> Result<Value, NotFound> {
    match order_id {
        42 => Ok(json!({"order_id": 42, "status": "shipped"})),
        7 => Ok(json!({"order_id": 7, "status": "processing"})),
        other => Err(NotFound(other)),
    }
}

struct OrderAgent {
    flaw: Flaw,
}

impl ResponsesAgent for OrderAgent {
    async fn predict(&self, request: ResponsesAgentRequest) -> Result<ResponsesAgentResponse, AgentError> {
        if self.flaw == Flaw::NoOutput {
            return Ok(ResponsesAgentResponse::new(Vec::new()));
        }
        let question = request.last_user_text().ok_or("the request has no user message")?;
        let order_id = question.split(|c: char| !c.is_ascii_digit()).find_map(|word| word.parse::<u64>().ok());
        let Some(order_id) = order_id else {
            return Ok(ResponsesAgentResponse::new(vec![text_output_item(format!("echo: {question}"), "msg-1")]));
        };
        let arguments = json!({"order_id": order_id});
        let call = function_call_item("fc-1", "call-1", "order_status", arguments.to_string());
        let outcome = run_data_tool("order_status", "call-1", &arguments, lookup_order(order_id)).await;
        let text = match (&outcome.data, self.flaw) {
            (Some(data), _) => format!("Order {order_id} is {}.", data["status"].as_str().unwrap_or("unknown")),
            // The flaw: no data, but a confident answer anyway, and the tool's error hidden.
            (None, Flaw::ToolAnswersAnyway) => {
                let hidden = ferroflow_sdk::agent::function_call_output_item("call-1", "{}");
                let text = format!("Order {order_id} has shipped and arrives tomorrow.");
                return Ok(ResponsesAgentResponse::new(vec![call, hidden, text_output_item(text, "msg-1")]));
            }
            (None, _) => format!(
                "I could not look order {order_id} up ({}), so its status is unavailable right now.",
                outcome.error.clone().unwrap_or_default()
            ),
        };
        Ok(ResponsesAgentResponse::new(vec![call, outcome.item, text_output_item(text, "msg-1")]))
    }

    fn predict_stream(
        &self,
        request: ResponsesAgentRequest,
    ) -> impl Stream<Item = Result<ResponsesAgentStreamEvent, AgentError>> + Send {
        let flaw = self.flaw;
        futures::stream::once(self.predict(request)).flat_map(move |result| {
            let events = match result {
                Ok(response) => stream_events(response.output, flaw).into_iter().map(Ok).collect(),
                Err(err) => vec![Err(err)],
            };
            futures::stream::iter(events)
        })
    }
}

/// The answer's text as word deltas, then each item done (`bad-stream`: events without their
/// fields).
fn stream_events(output: Vec<Item>, flaw: Flaw) -> Vec<ResponsesAgentStreamEvent> {
    let mut events = Vec::new();
    for item in output {
        if let Item::Message(message) = &item {
            let text = message.content.text();
            for (i, word) in text.split_inclusive(' ').enumerate() {
                let mut delta = text_delta(word, message.id.clone().unwrap_or_default());
                if flaw == Flaw::BadStream {
                    delta.item_id = None;
                    delta.delta = None;
                }
                delta.extra.insert("output_index".into(), json!(0));
                delta.extra.insert("content_index".into(), json!(i));
                events.push(delta);
            }
        }
        let mut done = output_item_done(item);
        if flaw == Flaw::BadStream {
            done.item = None;
        }
        events.push(done);
    }
    events
}

fn usage() -> ! {
    eprintln!(
        "usage: serve_agent [--port N] [--flaw no-output|bad-stream|tool-answers-anyway] \
         [--register NAME [--alias A].. [--no-signature]]\n       serve_agent call <uri> <question> [--stream] [--traced]"
    );
    std::process::exit(2)
}

async fn call(args: &[String]) -> Result<(), AgentError> {
    let [uri, question, rest @ ..] = args else { usage() };
    let agent = ferroflow_sdk::models::load_agent(uri).await?;
    let request = ResponsesAgentRequest::user_text(question.as_str());
    // Under a span of its own, the call carries a `traceparent`: the served agent's spans join
    // this trace.
    let span = rest.iter().any(|a| a == "--traced").then(|| ferroflow_sdk::start_span("client", SpanType::Chain));
    if rest.iter().any(|a| a == "--stream") {
        let mut events = std::pin::pin!(agent.predict_stream(request));
        while let Some(event) = events.next().await {
            println!("{}", serde_json::to_string(&event?)?);
        }
    } else {
        println!("{}", serde_json::to_string(&agent.predict(request).await?)?);
    }
    if let Some(span) = span {
        let trace_id = span.trace_id();
        span.end();
        ferroflow_sdk::flush();
        println!("{}", serde_json::json!({ "trace_id": trace_id }));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), AgentError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("call") {
        return call(&args[1..]).await;
    }
    let (mut port, mut flaw, mut register, mut aliases, mut signature) = (0u16, Flaw::None, None, Vec::new(), true);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().cloned().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--port" => port = value().parse().unwrap_or_else(|_| usage()),
            "--flaw" => {
                flaw = match value().as_str() {
                    "no-output" => Flaw::NoOutput,
                    "bad-stream" => Flaw::BadStream,
                    "tool-answers-anyway" => Flaw::ToolAnswersAnyway,
                    _ => usage(),
                }
            }
            "--register" => register = Some(value()),
            "--alias" => aliases.push(value()),
            "--no-signature" => signature = false,
            _ => usage(),
        }
    }

    let config = Config::from_env();
    let tracking = config.tracking_uri.is_some();
    if tracking {
        ferroflow_sdk::init(config.clone())?;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let endpoint = format!("http://{}", listener.local_addr()?);

    if let Some(name) = register {
        let mut agent = ferroflow_sdk::models::AgentModel::new("order-agent", &endpoint)
            .version(env!("CARGO_PKG_VERSION"))
            .git_commit_from_env();
        if !signature {
            agent = agent.without_signature();
        }
        let models = ferroflow_sdk::models::Models::new(&config)?;
        let logged = models.log_agent(&agent).await?;
        let version = models.register(&name, &logged).await?;
        for alias in &aliases {
            models.registry().set_registered_model_alias(&name, alias, &version.version).await?;
        }
        println!("{}", json!({"model_id": logged.model_id, "version": version.version, "aliases": aliases}));
    }

    println!("{}", json!({"listening": endpoint, "tracing": tracking}));
    ferroflow_sdk::serve::serve_on(listener, OrderAgent { flaw }).await?;
    Ok(())
}
