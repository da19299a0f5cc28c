//! Logged models: wire ⇄ domain. Requests come out validated.

use super::tracking::{key_value, metric};
use ferroflow_core::entities as domain;
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::search::{logged_models as grammar, page_token};
use ferroflow_core::validation;
use ferroflow_core::{Error, Result};
use ferroflow_proto::logged_models as wire;
use ferroflow_proto::tracking::KeyValue;

/// Tags and params of logged models carry JSON (`mlflow.modelVersions`, model configs), so
/// their values get the registry's generous limit rather than the run limits.
fn logged_model_tag(kv: &KeyValue) -> Result<domain::Tag> {
    let tag =
        domain::Tag::new(validation::required("tag key", kv.key.as_deref())?, kv.value.clone().unwrap_or_default());
    validation::registry_tag(&tag)?;
    Ok(tag)
}

fn logged_model_param(kv: &KeyValue) -> Result<domain::Param> {
    let key = validation::required("param key", kv.key.as_deref())?;
    validation::entity_key("param name", key)?;
    let value = kv.value.clone().unwrap_or_default();
    validation::max_length(
        &format!("Param value of '{key}'"),
        &value,
        validation::MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH,
    )?;
    Ok(domain::Param { key: key.to_string(), value })
}

pub fn logged_model_tags(tags: &[KeyValue]) -> Result<Vec<domain::Tag>> {
    tags.iter().map(logged_model_tag).collect()
}

pub fn logged_model_params(params: &[KeyValue]) -> Result<Vec<domain::Param>> {
    params.iter().map(logged_model_param).collect()
}

pub fn new_logged_model(request: &wire::CreateLoggedModel) -> Result<domain::NewLoggedModel> {
    let experiment_id = super::experiment_id(request.experiment_id.as_deref())?;
    let name = request.name.clone().filter(|name| !name.is_empty());
    if let Some(name) = name.as_deref() {
        validation::logged_model_name(name)?;
    }
    Ok(domain::NewLoggedModel {
        experiment_id,
        name,
        model_type: request.model_type.clone(),
        source_run_id: request.source_run_id.clone(),
        params: logged_model_params(&request.params)?,
        tags: logged_model_tags(&request.tags)?,
    })
}

/// The status a finalize request sets: `LOGGED_MODEL_READY` / `_UPLOAD_FAILED` (or `_PENDING`),
/// by name or number.
pub fn logged_model_status(status: Option<&str>) -> Result<domain::LoggedModelStatus> {
    let text = validation::required("status", status)?;
    domain::LoggedModelStatus::parse(text)
        .ok_or_else(|| Error::invalid(format!("Invalid logged model status '{text}'.")))
}

pub fn logged_model_search(request: &wire::SearchLoggedModels) -> Result<domain::LoggedModelSearch> {
    let experiment_ids = ExperimentId::parse_all(&request.experiment_ids)?;
    let datasets = request
        .datasets
        .iter()
        .map(|dataset| {
            let name = dataset
                .dataset_name
                .as_deref()
                .filter(|name| !name.is_empty())
                .ok_or_else(|| Error::invalid("`dataset_name` in the `datasets` clause must be specified."))?;
            Ok(domain::LoggedModelDatasetFilter {
                dataset_name: name.to_string(),
                dataset_digest: dataset.dataset_digest.clone().filter(|digest| !digest.is_empty()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let order_by = request
        .order_by
        .iter()
        .map(|order| {
            let field_name = validation::required("order_by.field_name", order.field_name.as_deref())?;
            Ok(domain::LoggedModelOrder {
                key: grammar::parse_order_by_field(field_name)?,
                ascending: order.ascending.unwrap_or(true),
                dataset_name: order.dataset_name.clone().filter(|name| !name.is_empty()),
                dataset_digest: order.dataset_digest.clone().filter(|digest| !digest.is_empty()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let max_results = validation::max_results(
        "logged-models/search",
        request.max_results,
        100,
        validation::MAX_RESULTS_SEARCH_LOGGED_MODELS,
    )?;
    Ok(domain::LoggedModelSearch {
        experiment_ids,
        clauses: grammar::parse_filter(request.filter.as_deref().unwrap_or(""))?,
        datasets,
        order_by,
        max_results: max_results as u64,
        offset: page_token::decode(request.page_token.as_deref())?,
    })
}

pub fn logged_model(model: domain::LoggedModel) -> wire::LoggedModel {
    wire::LoggedModel {
        info: wire::LoggedModelInfo {
            model_id: model.model_id,
            experiment_id: model.experiment_id.to_string(),
            name: model.name,
            creation_timestamp_ms: model.creation_timestamp,
            last_updated_timestamp_ms: model.last_updated_timestamp,
            artifact_uri: model.artifact_uri,
            status: model.status.as_wire().to_string(),
            model_type: model.model_type,
            source_run_id: model.source_run_id,
            tags: model.tags.iter().map(key_value).collect(),
        },
        data: wire::LoggedModelData {
            params: model.params.into_iter().map(|param| KeyValue::new(param.key, param.value)).collect(),
            metrics: model.metrics.into_iter().map(metric).collect(),
        },
    }
}
