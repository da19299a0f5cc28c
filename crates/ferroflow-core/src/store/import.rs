//! Writes of records made elsewhere: what `ferroflow import` copies from an MLflow database.
//! Ids, names and timestamps are kept as they were, which the API's create methods (that make
//! ids and take the time of the call) cannot do.
//!
//! Every method is one transaction and idempotent: a record that is already there is left as it
//! is and the method answers `false`, so an interrupted import runs again from the start and
//! skips what it had copied. Traces need no method here: StartTraceV3 and span ingest are
//! already idempotent upserts that keep the client's ids (`TraceStore`).

use crate::entities::{
    DatasetRecord, EvaluationDataset, Experiment, ExperimentId, LoggedModel, Metric, ModelAlias, ModelVersion,
    OnlineScoringConfig, Param, RegisteredModel, RunInfo, ScorerVersion, Tag,
};
use crate::Result;

/// One run as copied: its record, params, tags and every metric value logged (full history;
/// the latest value per key is worked out by the store as `log_batch` does).
#[derive(Debug, Clone)]
pub struct ImportedRun {
    pub info: RunInfo,
    pub deleted_time: Option<i64>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
    pub metric_history: Vec<Metric>,
}

/// One registered model (or prompt) as copied, with every version, deleted ones included so
/// that numbers are never reused after the copy.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    pub model: RegisteredModel,
    pub versions: Vec<ImportedVersion>,
    pub aliases: Vec<ModelAlias>,
}

#[derive(Debug, Clone)]
pub struct ImportedVersion {
    pub version: ModelVersion,
    pub storage_location: Option<String>,
    pub deleted: bool,
}

/// One evaluation dataset as copied: its record (tags in `dataset.tags`, the experiments it
/// is linked to in `dataset.experiment_ids`), and every record of it. The dataset's schema,
/// profile and digest are kept as they were; a missing digest is worked out from the records.
#[derive(Debug, Clone)]
pub struct ImportedDataset {
    pub dataset: EvaluationDataset,
    pub records: Vec<DatasetRecord>,
}

/// One registered scorer as copied: its id, experiment and name, every version (none when all
/// were deleted but the name was kept) and its online scoring config, if it has one.
#[derive(Debug, Clone)]
pub struct ImportedScorer {
    pub scorer_id: String,
    pub experiment_id: ExperimentId,
    pub scorer_name: String,
    pub versions: Vec<ScorerVersion>,
    pub online_config: Option<OnlineScoringConfig>,
}

#[async_trait::async_trait]
pub trait ImportStore: Send + Sync {
    /// An experiment under its own id and name, with its tags. An id or a name already taken
    /// is `false` (the experiment there stays).
    async fn import_experiment(&self, experiment: &Experiment) -> Result<bool>;
    /// A run under its own id, in an experiment imported before.
    async fn import_run(&self, run: &ImportedRun) -> Result<bool>;
    /// A registered model with its tags, versions (and their tags) and aliases.
    async fn import_registered_model(&self, model: &ImportedModel) -> Result<bool>;
    /// A logged model under its own id, times and artifact location, with its params and tags
    /// (`model.metrics` is not read: its metrics arrive with its run's history, in rows that
    /// name it); `deleted` keeps a deleted one deleted.
    async fn import_logged_model(&self, model: &LoggedModel, deleted: bool) -> Result<bool>;
    /// An evaluation dataset under its own id, with its tags, records (ids, times and users
    /// kept) and links to experiments. A link to an experiment the target does not have is
    /// left out. An id already there is `false`.
    async fn import_evaluation_dataset(&self, dataset: &ImportedDataset) -> Result<bool>;
    /// A scorer under its own id with its versions (numbers and times kept) and online config,
    /// in an experiment imported before. An id, or the experiment's name for it, already
    /// there is `false`.
    async fn import_scorer(&self, scorer: &ImportedScorer) -> Result<bool>;
    /// How many versions the target holds of the scorer with this id (`None`: no such
    /// scorer): what the import's summary counts, since a scorer without versions is not
    /// visible through [`crate::store::EvaluationStore`].
    async fn imported_scorer_versions(&self, scorer_id: &str) -> Result<Option<u64>>;
}
