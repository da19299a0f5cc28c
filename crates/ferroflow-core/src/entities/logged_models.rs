//! Logged models (MLflow 3, ../shared/spec/mlflow-rest.md §12): a model's artifacts, params and tags, kept apart from
//! the run that produced it. Their metrics are run metrics that carry the model's id.

use super::{Metric, Param, Tag};
use crate::ids::ExperimentId;
use crate::search::logged_models::LoggedModelKey;
use crate::search::Clause;

/// Upload state of a logged model: `PENDING` on create, then finalized by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggedModelStatus {
    Pending,
    Ready,
    UploadFailed,
}

impl LoggedModelStatus {
    /// The short name, as filters write it and as it is stored.
    pub fn as_short(self) -> &'static str {
        match self {
            LoggedModelStatus::Pending => "PENDING",
            LoggedModelStatus::Ready => "READY",
            LoggedModelStatus::UploadFailed => "UPLOAD_FAILED",
        }
    }

    /// The protobuf enum name the wire carries.
    pub fn as_wire(self) -> &'static str {
        match self {
            LoggedModelStatus::Pending => "LOGGED_MODEL_PENDING",
            LoggedModelStatus::Ready => "LOGGED_MODEL_READY",
            LoggedModelStatus::UploadFailed => "LOGGED_MODEL_UPLOAD_FAILED",
        }
    }

    /// Accepts the enum name, its number, or the short name. `UNSPECIFIED` (0) is no status.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "LOGGED_MODEL_PENDING" | "PENDING" | "1" => Some(LoggedModelStatus::Pending),
            "LOGGED_MODEL_READY" | "READY" | "2" => Some(LoggedModelStatus::Ready),
            "LOGGED_MODEL_UPLOAD_FAILED" | "UPLOAD_FAILED" | "3" => Some(LoggedModelStatus::UploadFailed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModel {
    pub model_id: String,
    pub experiment_id: ExperimentId,
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    /// `<experiment artifact location>/models/<model_id>/artifacts`.
    pub artifact_uri: String,
    pub status: LoggedModelStatus,
    pub model_type: String,
    pub source_run_id: String,
    pub tags: Vec<Tag>,
    pub params: Vec<Param>,
    /// Every metric logged against this model, each with `model_id` and `run_id` set.
    pub metrics: Vec<Metric>,
}

/// What `POST logged-models` asks for, after validation.
#[derive(Debug, Clone, Default)]
pub struct NewLoggedModel {
    pub experiment_id: ExperimentId,
    /// A readable name is made up when absent.
    pub name: Option<String>,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
}

/// A `datasets[]` entry of a search: metrics count only when logged on this dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedModelDatasetFilter {
    pub dataset_name: String,
    pub dataset_digest: Option<String>,
}

/// One `order_by` object of a search. For a metric key, the model's latest value of that
/// metric decides, optionally only among values logged on the named dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedModelOrder {
    pub key: LoggedModelKey,
    pub ascending: bool,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
}

/// A `logged-models/search` request as the store sees it.
#[derive(Debug, Clone)]
pub struct LoggedModelSearch {
    pub experiment_ids: Vec<ExperimentId>,
    pub clauses: Vec<Clause<LoggedModelKey>>,
    pub datasets: Vec<LoggedModelDatasetFilter>,
    pub order_by: Vec<LoggedModelOrder>,
    pub max_results: u64,
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names() {
        for status in [LoggedModelStatus::Pending, LoggedModelStatus::Ready, LoggedModelStatus::UploadFailed] {
            assert_eq!(LoggedModelStatus::parse(status.as_wire()), Some(status));
            assert_eq!(LoggedModelStatus::parse(status.as_short()), Some(status));
        }
        assert_eq!(LoggedModelStatus::parse("2"), Some(LoggedModelStatus::Ready));
        assert_eq!(LoggedModelStatus::parse("LOGGED_MODEL_STATUS_UNSPECIFIED"), None);
        assert_eq!(LoggedModelStatus::parse("0"), None);
    }
}
