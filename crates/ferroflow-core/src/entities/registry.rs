//! The model registry: registered models, their versions, tags and aliases (../shared/spec/mlflow-rest.md §11).
//!
//! Prompts (§10) are registered models too, told apart only by the [`PROMPT_TAG_KEY`] tag, so
//! they need no entity of their own.

use super::Tag;
use crate::ids::{AliasName, ModelName};

/// The tag that makes a registered model (and each of its versions) a prompt.
pub const PROMPT_TAG_KEY: &str = "mlflow.prompt.is_prompt";

/// The logged-model tag listing the registry versions made from that model, as a JSON list of
/// `{"name", "version"}`.
pub const MODEL_VERSIONS_TAG_KEY: &str = "mlflow.modelVersions";

/// The stage of a model version. Stages are deprecated in MLflow but still carried: a version
/// is in `None` unless transitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelStage {
    None,
    Staging,
    Production,
    Archived,
}

impl ModelStage {
    pub const ALL: [ModelStage; 4] =
        [ModelStage::None, ModelStage::Staging, ModelStage::Production, ModelStage::Archived];

    /// The canonical spelling MLflow prints (`"None"`, `"Staging"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStage::None => "None",
            ModelStage::Staging => "Staging",
            ModelStage::Production => "Production",
            ModelStage::Archived => "Archived",
        }
    }

    /// Reads a stage in any letter case, as the reference does.
    pub fn parse(text: &str) -> Option<Self> {
        ModelStage::ALL.into_iter().find(|stage| stage.as_str().eq_ignore_ascii_case(text))
    }
}

/// An alias on a registered model, pointing at one of its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelAlias {
    pub alias: String,
    pub version: i64,
}

/// A registered model (or a prompt).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub description: Option<String>,
    /// The newest live version of each stage in use.
    pub latest_versions: Vec<ModelVersion>,
    pub tags: Vec<Tag>,
    pub aliases: Vec<ModelAlias>,
}

impl RegisteredModel {
    pub fn is_prompt(&self) -> bool {
        is_prompt_tagged(&self.tags)
    }
}

/// A version of a registered model. Every version the server holds is `READY`: registration is
/// synchronous, so MLflow's pending states never occur.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub description: String,
    pub current_stage: ModelStage,
    /// The source as the client gave it (`models:/m-...`, `runs:/...`, a URI).
    pub source: String,
    pub run_id: String,
    pub run_link: String,
    /// The logged model this version was made from, if any.
    pub model_id: Option<String>,
    pub tags: Vec<Tag>,
    /// Names of the aliases that point at this version.
    pub aliases: Vec<String>,
}

/// What `registered-models/create` asks for, after validation.
#[derive(Debug, Clone)]
pub struct NewRegisteredModel {
    pub name: ModelName,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
}

/// What `model-versions/create` asks for, after validation.
#[derive(Debug, Clone)]
pub struct NewModelVersion {
    pub name: ModelName,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub model_id: Option<String>,
    pub tags: Vec<Tag>,
}

impl NewModelVersion {
    /// A version of `name` from `source`, with nothing else set.
    pub fn new(name: ModelName, source: impl Into<String>) -> Self {
        NewModelVersion {
            name,
            source: source.into(),
            run_id: None,
            run_link: None,
            description: None,
            model_id: None,
            tags: Vec::new(),
        }
    }

    /// A prompt version is one whose `mlflow.prompt.is_prompt` tag is `true`; with a key given
    /// twice the last value wins, as in the reference.
    pub fn is_prompt(&self) -> bool {
        is_prompt_tagged(&self.tags)
    }
}

/// How `registered-models/alias` (GET) names a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasLookup {
    /// `latest` in any case: the highest live version, resolved by the server.
    Latest,
    Named(AliasName),
}

/// Where a model version's files are, as `model-versions/create` names them in `source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// `models:/<model_id>`: the artifacts of a logged model.
    LoggedModel(String),
    /// `models:/<name>/<version>`: the files of another registered version.
    RegisteredVersion { name: String, version: i64 },
    /// Anything else (`runs:/...`, a storage URI): stored and served as given.
    Other,
}

impl ModelSource {
    /// Classifies a source URI. Only the forms that need resolving get their own variant;
    /// `models:/<name>@<alias>` and stage URIs stay [`ModelSource::Other`].
    pub fn parse(source: &str) -> ModelSource {
        let Some(rest) = source.strip_prefix("models:/") else {
            return ModelSource::Other;
        };
        let rest = rest.trim_end_matches('/');
        match rest.split_once('/') {
            None if !rest.is_empty() && !rest.contains('@') => ModelSource::LoggedModel(rest.to_string()),
            Some((name, version)) if !name.is_empty() && !version.contains('/') => match version.parse::<i64>() {
                Ok(version) if version > 0 => ModelSource::RegisteredVersion { name: name.to_string(), version },
                _ => ModelSource::Other,
            },
            _ => ModelSource::Other,
        }
    }
}

/// True when the tags say "prompt": the last `mlflow.prompt.is_prompt` value is `true` in any
/// case.
pub fn is_prompt_tagged(tags: &[Tag]) -> bool {
    tags.iter().rev().find(|tag| tag.key == PROMPT_TAG_KEY).is_some_and(|tag| tag.value.eq_ignore_ascii_case("true"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_in_any_case() {
        assert_eq!(ModelStage::parse("production"), Some(ModelStage::Production));
        assert_eq!(ModelStage::parse("NONE"), Some(ModelStage::None));
        assert_eq!(ModelStage::parse("Staging").map(ModelStage::as_str), Some("Staging"));
        assert_eq!(ModelStage::parse("deleted"), None);
    }

    #[test]
    fn sources() {
        assert_eq!(ModelSource::parse("models:/m-0123"), ModelSource::LoggedModel("m-0123".into()));
        assert_eq!(
            ModelSource::parse("models:/my_agent/3"),
            ModelSource::RegisteredVersion { name: "my_agent".into(), version: 3 }
        );
        assert_eq!(ModelSource::parse("models:/my_agent@champion"), ModelSource::Other);
        assert_eq!(ModelSource::parse("models:/my_agent/Production"), ModelSource::Other);
        assert_eq!(ModelSource::parse("runs:/abc/model"), ModelSource::Other);
        assert_eq!(ModelSource::parse("dummy-source"), ModelSource::Other);
        assert_eq!(ModelSource::parse("models:/"), ModelSource::Other);
    }

    #[test]
    fn prompt_tag_last_value_wins() {
        let tagged = |values: &[&str]| -> Vec<Tag> { values.iter().map(|v| Tag::new(PROMPT_TAG_KEY, *v)).collect() };
        assert!(is_prompt_tagged(&tagged(&["TRUE"])));
        assert!(!is_prompt_tagged(&tagged(&["true", "false"])));
        assert!(!is_prompt_tagged(&[Tag::new("team", "true")]));
    }
}
