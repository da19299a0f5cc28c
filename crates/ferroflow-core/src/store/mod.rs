//! The storage traits. One trait per area, each in its own file, so that each area's queries
//! sit together; [`Store`] is all of them, and the server holds an `Arc<dyn Store>` so that
//! handlers compile once.
//!
//! Every method is one unit of work: it either commits all it writes or none of it.

mod auth;
mod evaluation;
mod import;
mod issues;
mod logged_models;
mod overview;
mod registry;
mod trace_metrics;
mod traces;
mod tracking;

pub use auth::{permission_on, Access, AuthStore};
pub use evaluation::EvaluationStore;
pub use import::{ImportStore, ImportedDataset, ImportedModel, ImportedRun, ImportedScorer, ImportedVersion};
pub use issues::IssueStore;
pub use logged_models::LoggedModelStore;
pub use overview::OverviewStore;
pub use registry::RegistryStore;
pub use trace_metrics::TraceMetricsStore;
pub use traces::TraceStore;
pub use tracking::TrackingStore;

use crate::search::{Clause, OrderBy};

/// A search request as the store sees it: parsed filter, parsed order, page bounds. The order
/// keys default to the filter keys; the registry orders by a smaller set (`O`).
#[derive(Debug, Clone)]
pub struct SearchQuery<K, O = K> {
    pub clauses: Vec<Clause<K>>,
    pub order_by: Vec<OrderBy<O>>,
    pub max_results: u64,
    pub offset: u64,
}

/// Everything a server needs from its storage.
pub trait Store:
    TrackingStore
    + TraceStore
    + RegistryStore
    + LoggedModelStore
    + EvaluationStore
    + OverviewStore
    + AuthStore
    + IssueStore
    + TraceMetricsStore
    + Send
    + Sync
    + 'static
{
}

impl<
        T: TrackingStore
            + TraceStore
            + RegistryStore
            + LoggedModelStore
            + EvaluationStore
            + OverviewStore
            + AuthStore
            + IssueStore
            + TraceMetricsStore
            + Send
            + Sync
            + 'static,
    > Store for T
{
}
