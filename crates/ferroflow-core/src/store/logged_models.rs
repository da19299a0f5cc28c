//! Logged models (MLflow 3).

use crate::entities::*;
use crate::Result;

/// Logged models (../shared/spec/mlflow-rest.md §12). A missing model, or a deleted one unless asked for, is
/// `RESOURCE_DOES_NOT_EXIST` "Logged model with ID 'm-...' not found.". A model comes back with
/// its tags, params and every metric logged against it.
#[async_trait::async_trait]
pub trait LoggedModelStore: Send + Sync {
    /// Creates a `PENDING` model in an active experiment, with its artifacts under
    /// `<experiment artifact location>/models/<model_id>/artifacts`.
    async fn create_logged_model(&self, model: &NewLoggedModel) -> Result<LoggedModel>;
    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel>;
    /// Sets the final upload status.
    async fn finalize_logged_model(&self, model_id: &str, status: LoggedModelStatus) -> Result<LoggedModel>;
    /// Live models of the requested experiments that match every clause (a metric clause is
    /// met by any matching value, on the requested datasets when some are named).
    async fn search_logged_models(&self, search: &LoggedModelSearch) -> Result<Page<LoggedModel>>;
    /// Upserts tags; the last value of a key given twice wins.
    async fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> Result<()>;
    /// A missing tag is `RESOURCE_DOES_NOT_EXIST`.
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    /// Soft delete: the model disappears from get and search but keeps its data.
    async fn delete_logged_model(&self, model_id: &str) -> Result<()>;
    /// Upserts params.
    async fn log_logged_model_params(&self, model_id: &str, params: &[Param]) -> Result<()>;
}
