//! Conversions between wire shapes (`ferroflow-proto`) and domain types (`ferroflow-core`),
//! one file per area.

mod evaluation;
mod issues;
mod logged_models;
pub mod otlp;
mod registry;
mod traces;
mod tracking;

pub use evaluation::*;
pub use issues::*;
pub use logged_models::*;
pub use registry::*;
pub use traces::*;
pub use tracking::*;
