//! The issue checks: create, get, update (concurrent ones lose nothing), and searches by
//! filter, name, categories and order, with trace counts from `issue` assessments and pages.

use crate::{code, new_experiment, new_run, span};
use ferroflow_core::entities::*;
use ferroflow_core::issues::{apply_update, new_issue, NewIssue};
use ferroflow_core::store::Store;
use ferroflow_core::ErrorCode;
use serde_json::{json, Map};

fn issue(name: &str, severity: Option<&str>, categories: &[&str]) -> NewIssue {
    NewIssue {
        name: name.into(),
        description: format!("about {name}"),
        severity: severity.map(str::to_string),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        ..NewIssue::default()
    }
}

fn search(experiment_id: ExperimentId) -> IssueSearch {
    IssueSearch { experiment_id: Some(experiment_id), max_results: 100, ..IssueSearch::default() }
}

fn names(page: &IssuePage) -> Vec<&str> {
    page.issues.iter().map(|i| i.name.as_str()).collect()
}

/// An issue comes back as created; ids and runs are checked; updates merge and never lose
/// one of several concurrent ones; an unknown id is missing.
pub async fn check_issues_story(store: &dyn Store) {
    let experiment = new_experiment(store, "issues").await;
    let other = new_experiment(store, "elsewhere").await;
    let run = new_run(store, experiment, vec![]).await;
    let foreign_run = new_run(store, other, vec![]).await;
    let mut new = issue("Hallucinated \"facts\" 100%", Some("high"), &["Accuracy", "tone"]);
    new.root_causes = vec!["retrieval".into()];
    new.source_run_id = Some(run.info.run_id.to_string());
    new.created_by = Some("alice".into());
    new.metadata = vec![("z".into(), "1".into()), ("a".into(), "ü".into())];
    let made = new_issue(new, experiment).expect("new issue");
    let created = store.create_issue(&made).await.expect("create issue");
    assert_eq!(created, made);
    assert_eq!(store.get_issue(&made.issue_id).await.expect("get issue"), made);
    assert_eq!(code(store.create_issue(&made).await), ErrorCode::ResourceAlreadyExists);
    assert_eq!(code(store.get_issue("iss-missing").await), ErrorCode::ResourceDoesNotExist);

    let mut wrong_run = new_issue(issue("wrong run", None, &[]), experiment).expect("new issue");
    wrong_run.source_run_id = Some(foreign_run.info.run_id.to_string());
    assert_eq!(code(store.create_issue(&wrong_run).await), ErrorCode::InvalidParameterValue);
    wrong_run.source_run_id = Some("0123456789abcdef0123456789abcdef".into());
    assert_eq!(code(store.create_issue(&wrong_run).await), ErrorCode::ResourceDoesNotExist);
    let nowhere = new_issue(issue("nowhere", None, &[]), ExperimentId::from_stored(987_654)).expect("new issue");
    assert_eq!(code(store.create_issue(&nowhere).await), ErrorCode::ResourceDoesNotExist);

    let updates = (0..16).map(|i| {
        let issue_id = made.issue_id.clone();
        async move {
            let update = IssueUpdate { metadata: vec![(format!("k{i}"), i.to_string())], ..IssueUpdate::default() };
            let apply = move |stored: &Issue| apply_update(stored, &update);
            store.update_issue(&issue_id, &apply).await.expect("update issue")
        }
    });
    futures::future::join_all(updates).await;
    let update = IssueUpdate {
        status: Some("resolved".into()),
        categories: Some(vec!["speed".into(), "speed".into()]),
        delete_metadata_keys: vec!["z".into()],
        ..IssueUpdate::default()
    };
    let updated = store.update_issue(&made.issue_id, &|stored| apply_update(stored, &update)).await.expect("update");
    assert_eq!(updated.status, "resolved");
    assert_eq!(updated.categories, ["speed"]);
    assert_eq!(updated.root_causes, ["retrieval"]);
    assert_eq!(updated.metadata.len(), 17, "{:?}", updated.metadata);
    assert_eq!(updated.metadata[0], ("a".to_string(), "ü".to_string()));
    for i in 0..16 {
        assert!(updated.metadata.contains(&(format!("k{i}"), i.to_string())), "update {i} was lost");
    }
    assert_eq!(store.get_issue(&made.issue_id).await.expect("get"), updated);
    let missing = store.update_issue("iss-missing", &|stored| apply_update(stored, &update)).await;
    assert_eq!(code(missing), ErrorCode::ResourceDoesNotExist);
}

/// Searches filter by status, run, name substring (literally), categories (ignoring case and
/// spaces), severities; order by severity then trace count by default or by the keys asked
/// for; count traces from `issue` assessments; page without overlap.
pub async fn check_issues_search(store: &dyn Store) {
    let experiment = new_experiment(store, "issue search").await;
    let other = new_experiment(store, "other issues").await;
    let mut ids = Vec::new();
    for (name, severity, categories) in [
        ("Slow answers", Some("low"), &["Latency "][..]),
        ("Wrong 50% of the time", Some("high"), &["accuracy"][..]),
        ("Rude_tone", None, &[][..]),
        ("Wrong units", Some("high"), &["ACCURACY", "units"][..]),
    ] {
        let made = new_issue(issue(name, severity, categories), experiment).expect("new issue");
        ids.push(store.create_issue(&made).await.expect("create").issue_id);
        crate::pause_ms(3);
    }
    store.create_issue(&new_issue(issue("Elsewhere", Some("high"), &[]), other).expect("new")).await.expect("create");
    // Two traces name "Wrong units", one names "Wrong 50%…" twice.
    let trace_ids = ["tr-000000000000000000000000000000d1", "tr-000000000000000000000000000000d2"];
    let spans = trace_ids.iter().map(|id| span(id, "0000000000000001", Map::new())).collect();
    ferroflow_core::traces::ingest_spans(store, experiment, None, spans).await.expect("ingest");
    for (trace, issue_id) in [(0, &ids[3]), (1, &ids[3]), (0, &ids[1]), (0, &ids[1])] {
        let body =
            json!({"assessment_name": issue_id, "source": {"source_type": "LLM_JUDGE"}, "issue": {"value": true}});
        let trace_id = TraceId::from_stored(trace_ids[trace]);
        let new = ferroflow_core::assessments::new_assessment(
            &trace_id,
            body.as_object().cloned().unwrap_or_default(),
            false,
        )
        .expect("assessment");
        store.create_assessment(&new).await.expect("create assessment");
    }

    let all = store.search_issues(&search(experiment)).await.expect("search");
    // Severity first (high, low, none), newest first among equals.
    assert_eq!(names(&all), ["Wrong units", "Wrong 50% of the time", "Slow answers", "Rude_tone"]);
    assert!(all.issues.iter().all(|i| i.trace_count.is_none()));
    let counted = IssueSearch { include_trace_count: true, include_total_count: true, ..search(experiment) };
    let counted = store.search_issues(&counted).await.expect("search");
    let counts: Vec<Option<i64>> = counted.issues.iter().map(|i| i.trace_count).collect();
    assert_eq!(counts, [Some(2), Some(1), Some(0), Some(0)]);
    assert_eq!(counted.total_count, Some(4));

    let by_name = |name: &str| IssueSearch { name: Some(name.into()), ..search(experiment) };
    assert_eq!(
        names(&store.search_issues(&by_name("WRONG")).await.expect("name")),
        ["Wrong units", "Wrong 50% of the time"]
    );
    assert_eq!(names(&store.search_issues(&by_name("50%")).await.expect("name")), ["Wrong 50% of the time"]);
    assert_eq!(names(&store.search_issues(&by_name("e_t")).await.expect("name")), ["Rude_tone"]);
    let categories = IssueSearch { categories: vec![" Accuracy".into(), "latency".into()], ..search(experiment) };
    let found = store.search_issues(&categories).await.expect("categories");
    assert_eq!(names(&found), ["Wrong units", "Wrong 50% of the time", "Slow answers"]);
    let severities =
        IssueSearch { severities: vec!["low".into()], statuses: vec!["pending".into()], ..search(experiment) };
    assert_eq!(names(&store.search_issues(&severities).await.expect("severities")), ["Slow answers"]);

    let update = IssueUpdate { status: Some("rejected".into()), ..IssueUpdate::default() };
    store.update_issue(&ids[0], &|stored| apply_update(stored, &update)).await.expect("update");
    let filters = ferroflow_core::issues::parse_filter("status = 'rejected'").expect("filter");
    let rejected = IssueSearch { filters, ..search(experiment) };
    assert_eq!(names(&store.search_issues(&rejected).await.expect("filter")), ["Slow answers"]);
    let filters = ferroflow_core::issues::parse_filter("status != 'rejected'").expect("filter");
    assert_eq!(
        store.search_issues(&IssueSearch { filters, ..search(experiment) }).await.expect("filter").issues.len(),
        3
    );

    let order = |keys: &[&str]| {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        IssueSearch { order_by: ferroflow_core::issues::order_by(&keys).expect("order_by"), ..search(experiment) }
    };
    let by_name = store.search_issues(&order(&["name ASC"])).await.expect("order");
    assert_eq!(names(&by_name), ["Rude_tone", "Slow answers", "Wrong 50% of the time", "Wrong units"]);
    let by_status = store.search_issues(&order(&["status DESC", "created_timestamp ASC"])).await.expect("order");
    assert_eq!(names(&by_status), ["Slow answers", "Wrong 50% of the time", "Rude_tone", "Wrong units"]);

    let mut seen = Vec::new();
    let mut page = IssueSearch { max_results: 3, ..order(&["name DESC"]) };
    loop {
        let found = store.search_issues(&page).await.expect("page");
        seen.extend(found.issues.iter().map(|i| i.name.clone()));
        match found.next_offset {
            Some(offset) => page.offset = offset,
            None => break,
        }
    }
    assert_eq!(seen, ["Wrong units", "Wrong 50% of the time", "Slow answers", "Rude_tone"]);
    let basic = store.search_issues(&IssueSearch { basic: true, ..search(experiment) }).await.expect("basic");
    assert!(basic.issues.iter().all(|i| i.description.is_empty() && i.metadata.is_empty()));
    let everywhere = IssueSearch { experiment_id: None, ..search(experiment) };
    assert_eq!(store.search_issues(&everywhere).await.expect("all").issues.len(), 5);
}
