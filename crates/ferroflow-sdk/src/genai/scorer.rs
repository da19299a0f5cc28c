//! Scorers: what judges one evaluated row. The [`Scorer`] trait, the [`scorer`] helper that
//! makes one from a closure, and the values a scorer gives ([`Score`], [`Feedback`]).
//!
//! A scorer sees the row's inputs, the predict function's outputs, the row's expectations and
//! the row's trace (its id and root span). What it returns becomes feedback assessments on
//! that trace, named as `mlflow.genai` names them: a plain value (bool, number, string) takes
//! the scorer's name and the scorer as its source; a [`Feedback`] keeps its own name (the
//! scorer's when it has none) and has the source `default`, as a Python scorer returning a
//! `Feedback` does. A scorer that fails records an error feedback for that row; the
//! evaluation goes on.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

/// The error a scorer returns (its `Display` is the recorded error message).
pub type ScorerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A scorer's future.
pub type ScoreFuture<'a> = Pin<Box<dyn Future<Output = Result<Score, ScorerError>> + Send + 'a>>;

/// The trace of one evaluated row: MLflow's trace id and the root span's id, which the row's
/// assessments are attached to, and its spans as the server returns them when a scorer asks
/// for them ([`Scorer::needs_spans`]; empty otherwise).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EvalTrace {
    pub trace_id: String,
    pub span_id: String,
    pub spans: Vec<TraceSpan>,
}

/// One span of a row's trace, as read back from the server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceSpan {
    /// 16 lowercase hex digits.
    pub span_id: String,
    pub parent_id: Option<String>,
    pub name: String,
    /// `mlflow.spanType` (`RETRIEVER`, `LLM`, …).
    pub span_type: String,
    pub inputs: Value,
    pub outputs: Value,
    /// The status code as the server wrote it (`STATUS_CODE_OK`, `STATUS_CODE_ERROR`, …).
    pub status: String,
}

impl TraceSpan {
    /// Whether the span ended in error.
    pub fn is_error(&self) -> bool {
        self.status.contains("ERROR") || self.status == "2"
    }
}

impl EvalTrace {
    /// The retriever spans that have no retriever above them (MLflow's "top-level retrieval
    /// spans": a retriever calling another counts once).
    pub fn top_level_retrievers(&self) -> Vec<&TraceSpan> {
        let by_id: std::collections::HashMap<&str, &TraceSpan> =
            self.spans.iter().map(|span| (span.span_id.as_str(), span)).collect();
        self.spans
            .iter()
            .filter(|span| span.span_type == "RETRIEVER")
            .filter(|span| {
                let mut parent = span.parent_id.as_deref();
                while let Some(id) = parent {
                    match by_id.get(id) {
                        Some(above) if above.span_type == "RETRIEVER" => return false,
                        Some(above) => parent = above.parent_id.as_deref(),
                        None => break,
                    }
                }
                true
            })
            .collect()
    }
}

/// What a scorer gets for one row.
#[derive(Debug, Clone, Copy)]
pub struct ScorerInput<'a> {
    /// The row's inputs (an object: the predict function's arguments by name).
    pub inputs: &'a Value,
    /// What the predict function returned.
    pub outputs: &'a Value,
    /// The row's expectations by name (`expected_response`, `expected_facts`, …).
    pub expectations: &'a Map<String, Value>,
    pub trace: &'a EvalTrace,
}

/// Who gives a scorer's feedback: code (`CODE`) or an LLM judge (`LLM_JUDGE`, with its model
/// URI as the source id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScorerKind {
    Code,
    LlmJudge { model: String },
}

/// One feedback: a value (bool, number or string) with an optional rationale.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Feedback {
    /// The assessment's name; the scorer's name when `None`.
    pub name: Option<String>,
    /// The span it is about (a retriever span, say), kept in the evaluation's result; the
    /// assessment is logged on the row's root span either way, as `mlflow.genai.evaluate` does.
    pub span_id: Option<String>,
    pub value: Value,
    pub rationale: Option<String>,
    /// Extra assessment metadata (string values), e.g. a judge's token counts.
    pub metadata: BTreeMap<String, String>,
}

impl Feedback {
    pub fn new(value: impl Into<Value>) -> Feedback {
        Feedback { value: value.into(), ..Feedback::default() }
    }

    pub fn rationale(mut self, rationale: impl Into<String>) -> Feedback {
        self.rationale = Some(rationale.into());
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Feedback {
        self.name = Some(name.into());
        self
    }
}

/// What a scorer gives for one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Score {
    /// A plain value, named after the scorer.
    Value(Value),
    /// One feedback.
    Feedback(Feedback),
    /// Several feedbacks, each with its own name.
    Many(Vec<Feedback>),
}

impl From<bool> for Score {
    fn from(value: bool) -> Score {
        Score::Value(Value::Bool(value))
    }
}

impl From<f64> for Score {
    fn from(value: f64) -> Score {
        Score::Value(Value::from(value))
    }
}

impl From<i64> for Score {
    fn from(value: i64) -> Score {
        Score::Value(Value::from(value))
    }
}

impl From<usize> for Score {
    fn from(value: usize) -> Score {
        Score::Value(Value::from(value))
    }
}

impl From<String> for Score {
    fn from(value: String) -> Score {
        Score::Value(Value::String(value))
    }
}

impl From<&str> for Score {
    fn from(value: &str) -> Score {
        Score::Value(Value::String(value.to_string()))
    }
}

impl From<Feedback> for Score {
    fn from(feedback: Feedback) -> Score {
        Score::Feedback(feedback)
    }
}

impl From<Vec<Feedback>> for Score {
    fn from(feedbacks: Vec<Feedback>) -> Score {
        Score::Many(feedbacks)
    }
}

/// What a [`scorer`] closure may return: anything that is a [`Score`], or a `Result` of one
/// whose error is recorded as the row's error feedback.
pub trait IntoScore {
    fn into_score(self) -> Result<Score, ScorerError>;
}

impl<T: Into<Score>> IntoScore for T {
    fn into_score(self) -> Result<Score, ScorerError> {
        Ok(self.into())
    }
}

impl<T: Into<Score>, E: Display> IntoScore for Result<T, E> {
    fn into_score(self) -> Result<Score, ScorerError> {
        self.map(Into::into).map_err(|err| err.to_string().into())
    }
}

/// Judges one row of an evaluation.
pub trait Scorer: Send + Sync {
    /// The name its feedback is recorded under (and its metric: `<name>/mean`).
    fn name(&self) -> &str;

    /// Code or an LLM judge: the source of its feedback.
    fn kind(&self) -> ScorerKind {
        ScorerKind::Code
    }

    /// Whether it reads the row's spans ([`EvalTrace::spans`]): the evaluation then reads
    /// each row's trace back from the server before scoring.
    fn needs_spans(&self) -> bool {
        false
    }

    /// Scores one row.
    fn score<'a>(&'a self, input: ScorerInput<'a>) -> ScoreFuture<'a>;
}

/// A scorer from a closure over `(inputs, outputs, expectations, trace)`, returning a bool, a
/// number, a string, a [`Feedback`], several feedbacks, or a `Result` of one of these.
///
/// ```
/// use ferroflow_sdk::genai::{scorer, Feedback};
/// let exact = scorer("exact_match", |_inputs, outputs, expectations, _trace| {
///     outputs == &expectations["expected_response"]
/// });
/// let length = scorer("length", |_, outputs, _, _| {
///     let n = outputs.as_str().map_or(0, str::len);
///     Feedback::new(n as f64).rationale(format!("{n} characters"))
/// });
/// # let _ = (exact, length);
/// ```
pub fn scorer<F, R>(name: impl Into<String>, function: F) -> FnScorer<F>
where
    F: Fn(&Value, &Value, &Map<String, Value>, &EvalTrace) -> R + Send + Sync,
    R: IntoScore,
{
    FnScorer { name: name.into(), function }
}

/// The scorer [`scorer`] makes.
pub struct FnScorer<F> {
    name: String,
    function: F,
}

impl<F, R> Scorer for FnScorer<F>
where
    F: Fn(&Value, &Value, &Map<String, Value>, &EvalTrace) -> R + Send + Sync,
    R: IntoScore,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn score<'a>(&'a self, input: ScorerInput<'a>) -> ScoreFuture<'a> {
        // A panicking closure is a failed score for this row, not a failed evaluation.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            (self.function)(input.inputs, input.outputs, input.expectations, input.trace).into_score()
        }))
        .unwrap_or_else(|payload| Err(crate::live::context::panic_message(&*payload).into()));
        Box::pin(std::future::ready(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(scorer: &dyn Scorer) -> Result<Score, ScorerError> {
        let trace = EvalTrace { trace_id: "tr-1".into(), span_id: "01".into(), spans: Vec::new() };
        let expectations = json!({"expected_response": "a"}).as_object().cloned().unwrap();
        let input =
            ScorerInput { inputs: &json!({"q": 1}), outputs: &json!("a"), expectations: &expectations, trace: &trace };
        futures::executor::block_on(scorer.score(input))
    }

    #[test]
    fn closures_return_any_score() {
        assert_eq!(run(&scorer("b", |_, o, e, _| o == &e["expected_response"])).unwrap(), Score::Value(json!(true)));
        assert_eq!(run(&scorer("n", |_, _, _, _| 3.5)).unwrap(), Score::Value(json!(3.5)));
        assert_eq!(run(&scorer("s", |_, _, _, _| "yes")).unwrap(), Score::Value(json!("yes")));
        let fb = run(&scorer("f", |_, _, _, t| Feedback::new(1).rationale(t.trace_id.clone()))).unwrap();
        assert_eq!(fb, Score::Feedback(Feedback::new(1).rationale("tr-1")));
        let err = run(&scorer("e", |_, _, _, _| Err::<bool, _>("no data"))).unwrap_err();
        assert_eq!(err.to_string(), "no data");
        let panicked = run(&scorer("p", |_, _, _, _| -> bool { panic!("scorer bug") })).unwrap_err();
        assert_eq!(panicked.to_string(), "scorer bug");
    }
}
