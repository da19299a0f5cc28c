//! `/` (a redirect) and `/experiments`: experiments with their trace and run counts and last
//! activity, searchable by name.

use crate::access::Viewer;
use crate::format;
use crate::layout::{self, OrPage, PageResult};
use crate::Ui;
use axum::extract::{Query, State};
use axum::response::Redirect;
use maud::html;
use serde::Deserialize;

pub async fn root(State(ui): State<Ui>) -> Redirect {
    Redirect::to(&ui.url("/experiments"))
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
}

/// At most this many experiments are listed; the name search narrows the rest.
const MAX_LISTED: u64 = 500;

pub async fn list(State(ui): State<Ui>, viewer: Viewer, Query(query): Query<ListQuery>) -> PageResult {
    let all = ui.store.experiment_summaries(query.q.trim(), MAX_LISTED).await.or_page(&ui)?;
    // Only what the viewer may read (everything when sign-in is off).
    let mut experiments = Vec::with_capacity(all.len());
    for e in all {
        if viewer.can_read_experiment(&e.experiment_id.to_string()).await.or_page(&ui)? {
            experiments.push(e);
        }
    }
    let body = html! {
        form.search method="get" {
            input type="search" name="q" value=(query.q) placeholder="Search experiments by name" aria-label="Search experiments by name";
            button type="submit" { "Search" }
        }
        @if experiments.is_empty() {
            @if query.q.is_empty() {
                (layout::empty_state("No experiments yet. Log a trace and it shows up here:",
                    "import mlflow\nmlflow.set_tracking_uri(\"http://127.0.0.1:5000\")\nmlflow.set_experiment(\"my-agent\")\n\n@mlflow.trace\ndef answer(question): return \"42\"\n\nanswer(\"What is the meaning of life?\")"))
            } @else {
                p.empty { "No experiment name contains “" (query.q) "”." }
            }
        } @else {
            table.grid {
                thead { tr { th { "Name" } th { "ID" } th.num { "Traces" } th.num { "Runs" } th { "Last activity" } } }
                tbody {
                    @for e in &experiments {
                        tr {
                            td { a href=(ui.url(&format!("/experiments/{}/traces", e.experiment_id))) { (e.name) } }
                            td.mono { (e.experiment_id) }
                            td.num { (e.trace_count) }
                            td.num { (e.run_count) }
                            td { (format::when(e.last_activity)) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, "Experiments", &[], body))
}
