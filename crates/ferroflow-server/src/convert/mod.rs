//! Conversions between wire shapes (`ferroflow-proto`) and domain types (`ferroflow-core`),
//! one file per area.

mod tracking;

pub use tracking::*;
