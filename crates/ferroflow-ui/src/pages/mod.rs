//! One module per page family; each handler reads through the store and renders with maud.

pub mod evaluation;
pub mod experiments;
pub mod registry;
pub mod runs;
pub mod sessions;
pub mod trace;
pub mod traces;

use crate::layout::UiError;
use crate::Ui;
use ferroflow_core::ids::ExperimentId;

/// The experiment id of a path, or the error page MLflow's message would give.
pub fn experiment_id(ui: &Ui, text: &str) -> Result<ExperimentId, UiError> {
    ExperimentId::parse(text).map_err(|e| UiError::new(ui, e))
}
