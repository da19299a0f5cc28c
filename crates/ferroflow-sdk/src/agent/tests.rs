//! Round trips of the captured and hand-written ResponsesAgent fixtures
//! (`tests/fixtures/responses_*.json`), the item helpers against the shapes Python's
//! `ResponsesAgent.create_*` produce, and the default `predict_stream`.

use futures::StreamExt;
use serde_json::{json, Value};

use super::*;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &Value) -> T {
    let typed: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&typed).unwrap(), value, "round trip changed the JSON");
    typed
}

#[test]
fn captured_input_example_round_trips() {
    let request: ResponsesAgentRequest = round_trip(&fixture("responses_input_example.json"));
    assert_eq!(request.last_user_text().as_deref(), Some("hi"));
    assert_eq!(request, ResponsesAgentRequest::user_text("hi"));
}

#[test]
fn captured_prediction_round_trips_and_matches_the_helper() {
    let response: ResponsesAgentResponse = round_trip(&fixture("responses_prediction.json"));
    assert_eq!(response.output, vec![text_output_item("echo: hello", "msg-1")]);
    assert_eq!(response, ResponsesAgentResponse::new(vec![text_output_item("echo: hello", "msg-1")]));
}

#[test]
fn full_request_round_trips() {
    let request: ResponsesAgentRequest = round_trip(&fixture("responses_request_full.json"));
    let kinds: Vec<&str> = request.input.iter().map(Item::item_type).collect();
    assert_eq!(kinds, ["message", "message", "function_call", "function_call_output", "reasoning", "web_search_call"]);
    assert!(matches!(&request.input[5], Item::Other(_)));
    assert_eq!(request.custom_inputs.as_ref().unwrap()["tenant"], "acme");
    assert_eq!(request.context.as_ref().unwrap().user_id.as_deref(), Some("alice"));
    assert_eq!(request.extra["truncation"], "auto");
    assert_eq!(request.last_user_text().as_deref(), Some("What is the status of order 42?"));
}

#[test]
fn full_response_round_trips() {
    let response: ResponsesAgentResponse = round_trip(&fixture("responses_response_full.json"));
    assert_eq!(response.usage.as_ref().unwrap().total_tokens, 42);
    assert_eq!(response.custom_outputs.as_ref().unwrap()["source"], "orders-db");
    assert_eq!(response.extra["previous_response_id"], "resp-0");
}

#[test]
fn stream_events_round_trip() {
    let events: Vec<ResponsesAgentStreamEvent> = round_trip(&fixture("responses_stream_events.json"));
    assert_eq!(events[0], text_delta("Order 42 ", "msg-1"));
    assert_eq!(events[3], output_item_done(text_output_item("Order 42 has shipped.", "msg-1")));
}

#[test]
fn helpers_match_python_shapes() {
    // mlflow.types.responses.create_* (3.17/3.18).
    assert_eq!(
        serde_json::to_value(function_call_item("fc-1", "call-1", "f", "{}")).unwrap(),
        json!({"type": "function_call", "id": "fc-1", "call_id": "call-1", "name": "f", "arguments": "{}"})
    );
    assert_eq!(
        serde_json::to_value(function_call_output_item("call-1", "out")).unwrap(),
        json!({"type": "function_call_output", "call_id": "call-1", "output": "out"})
    );
    assert_eq!(
        serde_json::to_value(reasoning_item("rs-1", "because")).unwrap(),
        json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "because"}], "id": "rs-1"})
    );
    assert_eq!(
        serde_json::to_value(text_delta("d", "msg-1")).unwrap(),
        json!({"type": "response.output_text.delta", "item_id": "msg-1", "delta": "d"})
    );
    // `object` defaults to "response" when absent.
    let minimal: ResponsesAgentResponse = serde_json::from_value(json!({"output": []})).unwrap();
    assert_eq!(minimal.object, "response");
}

struct Echo;

impl ResponsesAgent for Echo {
    async fn predict(&self, request: ResponsesAgentRequest) -> Result<ResponsesAgentResponse, AgentError> {
        let text = request.last_user_text().ok_or("no user message")?;
        Ok(ResponsesAgentResponse::new(vec![
            reasoning_item("rs-1", "echoing"),
            text_output_item(format!("echo: {text}"), "msg-1"),
        ]))
    }
}

#[tokio::test]
async fn default_stream_is_built_on_predict() {
    let _captured = crate::tracing_tests::captured();
    let events: Vec<_> = Echo.predict_stream(ResponsesAgentRequest::user_text("hello")).collect().await;
    let events: Vec<ResponsesAgentStreamEvent> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.event_type == "response.output_item.done"));
    assert_eq!(events[1].item, Some(text_output_item("echo: hello", "msg-1")));

    let response = Echo.invoke(ResponsesAgentRequest::user_text("hi")).await.unwrap();
    assert_eq!(response.output.len(), 2);
    let streamed: Vec<_> = Echo.invoke_stream(ResponsesAgentRequest::user_text("hi")).collect().await;
    assert_eq!(streamed.len(), 2);
    let failed = Echo.invoke(ResponsesAgentRequest::default()).await;
    assert_eq!(failed.unwrap_err().to_string(), "no user message");
}

#[tokio::test]
async fn invoke_is_traced_as_an_agent_span() {
    let _captured = crate::tracing_tests::captured();
    let root = crate::start_span("serve", crate::SpanType::Chain);
    let trace_id = root.trace_id().unwrap();
    let ctx = crate::TraceContext::of(&root);
    ctx.clone()
        .attach(async {
            Echo.invoke(ResponsesAgentRequest::user_text("hi")).await.unwrap();
            let _: Vec<_> = Echo.invoke_stream(ResponsesAgentRequest::user_text("yo")).collect().await;
        })
        .await;
    drop(root);
    let (spans, _) = crate::tracing_tests::trace_of(&trace_id);
    let predict = spans.iter().find(|s| s.name == "predict").unwrap();
    assert_eq!(crate::tracing_tests::attr(predict, "mlflow.spanType"), Some(json!({"stringValue": "AGENT"})));
    let inputs = crate::tracing_tests::attr(predict, "mlflow.spanInputs").unwrap();
    assert_eq!(inputs["kvlistValue"]["values"][0]["key"], "request");
    let stream = spans.iter().find(|s| s.name == "predict_stream").unwrap();
    let outputs = crate::tracing_tests::attr(stream, "mlflow.spanOutputs").unwrap();
    assert_eq!(outputs["kvlistValue"]["values"][0]["key"], "object");
    assert_eq!(stream.status.as_ref().unwrap().code, 1);
}
