//! The store test suite: checks written against the [`Store`] trait only, so that a second
//! backend runs the same checks (each `check_*` takes a `&dyn Store` on an empty database;
//! the `#[tokio::test]`s at the bottom run them on SQLite). Nothing here may touch SQL.

use ferroflow_core::entities::*;
use ferroflow_core::search;
use ferroflow_core::store::{SearchQuery, Store};
use serde_json::{json, Map, Value};

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

async fn new_experiment(store: &dyn Store, name: &str) -> String {
    store.create_experiment(name, None, &[], "mlflow-artifacts:").await.expect("create experiment")
}

async fn new_run(store: &dyn Store, experiment_id: &str, tags: Vec<Tag>) -> Run {
    let run = NewRun { experiment_id: experiment_id.into(), user_id: "u".into(), run_name: None, start_time: 1, tags };
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

async fn run_ids(store: &dyn Store, experiment_id: &str, filter: &str, order_by: &[&str]) -> Vec<String> {
    let order: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    let query = query(
        search::runs::parse_filter(filter).expect("filter"),
        search::runs::parse_order_by(&order).expect("order_by"),
    );
    let page = store.search_runs(&[experiment_id.to_string()], ViewType::All, &query).await.expect("search runs");
    page.items.into_iter().map(|run| run.info.run_id).collect()
}

fn span(trace_id: &str, span_id: &str, attributes: Map<String, Value>) -> SpanRecord {
    SpanRecord {
        trace_id: trace_id.into(),
        span_id: span_id.into(),
        parent_span_id: None,
        name: "root".into(),
        span_type: Some("LLM".into()),
        status: SpanStatus::Ok,
        status_message: String::new(),
        start_time_ns: 1_000_000_000,
        end_time_ns: 2_000_000_000,
        attributes,
        token_usage: None,
        kind: 1,
        extra: None,
    }
}

async fn trace_ids(store: &dyn Store, experiment_id: &str, filter: &str, order_by: &[&str]) -> Vec<String> {
    let order: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    let query = query(
        search::traces::parse_filter(filter).expect("filter"),
        search::traces::parse_order_by(&order).expect("order_by"),
    );
    let page = store.search_traces(&[experiment_id.to_string()], &query).await.expect("search traces");
    page.items.into_iter().map(|trace| trace.trace_id).collect()
}

/// Every odd key, as a run tag, param and metric, an experiment tag, a trace tag, metadata
/// key and span attribute, is found by exactly its owner, and ordering by it works.
pub async fn check_odd_keys_are_matched_exactly(store: &dyn Store) {
    let experiment = new_experiment(store, "odd keys").await;
    let mut runs = Vec::new();
    let mut traces = Vec::new();
    for (i, key) in ODD_KEYS.iter().enumerate() {
        let run = new_run(store, &experiment, vec![Tag::new(*key, "x")]).await;
        let batch = RunBatch {
            metrics: vec![metric(key, 1.0, 1, 0)],
            params: vec![Param { key: key.to_string(), value: "x".into() }],
            tags: Vec::new(),
        };
        store.log_batch(&run.info.run_id, &batch).await.expect("log batch");
        runs.push(run.info.run_id);
        let trace_id = format!("tr-{i:032x}");
        let attributes = json!({ *key: "x", "mlflow.spanInputs": "q" }).as_object().cloned().unwrap_or_default();
        ferroflow_core::traces::ingest_spans(
            store,
            &experiment,
            None,
            vec![span(&trace_id, "0000000000000001", attributes)],
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
                assert_eq!(run_ids(store, &experiment, &filter, &[]).await, run, "{filter}");
            }
        }
        assert_eq!(run_ids(store, &experiment, &on_key("metrics", key, "= 1"), &[]).await, run, "metric {key}");
        for prefix in ["tags", "params", "metrics"] {
            // The owner has the value, every other run lacks it and sorts after.
            let order = on_key(prefix, key, "DESC");
            assert_eq!(run_ids(store, &experiment, "", &[&order]).await[0], runs[i], "{order}");
        }
        for filter in [
            on_key("tags", key, "= 'x'"),
            on_key("tags", key, "LIKE 'x'"),
            on_key("tags", key, "IS NOT NULL"),
            on_key("metadata", key, "= 'x'"),
            on_key("metadata", key, "!= 'y'"),
            on_key("span.attributes", key, "= 'x'"),
        ] {
            assert_eq!(trace_ids(store, &experiment, &filter, &[]).await, trace, "{filter}");
        }
        let others = trace_ids(store, &experiment, &on_key("tags", key, "IS NULL"), &[]).await;
        assert_eq!(others.len(), ODD_KEYS.len() - 1, "tags.{key} IS NULL");
        assert!(!others.contains(&traces[i]));
        for prefix in ["tags", "metadata"] {
            let order = on_key(prefix, key, "DESC");
            assert_eq!(trace_ids(store, &experiment, "", &[&order]).await[0], traces[i], "{order}");
        }
        let filter = search::experiments::parse_filter(&on_key("tags", key, "= 'x'")).expect("filter");
        let found = store.search_experiments(ViewType::All, &query(filter, Vec::new())).await.expect("search");
        let expected = if i == 0 { vec![odd_experiment.clone()] } else { Vec::new() };
        assert_eq!(found.items.into_iter().map(|e| e.experiment_id).collect::<Vec<_>>(), expected, "experiments {key}");
    }
}

/// 32 concurrent updates of one assessment, each setting a field of its own: every field is
/// there afterwards (an update reads and writes in one transaction).
pub async fn check_concurrent_assessment_updates_lose_nothing(store: &dyn Store) {
    let experiment = new_experiment(store, "assessments").await;
    let trace_id = "tr-0123456789abcdef0123456789abcdef";
    ferroflow_core::traces::ingest_spans(
        store,
        &experiment,
        None,
        vec![span(trace_id, "0000000000000001", Map::new())],
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

#[cfg(test)]
mod on_sqlite {
    use super::*;
    use crate::test_store;

    #[tokio::test]
    async fn odd_keys_are_matched_exactly() {
        let (_dir, store) = test_store().await;
        check_odd_keys_are_matched_exactly(&store).await;
    }

    #[tokio::test]
    async fn concurrent_assessment_updates_lose_nothing() {
        let (_dir, store) = test_store().await;
        check_concurrent_assessment_updates_lose_nothing(&store).await;
    }
}
