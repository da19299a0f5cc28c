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
