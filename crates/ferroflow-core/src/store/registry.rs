//! The model registry: registered models (prompts included), versions, tags and aliases.

use super::SearchQuery;
use crate::entities::*;
use crate::ids::{AliasName, ModelName, TagKey};
use crate::search::registry::{
    ModelVersionKey, ModelVersionOrderKey, PromptScope, RegisteredModelKey, RegisteredModelOrderKey,
};
use crate::Result;

/// Registered models and their versions (../shared/spec/mlflow-rest.md §10–11).
///
/// A missing model is `RESOURCE_DOES_NOT_EXIST` "Registered Model with name=X not found", a
/// missing (or deleted) version `RESOURCE_DOES_NOT_EXIST` "Model Version (name=X, version=N) not
/// found". Models and versions come back complete: tags, aliases, and for models the latest
/// version of each stage.
#[async_trait::async_trait]
pub trait RegistryStore: Send + Sync {
    /// A taken name is `RESOURCE_ALREADY_EXISTS`, worded for models or prompts.
    async fn create_registered_model(&self, model: &NewRegisteredModel) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &ModelName) -> Result<RegisteredModel>;
    /// Sets the description (`None` clears it).
    async fn update_registered_model(&self, name: &ModelName, description: Option<&str>) -> Result<RegisteredModel>;
    /// Renames the model and, with it, all its versions, tags and aliases.
    async fn rename_registered_model(&self, name: &ModelName, new_name: &ModelName) -> Result<RegisteredModel>;
    /// Deletes the model with all its versions, tags and aliases.
    async fn delete_registered_model(&self, name: &ModelName) -> Result<()>;
    /// Models on the `scope` side of the prompt divide that match every clause, by the
    /// requested order then name.
    async fn search_registered_models(
        &self,
        scope: PromptScope,
        query: &SearchQuery<RegisteredModelKey, RegisteredModelOrderKey>,
    ) -> Result<Page<RegisteredModel>>;
    /// The newest live version of each of `stages` (all stages when empty).
    async fn get_latest_versions(&self, name: &ModelName, stages: &[ModelStage]) -> Result<Vec<ModelVersion>>;
    async fn set_registered_model_tag(&self, name: &ModelName, tag: &Tag) -> Result<()>;
    /// Deleting an absent tag of an existing model is not an error.
    async fn delete_registered_model_tag(&self, name: &ModelName, key: &TagKey) -> Result<()>;

    /// Adds the next version: one more than the highest ever given for this model, deleted
    /// versions included, so numbers are never reused and concurrent registrations never
    /// collide. A `models:/<model_id>` source is resolved to the logged model's artifact
    /// location (and its source run fills a missing `run_id`); with `model_id` the version is
    /// also recorded in the logged model's `mlflow.modelVersions` tag.
    async fn create_model_version(&self, version: &NewModelVersion) -> Result<ModelVersion>;
    async fn get_model_version(&self, name: &ModelName, version: i64) -> Result<ModelVersion>;
    async fn update_model_version(
        &self,
        name: &ModelName,
        version: i64,
        description: Option<&str>,
    ) -> Result<ModelVersion>;
    /// Moves a version to `stage`; with `archive_existing`, other versions in that stage move
    /// to `Archived`.
    async fn transition_model_version_stage(
        &self,
        name: &ModelName,
        version: i64,
        stage: ModelStage,
        archive_existing: bool,
    ) -> Result<ModelVersion>;
    /// Soft-deletes a version (its number stays taken) and drops the aliases pointing at it.
    async fn delete_model_version(&self, name: &ModelName, version: i64) -> Result<()>;
    async fn search_model_versions(
        &self,
        scope: PromptScope,
        query: &SearchQuery<ModelVersionKey, ModelVersionOrderKey>,
    ) -> Result<Page<ModelVersion>>;
    /// Where the version's files are: the resolved storage location, else the source.
    async fn get_model_version_download_uri(&self, name: &ModelName, version: i64) -> Result<String>;
    async fn set_model_version_tag(&self, name: &ModelName, version: i64, tag: &Tag) -> Result<()>;
    async fn delete_model_version_tag(&self, name: &ModelName, version: i64, key: &TagKey) -> Result<()>;

    /// Points `alias` at `version` (moving it if it pointed elsewhere).
    async fn set_registered_model_alias(&self, name: &ModelName, alias: &AliasName, version: i64) -> Result<()>;
    /// Deleting an absent alias of an existing model is not an error.
    async fn delete_registered_model_alias(&self, name: &ModelName, alias: &AliasName) -> Result<()>;
    /// An unknown alias is `INVALID_PARAMETER_VALUE` "Registered model alias X not found.";
    /// `latest` with no live version is `RESOURCE_DOES_NOT_EXIST`.
    async fn get_model_version_by_alias(&self, name: &ModelName, alias: &AliasLookup) -> Result<ModelVersion>;
}
