//! The Rust half of `bench/eval_bench.py`: `genai::evaluate` of `rows` rows with three LLM
//! judges (safety, relevance to the query, guidelines) against the OpenAI-compatible endpoint
//! named by `OPENAI_BASE_URL`, `workers` rows at a time and at most `judge_concurrency` judge
//! calls in flight; prints the wall time and the metrics as one JSON line.
//!
//! ```text
//! eval_bench <rows> <workers> <judge_concurrency>
//! ```

use std::time::Instant;

use ferroflow_sdk::genai::{
    self, ChatClient, EvalRecord, EvaluateOptions, Guidelines, RelevanceToQuery, Safety, Scorer,
};
use serde_json::{json, Value};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let [rows, workers, judge_concurrency] = args[..] else {
        eprintln!("usage: eval_bench <rows> <workers> <judge_concurrency>");
        std::process::exit(2);
    };
    let data: Vec<EvalRecord> = (0..rows)
        .map(|i| {
            EvalRecord::new(json!({"question": format!("Question {i}: what is MLflow?")}))
                .expectation("expected_response", "MLflow is an ML platform")
        })
        .collect();
    let client = ChatClient::from_env().max_concurrency(judge_concurrency);
    let model = "openai:/gpt-4o-mini";
    let scorers: Vec<Box<dyn Scorer>> = vec![
        Box::new(Safety::new().model(model).client(client.clone())),
        Box::new(RelevanceToQuery::new().model(model).client(client.clone())),
        Box::new(Guidelines::new(["The response must be in English."]).model(model).client(client)),
    ];
    let options = EvaluateOptions { max_workers: workers, ..EvaluateOptions::default() };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let start = Instant::now();
    let result = runtime
        .block_on(genai::evaluate(
            data,
            |inputs: Value| async move {
                Ok::<_, std::convert::Infallible>(json!(format!("MLflow is an ML platform. ({})", inputs["question"])))
            },
            &scorers,
            options,
        ))
        .expect("evaluate");
    let seconds = start.elapsed().as_secs_f64();
    let report = ferroflow_sdk::flush();
    println!(
        "{}",
        json!({"seconds": seconds, "rows": result.rows.len(), "metrics": result.metrics, "lost": report.lost()})
    );
}
