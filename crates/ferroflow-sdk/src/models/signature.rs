//! Model signatures inferred from type hints, by MLflow's rules, and the ResponsesAgent
//! signature inferred that way from the ResponsesAgent request and response types.
//!
//! MLflow does not write a ResponsesAgent's signature by hand either: it infers a schema from
//! the annotations of its pydantic request and response models. [`TypeHint`] is such an
//! annotation (`bool`, `int`, `float`, `str`, `Any`, `list[T]`, `dict[str, T]`, `T | None`,
//! a union, a model with fields); [`infer`] applies MLflow's inference rules to it:
//!
//! * `bool` → `boolean`, `int` → `long`, `float` → `double`, `str` → `string`, `Any` → `any`;
//! * `list[T]` → `array` of T, `dict[str, T]` → `map` of T, a model → `object` whose
//!   `properties` are its fields in name order;
//! * a field is `required` unless its annotation is `Optional` (`T | None`), whatever its
//!   default; a union of several types is `any`.
//!
//! The request's fields become the input columns (each a named column spec, in name order),
//! the response one required `object` column: exactly the JSON MLflow stores in `MLmodel`
//! (compared with the Python client's in `tests/compat/test_sdk_serve.py`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A Python type annotation, as far as signature inference needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeHint {
    Bool,
    Int,
    Float,
    Str,
    Any,
    List(Box<TypeHint>),
    /// `dict[str, T]`.
    Dict(Box<TypeHint>),
    /// `T | None`.
    Optional(Box<TypeHint>),
    /// `A | B | ...` (without `None`).
    Union(Vec<TypeHint>),
    /// A model class: its fields and their annotations.
    Model(Vec<(&'static str, TypeHint)>),
}

use TypeHint::*;

fn opt(hint: TypeHint) -> TypeHint {
    Optional(Box::new(hint))
}

fn list(hint: TypeHint) -> TypeHint {
    List(Box::new(hint))
}

fn dict(hint: TypeHint) -> TypeHint {
    Dict(Box::new(hint))
}

/// JSON text of a string, as Python's `json.dumps` writes it (ASCII names here).
fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// The schema of one annotation as MLflow's JSON text: `type` first, then `items`, `values`
/// or `properties`, then `name` (a column's) and `required` (a field's). Written as text so the
/// key order is MLflow's whatever map type serde_json is built with.
fn schema(hint: &TypeHint, name: Option<&str>, required: Option<bool>) -> String {
    let mut parts = Vec::new();
    let body = match hint {
        Optional(inner) => return schema(inner, name, required),
        Bool => "boolean",
        Int => "long",
        Float => "double",
        Str => "string",
        Any | Union(_) => "any",
        List(_) => "array",
        Dict(_) => "map",
        Model(_) => "object",
    };
    parts.push(format!("\"type\": {}", quoted(body)));
    match hint {
        List(items) => parts.push(format!("\"items\": {}", schema(items, None, None))),
        Dict(values) => parts.push(format!("\"values\": {}", schema(values, None, None))),
        Model(fields) => {
            let sorted: BTreeMap<&str, &TypeHint> = fields.iter().map(|(name, hint)| (*name, hint)).collect();
            let properties: Vec<String> = sorted
                .into_iter()
                .map(|(name, hint)| format!("{}: {}", quoted(name), schema(hint, None, Some(is_required(hint)))))
                .collect();
            parts.push(format!("\"properties\": {{{}}}", properties.join(", ")));
        }
        _ => {}
    }
    if let Some(name) = name {
        parts.push(format!("\"name\": {}", quoted(name)));
    }
    if let Some(required) = required {
        parts.push(format!("\"required\": {required}"));
    }
    format!("{{{}}}", parts.join(", "))
}

/// A field is required unless it is `Optional`.
fn is_required(hint: &TypeHint) -> bool {
    !matches!(hint, Optional(_))
}

/// The schema text of a field: its annotation's, with `required`.
pub fn property(hint: &TypeHint) -> String {
    schema(hint, None, Some(is_required(hint)))
}

/// The input columns of a request model: one named column per field, in name order.
pub fn input_columns(request: &TypeHint) -> String {
    let Model(fields) = request else {
        return format!("[{}]", property(request));
    };
    let sorted: BTreeMap<&str, &TypeHint> = fields.iter().map(|(name, hint)| (*name, hint)).collect();
    let columns: Vec<String> =
        sorted.into_iter().map(|(name, hint)| schema(hint, Some(name), Some(is_required(hint)))).collect();
    format!("[{}]", columns.join(", "))
}

/// The output column of a response model: one required column.
pub fn output_columns(response: &TypeHint) -> String {
    format!("[{}]", property(response))
}

// ---- The ResponsesAgent request and response, as annotated in MLflow's Responses types. ----

fn reasoning_params() -> TypeHint {
    Model(vec![("effort", opt(Str)), ("generate_summary", opt(Str))])
}

fn tool() -> TypeHint {
    Model(vec![("type", Str)])
}

fn output_item() -> TypeHint {
    Model(vec![("type", Str)])
}

fn message() -> TypeHint {
    Model(vec![("role", Str), ("content", Union(vec![Str, list(Any)])), ("type", opt(Str))])
}

/// The fields a ResponsesAgent request and response share (the Responses API's options).
fn shared_fields() -> Vec<(&'static str, TypeHint)> {
    vec![
        ("tool_choice", opt(Union(vec![Str, Model(vec![("type", Str), ("name", Str)])]))),
        ("truncation", opt(Str)),
        ("max_output_tokens", opt(Int)),
        ("metadata", opt(dict(Str))),
        ("parallel_tool_calls", opt(Bool)),
        ("tools", opt(list(tool()))),
        ("reasoning", opt(reasoning_params())),
        ("temperature", opt(Float)),
        ("text", opt(Any)),
        ("top_p", opt(Float)),
        ("user", opt(Str)),
    ]
}

/// `ResponsesAgentRequest`.
pub fn responses_agent_request() -> TypeHint {
    let mut fields = shared_fields();
    fields.extend([
        ("store", opt(Bool)),
        ("stream", opt(Bool)),
        ("background", opt(Bool)),
        ("input", list(Union(vec![message(), output_item()]))),
        ("custom_inputs", opt(dict(Any))),
        ("context", opt(Model(vec![("conversation_id", opt(Str)), ("user_id", opt(Str))]))),
    ]);
    Model(fields)
}

/// `ResponsesAgentResponse`.
pub fn responses_agent_response() -> TypeHint {
    let usage = Model(vec![
        ("input_tokens", Int),
        ("input_tokens_details", Model(vec![("cached_tokens", Int)])),
        ("output_tokens", Int),
        ("output_tokens_details", Model(vec![("reasoning_tokens", Int)])),
        ("total_tokens", Int),
    ]);
    let mut fields = shared_fields();
    fields.extend([
        ("id", opt(Str)),
        ("created_at", opt(Float)),
        ("error", opt(Model(vec![("code", opt(Str)), ("message", Str)]))),
        ("incomplete_details", opt(Model(vec![("reason", opt(Str))]))),
        ("instructions", opt(Str)),
        ("model", opt(Str)),
        ("object", Str),
        ("output", list(output_item())),
        ("previous_response_id", opt(Str)),
        ("status", opt(Str)),
        ("usage", opt(usage)),
        ("custom_outputs", opt(dict(Any))),
    ]);
    Model(fields)
}

/// A model signature as `MLmodel` stores it: inputs and outputs as JSON text, no params.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    pub inputs: String,
    pub outputs: String,
}

impl Signature {
    /// The `signature` mapping of `MLmodel`.
    pub fn to_mlmodel(&self) -> Value {
        let mut object = Map::new();
        object.insert("inputs".to_string(), Value::String(self.inputs.clone()));
        object.insert("outputs".to_string(), Value::String(self.outputs.clone()));
        object.insert("params".to_string(), Value::Null);
        Value::Object(object)
    }
}

/// The signature MLflow infers for every ResponsesAgent.
pub fn responses_agent_signature() -> Signature {
    Signature {
        inputs: input_columns(&responses_agent_request()),
        outputs: output_columns(&responses_agent_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_follows_mlflows_rules() {
        assert_eq!(property(&opt(Int)), r#"{"type": "long", "required": false}"#);
        assert_eq!(
            property(&list(Union(vec![Str, Int]))),
            r#"{"type": "array", "items": {"type": "any"}, "required": true}"#
        );
        assert_eq!(property(&opt(dict(Str))), r#"{"type": "map", "values": {"type": "string"}, "required": false}"#);
        let text = Model(vec![("b", opt(Str)), ("a", Int)]);
        assert_eq!(
            input_columns(&text),
            r#"[{"type": "long", "name": "a", "required": true}, {"type": "string", "name": "b", "required": false}]"#
        );
        let signature = responses_agent_signature();
        assert!(signature.inputs.starts_with(r#"[{"type": "boolean", "name": "background", "required": false}, "#));
        assert!(signature
            .inputs
            .contains(r#"{"type": "array", "items": {"type": "any"}, "name": "input", "required": true}"#));
        assert!(signature.outputs.contains(r#""object": {"type": "string", "required": true}"#));
    }
}
