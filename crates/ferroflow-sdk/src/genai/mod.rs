//! The GenAI evaluation loop in Rust: [`evaluate`] a predict function over a data set with
//! [`Scorer`]s (closures through [`scorer`], or the built-in LLM judges [`Relevance`] /
//! [`RelevanceToQuery`], [`Safety`], [`Guidelines`], [`Correctness`],
//! [`RetrievalGroundedness`], [`RetrievalRelevance`] calling any
//! OpenAI-compatible endpoint through [`ChatClient`]), recorded exactly as
//! `mlflow.genai.evaluate` records it: the run, its tags and metrics, one trace per row, and
//! every result as an assessment on its trace; and [`assess`] traffic that already happened
//! (traces by filter, or given inputs/outputs) against pass/fail thresholds.

mod assess;
mod evaluate;
mod judges;
mod llm;
mod llm_span;
#[cfg(feature = "async-openai")]
pub mod openai;
mod scorer;

pub use assess::{
    assess, AssessData, AssessOptions, AssessReport, AssessRow, Monitor, ThresholdCheck, MONITOR_WATERMARK_TAG_PREFIX,
};
pub(crate) use evaluate::trace_spans;
pub use evaluate::{
    agent_predict, evaluate, DatasetRef, EvalData, EvalRecord, EvaluateOptions, EvaluationResult, RowFeedback,
    RowResult, DEFAULT_MAX_WORKERS,
};
pub use judges::{
    Correctness, Guidelines, Judge, Relevance, RelevanceToQuery, RetrievalGroundedness, RetrievalRelevance, Safety,
    DEFAULT_JUDGE_MODEL,
};
pub use llm::{model_name, ChatAnswer, ChatClient, ChatCompletionStream, ChatMessage, DEFAULT_MAX_CONCURRENCY};
pub use scorer::{
    scorer, EvalTrace, Feedback, FnScorer, IntoScore, Score, ScoreFuture, Scorer, ScorerError, ScorerInput, ScorerKind,
    TraceSpan,
};
