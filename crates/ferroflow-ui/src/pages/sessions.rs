//! `/experiments/{id}/sessions` (traces grouped by `mlflow.trace.session`) and
//! `/experiments/{id}/sessions/{session_id}` (one session as a conversation, turn by turn).

use crate::format;
use crate::layout::{self, OrPage, PageResult};
use crate::pages::experiment_id;
use crate::pages::traces::{percent, tabs};
use crate::Ui;
use axum::extract::{Path, State};
use ferroflow_core::entities::META_TRACE_SESSION;
use ferroflow_core::search::traces::{TraceAttribute, TraceKey};
use ferroflow_core::search::{Clause, Comparator, Literal, OrderBy};
use ferroflow_core::store::SearchQuery;
use maud::html;

/// Sessions listed, and turns shown of one session.
const MAX_SESSIONS: u64 = 500;
const MAX_TURNS: u64 = 500;

pub async fn list(State(ui): State<Ui>, Path(experiment): Path<String>) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let experiment = ui.store.get_experiment(id).await.or_page(&ui)?;
    let sessions = ui.store.sessions(id, MAX_SESSIONS).await.or_page(&ui)?;
    let body = html! {
        (tabs(&ui, &id.to_string(), "Sessions"))
        @if sessions.is_empty() {
            (layout::empty_state("No sessions yet. Traces that carry a session id are grouped here:",
                "with mlflow.start_span(\"turn\"):\n    mlflow.update_current_trace(metadata={\"mlflow.trace.session\": \"chat-42\"})"))
        } @else {
            table.grid {
                thead { tr { th { "Session" } th.num { "Turns" } th { "First" } th { "Last" } } }
                tbody {
                    @for s in &sessions {
                        tr {
                            td { a href=(ui.url(&format!("/experiments/{id}/sessions/{}", percent(&s.session_id)))) { (s.session_id) } }
                            td.num { (s.trace_count) }
                            td { (format::when(s.first_time)) }
                            td { (format::when(s.last_time)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &experiment.name, &[("Experiments", ui.url("/experiments"))], body))
}

pub async fn conversation(State(ui): State<Ui>, Path((experiment, session)): Path<(String, String)>) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let experiment = ui.store.get_experiment(id).await.or_page(&ui)?;
    // Built as clauses, not filter text: a session id may hold any character.
    let query = SearchQuery {
        clauses: vec![Clause {
            key: TraceKey::Metadata(META_TRACE_SESSION.to_string()),
            comparator: Comparator::Eq,
            value: Literal::Str(session.clone()),
        }],
        order_by: vec![OrderBy { key: TraceKey::Attribute(TraceAttribute::TimestampMs), ascending: true }],
        max_results: MAX_TURNS,
        offset: 0,
    };
    let turns = ui.store.search_traces(&[id], &query).await.or_page(&ui)?.items;
    let crumbs =
        [("Experiments", ui.url("/experiments")), ("Sessions", ui.url(&format!("/experiments/{id}/sessions")))];
    let body = html! {
        (tabs(&ui, &id.to_string(), "Sessions"))
        @if turns.is_empty() { p.empty { "No trace belongs to this session." } }
        div.chat.session {
            @for (n, t) in turns.iter().enumerate() {
                div.turn {
                    p.source {
                        "Turn " (n + 1) " · " (format::when(t.request_time))
                        @if let Some(ms) = t.execution_duration { " · " (format::duration_ms(ms as f64)) }
                        " · " a href=(ui.url(&format!("/experiments/{id}/traces/{}", t.trace_id))) { "open trace" }
                    }
                    div.msg.role-user { div.role { "request" } div.text { (t.request_preview.as_deref().unwrap_or("")) } }
                    div.msg.role-assistant { div.role { "response" } div.text { (t.response_preview.as_deref().unwrap_or("")) } }
                }
            }
        }
    };
    Ok(layout::page(&ui, &format!("Session {session} · {}", experiment.name), &crumbs, body))
}
