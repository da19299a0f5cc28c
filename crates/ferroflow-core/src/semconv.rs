//! OpenTelemetry GenAI semantic conventions (`gen_ai.*`), OpenInference
//! (`openinference.span.kind`, `input.value`, `llm.token_count.*`) and Traceloop/OpenLLMetry
//! (`traceloop.span.kind`, `traceloop.entity.input`/`.output`) mapped to MLflow's span
//! attributes, so spans from stock exporters show and search like native ones.
//!
//! The mapping only *adds* MLflow attributes that are missing; every attribute a span arrived
//! with is kept as it came (lossless). The tables below are the whole mapping.

use serde_json::{Map, Value};

/// OpenInference span kinds → MLflow span types.
const OPENINFERENCE_KINDS: &[(&str, &str)] = &[
    ("LLM", "LLM"),
    ("CHAIN", "CHAIN"),
    ("TOOL", "TOOL"),
    ("RETRIEVER", "RETRIEVER"),
    ("EMBEDDING", "EMBEDDING"),
    ("AGENT", "AGENT"),
    ("RERANKER", "RERANKER"),
    ("GUARDRAIL", "GUARDRAIL"),
    ("EVALUATOR", "EVALUATOR"),
];

/// `gen_ai.operation.name` values → MLflow span types.
const GENAI_OPERATIONS: &[(&str, &str)] = &[
    ("chat", "CHAT_MODEL"),
    ("text_completion", "LLM"),
    ("generate_content", "LLM"),
    ("embeddings", "EMBEDDING"),
    ("execute_tool", "TOOL"),
    ("invoke_agent", "AGENT"),
    ("create_agent", "AGENT"),
];

/// Traceloop / OpenLLMetry `traceloop.span.kind` values → MLflow span types.
const TRACELOOP_KINDS: &[(&str, &str)] =
    &[("workflow", "WORKFLOW"), ("task", "TASK"), ("agent", "AGENT"), ("tool", "TOOL"), ("unknown", "UNKNOWN")];

/// Attributes holding inputs / outputs, in order of preference (OpenInference, GenAI,
/// Traceloop).
const INPUT_KEYS: &[&str] =
    &["input.value", "gen_ai.input.messages", "gen_ai.prompt", "gen_ai.tool.call.arguments", "traceloop.entity.input"];
const OUTPUT_KEYS: &[&str] = &[
    "output.value",
    "gen_ai.output.messages",
    "gen_ai.completion",
    "gen_ai.tool.call.result",
    "traceloop.entity.output",
];

/// Token counters: (input, output, total) attribute names per convention.
const TOKEN_COUNTERS: &[(&str, &str, Option<&str>)] = &[
    ("llm.token_count.prompt", "llm.token_count.completion", Some("llm.token_count.total")),
    ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", None),
    // Traceloop's names; its total has a name of its own.
    ("gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", Some("llm.usage.total_tokens")),
];

const MODEL_KEYS: &[&str] = &["gen_ai.request.model", "gen_ai.response.model", "llm.model_name"];
const PROVIDER_KEYS: &[&str] = &["gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"];

/// Resource `service.name` values that MLflow copies onto the root span's attributes (the
/// coding agents whose traces it recognises by them); other services are left on the
/// resource.
const ROOT_SERVICE_NAMES: &[&str] = &["claude-code", "codex_cli_rs", "codex_vscode", "gemini-cli", "qwen-code"];

/// Copies the resource's `service.name` onto a root span's attributes when it is one MLflow
/// recognises.
pub fn add_root_service_name(attributes: &mut Map<String, Value>, service_name: Option<&str>) {
    if let Some(name) = service_name.filter(|name| ROOT_SERVICE_NAMES.contains(name)) {
        attributes.insert("service.name".to_string(), Value::String(name.to_string()));
    }
}

fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(from, _)| from.eq_ignore_ascii_case(key)).map(|(_, to)| *to)
}

/// A string attribute holding JSON (as `input.value` often does) becomes that JSON.
fn as_json(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| value.clone()),
        other => other.clone(),
    }
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Every attribute the tables above read starts with one of these (checked by a test): a span
/// with none of them (MLflow's own spans, most of what arrives) is left as it is after one
/// pass over its keys, instead of a map lookup for each name in the tables.
const CONVENTION_PREFIXES: &[&str] = &["openinference.", "gen_ai.", "traceloop.", "input.", "output.", "llm."];

/// Fills MLflow's attributes from the conventions a span uses. Returns true if anything was
/// added.
pub fn enrich(attributes: &mut Map<String, Value>) -> bool {
    if !attributes.keys().any(|key| CONVENTION_PREFIXES.iter().any(|prefix| key.starts_with(prefix))) {
        return false;
    }
    let mut added = false;
    let mut add = |attributes: &mut Map<String, Value>, key: &str, value: Value| {
        if !attributes.contains_key(key) {
            attributes.insert(key.to_string(), value);
            added = true;
        }
    };
    if !attributes.contains_key("mlflow.spanType") {
        let span_type = attributes
            .get("openinference.span.kind")
            .and_then(Value::as_str)
            .and_then(|kind| lookup(OPENINFERENCE_KINDS, kind))
            .or_else(|| {
                attributes
                    .get("gen_ai.operation.name")
                    .and_then(Value::as_str)
                    .and_then(|op| lookup(GENAI_OPERATIONS, op))
            })
            .or_else(|| {
                attributes
                    .get("traceloop.span.kind")
                    .and_then(Value::as_str)
                    .and_then(|kind| lookup(TRACELOOP_KINDS, kind))
            });
        if let Some(span_type) = span_type {
            add(attributes, "mlflow.spanType", Value::String(span_type.to_string()));
        }
    }
    if let Some(inputs) = INPUT_KEYS.iter().find_map(|k| attributes.get(*k)).map(as_json) {
        add(attributes, "mlflow.spanInputs", inputs);
    }
    if let Some(outputs) = OUTPUT_KEYS.iter().find_map(|k| attributes.get(*k)).map(as_json) {
        add(attributes, "mlflow.spanOutputs", outputs);
    }
    if !attributes.contains_key("mlflow.chat.tokenUsage") {
        for (input_key, output_key, total_key) in TOKEN_COUNTERS {
            let input = attributes.get(*input_key).and_then(as_i64);
            let output = attributes.get(*output_key).and_then(as_i64);
            if input.is_none() && output.is_none() {
                continue;
            }
            let total = total_key
                .and_then(|k| attributes.get(k))
                .and_then(as_i64)
                .unwrap_or(input.unwrap_or(0) + output.unwrap_or(0));
            let usage = serde_json::json!({
                "input_tokens": input.unwrap_or(0),
                "output_tokens": output.unwrap_or(0),
                "total_tokens": total,
            });
            add(attributes, "mlflow.chat.tokenUsage", usage);
            break;
        }
    }
    if let Some(model) = MODEL_KEYS.iter().find_map(|k| attributes.get(*k)).cloned() {
        add(attributes, "mlflow.llm.model", model);
    }
    if let Some(provider) = PROVIDER_KEYS.iter().find_map(|k| attributes.get(*k)).cloned() {
        add(attributes, "mlflow.llm.provider", provider);
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(input: Value, expected_added: Value) {
        let mut attributes = input.as_object().cloned().unwrap();
        let before = attributes.clone();
        enrich(&mut attributes);
        for (key, value) in &before {
            assert_eq!(attributes.get(key), Some(value), "original attribute {key} must be kept");
        }
        let added: Map<String, Value> = attributes.into_iter().filter(|(k, _)| !before.contains_key(k)).collect();
        assert_eq!(Value::Object(added), expected_added);
    }

    #[test]
    fn every_table_key_has_a_convention_prefix() {
        let kinds = ["openinference.span.kind", "gen_ai.operation.name", "traceloop.span.kind"];
        let counters = TOKEN_COUNTERS.iter().flat_map(|(i, o, t)| [Some(*i), Some(*o), *t]).flatten();
        let keys = kinds.into_iter().chain(INPUT_KEYS.iter().copied()).chain(OUTPUT_KEYS.iter().copied());
        for key in keys.chain(counters).chain(MODEL_KEYS.iter().copied()).chain(PROVIDER_KEYS.iter().copied()) {
            assert!(CONVENTION_PREFIXES.iter().any(|p| key.starts_with(p)), "{key} has no listed prefix");
        }
        let mut native = json!({"mlflow.spanType": "LLM", "mlflow.spanInputs": {"q": 1}}).as_object().cloned().unwrap();
        assert!(!enrich(&mut native));
    }

    #[test]
    fn openinference_llm_span() {
        check(
            json!({"openinference.span.kind": "LLM", "input.value": "{\"messages\": [\"hi\"]}", "output.value": "hello",
                   "llm.token_count.prompt": 12, "llm.token_count.completion": 3, "llm.token_count.total": 15,
                   "llm.model_name": "gpt-x"}),
            json!({"mlflow.spanType": "LLM", "mlflow.spanInputs": {"messages": ["hi"]}, "mlflow.spanOutputs": "hello",
                   "mlflow.chat.tokenUsage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
                   "mlflow.llm.model": "gpt-x"}),
        );
    }

    #[test]
    fn traceloop_workflow_span() {
        check(
            json!({"traceloop.span.kind": "workflow", "traceloop.entity.input": "{\"inputs\": {\"q\": 1}}",
                   "traceloop.entity.output": "\"done\"", "gen_ai.usage.prompt_tokens": 4,
                   "gen_ai.usage.completion_tokens": 5, "llm.usage.total_tokens": 10}),
            json!({"mlflow.spanType": "WORKFLOW", "mlflow.spanInputs": {"inputs": {"q": 1}}, "mlflow.spanOutputs": "done",
                   "mlflow.chat.tokenUsage": {"input_tokens": 4, "output_tokens": 5, "total_tokens": 10}}),
        );
        for (kind, expected) in TRACELOOP_KINDS {
            check(json!({"traceloop.span.kind": kind}), json!({"mlflow.spanType": expected}));
        }
    }

    #[test]
    fn openinference_kinds() {
        for (kind, expected) in OPENINFERENCE_KINDS {
            check(json!({"openinference.span.kind": kind}), json!({"mlflow.spanType": expected}));
        }
        check(json!({"openinference.span.kind": "tool"}), json!({"mlflow.spanType": "TOOL"}));
    }

    #[test]
    fn genai_chat_span() {
        check(
            json!({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m1", "gen_ai.system": "openai",
                   "gen_ai.usage.input_tokens": 7, "gen_ai.usage.output_tokens": 2,
                   "gen_ai.input.messages": "[{\"role\": \"user\", \"content\": \"q\"}]"}),
            json!({"mlflow.spanType": "CHAT_MODEL", "mlflow.spanInputs": [{"role": "user", "content": "q"}],
                   "mlflow.chat.tokenUsage": {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9},
                   "mlflow.llm.model": "m1", "mlflow.llm.provider": "openai"}),
        );
    }

    #[test]
    fn genai_operations() {
        for (operation, expected) in GENAI_OPERATIONS {
            check(json!({"gen_ai.operation.name": operation}), json!({"mlflow.spanType": expected}));
        }
    }

    #[test]
    fn genai_tool_call() {
        check(
            json!({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "{\"city\": \"Oslo\"}",
                   "gen_ai.tool.call.result": "rain"}),
            json!({"mlflow.spanType": "TOOL", "mlflow.spanInputs": {"city": "Oslo"}, "mlflow.spanOutputs": "rain"}),
        );
    }

    #[test]
    fn native_attributes_win() {
        check(
            json!({"mlflow.spanType": "AGENT", "openinference.span.kind": "LLM", "mlflow.spanInputs": {"a": 1}, "input.value": "x"}),
            json!({}),
        );
    }

    #[test]
    fn plain_spans_are_untouched() {
        check(json!({"http.method": "GET"}), json!({}));
    }
}
