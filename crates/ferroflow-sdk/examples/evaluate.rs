//! The GenAI loop in Rust: evaluate an agent with code scorers and LLM judges, then monitor
//! the traffic it served, against a tracking server and a judge model. The judge is a tiny
//! fake OpenAI-compatible server the example starts on 127.0.0.1 (it says "yes", but judges an
//! answer admitting not knowing incorrect), so it runs with nothing but a tracking server:
//!
//! ```sh
//! cargo run --release -p ferroflow -- server &                # or any MLflow server
//! MLFLOW_TRACKING_URI=http://127.0.0.1:5000 cargo run -p ferroflow-sdk --example evaluate
//! ```
//!
//! 1. `evaluate`: three questions with expected answers, a traced agent, two code scorers
//!    (`exact_match`, `length` with a rationale) and two judges (`Correctness`, `Safety`).
//!    The run, its metrics and every row's assessments are what `mlflow.genai.evaluate` would
//!    record: open the run's evaluation page in the UI, or `mlflow.search_runs(...)`.
//! 2. Production traffic: two requests traced with the tag `env=prod`.
//! 3. `assess`: score those traces, log the feedback on them, and check the thresholds
//!    (`safety` ≥ 1.0 passes, `answered` ≥ 0.9 fails: one of the two requests was not
//!    answered) as a monitoring job would, exiting non-zero on a failed check.

use axum::routing::post;
use axum::{Json, Router};
use ferroflow_sdk::genai::{
    assess, evaluate, scorer, AssessData, AssessOptions, Correctness, EvalRecord, EvaluateOptions, Feedback, Safety,
    Scorer,
};
use ferroflow_sdk::{start_span, trace, update_current_trace, Config, SpanType, TraceContext, TraceUpdate};
use serde_json::{json, Value};

/// The fake judge: a chat-completions endpoint answering `{"result", "rationale"}`.
async fn start_fake_judge() -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|Json(body): Json<Value>| async move {
            let prompt = body["messages"].to_string();
            // Not knowing is safe, but not correct.
            let result = if prompt.contains("is correct") && prompt.contains("I do not know") { "no" } else { "yes" };
            let content = json!({"rationale": format!("the fake judge says {result}"), "result": result});
            Json(json!({
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content.to_string()}}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/v1")
}

/// The agent under evaluation: answers from what it knows.
#[trace(span_type = "AGENT")]
async fn answer(question: String) -> String {
    match question.as_str() {
        "What is MLflow?" => "MLflow is an open source MLOps platform.".to_string(),
        "What is ferroflow?" => "ferroflow is an MLflow-compatible server in Rust.".to_string(),
        _ => "I do not know.".to_string(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env();
    if config.tracking_uri.is_none() {
        return Err("set MLFLOW_TRACKING_URI to a tracking server".into());
    }
    if std::env::var_os("MLFLOW_EXPERIMENT_NAME").is_none() && std::env::var_os("MLFLOW_EXPERIMENT_ID").is_none() {
        config.experiment = ferroflow_sdk::Experiment::Name("ferroflow-sdk-evaluate".into());
    }
    ferroflow_sdk::init(config)?;
    if std::env::var_os("OPENAI_BASE_URL").is_none() {
        std::env::set_var("OPENAI_BASE_URL", start_fake_judge().await);
    }

    // 1. Evaluate.
    let data = vec![
        EvalRecord::new(json!({"question": "What is MLflow?"}))
            .expectation("expected_response", "MLflow is an open source MLOps platform."),
        EvalRecord::new(json!({"question": "What is ferroflow?"}))
            .expectation("expected_response", "An MLflow-compatible server written in Rust."),
        EvalRecord::new(json!({"question": "What is Zig?"}))
            .expectation("expected_response", "A programming language."),
    ];
    let scorers: Vec<Box<dyn Scorer>> = vec![
        Box::new(scorer("exact_match", |_, outputs, expectations, _| outputs == &expectations["expected_response"])),
        Box::new(scorer("length", |_, outputs, _, _| {
            let words = outputs.as_str().unwrap_or_default().split_whitespace().count();
            Feedback::new(words as f64).rationale(format!("{words} words"))
        })),
        Box::new(Correctness::new()),
        Box::new(Safety::new()),
    ];
    let result = evaluate(
        data,
        |inputs: Value| async move {
            let question = inputs["question"].as_str().unwrap_or_default().to_string();
            Ok::<_, std::io::Error>(Value::String(answer(question).await))
        },
        &scorers,
        EvaluateOptions::default(),
    )
    .await?;
    println!("evaluation run {} metrics {:?}", result.run_id, result.metrics);
    for row in &result.rows {
        let verdicts: Vec<String> =
            row.feedbacks.iter().map(|f| format!("{}={}", f.name, f.value.clone().unwrap_or_default())).collect();
        println!("  {} {}: {}", row.trace_id, row.inputs["question"], verdicts.join(" "));
    }

    // 2. Production traffic, traced and tagged.
    for question in ["What is MLflow?", "What is Zig?"] {
        // A context of its own: the span is held across `.await`, the agent's span is its child.
        TraceContext::default()
            .attach(async {
                let span = start_span("serve", SpanType::Chain);
                span.set_inputs(&json!({"question": question}));
                update_current_trace(TraceUpdate::new().tag("env", "prod"));
                span.set_outputs(&answer(question.to_string()).await);
            })
            .await;
    }
    ferroflow_sdk::flush_async().await;

    // 3. Monitor it.
    let monitoring: Vec<Box<dyn Scorer>> = vec![
        Box::new(Safety::new()),
        Box::new(scorer("answered", |_, outputs, _, _| !outputs.as_str().unwrap_or_default().contains("do not know"))),
    ];
    let report = assess(
        AssessData::Traces { filter: Some("tags.env = 'prod'".into()), max_results: 100 },
        &monitoring,
        AssessOptions::default().threshold("safety", 1.0).threshold("answered", 0.9),
    )
    .await?;
    for check in &report.checks {
        let mark = if check.passed { "✓" } else { "✗" };
        println!("{mark} {}: mean {:?}, at least {}", check.name, check.mean, check.threshold);
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}
