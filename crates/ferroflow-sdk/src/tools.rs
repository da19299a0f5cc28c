//! Data tools without an LLM fallback.
//!
//! A tool that fetches data (a database row, an API answer) can fail. The dangerous outcome is
//! not the failure but what comes next: an agent that gets nothing back, or an empty string,
//! tends to let the LLM answer anyway, from memory, and the user gets a made-up number that
//! looks like data. The pattern here makes that impossible to miss:
//!
//! 1. the tool runs inside a TOOL span, so its inputs, its output or its error are in the trace;
//! 2. on failure the span is ERROR with an `exception` event (type and message);
//! 3. the agent gets a `function_call_output` item whose output is an explicit error object,
//!    `{"error": ..., "tool": ..., "data_produced": false, "instruction": ...}`, which says no
//!    data was produced and tells the model not to answer from memory; and
//!    [`ToolOutcome::succeeded`] is false so the agent's code can stop instead of asking the LLM.
//!
//! ```no_run
//! use ferroflow_sdk::tools::run_data_tool;
//! # async fn lookup(id: u64) -> Result<serde_json::Value, std::io::Error> { unimplemented!() }
//! # async fn run() {
//! let outcome = run_data_tool("order_status", "call-1", &serde_json::json!({"order_id": 42}),
//!     lookup(42)).await;
//! if !outcome.succeeded {
//!     // Answer "the order service is unavailable", never a guess.
//! }
//! let item = outcome.item; // goes back to the model as the tool's result
//! # }
//! ```

use std::fmt::Display;
use std::future::Future;

use serde::Serialize;
use serde_json::{json, Value};

use crate::agent::{function_call_output_item, Item};
use crate::tracer::{instrument, FnMeta, FnSpan};
use crate::SpanType;

/// What the model is told when a data tool failed.
pub const NO_DATA_INSTRUCTION: &str = "The tool failed and produced no data. Tell the user this \
data is unavailable right now. Do not guess, estimate or answer from memory.";

/// The result of one data-tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// The `function_call_output` item for the model: the data as JSON text, or the explicit
    /// error object.
    pub item: Item,
    /// Whether the tool produced data.
    pub succeeded: bool,
    /// The data, when the tool produced some.
    pub data: Option<Value>,
    /// The error message, when it did not.
    pub error: Option<String>,
}

/// The error object the model gets when `tool` failed.
pub fn no_data_output(tool: &str, error: &str) -> Value {
    json!({
        "error": error,
        "tool": tool,
        "data_produced": false,
        "instruction": NO_DATA_INSTRUCTION,
    })
}

fn outcome<T: Serialize, E: Display>(tool: &str, call_id: &str, result: &Result<T, E>) -> ToolOutcome {
    match result {
        Ok(data) => {
            let data = crate::record::to_json(data);
            let text = match &data {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            ToolOutcome {
                item: function_call_output_item(call_id, text),
                succeeded: true,
                data: Some(data),
                error: None,
            }
        }
        Err(error) => {
            let message = error.to_string();
            ToolOutcome {
                item: function_call_output_item(call_id, no_data_output(tool, &message).to_string()),
                succeeded: false,
                data: None,
                error: Some(message),
            }
        }
    }
}

fn meta(tool: &str) -> &'static FnMeta {
    // Tool names are few and live for the whole program: keep one FnMeta per name.
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static METAS: OnceLock<Mutex<HashMap<String, &'static FnMeta>>> = OnceLock::new();
    let mut metas = METAS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    metas.entry(tool.to_string()).or_insert_with(|| {
        let name: &'static str = Box::leak(tool.to_string().into_boxed_str());
        Box::leak(Box::new(FnMeta { name, span_type: SpanType::Tool, function_name: name }))
    })
}

/// Runs an async data tool inside a TOOL span named `tool`; see the module docs.
pub async fn run_data_tool<T, E, F>(
    tool: &str,
    call_id: &str,
    arguments: &(impl Serialize + ?Sized),
    call: F,
) -> ToolOutcome
where
    T: Serialize,
    E: Display,
    F: Future<Output = Result<T, E>>,
{
    let span = FnSpan::start(meta(tool), |inputs| {
        let arguments = crate::record::to_json(arguments);
        if arguments.is_object() {
            inputs.value = Some(arguments);
        }
    });
    let result = instrument(&span, call).await;
    finish(&span, tool, call_id, &result)
}

/// [`run_data_tool`] for a sync tool.
pub fn run_data_tool_sync<T, E>(
    tool: &str,
    call_id: &str,
    arguments: &(impl Serialize + ?Sized),
    call: impl FnOnce() -> Result<T, E>,
) -> ToolOutcome
where
    T: Serialize,
    E: Display,
{
    let span = FnSpan::start(meta(tool), |inputs| {
        let arguments = crate::record::to_json(arguments);
        if arguments.is_object() {
            inputs.value = Some(arguments);
        }
    });
    let result = span.run_sync(call);
    finish(&span, tool, call_id, &result)
}

fn finish<T: Serialize, E: Display>(span: &FnSpan, tool: &str, call_id: &str, result: &Result<T, E>) -> ToolOutcome {
    let outcome = outcome(tool, call_id, result);
    match result {
        Ok(data) => span.finish_output(data),
        Err(error) => {
            span.span.set_outputs(&no_data_output(tool, &error.to_string()));
            span.finish_error(error);
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::FunctionCallOutputItem;

    #[test]
    fn failure_is_explicit_and_traced() {
        let _captured = crate::tracing_tests::captured();
        let root = crate::start_span("tools", SpanType::Agent);
        let trace_id = root.trace_id().unwrap();
        let ok = run_data_tool_sync("lookup", "call-1", &json!({"id": 1}), || Ok::<_, String>(json!({"rows": 1})));
        assert!(ok.succeeded);
        let failed =
            run_data_tool_sync("lookup", "call-2", &json!({"id": 2}), || Err::<Value, _>("connection refused"));
        drop(root);
        assert!(!failed.succeeded);
        let Item::FunctionCallOutput(FunctionCallOutputItem { output, call_id, .. }) = &failed.item else {
            panic!("not a function_call_output: {:?}", failed.item)
        };
        assert_eq!(call_id, "call-2");
        let output: Value = serde_json::from_str(output).unwrap();
        assert_eq!(output["data_produced"], false);
        assert_eq!(output["error"], "connection refused");
        assert_eq!(output["instruction"], NO_DATA_INSTRUCTION);

        let (spans, _) = crate::tracing_tests::trace_of(&trace_id);
        let lookups: Vec<_> = spans.iter().filter(|s| s.name == "lookup").collect();
        assert_eq!(lookups.len(), 2);
        let err = lookups.iter().find(|s| s.status.as_ref().unwrap().code == 2).unwrap();
        assert_eq!(err.events[0].name, "exception");
        assert_eq!(crate::tracing_tests::attr(err, "mlflow.spanType"), Some(json!({"stringValue": "TOOL"})));
    }
}
