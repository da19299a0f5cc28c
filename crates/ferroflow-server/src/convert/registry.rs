//! Model registry and prompts: wire ⇄ domain. Requests come out validated.

use ferroflow_core::entities as domain;
use ferroflow_core::ids::{ModelName, TagKey};
use ferroflow_core::validation;
use ferroflow_core::{Error, Result};
use ferroflow_proto::registry as wire;
use ferroflow_proto::tracking::KeyValue;

/// The `name` of a request: present and a valid registered model name.
pub fn registry_name(name: Option<&str>) -> Result<ModelName> {
    model_name("name", name)
}

/// A registered model name carried in the request field `parameter` (`name`, `new_name`).
pub fn model_name(parameter: &str, name: Option<&str>) -> Result<ModelName> {
    ModelName::parse(parameter, validation::required(parameter, name)?)
}

/// The `key` of a registry `delete-tag`: present and a valid tag name, as when it is set.
pub fn registry_tag_key(key: Option<&str>) -> Result<TagKey> {
    TagKey::parse(validation::required("key", key)?)
}

/// The `version` of a request: present and an integer.
pub fn registry_version(version: Option<&str>) -> Result<i64> {
    validation::model_version(validation::required("version", version)?)
}

/// A registered model or model version tag from its parts; the value may be empty.
pub fn registry_tag(key: Option<&str>, value: Option<&str>) -> Result<domain::Tag> {
    let tag = domain::Tag::new(validation::required("key", key)?, value.unwrap_or_default());
    validation::registry_tag(&tag)?;
    Ok(tag)
}

/// Tags on the way out, moved rather than copied (a search page carries hundreds).
fn wire_tags(tags: Vec<domain::Tag>) -> Vec<KeyValue> {
    tags.into_iter().map(|tag| KeyValue::new(tag.key, tag.value)).collect()
}

fn registry_tags(tags: &[KeyValue]) -> Result<Vec<domain::Tag>> {
    tags.iter().map(|kv| registry_tag(kv.key.as_deref(), kv.value.as_deref())).collect()
}

/// A stage name in any case (`production`, `None`, ...).
pub fn model_stage(stage: Option<&str>) -> Result<domain::ModelStage> {
    let text = validation::required("stage", stage)?;
    domain::ModelStage::parse(text).ok_or_else(|| {
        Error::invalid(format!(
            "Invalid Model Version stage: {text}. Value must be one of None, Staging, Production, Archived."
        ))
    })
}

pub fn new_registered_model(request: &wire::CreateRegisteredModel) -> Result<domain::NewRegisteredModel> {
    Ok(domain::NewRegisteredModel {
        name: registry_name(request.name.as_deref())?,
        description: request.description.clone(),
        tags: registry_tags(&request.tags)?,
    })
}

pub fn new_model_version(request: &wire::CreateModelVersion) -> Result<domain::NewModelVersion> {
    let non_empty = |value: &Option<String>| value.clone().filter(|text| !text.is_empty());
    let version = domain::NewModelVersion {
        name: registry_name(request.name.as_deref())?,
        source: validation::required("source", request.source.as_deref())?.to_string(),
        run_id: non_empty(&request.run_id),
        run_link: non_empty(&request.run_link),
        description: request.description.clone(),
        model_id: non_empty(&request.model_id),
        tags: registry_tags(&request.tags)?,
    };
    validation::model_version_source(&version.source, version.is_prompt())?;
    Ok(version)
}

pub fn model_version(version: domain::ModelVersion) -> wire::ModelVersion {
    wire::ModelVersion {
        name: version.name,
        version: version.version.to_string(),
        creation_timestamp: version.creation_timestamp,
        last_updated_timestamp: version.last_updated_timestamp,
        current_stage: version.current_stage.as_str().to_string(),
        description: version.description,
        source: version.source,
        run_id: version.run_id,
        // Registration is synchronous: a stored version is always ready.
        status: "READY".to_string(),
        tags: wire_tags(version.tags),
        run_link: version.run_link,
        aliases: version.aliases,
        model_id: version.model_id,
    }
}

pub fn registered_model(model: domain::RegisteredModel) -> wire::RegisteredModel {
    wire::RegisteredModel {
        name: model.name,
        creation_timestamp: model.creation_timestamp,
        last_updated_timestamp: model.last_updated_timestamp,
        description: model.description,
        latest_versions: model.latest_versions.into_iter().map(model_version).collect(),
        tags: wire_tags(model.tags),
        aliases: model
            .aliases
            .into_iter()
            .map(|alias| wire::AliasWire { alias: alias.alias, version: alias.version.to_string() })
            .collect(),
    }
}
