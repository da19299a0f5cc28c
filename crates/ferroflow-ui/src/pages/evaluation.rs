//! `/experiments/{id}/datasets` (evaluation datasets; `.../datasets/{dataset_id}` its records)
//! and `/experiments/{id}/scorers` (registered scorers with their sampling configuration).

use crate::format;
use crate::layout::{self, OrPage, PageResult};
use crate::pages::experiment_id;
use crate::pages::traces::tabs;
use crate::Ui;
use axum::extract::{Path, State};
use ferroflow_core::store::SearchQuery;
use maud::html;
use serde_json::Value;

const MAX_DATASETS: u64 = 200;
/// Records shown of one dataset.
const MAX_RECORDS: u64 = 500;

pub async fn datasets(State(ui): State<Ui>, Path(experiment): Path<String>) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let experiment = ui.store.get_experiment(id).await.or_page(&ui)?;
    let query = SearchQuery { clauses: Vec::new(), order_by: Vec::new(), max_results: MAX_DATASETS, offset: 0 };
    let items = ui.store.search_evaluation_datasets(&[id], &query).await.or_page(&ui)?.items;
    let body = html! {
        (tabs(&ui, &id.to_string(), "Datasets"))
        @if items.is_empty() {
            (layout::empty_state("No evaluation datasets yet. Create one and add records:",
                &format!("ds = mlflow.genai.datasets.create_dataset(name=\"qa\", experiment_id=\"{id}\")\nds.merge_records([{{\"inputs\": {{\"question\": \"What is MLflow?\"}}}}])")))
        } @else {
            table.grid {
                thead { tr { th { "Name" } th { "Records" } th { "Digest" } th { "Updated" } th { "Tags" } } }
                tbody {
                    @for d in &items {
                        @let count = d.profile.as_deref().and_then(|p| serde_json::from_str::<Value>(p).ok()).and_then(|p| p.get("num_records").and_then(Value::as_i64)).unwrap_or(0);
                        tr {
                            td { a href=(ui.url(&format!("/experiments/{id}/datasets/{}", d.dataset_id))) { (d.name) } }
                            td.num { (count) }
                            td.mono { (d.digest) }
                            td.nowrap { (format::when(d.last_update_time)) }
                            td { @for t in &d.tags { span.chip { (t.key) "=" (t.value) } } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &experiment.name, &[("Experiments", ui.url("/experiments"))], body))
}

pub async fn dataset(State(ui): State<Ui>, Path((experiment, dataset_id)): Path<(String, String)>) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let dataset = ui.store.get_evaluation_dataset(&dataset_id).await.or_page(&ui)?;
    // A page of one experiment shows only that experiment's datasets.
    if !ui.store.get_dataset_experiment_ids(&dataset_id).await.or_page(&ui)?.contains(&id) {
        let message = format!("Dataset '{dataset_id}' not found in experiment {id}.");
        return Err(layout::UiError::new(&ui, ferroflow_core::Error::not_found(message)));
    }
    let page = ui.store.get_dataset_records(&dataset_id, MAX_RECORDS, None).await.or_page(&ui)?;
    let crumbs =
        [("Experiments", ui.url("/experiments")), ("Datasets", ui.url(&format!("/experiments/{id}/datasets")))];
    let body = html! {
        (tabs(&ui, &id.to_string(), "Datasets"))
        @if page.records.is_empty() { p.empty { "This dataset has no records." } }
        @else {
            table.grid.records {
                thead { tr { th { "Inputs" } th { "Expectations" } th { "Outputs" } th { "Source" } } }
                tbody {
                    @for r in &page.records {
                        tr {
                            td { (format::json(&Value::Object(r.inputs.clone()))) }
                            td { @if let Some(e) = &r.expectations { (format::json(&Value::Object(e.clone()))) } }
                            td { @if let Some(o) = &r.outputs { (format::json(o)) } }
                            td.nowrap { (format::when(r.created_time)) }
                        }
                    }
                }
            }
            @if page.next.is_some() { p.source { "Showing the first " (MAX_RECORDS) " records." } }
        }
    };
    Ok(layout::page(&ui, &dataset.name, &crumbs, body))
}

pub async fn scorers(State(ui): State<Ui>, Path(experiment): Path<String>) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let experiment = ui.store.get_experiment(id).await.or_page(&ui)?;
    let items = ui.store.list_scorers(&[id]).await.or_page(&ui)?;
    let ids: Vec<String> = items.iter().map(|s| s.scorer_id.clone()).collect();
    let configs = ui.store.get_online_scoring_configs(&ids).await.or_page(&ui)?;
    let body = html! {
        (tabs(&ui, &id.to_string(), "Scorers"))
        @if items.is_empty() {
            (layout::empty_state("No registered scorers yet. Register one and start sampling:",
                "from mlflow.genai.scorers import Safety\nSafety().register(name=\"safety\").start(sampling_config=ScorerSamplingConfig(sample_rate=0.5))"))
        } @else {
            table.grid.scorers {
                thead { tr { th { "Scorer" } th.num { "Version" } th { "Sample rate" } th { "Filter" } th { "Registered" } th { "Definition" } } }
                tbody {
                    @for s in &items {
                        @let config = configs.iter().find(|c| c.scorer_id == s.scorer_id);
                        tr {
                            td { (s.scorer_name) }
                            td.num { (s.scorer_version) }
                            td { @if let Some(c) = config { (format!("{:.0}%", c.sample_rate * 100.0)) } @else { "not sampling" } }
                            td { @if let Some(f) = config.and_then(|c| c.filter_string.as_deref()) { code { (f) } } }
                            td.nowrap { (format::when(s.creation_time)) }
                            td { (format::json(&format::decoded(&Value::String(s.serialized_scorer.clone())))) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &experiment.name, &[("Experiments", ui.url("/experiments"))], body))
}
