//! The store test suite: checks written against the [`Store`] trait only, run on every
//! backend (each `check_*` takes a `&dyn Store` on an empty database). A backend's tests are
//! made by [`store_suite!`], with the backend's constructor of a store on a fresh database, so
//! SQLite and PostgreSQL run the same checks, not copies. Nothing here may touch SQL.

// The checks still clone `Copy` ids left over from when ids were strings (as the stores' own
// test modules do).
#![allow(clippy::clone_on_copy, clippy::cloned_ref_to_slice_refs)]

mod auth;
mod evaluation;
mod issues;
mod logged_models;
mod registry;
mod trace_metrics;

pub use auth::*;
pub use evaluation::*;
pub use issues::*;
pub use logged_models::*;
pub use registry::*;
pub use trace_metrics::*;

use ferroflow_core::entities::*;
use ferroflow_core::search;
use ferroflow_core::store::{SearchQuery, Store};
use ferroflow_core::{ErrorCode, Result};
use serde_json::{json, Map, Value};

/// A short wait, so that two writes get distinct millisecond timestamps.
fn pause_ms(ms: u64) {
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// The code of a failure that must happen.
fn code<T: std::fmt::Debug>(result: Result<T>) -> ErrorCode {
    result.expect_err("expected an error").code
}

async fn experiment_names(store: &dyn Store, view: ViewType, filter: &str, order_by: &[&str]) -> Vec<String> {
    let order: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    let query = query(
        search::experiments::parse_filter(filter).expect("filter"),
        search::experiments::parse_order_by(&order).expect("order_by"),
    );
    let page = store.search_experiments(view, &query).await.expect("search experiments");
    page.items.into_iter().map(|e| e.name).collect()
}

/// Keys that SQL text or a JSON path would have to escape, or that LIKE would read as a
/// pattern, plus the keys a mangled one would turn into (`ab`, `axb`, `a\"b`).
const ODD_KEYS: &[&str] = &["a\"b", "a'b", "a\\b", "a%b", "a_b", "ab", "axb", "a\\\"b", "it's \"q\" 100%"];

/// A filter clause on `prefix.`key``, the value quoted.
fn on_key(prefix: &str, key: &str, rest: &str) -> String {
    format!("{prefix}.`{key}` {rest}")
}

fn query<K>(clauses: Vec<search::Clause<K>>, order_by: Vec<search::OrderBy<K>>) -> SearchQuery<K> {
    SearchQuery { clauses, order_by, max_results: 100, offset: 0 }
}

async fn new_experiment(store: &dyn Store, name: &str) -> ExperimentId {
    store.create_experiment(name, None, &[], "mlflow-artifacts:").await.expect("create experiment")
}

async fn new_run(store: &dyn Store, experiment_id: ExperimentId, tags: Vec<Tag>) -> Run {
    let run = NewRun { experiment_id, user_id: "u".into(), run_name: None, start_time: 1, tags };
    store.create_run(&run).await.expect("create run")
}

fn metric(key: &str, value: f64, timestamp: i64, step: i64) -> Metric {
    Metric {
        key: key.into(),
        value,
        timestamp,
        step,
        model_id: None,
        dataset_name: None,
        dataset_digest: None,
        run_id: None,
    }
}

async fn run_ids(store: &dyn Store, experiment_id: ExperimentId, filter: &str, order_by: &[&str]) -> Vec<RunId> {
    let order: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    let query = query(
        search::runs::parse_filter(filter).expect("filter"),
        search::runs::parse_order_by(&order).expect("order_by"),
    );
    let page = store.search_runs(&[experiment_id], ViewType::All, &query).await.expect("search runs");
    page.items.into_iter().map(|run| run.info.run_id).collect()
}

fn span(trace_id: &str, span_id: &str, attributes: Map<String, Value>) -> SpanRecord {
    SpanRecord {
        trace_id: TraceId::from_stored(trace_id),
        span_id: SpanId::from_stored(span_id),
        parent_span_id: None,
        name: "root".into(),
        span_type: Some("LLM".into()),
        status: SpanStatus::Ok,
        status_message: String::new(),
        start_time_ns: 1_000_000_000,
        end_time_ns: 2_000_000_000,
        attributes,
        token_usage: None,
        kind: SpanKind::Internal,
        inputs_text: None,
        outputs_text: None,
        trace_state: None,
        events: Vec::new(),
        links: Vec::new(),
    }
}

async fn trace_ids(store: &dyn Store, experiment_id: ExperimentId, filter: &str, order_by: &[&str]) -> Vec<TraceId> {
    let order: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    let query = query(
        search::traces::parse_filter(filter).expect("filter"),
        search::traces::parse_order_by(&order).expect("order_by"),
    );
    let page = store.search_traces(&[experiment_id], &query).await.expect("search traces");
    page.items.into_iter().map(|trace| trace.trace_id).collect()
}

/// Every odd key, as a run tag, param and metric, an experiment tag, a trace tag, metadata
/// key and span attribute, is found by exactly its owner, and ordering by it works.
pub async fn check_odd_keys_are_matched_exactly(store: &dyn Store) {
    let experiment = new_experiment(store, "odd keys").await;
    let mut runs = Vec::new();
    let mut traces = Vec::new();
    for (i, key) in ODD_KEYS.iter().enumerate() {
        let run = new_run(store, experiment, vec![Tag::new(*key, "x")]).await;
        let batch = RunBatch {
            metrics: vec![metric(key, 1.0, 1, 0)],
            params: vec![Param { key: key.to_string(), value: "x".into() }],
            tags: Vec::new(),
        };
        store.log_batch(&run.info.run_id, &batch).await.expect("log batch");
        runs.push(run.info.run_id);
        let trace_id = TraceId::from_stored(format!("tr-{i:032x}"));
        let attributes = json!({ *key: "x", "mlflow.spanInputs": "q" }).as_object().cloned().unwrap_or_default();
        ferroflow_core::traces::ingest_spans(
            store,
            experiment,
            None,
            vec![span(trace_id.as_str(), "0000000000000001", attributes)],
        )
        .await
        .expect("ingest");
        store.set_trace_tag(&trace_id, key, "x").await.expect("trace tag");
        let mut info = store.get_trace_info(&trace_id).await.expect("trace");
        info.metadata = vec![(key.to_string(), "x".into())];
        store.start_trace(&info).await.expect("start trace");
        traces.push(trace_id);
    }
    let odd_experiment = store
        .create_experiment("tagged", None, &[Tag::new(ODD_KEYS[0], "x")], "mlflow-artifacts:")
        .await
        .expect("experiment");
    for (i, key) in ODD_KEYS.iter().enumerate() {
        let (run, trace) = (vec![runs[i].clone()], vec![traces[i].clone()]);
        for prefix in ["tags", "params"] {
            for rest in ["= 'x'", "LIKE 'x'", "IS NOT NULL", "!= 'y'"] {
                let filter = on_key(prefix, key, rest);
                assert_eq!(run_ids(store, experiment, &filter, &[]).await, run, "{filter}");
            }
        }
        assert_eq!(run_ids(store, experiment, &on_key("metrics", key, "= 1"), &[]).await, run, "metric {key}");
        for prefix in ["tags", "params", "metrics"] {
            // The owner has the value, every other run lacks it and sorts after.
            let order = on_key(prefix, key, "DESC");
            assert_eq!(run_ids(store, experiment, "", &[&order]).await[0], runs[i], "{order}");
        }
        for filter in [
            on_key("tags", key, "= 'x'"),
            on_key("tags", key, "LIKE 'x'"),
            on_key("tags", key, "IS NOT NULL"),
            on_key("metadata", key, "= 'x'"),
            on_key("metadata", key, "!= 'y'"),
            on_key("span.attributes", key, "= 'x'"),
        ] {
            assert_eq!(trace_ids(store, experiment, &filter, &[]).await, trace, "{filter}");
        }
        let others = trace_ids(store, experiment, &on_key("tags", key, "IS NULL"), &[]).await;
        assert_eq!(others.len(), ODD_KEYS.len() - 1, "tags.{key} IS NULL");
        assert!(!others.contains(&traces[i]));
        for prefix in ["tags", "metadata"] {
            let order = on_key(prefix, key, "DESC");
            assert_eq!(trace_ids(store, experiment, "", &[&order]).await[0], traces[i], "{order}");
        }
        let filter = search::experiments::parse_filter(&on_key("tags", key, "= 'x'")).expect("filter");
        let found = store.search_experiments(ViewType::All, &query(filter, Vec::new())).await.expect("search");
        let expected = if i == 0 { vec![odd_experiment] } else { Vec::new() };
        assert_eq!(found.items.into_iter().map(|e| e.experiment_id).collect::<Vec<_>>(), expected, "experiments {key}");
    }
}

/// 32 concurrent updates of one assessment, each setting a field of its own: every field is
/// there afterwards (an update reads and writes in one transaction).
pub async fn check_concurrent_assessment_updates_lose_nothing(store: &dyn Store) {
    let experiment = new_experiment(store, "assessments").await;
    let trace_id = &TraceId::from_stored("tr-0123456789abcdef0123456789abcdef");
    ferroflow_core::traces::ingest_spans(
        store,
        experiment,
        None,
        vec![span(trace_id.as_str(), "0000000000000001", Map::new())],
    )
    .await
    .expect("ingest");
    let body = json!({"assessment_name": "q", "source": {"source_type": "HUMAN"}, "feedback": {"value": 1}});
    let new =
        ferroflow_core::assessments::new_assessment(trace_id, body.as_object().cloned().unwrap_or_default(), false)
            .expect("assessment");
    let created = store.create_assessment(&new).await.expect("create assessment");
    let updates = (0..32).map(|i| {
        let field = format!("f{i}");
        let changes = json!({ field.clone(): i }).as_object().cloned().unwrap_or_default();
        let id = created.assessment_id.clone();
        async move {
            let update = |stored: &Assessment| ferroflow_core::assessments::apply_update(stored, &changes, &field);
            store.update_assessment(trace_id, &id, &update).await.expect("update")
        }
    });
    futures::future::join_all(updates).await;
    let stored = store.get_assessment(trace_id, &created.assessment_id).await.expect("get");
    for i in 0..32 {
        assert_eq!(stored.body.get(&format!("f{i}")), Some(&json!(i)), "update {i} was lost");
    }
    assert_eq!(stored.name, "q");
    let missing = store.update_assessment(trace_id, "a-missing", &|stored| Ok(stored.clone())).await;
    assert!(missing.expect_err("missing assessment").is_not_found());
}

/// Experiments: create, get (by id and name), rename, tags, delete and restore, search.
pub async fn check_experiments(store: &dyn Store) {
    let tags = vec![Tag::new("team", "a"), Tag::new("env", "dev")];
    let id = store.create_experiment("alpha", None, &tags, "mlflow-artifacts:").await.expect("create");
    assert_eq!(
        code(store.create_experiment("alpha", None, &[], "mlflow-artifacts:").await),
        ErrorCode::ResourceAlreadyExists
    );
    let alpha = store.get_experiment(id).await.expect("get");
    assert_eq!((alpha.name.as_str(), alpha.lifecycle_stage), ("alpha", LifecycleStage::Active));
    assert_eq!(alpha.artifact_location, format!("mlflow-artifacts:/{id}"));
    let mut got: Vec<(String, String)> = alpha.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect();
    got.sort();
    assert_eq!(got, [("env".to_string(), "dev".to_string()), ("team".to_string(), "a".to_string())]);
    assert_eq!(store.get_experiment_by_name("alpha").await.expect("by name").experiment_id, id);
    assert_eq!(code(store.get_experiment(ExperimentId::from_stored(987654)).await), ErrorCode::ResourceDoesNotExist);
    assert_eq!(code(store.get_experiment_by_name("nope").await), ErrorCode::ResourceDoesNotExist);
    let placed =
        store.create_experiment("beta", Some("s3://bucket/beta"), &[], "mlflow-artifacts:").await.expect("beta");
    assert_eq!(store.get_experiment(placed).await.expect("get").artifact_location, "s3://bucket/beta");

    store.rename_experiment(id, "alpha2").await.expect("rename");
    assert_eq!(store.get_experiment(id).await.expect("get").name, "alpha2");
    assert_eq!(code(store.rename_experiment(id, "beta").await), ErrorCode::ResourceAlreadyExists);

    store.set_experiment_tag(id, &Tag::new("team", "b")).await.expect("set tag");
    store.delete_experiment_tag(id, "env").await.expect("delete tag");
    assert_eq!(code(store.delete_experiment_tag(id, "env").await), ErrorCode::ResourceDoesNotExist);
    let tags = store.get_experiment(id).await.expect("get").tags;
    assert_eq!(tags, vec![Tag::new("team", "b")]);

    // A thousand-odd tags cross the insert's chunk size: all are stored.
    let many: Vec<Tag> = (0..2500).map(|i| Tag::new(format!("k{i:04}"), format!("v{i}"))).collect();
    let crowded = store.create_experiment("crowded", None, &many, "mlflow-artifacts:").await.expect("crowded");
    assert_eq!(store.get_experiment(crowded).await.expect("get").tags.len(), 2500);

    assert_eq!(experiment_names(store, ViewType::All, "name LIKE 'alpha%'", &[]).await, ["alpha2"]);
    assert_eq!(experiment_names(store, ViewType::All, "tags.team = 'b'", &[]).await, ["alpha2"]);
    assert_eq!(
        experiment_names(store, ViewType::All, "", &["name ASC"]).await,
        ["Default", "alpha2", "beta", "crowded"]
    );
    let query = query(Vec::new(), search::experiments::parse_order_by(&["name ASC".to_string()]).expect("order"));
    let first = store.search_experiments(ViewType::All, &SearchQuery { max_results: 3, ..query.clone() }).await;
    let first = first.expect("page");
    assert_eq!((first.items.len(), first.next_offset), (3, Some(3)));
    let rest = store.search_experiments(ViewType::All, &SearchQuery { max_results: 3, offset: 3, ..query }).await;
    let rest = rest.expect("page");
    assert_eq!((rest.items.len(), rest.next_offset), (1, None));
    assert_eq!(rest.items[0].name, "crowded");

    let run = new_run(store, id, Vec::new()).await;
    store.set_experiment_lifecycle(id, LifecycleStage::Deleted).await.expect("delete");
    assert_eq!(store.get_experiment(id).await.expect("get").lifecycle_stage, LifecycleStage::Deleted);
    assert_eq!(store.get_run(&run.info.run_id).await.expect("run").info.lifecycle_stage, LifecycleStage::Deleted);
    assert_eq!(
        code(store.set_experiment_lifecycle(id, LifecycleStage::Deleted).await),
        ErrorCode::InvalidParameterValue
    );
    assert!(!experiment_names(store, ViewType::ActiveOnly, "", &[]).await.contains(&"alpha2".to_string()));
    assert_eq!(experiment_names(store, ViewType::DeletedOnly, "", &[]).await, ["alpha2"]);
    assert_eq!(code(store.set_experiment_tag(id, &Tag::new("k", "v")).await), ErrorCode::InvalidParameterValue);
    assert_eq!(code(store.rename_experiment(id, "gamma").await), ErrorCode::InvalidParameterValue);
    let refused = NewRun { experiment_id: id, user_id: "u".into(), run_name: None, start_time: 1, tags: Vec::new() };
    assert_eq!(code(store.create_run(&refused).await), ErrorCode::InvalidParameterValue);
    store.set_experiment_lifecycle(id, LifecycleStage::Active).await.expect("restore");
    assert_eq!(store.get_run(&run.info.run_id).await.expect("run").info.lifecycle_stage, LifecycleStage::Active);
    assert_eq!(
        code(store.set_experiment_lifecycle(ExperimentId::DEFAULT, LifecycleStage::Deleted).await),
        ErrorCode::InvalidParameterValue
    );
}

/// Runs: create, get, update, log_batch (params never change), metric history, search,
/// tags, delete and restore, inputs and outputs.
pub async fn check_runs(store: &dyn Store) {
    let experiment = new_experiment(store, "runs").await;
    let named = NewRun {
        experiment_id: experiment,
        user_id: "ann".into(),
        run_name: Some("first".into()),
        start_time: 10,
        tags: vec![Tag::new("mlflow.runName", "other")],
    };
    assert_eq!(code(store.create_run(&named).await), ErrorCode::InvalidParameterValue);
    let run = store.create_run(&NewRun { tags: vec![Tag::new("k", "v")], ..named }).await.expect("create");
    let run_id = run.info.run_id.clone();
    let id = &run_id;
    assert_eq!((run.info.run_name.as_str(), run.info.status), ("first", RunStatus::Running));
    let stored = store.get_run(id).await.expect("get");
    assert_eq!(stored.info, run.info);
    assert_eq!(stored.data.tags, vec![Tag::new("k", "v"), Tag::new("mlflow.runName", "first")]);
    assert_eq!(
        code(store.get_run(&RunId::from_stored("0123456789abcdef0123456789abcdef")).await),
        ErrorCode::ResourceDoesNotExist
    );

    let update = RunUpdate { status: Some(RunStatus::Finished), end_time: Some(20), run_name: Some("renamed".into()) };
    let info = store.update_run(id, &update).await.expect("update");
    assert_eq!((info.status, info.end_time, info.run_name.as_str()), (RunStatus::Finished, Some(20), "renamed"));
    assert_eq!(store.get_run(id).await.expect("get").data.tags[1], Tag::new("mlflow.runName", "renamed"));

    let batch = RunBatch {
        metrics: vec![metric("loss", 0.5, 100, 1), metric("loss", 0.9, 50, 0), metric("loss", f64::NAN, 100, 2)],
        params: vec![Param { key: "lr".into(), value: "0.1".into() }],
        tags: vec![Tag::new("k", "w")],
    };
    store.log_batch(id, &batch).await.expect("log batch");
    // The same param again with its value is fine; another value fails the whole batch.
    store.log_batch(id, &RunBatch { params: batch.params.clone(), ..Default::default() }).await.expect("same");
    let conflicting = RunBatch {
        metrics: vec![metric("acc", 1.0, 1, 0)],
        params: vec![Param { key: "lr".into(), value: "0.2".into() }],
        tags: vec![Tag::new("k", "x")],
    };
    assert_eq!(code(store.log_batch(id, &conflicting).await), ErrorCode::InvalidParameterValue);
    let data = store.get_run(id).await.expect("get").data;
    assert_eq!(data.params, vec![Param { key: "lr".into(), value: "0.1".into() }]);
    assert_eq!(data.tags[0], Tag::new("k", "w"), "a failed batch writes nothing");
    assert_eq!(data.metrics.len(), 1, "{:?}", data.metrics);
    assert!(data.metrics[0].value.is_nan() && data.metrics[0].step == 2, "the latest is the highest step");

    let history = store.get_metric_history(id, "loss", 2, 0).await.expect("history");
    assert_eq!(history.items.iter().map(|m| m.step).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(history.next_offset, Some(2));
    let rest = store.get_metric_history(id, "loss", 2, 2).await.expect("history");
    assert!(rest.items[0].value.is_nan() && rest.next_offset.is_none());
    assert_eq!(
        code(store.get_metric_history(&RunId::from_stored("missing"), "loss", 10, 0).await),
        ErrorCode::ResourceDoesNotExist
    );

    let second = new_run(store, experiment, vec![Tag::new("k", "z")]).await.info.run_id;
    store
        .log_batch(&second, &RunBatch { metrics: vec![metric("acc", 0.7, 1, 0)], ..Default::default() })
        .await
        .expect("log");
    assert_eq!(run_ids(store, experiment, "params.lr = '0.1'", &[]).await, [id.as_str()]);
    assert_eq!(run_ids(store, experiment, "tags.k = 'z'", &[]).await, [second.as_str()]);
    assert_eq!(run_ids(store, experiment, "metrics.acc > 0.5", &[]).await, [second.as_str()]);
    assert_eq!(run_ids(store, experiment, "attributes.status = 'FINISHED'", &[]).await, [id.as_str()]);
    assert_eq!(run_ids(store, experiment, "", &["metrics.acc DESC"]).await, [second.as_str(), id.as_str()]);

    store.delete_run_tag(id, "k").await.expect("delete tag");
    assert_eq!(code(store.delete_run_tag(id, "k").await), ErrorCode::ResourceDoesNotExist);
    assert!(run_ids(store, experiment, "tags.k = 'w'", &[]).await.is_empty());

    store.set_run_lifecycle(&second, LifecycleStage::Deleted).await.expect("delete run");
    let active = query(Vec::new(), Vec::new());
    let page =
        store.search_runs(std::slice::from_ref(&experiment), ViewType::ActiveOnly, &active).await.expect("search");
    assert_eq!(page.items.iter().map(|r| r.info.run_id.clone()).collect::<Vec<_>>(), [id.as_str()]);
    assert_eq!(code(store.log_batch(&second, &batch).await), ErrorCode::InvalidParameterValue);
    store.set_run_lifecycle(&second, LifecycleStage::Active).await.expect("restore run");

    let dataset = Dataset {
        name: "d".into(),
        digest: "abc".into(),
        source_type: "local".into(),
        source: "{}".into(),
        schema: None,
        profile: None,
    };
    let input = DatasetInput { dataset, tags: vec![Tag::new("mlflow.data.context", "train")] };
    store.log_inputs(id, std::slice::from_ref(&input), &["m-1".to_string()]).await.expect("inputs");
    store.log_outputs(id, &[ModelOutput { model_id: "m-2".into(), step: 3 }]).await.expect("outputs");
    let run = store.get_run(id).await.expect("get");
    assert_eq!(run.inputs.dataset_inputs, vec![input]);
    assert_eq!(run.inputs.model_inputs, ["m-1"]);
    assert_eq!(run.outputs.model_outputs, vec![ModelOutput { model_id: "m-2".into(), step: 3 }]);
    assert_eq!(run_ids(store, experiment, "dataset.context = 'train'", &[]).await, std::slice::from_ref(id));
}

/// Linking prompts merges into the trace's tag: known pairs once, in the order first linked.
pub async fn check_linked_prompts(store: &dyn Store) {
    let experiment = new_experiment(store, "prompts").await;
    let trace_id = &TraceId::from_stored("tr-00000000000000000000000000000abc");
    ferroflow_core::traces::ingest_spans(
        store,
        experiment,
        None,
        vec![span(trace_id.as_str(), "0000000000000001", Map::new())],
    )
    .await
    .expect("ingest");
    let pair = |name: &str, version: &str| (name.to_string(), version.to_string());
    // The stored text is the caller's encoding (the server writes Python's JSON); compact
    // JSON here.
    let link = |pairs: Vec<(String, String)>| {
        move |current: Option<&str>| {
            let entries = ferroflow_core::traces::merge_linked_prompts(current, &pairs)?;
            Ok(serde_json::Value::Array(entries).to_string())
        }
    };
    store.link_prompts(trace_id, &link(vec![pair("p", "1")])).await.expect("link");
    store.link_prompts(trace_id, &link(vec![pair("p", "1"), pair("q", "2")])).await.expect("link again");
    let info = store.get_trace_info(trace_id).await.expect("trace");
    assert_eq!(info.tag(TAG_LINKED_PROMPTS), Some(r#"[{"name":"p","version":"1"},{"name":"q","version":"2"}]"#));
    assert_eq!(trace_ids(store, experiment, "prompt = 'q/2'", &[]).await, std::slice::from_ref(trace_id));
    assert_eq!(
        code(store.link_prompts(&TraceId::from_stored("tr-missing"), &link(vec![pair("p", "1")])).await),
        ErrorCode::ResourceDoesNotExist
    );
}

/// A root span fills the tags and metadata of a trace StartTraceV3 has not finalized, and
/// leaves a finalized one's metadata alone.
pub async fn check_root_spans_fill_unfinalized_traces(store: &dyn Store) {
    let experiment = new_experiment(store, "roots").await;
    let (open, finalized) = ("tr-000000000000000000000000000000a1", "tr-000000000000000000000000000000a2");
    let child = SpanRecord {
        parent_span_id: Some(SpanId::from_stored("0000000000000009")),
        ..span(finalized, "0000000000000002", Map::new())
    };
    ferroflow_core::traces::ingest_spans(store, experiment, None, vec![child]).await.expect("ingest child");
    let mut info = store.get_trace_info(&TraceId::from_stored(finalized)).await.expect("trace");
    info.metadata = vec![(META_TRACE_USER.to_string(), "client".into())];
    store.start_trace(&info).await.expect("start trace");
    let attributes = json!({"session.id": "s1", "user.id": "u1", "mlflow.traceTag.env": "prod"});
    let attributes = attributes.as_object().cloned().unwrap_or_default();
    let roots =
        vec![span(open, "0000000000000001", attributes.clone()), span(finalized, "0000000000000009", attributes)];
    ferroflow_core::traces::ingest_spans(store, experiment, None, roots).await.expect("ingest roots");
    let open = store.get_trace_info(&TraceId::from_stored(open)).await.expect("open trace");
    assert_eq!(open.metadata_value(META_TRACE_SESSION), Some("s1"));
    assert_eq!(open.metadata_value(META_TRACE_USER), Some("u1"));
    assert_eq!(open.tag("env"), Some("prod"));
    let finalized = store.get_trace_info(&TraceId::from_stored(finalized)).await.expect("finalized trace");
    assert_eq!(finalized.metadata_value(META_TRACE_USER), Some("client"));
    assert_eq!(finalized.metadata_value(META_TRACE_SESSION), None);
}

/// The UI's reads: summaries count traces and runs per experiment and filter by name; the
/// skeleton lists spans in start order without bodies; one span comes back with its body.
pub async fn check_overview(store: &dyn Store) {
    let busy = new_experiment(store, "Busy One").await;
    let _quiet = new_experiment(store, "quiet").await;
    new_run(store, busy, vec![]).await;
    let trace_id = TraceId::from_stored("tr-000000000000000000000000000000ee");
    let mut child = span(
        trace_id.as_str(),
        "0000000000000002",
        json!({"mlflow.spanInputs": "\"hi\""}).as_object().cloned().unwrap_or_default(),
    );
    child.parent_span_id = Some(SpanId::from_stored("0000000000000001"));
    child.name = "child".into();
    child.start_time_ns += 10;
    let root = span(trace_id.as_str(), "0000000000000001", Map::new());
    ferroflow_core::traces::ingest_spans(store, busy, None, vec![child, root]).await.expect("ingest");

    let all = store.experiment_summaries("", 100).await.expect("summaries");
    let busy_row = all.iter().find(|e| e.experiment_id == busy).expect("busy listed");
    assert_eq!((busy_row.trace_count, busy_row.run_count), (1, 1));
    assert_eq!(all.len(), 3, "the Default experiment, busy and quiet: {all:?}");
    let found = store.experiment_summaries("busy", 100).await.expect("by name");
    assert_eq!(found.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["Busy One"]);

    let skeleton = store.span_skeleton(&trace_id).await.expect("skeleton");
    let names: Vec<&str> = skeleton.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["root", "child"]);
    assert_eq!(skeleton[1].parent_span_id.as_ref().map(|p| p.as_str()), Some("0000000000000001"));
    assert_eq!(skeleton[0].span_type.as_deref(), Some("LLM"));

    let one = store.get_span(&trace_id, &SpanId::from_stored("0000000000000002")).await.expect("span");
    assert!(one.attributes.contains("spanInputs"), "{}", one.attributes);
    let missing = store.get_span(&trace_id, &SpanId::from_stored("00000000000000ff")).await;
    assert_eq!(code(missing), ErrorCode::ResourceDoesNotExist);
    let no_trace = store.span_skeleton(&TraceId::from_stored("tr-000000000000000000000000000000ff")).await;
    assert_eq!(code(no_trace), ErrorCode::ResourceDoesNotExist);

    // Sessions: two traces of one session, one of another, one without.
    for (i, session) in [(1, Some("s-a")), (2, Some("s-a")), (3, Some("s-b")), (4, None)] {
        let id = TraceId::from_stored(format!("tr-{i:032x}"));
        let mut root = span(id.as_str(), "0000000000000001", Map::new());
        root.start_time_ns = i * 1_000_000_000;
        if let Some(session) = session {
            root.attributes.insert("session.id".into(), Value::String(session.into()));
        }
        ferroflow_core::traces::ingest_spans(store, busy, None, vec![root]).await.expect("ingest");
    }
    let sessions = store.sessions(busy, 10).await.expect("sessions");
    let found: Vec<(&str, i64)> = sessions.iter().map(|s| (s.session_id.as_str(), s.trace_count)).collect();
    assert_eq!(found, [("s-b", 1), ("s-a", 2)]);
}

/// Makes one `#[tokio::test]` per check, each on a fresh store from `$make` (an async fn
/// returning `(guard, store)`; the guard, kept alive for the test, owns the database). With no
/// list, every check of the suite (what both stores run); a list runs only the checks named.
#[macro_export]
macro_rules! store_suite {
    ($make:path) => {
        $crate::store_suite!(
            $make;
            check_odd_keys_are_matched_exactly,
            check_experiments,
            check_runs,
            check_root_spans_fill_unfinalized_traces,
            check_linked_prompts,
            check_concurrent_assessment_updates_lose_nothing,
            check_overview,
            check_trace_text_search,
            check_registry_concurrent_registrations_get_distinct_consecutive_versions,
            check_registry_prompts_are_hidden_unless_asked_for,
            check_registry_aliases_and_latest,
            check_registry_children_come_back_in_the_order_they_were_set,
            check_registry_registering_a_version_touches_its_model,
            check_registry_search_pages_keep_their_order,
            check_registry_logged_model_sources_resolve_to_their_artifacts,
            check_logged_models_run_metrics_reach_models_and_drive_search,
            check_auth,
            check_roles,
            check_sessions,
            check_evaluation_dataset_story,
            check_evaluation_search_orders_and_pages,
            check_evaluation_scorer_story,
            check_issues_story,
            check_issues_search,
            check_trace_metrics,
        );
    };
    ($make:path; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let (_guard, store) = $make().await;
                $crate::$check(&store).await;
            }
        )+
    };
}

/// `trace.text` finds a trace by any span's name or attributes, ignoring case, and only that
/// trace; a deleted trace is no longer found.
pub async fn check_trace_text_search(store: &dyn Store) {
    let experiment = new_experiment(store, "text").await;
    let (needle, other) = ("tr-000000000000000000000000000000c1", "tr-000000000000000000000000000000c2");
    let attributes =
        json!({"mlflow.spanInputs": "What is the Capital of Peru?"}).as_object().cloned().unwrap_or_default();
    let named = SpanRecord { name: "lookup_weather".into(), ..span(needle, "0000000000000002", Map::new()) };
    let spans = vec![
        span(needle, "0000000000000001", attributes),
        named,
        span(other, "0000000000000001", json!({"k": "plain"}).as_object().cloned().unwrap_or_default()),
    ];
    ferroflow_core::traces::ingest_spans(store, experiment, None, spans).await.expect("ingest");
    let found = TraceId::from_stored(needle);
    for filter in ["trace.text LIKE '%capital of peru%'", "trace.text ILIKE '%CAPITAL%'", "trace.text LIKE '%weather%'"]
    {
        assert_eq!(trace_ids(store, experiment, filter, &[]).await, [found.clone()], "{filter}");
    }
    assert!(trace_ids(store, experiment, "trace.text LIKE '%lima%'", &[]).await.is_empty());
    assert_eq!(trace_ids(store, experiment, "trace.text LIKE '%plain%'", &[]).await.len(), 1);
    let deleted = store.delete_traces(experiment, &TraceDeletion::Ids(vec![found.clone()])).await.expect("delete");
    assert_eq!(deleted, 1);
    assert!(trace_ids(store, experiment, "trace.text LIKE '%weather%'", &[]).await.is_empty());
}
