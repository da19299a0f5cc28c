//! Domain entities. Plain data: no serde, no SQL rows. Wire shapes live in `ferroflow-proto`,
//! row shapes in each store crate.

pub mod evaluation;
pub mod issues;
pub mod logged_models;
pub mod registry;
pub mod trace_metrics;
pub mod traces;
pub mod tracking;

pub use crate::ids::{ExperimentId, RunId, SpanId, TraceId};
pub use evaluation::*;
pub use issues::*;
pub use logged_models::*;
pub use registry::*;
pub use trace_metrics::*;
pub use traces::*;
pub use tracking::*;

/// A key/value tag, as experiments, runs, models and versions carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

impl Tag {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag { key: key.into(), value: value.into() }
    }
}

/// Whether an entity is live or soft-deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleStage {
    Active,
    Deleted,
}

impl LifecycleStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Active => "active",
            LifecycleStage::Deleted => "deleted",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(LifecycleStage::Active),
            "deleted" => Some(LifecycleStage::Deleted),
            _ => None,
        }
    }
}

/// `view_type` / `run_view_type` of searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViewType {
    #[default]
    ActiveOnly,
    DeletedOnly,
    All,
}

impl ViewType {
    /// Accepts the enum name or its protobuf number.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ACTIVE_ONLY" | "1" => Some(ViewType::ActiveOnly),
            "DELETED_ONLY" | "2" => Some(ViewType::DeletedOnly),
            "ALL" | "3" => Some(ViewType::All),
            _ => None,
        }
    }
    pub fn admits(self, stage: LifecycleStage) -> bool {
        match self {
            ViewType::ActiveOnly => stage == LifecycleStage::Active,
            ViewType::DeletedOnly => stage == LifecycleStage::Deleted,
            ViewType::All => true,
        }
    }
}

/// One page of a search: the items and the offset of the next page, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_offset: Option<u64>,
}
