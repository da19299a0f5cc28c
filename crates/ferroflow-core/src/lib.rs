//! The domain of ferroflow: what an experiment, a run, a trace or a model version *is*, the
//! rules they obey (MLflow's validation limits, the search filter grammar) and the traits
//! behind which storage lives.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of HTTP, SQL or object
//! storage. The server turns wire types into these types, calls a store, and turns the result
//! back; the store crates implement [`store::Store`] for one backend each.

pub mod artifacts;
pub mod assessments;
pub mod auth;
pub mod entities;
pub mod error;
pub mod evaluation;
pub mod ids;
pub mod issues;
pub mod roles;
pub mod search;
pub mod semconv;
pub mod store;
pub mod time;
pub mod trace_metrics;
pub mod traces;
pub mod validation;

pub use error::{Error, ErrorCode, Result};
