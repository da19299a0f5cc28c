//! The server over real HTTP (see `testkit`): one error code for one mistake wherever it is made,
//! the error shapes of the REST and OTLP routes, limits checked the same way on every route, and
//! concurrent writers that lose nothing.

mod testkit;

use serde_json::json;
use testkit::spawn_app;

const API: &str = "/api/2.0/mlflow";
const API3: &str = "/api/3.0/mlflow";

fn start_trace(trace_id: &str, experiment_id: &str, tags: serde_json::Value) -> serde_json::Value {
    json!({ "trace": { "trace_info": {
        "trace_id": trace_id,
        "trace_location": { "type": "MLFLOW_EXPERIMENT", "mlflow_experiment": { "experiment_id": experiment_id } },
        "request_time": "2026-01-01T00:00:00Z",
        "execution_duration": "0.5s",
        "state": "OK",
        "tags": tags,
    } } })
}

#[tokio::test]
async fn a_malformed_experiment_id_is_invalid_everywhere_and_an_unknown_one_is_missing() {
    let app = spawn_app().await;
    for answer in [
        app.get(&format!("{API}/experiments/get?experiment_id=abc")).await,
        app.post(&format!("{API}/runs/create"), json!({ "experiment_id": "abc" })).await,
        app.post(&format!("{API3}/traces"), start_trace("tr-1", "abc", json!({}))).await,
        app.post(&format!("{API3}/traces/search"), json!({ "locations": [], "experiment_ids": ["abc"] })).await,
    ] {
        assert_eq!((answer.status, answer.error_code()), (400, "INVALID_PARAMETER_VALUE"), "{}", answer.body);
    }
    for answer in [
        app.get(&format!("{API}/experiments/get?experiment_id=424242")).await,
        app.post(&format!("{API}/runs/create"), json!({ "experiment_id": "424242" })).await,
        app.post(&format!("{API3}/traces"), start_trace("tr-2", "424242", json!({}))).await,
    ] {
        assert_eq!((answer.status, answer.error_code()), (404, "RESOURCE_DOES_NOT_EXIST"), "{}", answer.body);
    }
}

#[tokio::test]
async fn trace_ids_are_checked_on_assessment_and_tag_routes() {
    let app = spawn_app().await;
    let experiment = app.create_experiment("ids").await;
    let started = app.post(&format!("{API3}/traces"), start_trace("tr-known", &experiment, json!({}))).await;
    assert_eq!(started.status, 200, "{}", started.body);

    // A trace id with a control character is malformed, not missing.
    let bad = app.get(&format!("{API3}/traces/tr-%01x/assessments/a-1")).await;
    assert_eq!((bad.status, bad.error_code()), (400, "INVALID_PARAMETER_VALUE"), "{}", bad.body);
    let unknown = app.get(&format!("{API3}/traces/tr-unknown/assessments/a-1")).await;
    assert_eq!((unknown.status, unknown.error_code()), (404, "RESOURCE_DOES_NOT_EXIST"), "{}", unknown.body);
    let no_assessment = app.get(&format!("{API3}/traces/tr-known/assessments/a-missing")).await;
    assert_eq!(no_assessment.status, 404, "{}", no_assessment.body);

    let linked =
        app.post(&format!("{API3}/traces/link-prompts"), json!({ "trace_id": "tr-%01", "prompt_versions": [] })).await;
    assert_ne!(linked.status, 200, "{}", linked.body);
}

#[tokio::test]
async fn trace_tag_limits_are_the_same_on_start_trace_and_on_set_tag() {
    let app = spawn_app().await;
    let experiment = app.create_experiment("tags").await;
    let long_key = "k".repeat(251);
    let started =
        app.post(&format!("{API3}/traces"), start_trace("tr-a", &experiment, json!({ &long_key: "v" }))).await;
    assert_eq!((started.status, started.error_code()), (400, "INVALID_PARAMETER_VALUE"), "{}", started.body);

    let ok = app.post(&format!("{API3}/traces"), start_trace("tr-b", &experiment, json!({ "k": "v" }))).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let set = app.patch(&format!("{API3}/traces/tr-b/tags"), json!({ "key": &long_key, "value": "v" })).await;
    assert_eq!((set.status, set.error_code()), (400, "INVALID_PARAMETER_VALUE"), "{}", set.body);
    assert_eq!(set.body["message"], started.body["message"], "one message for one mistake");

    let long_value = "v".repeat(8001);
    let set = app.patch(&format!("{API3}/traces/tr-b/tags"), json!({ "key": "k", "value": long_value })).await;
    assert_eq!(set.status, 400, "{}", set.body);
    let fine = app.patch(&format!("{API3}/traces/tr-b/tags"), json!({ "key": "k", "value": "v".repeat(8000) })).await;
    assert_eq!(fine.status, 200, "{}", fine.body);
}

#[tokio::test]
async fn otlp_errors_carry_a_detail_and_their_status() {
    let app = spawn_app().await;
    let url = app.url("/v1/traces");
    let wrong_type = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .header("x-mlflow-experiment-id", "0")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status().as_u16(), 400);
    let body: serde_json::Value = wrong_type.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("Content-Type"), "{body}");

    // Checked before the content type, and answered with the reference's validation list.
    let no_experiment = app.client.post(&url).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(no_experiment.status().as_u16(), 422);
    let body: serde_json::Value = no_experiment.json().await.unwrap();
    assert_eq!(body["detail"][0]["loc"], serde_json::json!(["header", "x-mlflow-experiment-id"]), "{body}");

    let garbage = app
        .client
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .header("x-mlflow-experiment-id", "0")
        .body(vec![0xff_u8, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status().as_u16(), 400);
    let body: serde_json::Value = garbage.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
}

#[tokio::test]
async fn a_bad_request_body_is_an_mlflow_error_not_a_panic() {
    let app = spawn_app().await;
    let answer = app
        .client
        .post(app.url(&format!("{API}/experiments/create")))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "BAD_REQUEST", "{body}");
    assert!(body["message"].as_str().unwrap().contains("Malformed JSON"), "{body}");
    let missing = app.post(&format!("{API}/experiments/create"), json!({})).await;
    assert_eq!((missing.status, missing.error_code()), (400, "INVALID_PARAMETER_VALUE"), "{}", missing.body);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_and_the_server_goes_on() {
    let app = spawn_app().await;
    // 65 MiB of JSON: past the 64 MiB limit of an API request.
    let name = "x".repeat(65 << 20);
    let answer = app
        .client
        .post(app.url(&format!("{API}/experiments/create")))
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{name}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 413);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error_code"], "REQUEST_LIMIT_EXCEEDED", "{body}");
    assert!(body["message"].as_str().unwrap().contains("64 MiB"), "{body}");
    let created = app.post(&format!("{API}/experiments/create"), json!({"name": "after-413"})).await;
    assert_eq!(created.status, 200, "{}", created.body);
}

#[tokio::test]
async fn concurrent_assessment_updates_over_http_lose_nothing() {
    let app = spawn_app().await;
    let experiment = app.create_experiment("assess").await;
    let started = app.post(&format!("{API3}/traces"), start_trace("tr-c", &experiment, json!({}))).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let created = app
        .post(
            &format!("{API3}/traces/tr-c/assessments"),
            json!({ "assessment": {
                "assessment_name": "quality",
                "trace_id": "tr-c",
                "source": { "source_type": "HUMAN", "source_id": "reviewer" },
                "feedback": { "value": 1 },
            } }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.body["assessment"]["assessment_id"].as_str().unwrap().to_string();
    let path = format!("{API3}/traces/tr-c/assessments/{id}");

    // Pairs of writers change different fields of the same assessment at once; a read-modify-write
    // outside one transaction would let the second write put back the field the first changed.
    for round in 0..8 {
        let rationale = format!("because {round}");
        let (a, b) = tokio::join!(
            app.patch(&path, json!({ "assessment": { "rationale": &rationale }, "update_mask": "rationale" })),
            app.patch(&path, json!({ "assessment": { "feedback": { "value": round } }, "update_mask": "feedback" })),
        );
        assert_eq!((a.status, b.status), (200, 200), "{} {}", a.body, b.body);
        let read = app.get(&path).await;
        assert_eq!(read.status, 200, "{}", read.body);
        assert_eq!(read.body["assessment"]["rationale"], rationale.as_str(), "{}", read.body);
        assert_eq!(read.body["assessment"]["feedback"]["value"], round, "{}", read.body);
    }
}

/// An OTLP request of one trace: a root and `children` spans under it, each child carrying
/// `padding` bytes of text in its inputs, started 1 µs apart after the root.
fn otlp_trace(trace_id: [u8; 16], children: usize, padding: usize) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value::Value as Any, AnyValue, KeyValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let value = |v: Any| Some(AnyValue { value: Some(v) });
    let kv = |key: &str, v: Any| KeyValue { key: key.into(), value: value(v), ..Default::default() };
    let span = |index: u64| Span {
        trace_id: trace_id.to_vec(),
        span_id: (index + 1).to_be_bytes().to_vec(),
        parent_span_id: if index == 0 { Vec::new() } else { 1u64.to_be_bytes().to_vec() },
        name: format!("step \"{index}\""),
        start_time_unix_nano: 1_700_000_000_000_000_000 + index * 1_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + index * 1_000 + 500,
        attributes: vec![
            kv("mlflow.spanType", Any::StringValue("\"LLM\"".into())),
            kv(
                "mlflow.spanInputs",
                Any::KvlistValue(KeyValueList {
                    values: vec![
                        kv("text", Any::StringValue("é\n".repeat(padding / 3))),
                        kv("n", Any::IntValue(index as i64)),
                    ],
                }),
            ),
            kv("ratio", Any::DoubleValue(0.25)),
        ],
        ..Default::default()
    };
    // Children first, the root last, as a batch span processor sends them.
    let mut spans: Vec<Span> = (1..=children as u64).map(span).collect();
    spans.push(span(0));
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            ..Default::default()
        }],
    };
    request.encode_to_vec()
}

/// GetTrace and batchGet write each stored span's read format straight from its stored text:
/// a small trace comes whole with a Content-Length, one past a megabyte is streamed; both
/// hold every span in start order with their attributes as typed AnyValues.
#[tokio::test]
async fn get_trace_writes_small_traces_whole_and_streams_large_ones() {
    let app = spawn_app().await;
    let experiment = app.create_experiment("read-format").await;
    let (small, large) = ([0x11u8; 16], [0x22u8; 16]);
    for (trace, children, padding) in [(small, 3, 30), (large, 3000, 600)] {
        let answer = app
            .client
            .post(app.url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .header("x-mlflow-experiment-id", &experiment)
            .body(otlp_trace(trace, children, padding))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    for (trace, spans, whole) in [(small, 4, true), (large, 3001, false)] {
        let trace_id = format!("tr-{}", hex::encode(trace));
        let answer = app.client.get(app.url(&format!("{API3}/traces/get?trace_id={trace_id}"))).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers().contains_key("content-length"), whole, "{trace_id}");
        let body: serde_json::Value = answer.json().await.unwrap();
        let trace = &body["trace"];
        assert_eq!(trace["trace_info"]["trace_id"], json!(trace_id));
        let list = trace["spans"].as_array().unwrap();
        assert_eq!(list.len(), spans);
        let starts: Vec<u64> = list.iter().map(|s| s["start_time_unix_nano"].as_u64().unwrap()).collect();
        assert!(starts.windows(2).all(|w| w[0] < w[1]), "spans in start order");
        assert!(list[0].get("parent_span_id").is_none());
        let child = &list[2];
        assert_eq!(child["name"], json!("step \"2\""));
        assert_eq!(child["parent_span_id"], json!("AAAAAAAAAAE="));
        assert_eq!(child["status"], json!({"code": "STATUS_CODE_UNSET"}));
        let attributes: serde_json::Map<String, serde_json::Value> = child["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["key"].as_str().unwrap().to_string(), a["value"].clone()))
            .collect();
        assert_eq!(attributes["mlflow.spanType"], json!({"string_value": "LLM"}));
        assert_eq!(attributes["ratio"], json!({"double_value": 0.25}));
        let inputs = &attributes["mlflow.spanInputs"]["kvlist_value"]["values"];
        assert_eq!(inputs[1], json!({"key": "n", "value": {"int_value": 2}}));
        assert!(inputs[0]["value"]["string_value"].as_str().unwrap().starts_with("é\né\n"));
    }
    let ids = [small, large].map(|t| format!("tr-{}", hex::encode(t)));
    let answer = app
        .client
        .get(app.url(&format!("{API3}/traces/batchGet?trace_ids={}&trace_ids={}", ids[0], ids[1])))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    let counts: Vec<usize> =
        body["traces"].as_array().unwrap().iter().map(|t| t["spans"].as_array().unwrap().len()).collect();
    assert_eq!(counts.len(), 2);
    assert!(counts.contains(&4) && counts.contains(&3001), "{counts:?}");
}
