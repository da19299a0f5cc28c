//! Reading MLflow RPC requests: a GET carries its message in the query string (repeated keys
//! for lists), every other method in a JSON body that may be empty, DELETE included.

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use ferroflow_core::Error;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Body limit for RPC messages; artifacts and OTLP have their own routes.
pub(crate) const MAX_RPC_BODY: usize = 64 * 1024 * 1024;

/// A request body read whole, at most `limit` bytes: past it `PAYLOAD_TOO_LARGE` (413) naming
/// the limit, any other failure `BAD_REQUEST`.
pub(crate) async fn read_body(body: axum::body::Body, limit: usize, what: &str) -> Result<axum::body::Bytes, Error> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large =
            std::error::Error::source(&e).is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            Error::new(
                ferroflow_core::ErrorCode::PayloadTooLarge,
                format!("The request body is larger than the {} MiB limit of {what}.", limit >> 20),
            )
        } else {
            Error::bad_request(format!("Could not read the request body: {e}"))
        }
    })
}

/// An RPC request message of type `T`, from the query string (GET) or the JSON body.
pub struct Rpc<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Rpc<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let value = if request.method() == Method::GET {
            query_to_json(request.uri().query().unwrap_or(""))
        } else {
            let is_json = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.to_ascii_lowercase().contains("json"))
                .unwrap_or(true);
            let query = request.uri().query().map(query_to_json);
            let bytes = read_body(request.into_body(), MAX_RPC_BODY, "an API request").await?;
            let mut value = if bytes.iter().all(|b| b.is_ascii_whitespace()) {
                Value::Object(Map::new())
            } else {
                if !is_json {
                    return Err(Error::invalid("Bad Request. Content-Type must be one of ['application/json']").into());
                }
                serde_json::from_slice::<Value>(&bytes)
                    .map_err(|e| Error::bad_request(format!("Malformed JSON in the request body: {e}")))?
            };
            if !value.is_object() {
                return Err(Error::invalid("The request body must be a JSON object.").into());
            }
            // Some clients put ids in the query string of a POST/DELETE too; the body wins.
            if let (Some(Value::Object(query)), Value::Object(body)) = (query, &mut value) {
                for (key, item) in query {
                    body.entry(key).or_insert(item);
                }
            }
            value
        };
        let value = snake_case_fields(value)?;
        parse_message(value).map(Rpc)
    }
}

/// `runId` → `run_id`. Protobuf's JSON form allows lowerCamelCase field names and MLflow's
/// server accepts them; only the message's own fields are renamed, never keys inside
/// user data (tags, metadata, values), and a field spelled both ways is refused.
fn snake_case_fields(value: Value) -> Result<Value, ApiError> {
    let Value::Object(map) = value else { return Ok(value) };
    if !map.keys().any(|k| k.chars().any(|c| c.is_ascii_uppercase())) {
        return Ok(Value::Object(map));
    }
    let mut out = Map::with_capacity(map.len());
    for (key, item) in map {
        let name = if key.chars().any(|c| c.is_ascii_uppercase()) {
            let mut snake = String::with_capacity(key.len() + 4);
            for c in key.chars() {
                if c.is_ascii_uppercase() {
                    snake.push('_');
                    snake.push(c.to_ascii_lowercase());
                } else {
                    snake.push(c);
                }
            }
            snake
        } else {
            key
        };
        if out.contains_key(&name) {
            return Err(
                Error::invalid(format!("Field '{name}' is given twice (in snake_case and lowerCamelCase).")).into()
            );
        }
        out.insert(name, item);
    }
    Ok(Value::Object(out))
}

/// Deserializes a message, turning type errors into `INVALID_PARAMETER_VALUE` with MLflow's
/// text, which names the parameter (clients match it): `Invalid value 123 for parameter 'name'
/// supplied:  Hint: Value was of type 'int'. See the API docs …`.
pub fn parse_message<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    // From a borrow: the value is still there to quote in the message.
    match serde_path_to_error::deserialize::<_, T>(&value) {
        Ok(message) => Ok(message),
        Err(error) => Err(ApiError(Error::invalid(type_error_message(&value, error)))),
    }
}

const SEE_DOCS: &str = " See the API docs for more information about request parameters.";

fn type_error_message(value: &Value, error: serde_path_to_error::Error<serde_json::Error>) -> String {
    let inner = error.inner().to_string();
    // serde names a missing field `x` in its text; the path is then the enclosing object's.
    if let Some(field) = inner.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
        let parent = error.path().to_string();
        let name = if parent == "." { field.to_string() } else { format!("{parent}.{field}") };
        return format!("Missing value for required parameter '{name}'.{SEE_DOCS}");
    }
    let mut found = Some(value);
    for segment in error.path().iter() {
        found = match segment {
            serde_path_to_error::Segment::Seq { index } => found.and_then(|v| v.get(*index)),
            serde_path_to_error::Segment::Map { key } => found.and_then(|v| v.get(key.as_str())),
            _ => None,
        };
    }
    let path = error.path().to_string();
    match found {
        Some(bad) if path != "." => {
            // Python's names for JSON's types, as MLflow's hint prints them.
            let type_name = match bad {
                Value::Null => "NoneType",
                Value::Bool(_) => "bool",
                Value::Number(n) if n.is_f64() => "float",
                Value::Number(_) => "int",
                Value::String(_) => "str",
                Value::Array(_) => "list",
                Value::Object(_) => "dict",
            };
            format!("Invalid value {bad} for parameter '{path}' supplied:  Hint: Value was of type '{type_name}'.{SEE_DOCS}")
        }
        _ => format!("Invalid request: {inner}.{SEE_DOCS}"),
    }
}

/// `a=1&b=x&b=y` → `{"a": "1", "b": ["x", "y"]}`.
pub fn query_to_json(query: &str) -> Value {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let value = Value::String(value.into_owned());
        match map.get_mut(key.as_ref()) {
            None => {
                map.insert(key.into_owned(), value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn camel_case_fields_are_renamed_once() {
        let renamed = snake_case_fields(json!({"runId": "r", "maxResults": 3, "tags": {"myTag": "x"}})).unwrap();
        assert_eq!(renamed, json!({"run_id": "r", "max_results": 3, "tags": {"myTag": "x"}}));
        assert!(snake_case_fields(json!({"run_id": "a", "runId": "b"})).is_err());
    }

    #[test]
    fn type_errors_name_the_parameter() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Message {
            name: String,
            tags: Option<Vec<Tag>>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Tag {
            key: String,
        }
        let text = |value: Value| parse_message::<Message>(value).unwrap_err().0.message;
        assert_eq!(
            text(json!({"name": 123})),
            "Invalid value 123 for parameter 'name' supplied:  Hint: Value was of type 'int'. \
             See the API docs for more information about request parameters."
        );
        assert!(text(json!({"name": "x", "tags": [{"key": false}]}))
            .starts_with("Invalid value false for parameter 'tags[0].key' supplied:  Hint: Value was of type 'bool'."));
        assert!(text(json!({})).starts_with("Missing value for required parameter 'name'."));
    }

    #[test]
    fn query_strings_repeat_keys_into_lists() {
        assert_eq!(query_to_json("a=1&b=x&b=y"), json!({"a": "1", "b": ["x", "y"]}));
    }
}
