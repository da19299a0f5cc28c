//! Registry checks: versions numbered 1..N under concurrent registrations and never reused,
//! prompts kept out of model searches, aliases and `latest`, children in the order they were
//! set, search pages, logged-model sources.

use crate::pause_ms;
use ferroflow_core::entities::*;
use ferroflow_core::ids::{AliasName, ModelName};
use ferroflow_core::search::registry as grammar;
use ferroflow_core::search::registry::PromptScope;
use ferroflow_core::store::{SearchQuery, Store};

/// A model name as the server's convert layer parses it.
fn name(text: &str) -> ModelName {
    ModelName::parse("name", text).unwrap()
}

/// An alias as the server's convert layer parses it.
fn alias(text: &str) -> AliasName {
    AliasName::parse(text).unwrap()
}

fn new_model(name: &str, tags: &[(&str, &str)]) -> NewRegisteredModel {
    NewRegisteredModel {
        name: self::name(name),
        description: None,
        tags: tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect(),
    }
}

fn new_version(name: &str, source: &str) -> NewModelVersion {
    NewModelVersion::new(self::name(name), source)
}

async fn model_names(store: &dyn Store, filter: &str) -> Vec<String> {
    let (scope, clauses) = grammar::split_prompt_scope(grammar::parse_registered_model_filter(filter).unwrap());
    let query = SearchQuery { clauses, order_by: Vec::new(), max_results: 100, offset: 0 };
    let page = store.search_registered_models(scope, &query).await.unwrap();
    page.items.into_iter().map(|model| model.name).collect()
}

/// 50 registrations at once get 1..50; a deleted number is not given again.
pub async fn check_registry_concurrent_registrations_get_distinct_consecutive_versions(store: &dyn Store) {
    store.create_registered_model(&new_model("m", &[])).await.unwrap();
    let requests: Vec<NewModelVersion> = (0..50).map(|i| new_version("m", &format!("s3://b/{i}"))).collect();
    let registrations = requests.iter().map(|request| store.create_model_version(request));
    let mut versions: Vec<i64> =
        futures::future::join_all(registrations).await.into_iter().map(|v| v.unwrap().version).collect();
    versions.sort();
    assert_eq!(versions, (1..=50).collect::<Vec<i64>>());
    // A deleted number is never given again.
    store.delete_model_version(&name("m"), 50).await.unwrap();
    assert!(store.get_model_version(&name("m"), 50).await.unwrap_err().is_not_found());
    assert_eq!(store.create_model_version(&new_version("m", "s3://b/x")).await.unwrap().version, 51);
}

pub async fn check_registry_prompts_are_hidden_unless_asked_for(store: &dyn Store) {
    store.create_registered_model(&new_model("model-a", &[("team", "x")])).await.unwrap();
    store.create_registered_model(&new_model("prompt-a", &[(PROMPT_TAG_KEY, "true"), ("team", "x")])).await.unwrap();
    assert_eq!(model_names(store, "").await, ["model-a"]);
    assert_eq!(model_names(store, "tag.`mlflow.prompt.is_prompt` != 'true'").await, ["model-a"]);
    assert_eq!(model_names(store, "name = 'prompt-a'").await, Vec::<String>::new());
    assert_eq!(model_names(store, "tags.`mlflow.prompt.is_prompt` = 'true'").await, ["prompt-a"]);
    assert_eq!(model_names(store, "tags.`mlflow.prompt.is_prompt` = 'true' AND tags.team = 'x'").await, ["prompt-a"]);
    let taken = store.create_registered_model(&new_model("prompt-a", &[])).await.unwrap_err();
    assert_eq!(taken.code, ferroflow_core::ErrorCode::ResourceAlreadyExists);
    assert!(taken.message.contains("already taken by a prompt"), "{}", taken.message);
}

pub async fn check_registry_aliases_and_latest(store: &dyn Store) {
    store.create_registered_model(&new_model("m", &[])).await.unwrap();
    let latest = store.get_model_version_by_alias(&name("m"), &AliasLookup::Latest).await.unwrap_err();
    assert!(latest.is_not_found());
    for _ in 0..3 {
        store.create_model_version(&new_version("m", "s3://b")).await.unwrap();
    }
    store.set_registered_model_alias(&name("m"), &alias("champion"), 2).await.unwrap();
    let by_alias = store.get_model_version_by_alias(&name("m"), &AliasLookup::Named(alias("champion"))).await.unwrap();
    assert_eq!((by_alias.version, by_alias.aliases.clone()), (2, vec!["champion".to_string()]));
    assert_eq!(store.get_model_version_by_alias(&name("m"), &AliasLookup::Latest).await.unwrap().version, 3);
    let model = store.get_registered_model(&name("m")).await.unwrap();
    assert_eq!(model.aliases, vec![ModelAlias { alias: "champion".into(), version: 2 }]);
    assert_eq!(model.latest_versions.iter().map(|v| v.version).collect::<Vec<_>>(), [3]);
    store.delete_registered_model_alias(&name("m"), &alias("champion")).await.unwrap();
    let unknown =
        store.get_model_version_by_alias(&name("m"), &AliasLookup::Named(alias("champion"))).await.unwrap_err();
    assert_eq!(unknown.code, ferroflow_core::ErrorCode::InvalidParameterValue);
    assert_eq!(unknown.message, "Registered model alias champion not found.");
    assert!(store.set_registered_model_alias(&name("m"), &alias("x"), 9).await.unwrap_err().is_not_found());
}

pub async fn check_registry_children_come_back_in_the_order_they_were_set(store: &dyn Store) {
    let created = store.create_registered_model(&new_model("m", &[("b", "1"), ("a", "1"), ("b", "2")])).await.unwrap();
    let pairs = |tags: &[Tag]| tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect::<Vec<_>>();
    let expected = vec![("b".to_string(), "2".to_string()), ("a".to_string(), "1".to_string())];
    assert_eq!(pairs(&created.tags), expected);
    assert_eq!(pairs(&store.get_registered_model(&name("m")).await.unwrap().tags), expected);
    for _ in 0..4 {
        let version =
            NewModelVersion { tags: vec![Tag::new("z", "1"), Tag::new("y", "1")], ..new_version("m", "s3://b") };
        let created = store.create_model_version(&version).await.unwrap();
        assert_eq!(pairs(&created.tags), [("z".to_string(), "1".to_string()), ("y".to_string(), "1".to_string())]);
    }
    store.set_model_version_tag(&name("m"), 2, &Tag::new("z", "2")).await.unwrap();
    store.transition_model_version_stage(&name("m"), 1, ModelStage::Staging, false).await.unwrap();
    store.transition_model_version_stage(&name("m"), 2, ModelStage::Production, false).await.unwrap();
    store.delete_model_version(&name("m"), 4).await.unwrap();
    for alias in ["zeta", "alpha"] {
        store.set_registered_model_alias(&name("m"), &self::alias(alias), 2).await.unwrap();
    }
    store.set_registered_model_alias(&name("m"), &alias("other"), 3).await.unwrap();
    let model = store.get_registered_model(&name("m")).await.unwrap();
    let latest: Vec<_> =
        model.latest_versions.iter().map(|v| (v.version, v.current_stage, v.aliases.clone())).collect();
    assert_eq!(
        latest,
        [
            (1, ModelStage::Staging, vec![]),
            (2, ModelStage::Production, vec!["zeta".to_string(), "alpha".to_string()]),
            (3, ModelStage::None, vec!["other".to_string()]),
        ]
    );
    assert_eq!(pairs(&model.latest_versions[1].tags)[0], ("z".to_string(), "2".to_string()));
    let aliases: Vec<_> = model.aliases.iter().map(|a| (a.alias.as_str(), a.version)).collect();
    assert_eq!(aliases, [("zeta", 2), ("alpha", 2), ("other", 3)]);
    let by_alias = store.get_model_version_by_alias(&name("m"), &AliasLookup::Named(alias("alpha"))).await.unwrap();
    assert_eq!((by_alias.version, by_alias.aliases), (2, vec!["zeta".to_string(), "alpha".to_string()]));
    // `latest` is the highest live version: 4 is deleted.
    assert_eq!(store.get_model_version_by_alias(&name("m"), &AliasLookup::Latest).await.unwrap().version, 3);
    let missing = store.get_model_version_by_alias(&name("nope"), &AliasLookup::Latest).await.unwrap_err();
    assert!(missing.is_not_found());
}

pub async fn check_registry_registering_a_version_touches_its_model(store: &dyn Store) {
    let model = store.create_registered_model(&new_model("m", &[])).await.unwrap();
    pause_ms(3);
    let plain = store.create_model_version(&new_version("m", "s3://b")).await.unwrap();
    assert!(plain.creation_timestamp > model.last_updated_timestamp);
    let touched = store.get_registered_model(&name("m")).await.unwrap();
    assert_eq!(touched.last_updated_timestamp, plain.creation_timestamp);
    assert_eq!(touched.creation_timestamp, model.creation_timestamp);
    pause_ms(3);
    let tagged = NewModelVersion { tags: vec![Tag::new("k", "v")], ..new_version("m", "s3://b") };
    let tagged = store.create_model_version(&tagged).await.unwrap();
    assert_eq!(store.get_registered_model(&name("m")).await.unwrap().last_updated_timestamp, tagged.creation_timestamp);
    assert!(store.create_model_version(&new_version("nope", "s3://b")).await.unwrap_err().is_not_found());
}

pub async fn check_registry_search_pages_keep_their_order(store: &dyn Store) {
    for name in ["c", "a", "d", "b", "e"] {
        store.create_registered_model(&new_model(name, &[])).await.unwrap();
        store.create_model_version(&new_version(name, "s3://b")).await.unwrap();
        pause_ms(2);
    }
    let order_by = grammar::parse_registered_model_order_by(&["creation_timestamp DESC".to_string()]).unwrap();
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let query = SearchQuery { clauses: Vec::new(), order_by: order_by.clone(), max_results: 2, offset };
        let page = store.search_registered_models(PromptScope::Models, &query).await.unwrap();
        names.extend(page.items.iter().map(|m| (m.name.clone(), m.latest_versions.len())));
        match page.next_offset {
            Some(next) => offset = next,
            None => break,
        }
    }
    let expected: Vec<_> = ["e", "b", "d", "a", "c"].iter().map(|n| (n.to_string(), 1)).collect();
    assert_eq!(names, expected);
    let order_by = grammar::parse_model_version_order_by(&["name DESC".to_string()]).unwrap();
    let query = SearchQuery { clauses: Vec::new(), order_by, max_results: 3, offset: 1 };
    let page = store.search_model_versions(PromptScope::Models, &query).await.unwrap();
    assert_eq!(page.items.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["d", "c", "b"]);
    assert_eq!(page.next_offset, Some(4));
}

pub async fn check_registry_logged_model_sources_resolve_to_their_artifacts(store: &dyn Store) {
    let experiment = store.create_experiment("e", None, &[], "mlflow-artifacts:").await.unwrap();
    let logged = store
        .create_logged_model(&NewLoggedModel {
            experiment_id: experiment,
            name: Some("agent".into()),
            source_run_id: Some("r1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    store.create_registered_model(&new_model("m", &[])).await.unwrap();
    let version = store
        .create_model_version(&NewModelVersion {
            model_id: Some(logged.model_id.clone()),
            ..new_version("m", &format!("models:/{}", logged.model_id))
        })
        .await
        .unwrap();
    assert_eq!(version.run_id, "r1");
    assert_eq!(version.model_id.as_deref(), Some(logged.model_id.as_str()));
    let uri = store.get_model_version_download_uri(&name("m"), 1).await.unwrap();
    assert_eq!(uri, format!("mlflow-artifacts:/{experiment}/models/{}/artifacts", logged.model_id));
    let tagged = store.get_logged_model(&logged.model_id, false).await.unwrap();
    let recorded = tagged.tags.iter().find(|tag| tag.key == MODEL_VERSIONS_TAG_KEY).unwrap();
    assert_eq!(recorded.value, r#"[{"name": "m", "version": 1}]"#);
    let missing = store.create_model_version(&new_version("m", "models:/m-nope")).await.unwrap_err();
    assert_eq!(missing.code, ferroflow_core::ErrorCode::InvalidParameterValue);
}
