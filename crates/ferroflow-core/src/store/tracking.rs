//! Experiments and runs.

use super::SearchQuery;
use crate::entities::*;
use crate::ids::{ExperimentId, RunId};
use crate::search::experiments::ExperimentKey;
use crate::search::runs::RunKey;
use crate::Result;

/// Experiments and runs.
#[async_trait::async_trait]
pub trait TrackingStore: Send + Sync {
    /// Creates an experiment; `artifact_location` defaults to `<default_artifact_root>/<id>`.
    /// A duplicate name is `RESOURCE_ALREADY_EXISTS`.
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[Tag],
        default_artifact_root: &str,
    ) -> Result<ExperimentId>;
    async fn get_experiment(&self, experiment_id: ExperimentId) -> Result<Experiment>;
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment>;
    async fn search_experiments(&self, view: ViewType, query: &SearchQuery<ExperimentKey>) -> Result<Page<Experiment>>;
    async fn rename_experiment(&self, experiment_id: ExperimentId, new_name: &str) -> Result<()>;
    async fn set_experiment_lifecycle(&self, experiment_id: ExperimentId, stage: LifecycleStage) -> Result<()>;
    async fn set_experiment_tag(&self, experiment_id: ExperimentId, tag: &Tag) -> Result<()>;
    async fn delete_experiment_tag(&self, experiment_id: ExperimentId, key: &str) -> Result<()>;

    async fn create_run(&self, run: &NewRun) -> Result<Run>;
    async fn get_run(&self, run_id: &RunId) -> Result<Run>;
    async fn update_run(&self, run_id: &RunId, update: &RunUpdate) -> Result<RunInfo>;
    async fn set_run_lifecycle(&self, run_id: &RunId, stage: LifecycleStage) -> Result<()>;
    /// Writes metrics, params and tags of one run in one transaction. Re-logging a param with
    /// a different value is `INVALID_PARAMETER_VALUE`; the run must be active.
    async fn log_batch(&self, run_id: &RunId, batch: &RunBatch) -> Result<()>;
    async fn delete_run_tag(&self, run_id: &RunId, key: &str) -> Result<()>;
    async fn search_runs(
        &self,
        experiment_ids: &[ExperimentId],
        view: ViewType,
        query: &SearchQuery<RunKey>,
    ) -> Result<Page<Run>>;
    async fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        max_results: u64,
        offset: u64,
    ) -> Result<Page<Metric>>;
    async fn log_inputs(&self, run_id: &RunId, datasets: &[DatasetInput], model_ids: &[String]) -> Result<()>;
    async fn log_outputs(&self, run_id: &RunId, outputs: &[ModelOutput]) -> Result<()>;
}
