//! The Rust side of `tests/compat/test_sdk.py`: makes traces (and, later, prompts) with the
//! SDK against the server named by `MLFLOW_TRACKING_URI`, and prints one JSON object per line
//! for the Python test to check with the real `mlflow` client.
//!
//! ```text
//! sdk_compat traces                    # the tracing scenarios, then the flush report
//! sdk_compat interactive               # reads commands on stdin: `trace <name>` makes one
//!                                      # trace and flushes; `quit` ends (loss accounting test)
//! sdk_compat prompt-load <uri> [k=v..] # loads a prompt, prints it (formatted with k=v)
//! sdk_compat prompt-register <name>    # registers a text and a chat prompt, sets aliases
//! sdk_compat evaluate <rows.jsonl|dataset:<name>|dataset-id:<id>> <answers.json>
//!                    [--judges <model-uri>] [--agent]
//!                                      # `genai::evaluate` of a table-lookup agent with the
//!                                      # test's code scorers (and the six LLM judges); data
//!                                      # from a file or a stored evaluation dataset; with
//!                                      # `--agent` the agent is a `ResponsesAgent`
//! sdk_compat autolog <base-url>          # LLM calls through the SDK's chat client (and, with
//!                                      # the `async-openai` feature, through that crate),
//!                                      # plain and streamed, under one agent span each
//! sdk_compat assess <filter|-> <rows.jsonl|-> [name=min..] [--judge <model-uri>]
//!                                      # `genai::assess` of the traces matching the filter
//!                                      # (or of the given rows) with thresholds
//! sdk_compat monitor <name> <filter> [name=min..]
//!                                      # one pass of a `genai::Monitor` with the assess scorers
//! ```
//!
//! `SDK_COMPAT_BACKOFF_MS` sets the first retry delay (the loss test keeps it short).

use std::io::BufRead;
use std::time::Duration;

use ferroflow_sdk::prompts::{ChatMessage, FormattedPrompt, Prompt, PromptTemplate};
use ferroflow_sdk::{
    current_span, registry, start_span, trace, update_current_trace, Config, SpanType, TraceContext, TraceUpdate,
};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Serialize)]
struct Doc {
    page_content: String,
    metadata: Value,
}

#[trace(span_type = "RETRIEVER")]
fn retrieve(q: &str) -> Vec<Doc> {
    vec![Doc { page_content: format!("doc about {q}"), metadata: json!({"id": 1}) }]
}

#[trace(span_type = "TOOL")]
fn tool_call(x: i64) -> i64 {
    x * 2
}

#[trace(name = "agent", span_type = "AGENT", skip(api_key), rename(q = "question"))]
fn agent(q: &str, k: i64, api_key: &str) -> Value {
    let _ = api_key;
    current_span().set_attribute("custom.attr", "v");
    update_current_trace(
        TraceUpdate::new()
            .tag("env", "test")
            .tag("feature", "sdk")
            .user("alice")
            .session("sess-1")
            .metadata("custom_meta", "m"),
    );
    let docs = retrieve(q);
    let answer = {
        let llm = start_span("llm-call", SpanType::Llm);
        llm.set_inputs(&json!({"messages": [{"role": "user", "content": q}]}));
        llm.set_attribute("model", "fake-model");
        llm.set_attribute("temperature", &0.1);
        llm.record_token_usage(10, 5);
        llm.add_event("my-event", [("k", "v")]);
        let answer = "answer".to_string();
        llm.set_outputs(&json!({"choices": [{"message": {"role": "assistant", "content": answer}}]}));
        answer
    };
    let tool = tool_call(k);
    json!({"answer": answer, "docs": docs, "tool": tool})
}

#[derive(Debug)]
struct LookupError(String);
impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[trace(span_type = "TOOL")]
fn inner_fail(key: &str) -> Result<String, LookupError> {
    Err(LookupError(format!("no row for {key}")))
}

#[trace(name = "failing", span_type = "CHAIN")]
fn failing(key: &str) -> Result<String, LookupError> {
    let value = inner_fail(key)?;
    Ok(value)
}

#[trace(span_type = "RETRIEVER")]
async fn async_retrieve(q: String) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    vec![format!("async doc about {q}")]
}

#[trace(name = "async-agent", span_type = "AGENT")]
async fn async_agent(q: String) -> usize {
    let docs = async_retrieve(q.clone()).await;
    let ctx = TraceContext::current();
    let spawned = tokio::spawn(ctx.attach(async move { async_retrieve(format!("{q} (spawned)")).await }));
    docs.len() + spawned.await.map(|d| d.len()).unwrap_or(0)
}

fn print(value: Value) {
    println!("{value}");
}

fn init() {
    let mut config = Config::from_env();
    if let Some(ms) = std::env::var("SDK_COMPAT_BACKOFF_MS").ok().and_then(|v| v.parse().ok()) {
        config.initial_backoff = Duration::from_millis(ms);
        config.max_backoff = Duration::from_millis(ms * 4);
    }
    config.request_timeout = Duration::from_secs(10);
    ferroflow_sdk::init(config).expect("first init");
    assert!(ferroflow_sdk::is_enabled(), "set MLFLOW_TRACKING_URI");
}

fn report_json(report: &ferroflow_sdk::FlushReport) -> Value {
    json!({
        "spans_delivered": report.spans_delivered,
        "spans_failed": report.spans_failed,
        "spans_dropped": report.spans_dropped,
        "traces_delivered": report.traces_delivered,
        "traces_failed": report.traces_failed,
        "traces_dropped": report.traces_dropped,
        "timed_out": report.timed_out,
        "last_error": report.last_error,
    })
}

fn traces() {
    let output = agent("what is mlflow?", 3, "sk-secret");
    print(json!({"scenario": "agent", "output": output}));

    let report = ferroflow_sdk::flush();
    print(json!({"scenario": "flush", "report": report_json(&report)}));

    let _ = failing("k-42");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let total = runtime.block_on(async_agent("rust".into()));
    print(json!({"scenario": "async", "total": total}));

    let report = ferroflow_sdk::flush();
    print(json!({"scenario": "done", "report": report_json(&report)}));
}

fn interactive() {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("trace"), Some(name)) => {
                let span = start_span(name.to_string(), SpanType::Chain);
                span.set_inputs(&json!({"name": name}));
                {
                    let child = start_span(format!("{name}-child"), SpanType::Tool);
                    child.set_outputs(&1);
                }
                span.set_outputs(&json!({"ok": true}));
                drop(span);
                let report = ferroflow_sdk::flush();
                print(json!({"scenario": "trace", "name": name, "report": report_json(&report)}));
            }
            (Some("quit"), _) | (None, _) => break,
            other => print(json!({"error": format!("unknown command {other:?}")})),
        }
    }
}

fn prompt_json(prompt: &Prompt) -> Value {
    let (kind, template) = match &prompt.template {
        PromptTemplate::Text(text) => ("text", json!(text)),
        PromptTemplate::Chat(messages) => ("chat", json!(messages)),
    };
    json!({
        "name": prompt.name, "version": prompt.version, "type": kind, "template": template,
        "commit_message": prompt.commit_message, "tags": prompt.tags, "aliases": prompt.aliases,
    })
}

fn prompts(args: &[String]) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = registry::Client::from_env().expect("MLFLOW_TRACKING_URI");
    runtime.block_on(async {
        match args.first().map(String::as_str) {
            Some("prompt-load") => {
                let uri = &args[1];
                let values: Vec<(String, String)> = args[2..]
                    .iter()
                    .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                    .collect();
                match client.load_prompt(uri).await {
                    Ok(prompt) => {
                        let mut out = prompt_json(&prompt);
                        match prompt.format(values.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                            Ok(formatted) => {
                                out["formatted"] = match formatted {
                                    FormattedPrompt::Text(text) => json!(text),
                                    FormattedPrompt::Chat(messages) => json!(messages),
                                }
                            }
                            Err(err) => out["format_error"] = json!(err.to_string()),
                        }
                        // A second load is served from the cache.
                        let again = client.load_prompt(uri).await.expect("cached load");
                        out["cached_equal"] = json!(again == prompt);
                        print(out);
                    }
                    Err(err) => print(json!({
                        "error": err.to_string(),
                        "code": err.error_code().map(|c| c.to_string()),
                    })),
                }
            }
            Some("prompt-register") => {
                let name = &args[1];
                let tags = vec![("team".to_string(), "rust".to_string())];
                let text = client
                    .register_prompt(
                        name,
                        PromptTemplate::Text("Hello {{name}}, from Rust.".into()),
                        "first from rust",
                        &tags,
                    )
                    .await
                    .expect("register text");
                let text2 = client
                    .register_prompt(
                        name,
                        PromptTemplate::Text("Hi {{ name }}! ({{mood}})".into()),
                        "second from rust",
                        &[],
                    )
                    .await
                    .expect("register text v2");
                client.set_prompt_alias(name, "production", text.version).await.expect("alias");
                let chat = client
                    .register_prompt(
                        &format!("{name}-chat"),
                        PromptTemplate::Chat(vec![
                            ChatMessage::new("system", "You are a {{persona}}."),
                            ChatMessage::new("user", "{{question}}"),
                        ]),
                        "chat from rust",
                        &[],
                    )
                    .await
                    .expect("register chat");
                let found = client.search_prompts(&format!("name = '{name}'"), 10).await.expect("search");
                print(json!({
                    "text": prompt_json(&text), "text2": prompt_json(&text2), "chat": prompt_json(&chat),
                    "searched": found.iter().map(|m| m.name.clone()).collect::<Vec<_>>(),
                }));
            }
            _ => unreachable!(),
        }
    });
}

/// The subject of a question: its last word (`"What is Rust?"` → `"Rust"`).
fn subject(question: &str) -> String {
    question.trim_end_matches('?').split_whitespace().last().unwrap_or_default().to_string()
}

/// The table-lookup agent as a `ResponsesAgent`: the answer to the last user message.
struct LookupAgent {
    answers: std::collections::HashMap<String, String>,
}

impl ferroflow_sdk::agent::ResponsesAgent for LookupAgent {
    async fn predict(
        &self,
        request: ferroflow_sdk::agent::ResponsesAgentRequest,
    ) -> Result<ferroflow_sdk::agent::ResponsesAgentResponse, ferroflow_sdk::agent::AgentError> {
        let question = request.last_user_text().unwrap_or_default();
        let answer = self.answers.get(&question).ok_or("no answer for this question")?;
        Ok(ferroflow_sdk::agent::ResponsesAgentResponse::new(vec![ferroflow_sdk::agent::text_output_item(
            answer.clone(),
            "msg-1",
        )]))
    }
}

/// The same evaluation as `tests/compat/test_sdk_evaluate.py` runs in Python: the agent answers
/// from a table; the scorers are the test's, with the same names and results.
fn evaluate(args: &[String]) {
    use ferroflow_sdk::genai::{
        self, scorer, Correctness, EvalData, Feedback, Guidelines, RelevanceToQuery, RetrievalGroundedness,
        RetrievalRelevance, Safety, Scorer,
    };
    let data = if let Some(name) = args[1].strip_prefix("dataset:") {
        EvalData::dataset_name(name)
    } else if let Some(id) = args[1].strip_prefix("dataset-id:") {
        EvalData::dataset_id(id)
    } else {
        EvalData::jsonl(&args[1])
    };
    let answers: std::collections::HashMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&args[2]).expect("answers file")).expect("answers JSON");
    let mut scorers: Vec<Box<dyn Scorer>> = vec![
        Box::new(scorer("exact_match", |_, outputs, expectations, _| outputs == &expectations["expected_response"])),
        Box::new(scorer("mentions_subject", |inputs, outputs, _, _| {
            let name = subject(inputs["question"].as_str().unwrap_or_default());
            let found = outputs.as_str().unwrap_or_default().to_lowercase().contains(&name.to_lowercase());
            Feedback::new(found).rationale(format!("looked for '{name}': {}", if found { "found" } else { "missing" }))
        })),
        Box::new(scorer("word_count", |_, outputs, _, _| {
            outputs.as_str().unwrap_or_default().split_whitespace().count()
        })),
        Box::new(scorer("boom", |_, _, _, _| Err::<bool, _>("bad scorer"))),
    ];
    if let Some(model) = args.iter().position(|a| a == "--judges").and_then(|i| args.get(i + 1)) {
        scorers.push(Box::new(Guidelines::new(["The response must be in English."]).model(model)));
        scorers.push(Box::new(Correctness::new().model(model)));
        scorers.push(Box::new(RelevanceToQuery::new().model(model)));
        scorers.push(Box::new(Safety::new().model(model)));
        scorers.push(Box::new(RetrievalGroundedness::new().model(model)));
        scorers.push(Box::new(RetrievalRelevance::new().model(model)));
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let result = if args.iter().any(|a| a == "--agent") {
        scorers.push(Box::new(scorer("agent_answer", |_, outputs, expectations, _| {
            outputs["output"][0]["content"][0]["text"] == expectations["expected_response"]
        })));
        let agent = LookupAgent { answers: answers.clone() };
        runtime.block_on(genai::evaluate(data, genai::agent_predict(&agent), &scorers, Default::default()))
    } else {
        runtime.block_on(genai::evaluate(
            data,
            |inputs: Value| {
                let question = inputs["question"].as_str().unwrap_or_default().to_string();
                let answer = answers.get(&question).cloned();
                async move {
                    // A retriever first, as the Python agent of the test has.
                    let retrieve = start_span("retrieve", SpanType::Retriever);
                    retrieve.set_inputs(&json!({"question": question}));
                    retrieve.set_outputs(&json!([
                        {"page_content": format!("{} is described here.", subject(&question)),
                         "metadata": {"doc_uri": "docs/a"}, "id": null},
                        {"page_content": "The weather is sunny.", "metadata": {"doc_uri": "docs/b"}, "id": null},
                    ]));
                    drop(retrieve);
                    answer.map(Value::String).ok_or("no answer for this question")
                }
            },
            &scorers,
            genai::EvaluateOptions::default(),
        ))
    }
    .expect("evaluate");
    let rows: Vec<Value> = result
        .rows
        .iter()
        .map(|row| {
            let feedbacks: serde_json::Map<String, Value> = row
                .feedbacks
                .iter()
                .map(|f| (f.name.clone(), json!({"value": f.value, "error": f.error, "rationale": f.rationale})))
                .collect();
            json!({"trace_id": row.trace_id, "inputs": row.inputs, "outputs": row.outputs, "feedbacks": feedbacks})
        })
        .collect();
    print(
        json!({"run_id": result.run_id, "experiment_id": result.experiment_id, "metrics": result.metrics, "rows": rows}),
    );
}

/// Production monitoring of the test's traces: `has_answer` (a non-empty answer), `word_count`
/// and, with `--judge`, the safety judge.
fn assess(args: &[String]) {
    use ferroflow_sdk::genai::{self, scorer, AssessData, AssessOptions, AssessRow, Safety, Scorer};
    let mut scorers: Vec<Box<dyn Scorer>> = vec![
        Box::new(scorer("has_answer", |_, outputs, _, _| outputs.as_str().is_some_and(|s| !s.trim().is_empty()))),
        Box::new(scorer("word_count", |_, outputs, _, _| {
            outputs.as_str().unwrap_or_default().split_whitespace().count()
        })),
    ];
    let mut options = AssessOptions::default();
    let mut rest = args[3..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--judge" {
            let model = rest.next().expect("a model URI after --judge");
            scorers.push(Box::new(Safety::new().model(model)));
        } else if let Some((name, minimum)) = arg.split_once('=') {
            options = options.threshold(name, minimum.parse::<f64>().expect("a number"));
        }
    }
    let data = if args[2] != "-" {
        let rows = std::fs::read_to_string(&args[2]).expect("rows file");
        AssessData::Rows(
            rows.lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| {
                    let row: Value = serde_json::from_str(line).expect("a JSON row");
                    AssessRow {
                        inputs: row["inputs"].clone(),
                        outputs: row["outputs"].clone(),
                        expectations: row["expectations"].as_object().cloned().unwrap_or_default(),
                    }
                })
                .collect(),
        )
    } else {
        let filter = (args[1] != "-").then(|| args[1].clone());
        AssessData::Traces { filter, max_results: 1000 }
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(genai::assess(data, &scorers, options)).expect("assess");
    let checks: Vec<Value> = report
        .checks
        .iter()
        .map(|c| json!({"name": c.name, "mean": c.mean, "threshold": c.threshold, "passed": c.passed}))
        .collect();
    let traces: Vec<&String> = report.traces.iter().map(|(id, _)| id).collect();
    print(json!({"passed": report.passed(), "metrics": report.metrics, "checks": checks, "traces": traces}));
}

fn monitor(args: &[String]) {
    use ferroflow_sdk::genai::{scorer, AssessOptions, Monitor, Scorer};
    let scorers: Vec<Box<dyn Scorer>> = vec![
        Box::new(scorer("has_answer", |_, outputs, _, _| outputs.as_str().is_some_and(|s| !s.trim().is_empty()))),
        Box::new(scorer("word_count", |_, outputs, _, _| {
            outputs.as_str().unwrap_or_default().split_whitespace().count()
        })),
    ];
    let mut options = AssessOptions::default();
    for arg in &args[3..] {
        if let Some((name, minimum)) = arg.split_once('=') {
            options = options.threshold(name, minimum.parse::<f64>().expect("a number"));
        }
    }
    let monitor = Monitor::new(&args[1], scorers).filter(&args[2]).options(options);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(monitor.run_once()).expect("monitor");
    let traces: Vec<&String> = report.traces.iter().map(|(id, _)| id).collect();
    print(json!({"passed": report.passed(), "metrics": report.metrics, "traces": traces}));
}

/// The LLM calls of an agent, traced automatically: one trace per client, an AGENT span with a
/// call that gets a tool call back, then a streamed call.
fn autolog(args: &[String]) {
    use ferroflow_sdk::genai::ChatClient;
    let base = args[1].clone();
    let key = std::env::var("OPENAI_API_KEY").ok();
    let tools = json!([{"type": "function", "function": {
        "name": "add", "description": "Add two numbers",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}}]);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = ChatClient::new(&base, key.clone());
    let (trace_id, answer, streamed) = runtime.block_on(TraceContext::default().attach(async {
        let agent = start_span("own-client-agent", SpanType::Agent);
        let answer = client
            .chat_completion(&json!({
                "model": "gpt-4o-mini", "temperature": 0.2, "tools": tools,
                "messages": [{"role": "user", "content": "What is 1 + 2?"}],
            }))
            .await
            .expect("chat completion");
        let stream = client
            .chat_completion_stream(&json!({
                "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello"}],
            }))
            .await
            .expect("streamed chat completion");
        let streamed = stream.completion().await.expect("the stream");
        (agent.trace_id(), answer, streamed)
    }));
    print(json!({"scenario": "own", "trace_id": trace_id, "answer": answer, "streamed": streamed}));
    #[cfg(feature = "async-openai")]
    runtime.block_on(TraceContext::default().attach(async {
        use async_openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse};
        use futures::StreamExt;
        let config =
            async_openai::config::OpenAIConfig::new().with_api_base(&base).with_api_key(key.unwrap_or_default());
        let client = ferroflow_sdk::genai::openai::instrument(async_openai::Client::with_config(config));
        let agent = start_span("async-openai-agent", SpanType::Agent);
        let request: CreateChatCompletionRequest = serde_json::from_value(json!({
            "model": "gpt-4o-mini", "temperature": 0.2, "tools": tools,
            "messages": [{"role": "user", "content": "What is 1 + 2?"}],
        }))
        .expect("a request");
        let answer: CreateChatCompletionResponse = client.chat().create(request).await.expect("chat completion");
        let request: CreateChatCompletionRequest = serde_json::from_value(json!({
            "model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "Say hello"}],
        }))
        .expect("a request");
        let mut stream = client.chat().create_stream(request).await.expect("streamed chat completion");
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            for choice in chunk.expect("a chunk").choices {
                text.push_str(choice.delta.content.as_deref().unwrap_or_default());
            }
        }
        let request: async_openai::types::responses::CreateResponse =
            serde_json::from_value(json!({"model": "gpt-4o-mini", "input": "Say hello"})).expect("a request");
        let response = client.responses().create(request).await.expect("a response");
        let response = serde_json::to_value(&response).expect("JSON");
        print(json!({"scenario": "async-openai", "trace_id": agent.trace_id(), "answer": answer, "streamed": text,
                     "response": response}));
    }));
    let report = ferroflow_sdk::flush();
    print(json!({"scenario": "done", "lost": report.lost()}));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("traces") => {
            init();
            traces();
        }
        Some("interactive") => {
            init();
            print(json!({"scenario": "ready"}));
            interactive();
        }
        Some("prompt-load" | "prompt-register") if args.len() >= 2 => prompts(&args),
        Some("monitor") if args.len() >= 3 => {
            init();
            monitor(&args);
        }
        Some("autolog") if args.len() >= 2 => {
            init();
            autolog(&args);
        }
        Some("assess") if args.len() >= 3 => {
            init();
            assess(&args);
        }
        Some("evaluate") if args.len() >= 3 => {
            init();
            evaluate(&args);
        }
        _ => {
            eprintln!(
                "usage: sdk_compat traces | interactive | prompt-load <uri> | prompt-register <name> \
                 | evaluate <rows.jsonl> <answers.json> [--judges <model-uri>]"
            );
            std::process::exit(2);
        }
    }
}
