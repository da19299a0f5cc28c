//! Evaluation checks: datasets and their records (upsert by canonical inputs, merge, digest,
//! pages), dataset search, scorers and their versions.

use ferroflow_core::entities::*;
use ferroflow_core::evaluation::{self as rules, USER_TAG};
use ferroflow_core::search::datasets as grammar;
use ferroflow_core::search::datasets::DatasetKey;
use ferroflow_core::store::{SearchQuery, Store};
use serde_json::{json, Value};

fn upsert(value: Value) -> RecordUpsert {
    let Value::Object(map) = value else { panic!("not an object") };
    RecordUpsert {
        inputs: map.get("inputs").and_then(Value::as_object).cloned().unwrap_or_default(),
        outputs: map.get("outputs").cloned(),
        expectations: map.get("expectations").and_then(Value::as_object).cloned(),
        tags: map.get("tags").and_then(Value::as_object).cloned(),
        source: map.get("source").map(|s| rules::record_source(s).expect("source")),
    }
}

fn query(filter: &str, order_by: &[&str], max_results: u64, offset: u64) -> SearchQuery<DatasetKey> {
    let order: Vec<String> = order_by.iter().map(|s| s.to_string()).collect();
    SearchQuery {
        clauses: grammar::parse_filter(filter).expect("filter"),
        order_by: grammar::parse_order_by(&order).expect("order"),
        max_results,
        offset,
    }
}

pub async fn check_evaluation_dataset_story(store: &dyn Store) {
    let experiment = store.create_experiment("e", None, &[], "mlflow-artifacts:").await.unwrap();
    let new = NewEvaluationDataset {
        name: "qa".into(),
        experiment_ids: vec![experiment.clone()],
        tags: vec![Tag::new("stage", "dev"), Tag::new(USER_TAG, "root")],
        created_by: None,
    };
    let created = store.create_evaluation_dataset(&new).await.unwrap();
    assert!(created.dataset_id.starts_with("d-") && created.dataset_id.len() == 34);
    assert_eq!(created.experiment_ids.as_deref(), Some(&[experiment.clone()][..]));
    assert_eq!(created.created_by.as_deref(), Some("root"));
    assert_eq!((created.schema.as_deref(), created.profile.as_deref()), (None, None));
    let id = created.dataset_id.clone();

    let counts = store
        .upsert_dataset_records(
            &id,
            &[
                upsert(json!({"inputs": {"q": "a"}, "expectations": {"e": "1"}, "tags": {USER_TAG: "root", "t": "1"},
                              "source": {"source_type": "HUMAN", "source_data": {}}})),
                upsert(json!({"inputs": {"q": "b"}})),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(counts, UpsertCounts { inserted: 2, updated: 0 });
    let after_first = store.get_evaluation_dataset(&id).await.unwrap();
    assert_eq!(after_first.profile.as_deref(), Some(r#"{"num_records": 2}"#));
    assert!(after_first.schema.as_deref().unwrap_or("").contains(r#""q":"string""#));
    assert_ne!(after_first.digest, created.digest);
    assert_eq!(after_first.experiment_ids, None);

    let counts = store
        .upsert_dataset_records(&id, &[upsert(json!({"inputs": {"q": "a"}, "expectations": {"e": "2"}}))], Some("bob"))
        .await
        .unwrap();
    assert_eq!(counts, UpsertCounts { inserted: 0, updated: 1 });
    let after_second = store.get_evaluation_dataset(&id).await.unwrap();
    assert_ne!(after_second.digest, after_first.digest);
    assert_eq!(after_second.last_updated_by.as_deref(), Some("bob"));

    let page = store.get_dataset_records(&id, 1, None).await.unwrap();
    assert_eq!(page.records.len(), 1);
    let cursor = page.next.clone().expect("a second page");
    let rest = store.get_dataset_records(&id, 10, Some(&cursor)).await.unwrap();
    assert_eq!(rest.records.len(), 1);
    assert!(rest.next.is_none());
    let all: Vec<DatasetRecord> = page.records.into_iter().chain(rest.records).collect();
    let a = all.iter().find(|r| r.inputs.get("q") == Some(&json!("a"))).unwrap();
    assert_eq!(Value::Object(a.expectations.clone().unwrap()), json!({"e": "2"}));
    assert_eq!(Value::Object(a.tags.clone()), json!({USER_TAG: "root", "t": "1"}));
    assert_eq!(a.source.as_ref().map(|s| s.source_type), Some(RecordSourceType::Human));
    assert_eq!(a.last_updated_by.as_deref(), Some("bob"));

    store.set_evaluation_dataset_tags(&id, &[Tag::new("owner", "me"), Tag::new("stage", "prod")]).await.unwrap();
    store.delete_evaluation_dataset_tag(&id, "owner").await.unwrap();
    store.delete_evaluation_dataset_tag(&id, "never-set").await.unwrap();
    let tags: Vec<(String, String)> =
        store.get_evaluation_dataset(&id).await.unwrap().tags.into_iter().map(|t| (t.key, t.value)).collect();
    assert_eq!(tags, [("stage".into(), "prod".into()), (USER_TAG.into(), "root".into())]);

    let found = store
        .search_evaluation_datasets(std::slice::from_ref(&experiment), &query("name = \"qa\"", &[], 10, 0))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].tags.len(), 2);
    let none =
        store.search_evaluation_datasets(&[ExperimentId::from_stored(12345)], &query("", &[], 10, 0)).await.unwrap();
    assert!(none.items.is_empty());
    let by_tag = store.search_evaluation_datasets(&[], &query("tags.stage LIKE 'pr%'", &[], 10, 0)).await.unwrap();
    assert_eq!(by_tag.items.len(), 1);

    let deleted = store.delete_dataset_records(&id, &[b_id(&all), "dr-unknown".into()]).await.unwrap();
    assert_eq!(deleted, 1);
    let after_delete = store.get_evaluation_dataset(&id).await.unwrap();
    assert_eq!(after_delete.profile.as_deref(), Some(r#"{"num_records": 1}"#));
    assert_ne!(after_delete.digest, after_second.digest);

    let other = store.create_experiment("f", None, &[], "mlflow-artifacts:").await.unwrap();
    let linked = store.add_dataset_to_experiments(&id, &[other.clone(), experiment.clone()]).await.unwrap();
    assert_eq!(linked.experiment_ids, Some(vec![experiment.clone(), other.clone()]));
    let err = store.add_dataset_to_experiments(&id, &[ExperimentId::from_stored(999)]).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let unlinked =
        store.remove_dataset_from_experiments(&id, &[experiment.clone(), ExperimentId::from_stored(77)]).await.unwrap();
    assert_eq!(unlinked.experiment_ids, Some(vec![other.clone()]));

    store.delete_evaluation_dataset(&id).await.unwrap();
    store.delete_evaluation_dataset(&id).await.unwrap();
    assert!(store.get_evaluation_dataset(&id).await.unwrap_err().message.contains("not found"));
    assert!(store.get_dataset_records(&id, 10, None).await.unwrap_err().is_not_found());
    assert!(store.upsert_dataset_records(&id, &[], None).await.unwrap_err().is_not_found());
}

fn b_id(records: &[DatasetRecord]) -> String {
    records.iter().find(|r| r.inputs.get("q") == Some(&json!("b"))).map(|r| r.dataset_record_id.clone()).unwrap()
}

pub async fn check_evaluation_search_orders_and_pages(store: &dyn Store) {
    for name in ["b", "a", "c"] {
        let new = NewEvaluationDataset { name: name.into(), experiment_ids: vec![], tags: vec![], created_by: None };
        store.create_evaluation_dataset(&new).await.unwrap();
    }
    let names = |page: &Page<EvaluationDataset>| page.items.iter().map(|d| d.name.clone()).collect::<Vec<_>>();
    let first = store.search_evaluation_datasets(&[], &query("", &["name"], 2, 0)).await.unwrap();
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first.next_offset, Some(2));
    let second = store.search_evaluation_datasets(&[], &query("", &["name"], 2, 2)).await.unwrap();
    assert_eq!(names(&second), ["c"]);
    assert_eq!(second.next_offset, None);
    let filtered =
        store.search_evaluation_datasets(&[], &query("name IN ('a', 'c')", &["name DESC"], 10, 0)).await.unwrap();
    assert_eq!(names(&filtered), ["c", "a"]);
    let recent = store.search_evaluation_datasets(&[], &query("created_time >= 0", &[], 10, 0)).await.unwrap();
    assert_eq!(recent.items.len(), 3);
}

pub async fn check_evaluation_scorer_story(store: &dyn Store) {
    let experiment = store.create_experiment("e", None, &[], "mlflow-artifacts:").await.unwrap();
    let first = store.register_scorer(experiment, "s", r#"{"v": 1}"#).await.unwrap();
    let second = store.register_scorer(experiment, "s", r#"{"v": 2}"#).await.unwrap();
    store.register_scorer(experiment, "a", r#"{"v": 1}"#).await.unwrap();
    assert_eq!((first.scorer_version, second.scorer_version), (1, 2));
    assert_eq!(first.scorer_id, second.scorer_id);
    let listed = store.list_scorers(std::slice::from_ref(&experiment)).await.unwrap();
    let summary: Vec<(String, i32)> = listed.iter().map(|s| (s.scorer_name.clone(), s.scorer_version)).collect();
    assert_eq!(summary, [("a".to_string(), 1), ("s".to_string(), 2)]);
    assert_eq!(store.get_scorer(experiment, "s", None).await.unwrap().serialized_scorer, r#"{"v": 2}"#);
    assert_eq!(store.get_scorer(experiment, "s", Some(1)).await.unwrap().serialized_scorer, r#"{"v": 1}"#);
    assert!(store.get_scorer(experiment, "s", Some(9)).await.unwrap_err().message.contains("version 9"));
    assert_eq!(store.list_scorer_versions(experiment, "s").await.unwrap().len(), 2);

    let config = store.upsert_online_scoring_config(experiment, "s", 0.5, Some("trace.status = 'OK'")).await.unwrap();
    let configs = store.get_online_scoring_configs(&[first.scorer_id.clone(), "other".into()]).await.unwrap();
    assert_eq!(configs, vec![config.clone()]);
    let replaced = store.upsert_online_scoring_config(experiment, "s", 0.0, None).await.unwrap();
    assert_ne!(replaced.online_scoring_config_id, config.online_scoring_config_id);
    assert_eq!(store.get_online_scoring_configs(std::slice::from_ref(&first.scorer_id)).await.unwrap(), vec![replaced]);

    store.delete_scorer(experiment, "s", Some(2)).await.unwrap();
    assert_eq!(store.get_scorer(experiment, "s", None).await.unwrap().scorer_version, 1);
    assert!(store.delete_scorer(experiment, "s", Some(2)).await.unwrap_err().is_not_found());
    store.delete_scorer(experiment, "s", None).await.unwrap();
    assert!(store.get_scorer(experiment, "s", None).await.unwrap_err().is_not_found());
    assert!(store.get_online_scoring_configs(std::slice::from_ref(&first.scorer_id)).await.unwrap().is_empty());
    let again = store.register_scorer(experiment, "s", "{}").await.unwrap();
    assert_eq!(again.scorer_version, 1);
    assert_ne!(again.scorer_id, first.scorer_id);
    assert!(store.register_scorer(ExperimentId::from_stored(424242), "s", "{}").await.unwrap_err().is_not_found());
}
