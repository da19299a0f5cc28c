//! The ResponsesAgent wire types: the OpenAI Responses API shapes as MLflow's `ResponsesAgent`
//! uses them (`mlflow.types.responses`), with the signature MLflow infers for it
//! (../shared/spec/mlflow-rest.md §12.1):
//! a request with `input` items (required) and optional `custom_inputs`, `context` and the
//! Responses API's options; a response with `object` and `output` items (required), `usage`,
//! `custom_outputs`; stream events.
//!
//! Items are an enum on their `type`: `message`, `function_call`, `function_call_output`,
//! `reasoning`, plus [`Item::Other`] for any other type, kept verbatim. An input message may
//! omit `type` (`{"role": "user", "content": "hi"}`); it stays omitted when written back. Every
//! struct keeps fields it does not name in `extra`, so a request or response round-trips
//! exactly.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `{"conversation_id", "user_id"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// The request a `ResponsesAgent` gets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesAgentRequest {
    pub input: Vec<Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_inputs: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ChatContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `background`, `metadata`, `parallel_tool_calls`, `reasoning`, `store`, `text`, `top_p`,
    /// `truncation`, … verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResponsesAgentRequest {
    /// A request with one user message.
    pub fn user_text(text: impl Into<String>) -> ResponsesAgentRequest {
        ResponsesAgentRequest { input: vec![Item::Message(MessageItem::user(text))], ..Default::default() }
    }

    /// The text of the last user message, if any.
    pub fn last_user_text(&self) -> Option<String> {
        self.input.iter().rev().find_map(|item| match item {
            Item::Message(message) if message.role == "user" => Some(message.content.text()),
            _ => None,
        })
    }
}

/// `usage` of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens_details: Option<InputTokensDetails>,
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputTokensDetails>,
    pub total_tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

/// `error` of a response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

fn response_object() -> String {
    "response".to_string()
}

/// What a `ResponsesAgent` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponsesAgentResponse {
    /// Always `"response"`.
    #[serde(default = "response_object")]
    pub object: String,
    pub output: Vec<Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_outputs: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseError>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for ResponsesAgentResponse {
    fn default() -> Self {
        ResponsesAgentResponse::new(Vec::new())
    }
}

impl ResponsesAgentResponse {
    pub fn new(output: Vec<Item>) -> ResponsesAgentResponse {
        ResponsesAgentResponse {
            object: response_object(),
            output,
            id: None,
            created_at: None,
            model: None,
            status: None,
            usage: None,
            custom_outputs: None,
            error: None,
            extra: Map::new(),
        }
    }
}

/// One event of `predict_stream`: `response.output_text.delta` (`item_id`, `delta`),
/// `response.output_item.done` (`item`), or any other type with its fields in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponsesAgentStreamEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Item>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_outputs: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The text of a message: a string, or a list of content parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text, parts joined.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts.iter().filter_map(|p| p.text.as_deref()).collect(),
        }
    }
}

/// A content part: `input_text`, `output_text` (with `annotations`), …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub part_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageItem {
    /// `Some("message")` when the item spelled its type (outputs do; inputs may not).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub role: String,
    pub content: MessageContent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessageItem {
    /// An input message `{"role": "user", "content": text}`.
    pub fn user(text: impl Into<String>) -> MessageItem {
        MessageItem {
            item_type: None,
            id: None,
            role: "user".to_string(),
            content: MessageContent::Text(text.into()),
            status: None,
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub call_id: String,
    pub name: String,
    /// JSON text of the arguments.
    pub arguments: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallOutputItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub call_id: String,
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryPart {
    #[serde(rename = "type")]
    pub part_type: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReasoningItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub summary: Vec<SummaryPart>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An input or output item, by its `type`.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Message(MessageItem),
    FunctionCall(FunctionCallItem),
    FunctionCallOutput(FunctionCallOutputItem),
    Reasoning(ReasoningItem),
    /// Any other item type (`mcp_approval_request`, `web_search_call`, …), verbatim.
    Other(Value),
}

impl Item {
    /// The item's `type` (`"message"` for a message that does not spell it).
    pub fn item_type(&self) -> &str {
        match self {
            Item::Message(_) => "message",
            Item::FunctionCall(_) => "function_call",
            Item::FunctionCallOutput(_) => "function_call_output",
            Item::Reasoning(_) => "reasoning",
            Item::Other(value) => value.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }

    fn from_value(value: Value) -> Result<Item, serde_json::Error> {
        let kind = value.get("type").and_then(Value::as_str).map(str::to_string);
        let has_role = value.get("role").is_some();
        Ok(match kind.as_deref() {
            Some("message") => Item::Message(serde_json::from_value(value)?),
            None if has_role => Item::Message(serde_json::from_value(value)?),
            Some("function_call") => Item::FunctionCall(serde_json::from_value(without_type(value))?),
            Some("function_call_output") => Item::FunctionCallOutput(serde_json::from_value(without_type(value))?),
            Some("reasoning") => Item::Reasoning(serde_json::from_value(without_type(value))?),
            _ => Item::Other(value),
        })
    }

    fn to_value(&self) -> Result<Value, serde_json::Error> {
        let (kind, value) = match self {
            Item::Message(item) => return serde_json::to_value(item),
            Item::FunctionCall(item) => ("function_call", serde_json::to_value(item)?),
            Item::FunctionCallOutput(item) => ("function_call_output", serde_json::to_value(item)?),
            Item::Reasoning(item) => ("reasoning", serde_json::to_value(item)?),
            Item::Other(value) => return Ok(value.clone()),
        };
        let mut object = Map::new();
        object.insert("type".to_string(), Value::String(kind.to_string()));
        if let Value::Object(fields) = value {
            object.extend(fields);
        }
        Ok(Value::Object(object))
    }
}

fn without_type(mut value: Value) -> Value {
    if let Value::Object(object) = &mut value {
        object.remove("type");
    }
    value
}

impl Serialize for Item {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().map_err(serde::ser::Error::custom)?.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Item, D::Error> {
        Item::from_value(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

// ---- Helpers to build items and events, as `ResponsesAgent.create_*` in Python. ----

/// An assistant message with one `output_text` part (`create_text_output_item`).
pub fn text_output_item(text: impl Into<String>, id: impl Into<String>) -> Item {
    Item::Message(MessageItem {
        item_type: Some("message".to_string()),
        id: Some(id.into()),
        role: "assistant".to_string(),
        content: MessageContent::Parts(vec![ContentPart {
            part_type: "output_text".to_string(),
            text: Some(text.into()),
            annotations: Some(Vec::new()),
            extra: Map::new(),
        }]),
        status: None,
        extra: Map::new(),
    })
}

/// A tool call (`create_function_call_item`); `arguments` is JSON text.
pub fn function_call_item(
    id: impl Into<String>,
    call_id: impl Into<String>,
    name: impl Into<String>,
    arguments: impl Into<String>,
) -> Item {
    Item::FunctionCall(FunctionCallItem {
        id: Some(id.into()),
        call_id: call_id.into(),
        name: name.into(),
        arguments: arguments.into(),
        status: None,
        extra: Map::new(),
    })
}

/// A tool's result (`create_function_call_output_item`).
pub fn function_call_output_item(call_id: impl Into<String>, output: impl Into<String>) -> Item {
    Item::FunctionCallOutput(FunctionCallOutputItem {
        id: None,
        call_id: call_id.into(),
        output: output.into(),
        status: None,
        extra: Map::new(),
    })
}

/// A reasoning summary (`create_reasoning_item`).
pub fn reasoning_item(id: impl Into<String>, reasoning_text: impl Into<String>) -> Item {
    Item::Reasoning(ReasoningItem {
        id: Some(id.into()),
        summary: vec![SummaryPart { part_type: "summary_text".to_string(), text: reasoning_text.into() }],
        extra: Map::new(),
    })
}

/// A `response.output_text.delta` event (`create_text_delta`).
pub fn text_delta(delta: impl Into<String>, item_id: impl Into<String>) -> ResponsesAgentStreamEvent {
    ResponsesAgentStreamEvent {
        event_type: "response.output_text.delta".to_string(),
        item: None,
        item_id: Some(item_id.into()),
        delta: Some(delta.into()),
        custom_outputs: None,
        extra: Map::new(),
    }
}

/// A `response.output_item.done` event carrying a finished item.
pub fn output_item_done(item: Item) -> ResponsesAgentStreamEvent {
    ResponsesAgentStreamEvent {
        event_type: "response.output_item.done".to_string(),
        item: Some(item),
        item_id: None,
        delta: None,
        custom_outputs: None,
        extra: Map::new(),
    }
}
