//! Logged-model checks: run metrics that name a model reach it and drive its search.

use ferroflow_core::entities::*;
use ferroflow_core::search::logged_models as grammar;
use ferroflow_core::store::Store;
fn model_metric(key: &str, value: f64, model_id: &str, dataset: Option<&str>) -> Metric {
    Metric {
        key: key.to_string(),
        value,
        timestamp: 1,
        step: 0,
        model_id: Some(model_id.to_string()),
        dataset_name: dataset.map(str::to_string),
        dataset_digest: dataset.map(|_| "d1".to_string()),
        run_id: None,
    }
}

pub async fn check_logged_models_run_metrics_reach_models_and_drive_search(store: &dyn Store) {
    let experiment = store.create_experiment("e", None, &[], "mlflow-artifacts:").await.unwrap();
    let run = store
        .create_run(&NewRun {
            experiment_id: experiment,
            user_id: "u".into(),
            run_name: None,
            start_time: 1,
            tags: Vec::new(),
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (name, accuracy) in [("a", 0.5), ("b", 0.9), ("c", 0.7)] {
        let model = store
            .create_logged_model(&NewLoggedModel {
                experiment_id: experiment,
                name: Some(name.into()),
                params: vec![Param { key: "lr".into(), value: name.into() }],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(model.status, LoggedModelStatus::Pending);
        let batch = RunBatch {
            metrics: vec![model_metric("accuracy", accuracy, &model.model_id, Some("val"))],
            ..Default::default()
        };
        store.log_batch(&run.info.run_id, &batch).await.unwrap();
        ids.push(model.model_id);
    }
    let fetched = store.get_logged_model(&ids[1], false).await.unwrap();
    assert_eq!(fetched.metrics.len(), 1);
    assert_eq!(fetched.metrics[0].run_id.as_deref(), Some(run.info.run_id.as_str()));
    assert_eq!(fetched.params, vec![Param { key: "lr".into(), value: "b".into() }]);

    let search =
        |filter: &str, order_by: Vec<LoggedModelOrder>, datasets: Vec<LoggedModelDatasetFilter>| LoggedModelSearch {
            experiment_ids: vec![experiment],
            clauses: grammar::parse_filter(filter).unwrap(),
            datasets,
            order_by,
            max_results: 10,
            offset: 0,
        };
    let by_accuracy = vec![LoggedModelOrder {
        key: grammar::parse_order_by_field("metrics.accuracy").unwrap(),
        ascending: false,
        dataset_name: None,
        dataset_digest: None,
    }];
    let names = |page: Page<LoggedModel>| page.items.into_iter().map(|m| m.name).collect::<Vec<_>>();
    let page = store.search_logged_models(&search("metrics.accuracy > 0.6", by_accuracy.clone(), vec![])).await;
    assert_eq!(names(page.unwrap()), ["b", "c"]);
    let other_dataset = vec![LoggedModelDatasetFilter { dataset_name: "test".into(), dataset_digest: None }];
    let page = store.search_logged_models(&search("", by_accuracy, other_dataset)).await;
    assert!(page.unwrap().items.is_empty());

    store.finalize_logged_model(&ids[0], LoggedModelStatus::Ready).await.unwrap();
    let page = store.search_logged_models(&search("status = 'READY'", vec![], vec![])).await;
    assert_eq!(names(page.unwrap()), ["a"]);
    store.delete_logged_model(&ids[0]).await.unwrap();
    assert!(store.get_logged_model(&ids[0], false).await.unwrap_err().is_not_found());
    assert_eq!(store.get_logged_model(&ids[0], true).await.unwrap().name, "a");
    // Created within the same millisecond perhaps, so only the set is certain.
    let mut left = names(store.search_logged_models(&search("", vec![], vec![])).await.unwrap());
    left.sort();
    assert_eq!(left, ["b", "c"]);
}
