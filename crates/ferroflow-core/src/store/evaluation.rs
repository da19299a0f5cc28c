//! Evaluation datasets, their records, and registered scorers.

use super::SearchQuery;
use crate::entities::{
    EvaluationDataset, NewEvaluationDataset, OnlineScoringConfig, Page, RecordCursor, RecordPage, RecordUpsert,
    ScorerVersion, Tag, UpsertCounts,
};
use crate::ids::ExperimentId;
use crate::search::datasets::DatasetKey;
use crate::Result;

/// Evaluation datasets and registered scorers (../shared/spec/mlflow-rest.md §13 and §14).
///
/// A missing dataset is `RESOURCE_DOES_NOT_EXIST` ("Evaluation dataset with id '…' not
/// found"), except where noted: deletes are idempotent because the client retries them.
#[async_trait::async_trait]
pub trait EvaluationStore: Send + Sync {
    /// Creates a dataset linked to `experiment_ids` (each must exist). Returns it with its
    /// `experiment_ids` filled.
    async fn create_evaluation_dataset(&self, dataset: &NewEvaluationDataset) -> Result<EvaluationDataset>;
    /// The dataset without records and without `experiment_ids`.
    async fn get_evaluation_dataset(&self, dataset_id: &str) -> Result<EvaluationDataset>;
    /// Deletes the dataset, its records, tags and experiment links; a missing dataset is a
    /// no-op.
    async fn delete_evaluation_dataset(&self, dataset_id: &str) -> Result<()>;
    /// Datasets linked to any of `experiment_ids` (all datasets when empty) that match the
    /// query; ordered by the query, then newest first.
    async fn search_evaluation_datasets(
        &self,
        experiment_ids: &[ExperimentId],
        query: &SearchQuery<DatasetKey>,
    ) -> Result<Page<EvaluationDataset>>;
    /// Sets (adds or overwrites) tags, keeping the others.
    async fn set_evaluation_dataset_tags(&self, dataset_id: &str, tags: &[Tag]) -> Result<()>;
    /// Removes a tag; a missing dataset or tag is a no-op.
    async fn delete_evaluation_dataset_tag(&self, dataset_id: &str, key: &str) -> Result<()>;

    /// Upserts records by inputs (see [`crate::evaluation::plan_upsert`]) and refreshes the
    /// dataset's schema, profile, digest and update fields, all in one transaction.
    async fn upsert_dataset_records(
        &self,
        dataset_id: &str,
        records: &[RecordUpsert],
        updated_by: Option<&str>,
    ) -> Result<UpsertCounts>;
    /// Up to `max_results` records in (created_time, id) order, starting after `after`.
    async fn get_dataset_records(
        &self,
        dataset_id: &str,
        max_results: u64,
        after: Option<&RecordCursor>,
    ) -> Result<RecordPage>;
    /// Deletes the named records of the dataset (others are ignored); returns how many went.
    async fn delete_dataset_records(&self, dataset_id: &str, record_ids: &[String]) -> Result<u64>;
    /// The experiments the dataset is linked to, in the order they were linked.
    async fn get_dataset_experiment_ids(&self, dataset_id: &str) -> Result<Vec<ExperimentId>>;
    /// Links the dataset to more experiments (each must exist; existing links stay).
    async fn add_dataset_to_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[ExperimentId],
    ) -> Result<EvaluationDataset>;
    /// Unlinks the dataset from experiments; ids it is not linked to are ignored.
    async fn remove_dataset_from_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[ExperimentId],
    ) -> Result<EvaluationDataset>;

    /// Stores the next version of scorer `name` in the experiment (1 for a new name). The
    /// experiment must exist and be active.
    async fn register_scorer(
        &self,
        experiment_id: ExperimentId,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion>;
    /// The latest version of every scorer of the experiments, by experiment then name.
    async fn list_scorers(&self, experiment_ids: &[ExperimentId]) -> Result<Vec<ScorerVersion>>;
    /// Every version of one scorer, oldest first.
    async fn list_scorer_versions(&self, experiment_id: ExperimentId, name: &str) -> Result<Vec<ScorerVersion>>;
    /// One version, or the latest when `version` is `None`.
    async fn get_scorer(&self, experiment_id: ExperimentId, name: &str, version: Option<i32>) -> Result<ScorerVersion>;
    /// Deletes one version, or every version (and the scorer's id and online config) when
    /// `version` is `None`.
    async fn delete_scorer(&self, experiment_id: ExperimentId, name: &str, version: Option<i32>) -> Result<()>;
    /// The online configs of the given scorers (at most one each); unknown ids are skipped.
    async fn get_online_scoring_configs(&self, scorer_ids: &[String]) -> Result<Vec<OnlineScoringConfig>>;
    /// Replaces the online config of scorer `name`.
    async fn upsert_online_scoring_config(
        &self,
        experiment_id: ExperimentId,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig>;
}
