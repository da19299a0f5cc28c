//! Experiments and runs: wire ⇄ domain.

use ferroflow_core::entities as domain;
use ferroflow_core::ids::{ExperimentId, RunId};
use ferroflow_core::validation;
use ferroflow_core::{Error, Result};
use ferroflow_proto::de::Double;
use ferroflow_proto::tracking as wire;

pub fn key_value(tag: &domain::Tag) -> wire::KeyValue {
    wire::KeyValue::new(tag.key.clone(), tag.value.clone())
}

/// A `{key, value}` from the wire; a missing key is an error, a missing value is `""`.
pub fn tag_from_wire(kv: &wire::KeyValue, what: &str) -> Result<domain::Tag> {
    let key = validation::required(&format!("{what} key"), kv.key.as_deref())?;
    Ok(domain::Tag::new(key, kv.value.clone().unwrap_or_default()))
}

pub fn experiment(e: domain::Experiment) -> wire::Experiment {
    wire::Experiment {
        experiment_id: e.experiment_id.to_string(),
        name: e.name,
        artifact_location: e.artifact_location,
        lifecycle_stage: e.lifecycle_stage.as_str().to_string(),
        last_update_time: e.last_update_time,
        creation_time: e.creation_time,
        tags: e.tags.iter().map(key_value).collect(),
        workspace: ferroflow_core::roles::DEFAULT_WORKSPACE,
    }
}

pub fn run_info(info: domain::RunInfo) -> wire::RunInfo {
    wire::RunInfo {
        run_uuid: info.run_id.to_string(),
        run_id: info.run_id.into_string(),
        run_name: info.run_name,
        experiment_id: info.experiment_id.to_string(),
        user_id: info.user_id,
        status: info.status.as_str().to_string(),
        start_time: info.start_time,
        end_time: info.end_time,
        artifact_uri: info.artifact_uri,
        lifecycle_stage: info.lifecycle_stage.as_str().to_string(),
    }
}

pub fn metric(m: domain::Metric) -> wire::Metric {
    wire::Metric {
        key: m.key,
        value: Double(m.value),
        timestamp: m.timestamp,
        step: m.step,
        dataset_name: m.dataset_name,
        dataset_digest: m.dataset_digest,
        model_id: m.model_id,
        run_id: m.run_id,
    }
}

pub fn run(r: domain::Run) -> wire::Run {
    wire::Run {
        info: run_info(r.info),
        data: wire::RunData {
            metrics: r.data.metrics.into_iter().map(metric).collect(),
            params: r.data.params.into_iter().map(|p| wire::KeyValue::new(p.key, p.value)).collect(),
            tags: r.data.tags.iter().map(key_value).collect(),
        },
        inputs: wire::RunInputs {
            dataset_inputs: r
                .inputs
                .dataset_inputs
                .into_iter()
                .map(|input| wire::DatasetInputWire {
                    tags: input.tags.iter().map(key_value).collect(),
                    dataset: Some(wire::DatasetWire {
                        name: Some(input.dataset.name),
                        digest: Some(input.dataset.digest),
                        source_type: Some(input.dataset.source_type),
                        source: Some(input.dataset.source),
                        schema: input.dataset.schema,
                        profile: input.dataset.profile,
                    }),
                })
                .collect(),
            model_inputs: r
                .inputs
                .model_inputs
                .into_iter()
                .map(|model_id| wire::ModelInputWire { model_id: Some(model_id) })
                .collect(),
        },
        outputs: wire::RunOutputs {
            model_outputs: r
                .outputs
                .model_outputs
                .into_iter()
                .map(|o| wire::ModelOutputWire { model_id: Some(o.model_id), step: Some(o.step) })
                .collect(),
        },
    }
}

/// The run id of a request: `run_id`, else the legacy `run_uuid`.
pub fn run_id(run_id: &Option<String>, run_uuid: &Option<String>) -> Result<RunId> {
    let id = run_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(run_uuid.as_deref().filter(|s| !s.is_empty()))
        .ok_or_else(|| Error::invalid("Missing value for required parameter 'run_id'."))?;
    RunId::parse(id)
}

/// A required experiment id field.
pub fn experiment_id(field: Option<&str>) -> Result<ExperimentId> {
    ExperimentId::parse(validation::required("experiment_id", field)?)
}

/// An optional experiment id field (absent or empty means none).
pub fn optional_experiment_id(field: Option<&str>) -> Result<Option<ExperimentId>> {
    field.filter(|s| !s.is_empty()).map(ExperimentId::parse).transpose()
}

pub fn metric_from_wire(m: &wire::MetricIn) -> Result<domain::Metric> {
    let key = validation::required("metric key", m.key.as_deref())?;
    let value = m
        .value
        .ok_or_else(|| Error::invalid(format!("Missing value for required parameter 'value' of metric '{key}'.")))?;
    let timestamp = m.timestamp.ok_or_else(|| {
        Error::invalid(format!("Missing value for required parameter 'timestamp' of metric '{key}'."))
    })?;
    Ok(domain::Metric {
        key: key.to_string(),
        value,
        timestamp,
        step: m.step.unwrap_or(0),
        model_id: m.model_id.clone().filter(|s| !s.is_empty()),
        dataset_name: m.dataset_name.clone().filter(|s| !s.is_empty()),
        dataset_digest: m.dataset_digest.clone().filter(|s| !s.is_empty()),
        run_id: None,
    })
}

pub fn param_from_wire(kv: &wire::KeyValue) -> Result<domain::Param> {
    let key = validation::required("param key", kv.key.as_deref())?;
    Ok(domain::Param { key: key.to_string(), value: kv.value.clone().unwrap_or_default() })
}

pub fn dataset_input_from_wire(input: &wire::DatasetInputWire) -> Result<domain::DatasetInput> {
    let dataset =
        input.dataset.as_ref().ok_or_else(|| Error::invalid("Missing value for required parameter 'dataset'."))?;
    Ok(domain::DatasetInput {
        dataset: domain::Dataset {
            name: validation::required("dataset name", dataset.name.as_deref())?.to_string(),
            digest: validation::required("dataset digest", dataset.digest.as_deref())?.to_string(),
            source_type: dataset.source_type.clone().unwrap_or_default(),
            source: dataset.source.clone().unwrap_or_default(),
            schema: dataset.schema.clone(),
            profile: dataset.profile.clone(),
        },
        tags: input.tags.iter().map(|t| tag_from_wire(t, "input tag")).collect::<Result<_>>()?,
    })
}
