//! `/experiments/{id}/runs` (runs with the params and metrics columns the user picks),
//! `/experiments/{id}/runs/{run_id}` (params, tags, metric history plots, linked traces as the
//! evaluation table: inputs, outputs, expectations, each scorer's value and rationale) and
//! `/experiments/{id}/compare?runs=a,b` (two evaluation runs side by side).

use crate::format;
use crate::layout::{self, OrPage, PageResult};
use crate::pages::experiment_id;
use crate::pages::traces::{assessment_value, tabs};
use crate::Ui;
use axum::extract::{Path, Query, State};
use ferroflow_core::entities::{AssessmentKind, Run, TraceInfo, ViewType};
use ferroflow_core::ids::{ExperimentId, RunId};
use ferroflow_core::search::traces::{TraceAttribute, TraceKey};
use ferroflow_core::search::{runs as run_grammar, Clause, Comparator, Literal, OrderBy};
use ferroflow_core::store::SearchQuery;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const MAX_RUNS: u64 = 200;
/// Rows of an evaluation table.
const MAX_ROWS: u64 = 500;
/// Points of one metric history plot.
const MAX_POINTS: u64 = 2000;

#[derive(Deserialize, Default)]
pub struct RunsQuery {
    /// Comma-separated columns: `metrics.loss,params.lr`. Empty: the first few found.
    #[serde(default)]
    cols: String,
    #[serde(default)]
    filter: String,
}

pub async fn list(State(ui): State<Ui>, Path(experiment): Path<String>, Query(query): Query<RunsQuery>) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let experiment = ui.store.get_experiment(id).await.or_page(&ui)?;
    let search = run_grammar::parse_filter(query.filter.trim()).map(|clauses| SearchQuery {
        clauses,
        order_by: Vec::new(),
        max_results: MAX_RUNS,
        offset: 0,
    });
    let (runs, error) = match search {
        Ok(search) => match ui.store.search_runs(&[id], ViewType::ActiveOnly, &search).await {
            Ok(page) => (page.items, None),
            Err(e) => (Vec::new(), Some(e.message)),
        },
        Err(e) => (Vec::new(), Some(e.message)),
    };
    let mut metric_keys = BTreeSet::new();
    let mut param_keys = BTreeSet::new();
    for run in &runs {
        metric_keys.extend(run.data.metrics.iter().map(|m| m.key.clone()));
        param_keys.extend(run.data.params.iter().map(|p| p.key.clone()));
    }
    let chosen: Vec<String> = if query.cols.trim().is_empty() {
        metric_keys
            .iter()
            .take(6)
            .map(|k| format!("metrics.{k}"))
            .chain(param_keys.iter().take(4).map(|k| format!("params.{k}")))
            .collect()
    } else {
        query.cols.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect()
    };
    let cell = |run: &Run, col: &str| -> String {
        if let Some(key) = col.strip_prefix("metrics.") {
            run.data.metrics.iter().find(|m| m.key == key).map(|m| format_number(m.value)).unwrap_or_default()
        } else if let Some(key) = col.strip_prefix("params.") {
            run.data.params.iter().find(|p| p.key == key).map(|p| p.value.clone()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    let body = html! {
        (tabs(&ui, &id.to_string(), "Runs"))
        form.search method="get" {
            input.wide type="search" name="filter" value=(query.filter) placeholder="Filter, e.g. metrics.accuracy > 0.8" aria-label="Filter runs";
            input.wide name="cols" value=(chosen.join(",")) aria-label="Columns" placeholder="metrics.loss,params.lr";
            button type="submit" { "Apply" }
        }
        @if let Some(message) = &error { p.error role="alert" { (message) } }
        @if runs.is_empty() && error.is_none() {
            (layout::empty_state("No runs yet. Two lines of Python log one:",
                "with mlflow.start_run():\n    mlflow.log_metric(\"accuracy\", 0.9)"))
        } @else if !runs.is_empty() {
            form.compare method="get" action=(ui.url(&format!("/experiments/{id}/compare"))) {
                table.grid.runs {
                    thead { tr {
                        th { "Compare" } th { "Run" } th { "Status" } th { "Started" }
                        @for c in &chosen { th.num { (c) } }
                    } }
                    tbody {
                        @for run in &runs {
                            tr {
                                td { input type="checkbox" name="run" value=(run.info.run_id) aria-label=(format!("Compare {}", run.info.run_name)); }
                                td { a href=(ui.url(&format!("/experiments/{id}/runs/{}", run.info.run_id))) { (run.info.run_name) } }
                                td { (run.info.status.as_str()) }
                                td.nowrap { (format::when(run.info.start_time)) }
                                @for c in &chosen { td.num { (cell(run, c)) } }
                            }
                        }
                    }
                }
                button type="submit" { "Compare two runs" }
            }
            p.source { "Columns available: "
                @for k in &metric_keys { span.chip { "metrics." (k) } }
                @for k in &param_keys { span.chip { "params." (k) } }
            }
        }
    };
    Ok(layout::page(&ui, &experiment.name, &[("Experiments", ui.url("/experiments"))], body))
}

fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.4}")
    }
}

/// The traces linked to a run (its evaluation rows), oldest first.
async fn run_traces(ui: &Ui, experiment: ExperimentId, run_id: &RunId) -> ferroflow_core::Result<Vec<TraceInfo>> {
    let query = SearchQuery {
        clauses: vec![Clause {
            key: TraceKey::Attribute(TraceAttribute::RunId),
            comparator: Comparator::Eq,
            value: Literal::Str(run_id.to_string()),
        }],
        order_by: vec![OrderBy { key: TraceKey::Attribute(TraceAttribute::TimestampMs), ascending: true }],
        max_results: MAX_ROWS,
        offset: 0,
    };
    Ok(ui.store.search_traces(&[experiment], &query).await?.items)
}

/// `name → (value, rationale)` of a trace's valid assessments of one kind.
fn scores(trace: &TraceInfo, kind: AssessmentKind) -> BTreeMap<String, (String, String)> {
    trace
        .assessments
        .iter()
        .filter(|a| a.valid && a.kind == kind)
        .map(|a| {
            let rationale = a.body.get("rationale").and_then(|r| r.as_str()).unwrap_or("").to_string();
            (a.name.clone(), (assessment_value(a), rationale))
        })
        .collect()
}

fn eval_table(ui: &Ui, experiment: ExperimentId, traces: &[TraceInfo]) -> Markup {
    let scorer_names: BTreeSet<String> =
        traces.iter().flat_map(|t| scores(t, AssessmentKind::Feedback).into_keys()).collect();
    html! {
        @if traces.is_empty() { p.empty { "No trace is linked to this run." } }
        @else {
            table.grid.eval {
                thead { tr {
                    th { "Trace" } th { "Inputs" } th { "Outputs" } th { "Expectations" }
                    @for s in &scorer_names { th { (s) } }
                } }
                tbody {
                    @for t in traces {
                        @let feedback = scores(t, AssessmentKind::Feedback);
                        tr {
                            td.mono { a href=(ui.url(&format!("/experiments/{experiment}/traces/{}", t.trace_id))) { (t.trace_id.as_str().get(..14).unwrap_or("")) } }
                            td.preview { (t.request_preview.as_deref().unwrap_or("")) }
                            td.preview { (t.response_preview.as_deref().unwrap_or("")) }
                            td { @for (k, (v, _)) in scores(t, AssessmentKind::Expectation) { span.chip { (k) ": " (v) } } }
                            @for s in &scorer_names {
                                td {
                                    @if let Some((value, rationale)) = feedback.get(s) {
                                        strong { (value) }
                                        @if !rationale.is_empty() { p.rationale { (rationale) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page(State(ui): State<Ui>, Path((experiment, run)): Path<(String, String)>) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let run_id = RunId::parse(&run).or_page(&ui)?;
    let run = in_experiment(&ui, id, ui.store.get_run(&run_id).await.or_page(&ui)?)?;
    let mut histories = Vec::new();
    for metric in &run.data.metrics {
        let points = ui.store.get_metric_history(&run_id, &metric.key, MAX_POINTS, 0).await.or_page(&ui)?.items;
        histories.push((metric.key.clone(), points));
    }
    let traces = run_traces(&ui, id, &run_id).await.or_page(&ui)?;
    let crumbs = [("Experiments", ui.url("/experiments")), ("Runs", ui.url(&format!("/experiments/{id}/runs")))];
    let body = html! {
        (tabs(&ui, &id.to_string(), "Runs"))
        dl.facts {
            dt { "Run ID" } dd.mono { (run.info.run_id) }
            dt { "Status" } dd { (run.info.status.as_str()) }
            dt { "Started" } dd { (format::when(run.info.start_time)) }
            @if let Some(end) = run.info.end_time { dt { "Duration" } dd { (format::duration_ms((end - run.info.start_time) as f64)) } }
            dt { "User" } dd { (run.info.user_id) }
            dt { "Artifacts" } dd.mono { (run.info.artifact_uri) }
        }
        h2 { "Metrics" }
        @if histories.is_empty() { p.empty { "No metrics." } }
        div.charts {
            @for (key, points) in &histories {
                @let plotted: Vec<(i64, f64)> = points.iter().map(|m| (m.step, m.value)).collect();
                (format::line_chart(key, &plotted))
            }
        }
        div.columns {
            section { h2 { "Parameters" } (kv(run.data.params.iter().map(|p| (p.key.as_str(), p.value.as_str())))) }
            section { h2 { "Tags" } (kv(run.data.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())))) }
        }
        h2 { "Artifacts" }
        (artifacts(&ui, &run.info.artifact_uri).await)
        h2 { "Traces and evaluation rows" }
        (eval_table(&ui, id, &traces))
    };
    Ok(layout::page(&ui, &run.info.run_name, &crumbs, body))
}

/// The run when it belongs to the experiment of the page's path; a 404 otherwise, so a page
/// of one experiment never shows another's run (permissions are per experiment).
fn in_experiment(ui: &Ui, experiment: ExperimentId, run: Run) -> Result<Run, layout::UiError> {
    if run.info.experiment_id != experiment {
        let message = format!("Run with id={} not found in experiment {experiment}.", run.info.run_id);
        return Err(layout::UiError::new(ui, ferroflow_core::Error::not_found(message)));
    }
    Ok(run)
}

/// `/runs/{run_id}`: a run's page without knowing its experiment (links from model versions).
pub async fn by_id(State(ui): State<Ui>, Path(run): Path<String>) -> Result<axum::response::Redirect, layout::UiError> {
    let run_id = RunId::parse(&run).or_page(&ui)?;
    let run = ui.store.get_run(&run_id).await.or_page(&ui)?;
    Ok(axum::response::Redirect::to(&ui.url(&format!("/experiments/{}/runs/{run_id}", run.info.experiment_id))))
}

/// Files listed on a run's page at most, and the largest text file shown inline.
const MAX_ARTIFACTS: usize = 200;
const MAX_INLINE_BYTES: u64 = 64 * 1024;

fn is_text(path: &str) -> bool {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "txt" | "json" | "md" | "yaml" | "yml" | "py" | "log" | "csv" | "toml" | "jsonl" | "html")
        || path.ends_with("MLmodel")
}

fn is_image(path: &str) -> bool {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "gif" | "webp")
}

/// The run's files (served artifacts only): text and images inline, everything downloadable
/// through the artifact routes. A walk of the tree, breadth first, bounded.
async fn artifacts(ui: &Ui, artifact_uri: &str) -> Markup {
    let Some(base) = artifact_uri.strip_prefix("mlflow-artifacts:/") else {
        return html! { p.empty { "Artifacts are stored at " code { (artifact_uri) } ", outside this server." } };
    };
    let base = base.trim_matches('/').to_string();
    let mut files = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(dir) = dirs.pop() {
        let full = if dir.is_empty() { base.clone() } else { format!("{base}/{dir}") };
        let Ok(entries) = ui.artifacts.list(&full).await else { continue };
        for entry in entries {
            let path = if dir.is_empty() { entry.path.clone() } else { format!("{dir}/{}", entry.path) };
            if entry.is_dir {
                dirs.push(path);
            } else if files.len() < MAX_ARTIFACTS {
                files.push((path, entry.file_size.unwrap_or(0)));
            }
        }
    }
    files.sort();
    let mut shown = Vec::new();
    for (path, size) in &files {
        let url = ui.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{base}/{path}"));
        let inline = if is_text(path) && *size <= MAX_INLINE_BYTES {
            read_text(ui, &format!("{base}/{path}")).await
        } else {
            None
        };
        shown.push((path.clone(), *size, url, inline));
    }
    html! {
        @if shown.is_empty() { p.empty { "No artifacts." } }
        @for (path, size, url, inline) in &shown {
            div.artifact {
                p { a href=(url) download { (path) } " · " (size) " bytes" }
                @if let Some(text) = inline { pre.code { (text) } }
                @else if is_image(path) { img src=(url) alt=(path) loading="lazy"; }
            }
        }
    }
}

async fn read_text(ui: &Ui, path: &str) -> Option<String> {
    use futures::TryStreamExt;
    let body = ui.artifacts.get(path).await.ok()?;
    let bytes: Vec<u8> = body.stream.map_ok(|b| b.to_vec()).try_concat().await.ok()?;
    String::from_utf8(bytes).ok()
}

fn kv<'a>(items: impl Iterator<Item = (&'a str, &'a str)>) -> Markup {
    let items: Vec<_> = items.collect();
    html! {
        @if items.is_empty() { p.empty { "None." } }
        @else { table.kv { tbody { @for (k, v) in items { tr { th { (k) } td { (v) } } } } } }
    }
}

/// A scorer value as a number where it reads as one (`true` is 1).
fn numeric(value: &str) -> Option<f64> {
    match value {
        "true" | "yes" | "pass" => Some(1.0),
        "false" | "no" | "fail" => Some(0.0),
        other => other.parse().ok(),
    }
}

pub async fn compare(
    State(ui): State<Ui>,
    Path(experiment): Path<String>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    // `?runs=a,b` or, from the runs table's checkboxes, `?run=a&run=b`.
    let mut ids: Vec<String> = Vec::new();
    for (key, value) in form_pairs(raw.as_deref().unwrap_or("")) {
        match key.as_str() {
            "runs" => ids.extend(value.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
            "run" => ids.push(value),
            _ => {}
        }
    }
    if ids.len() != 2 {
        return Err(layout::UiError::new(
            &ui,
            ferroflow_core::Error::invalid("Pick exactly two runs to compare (?runs=a,b)."),
        ));
    }
    let a_id = RunId::parse(&ids[0]).or_page(&ui)?;
    let b_id = RunId::parse(&ids[1]).or_page(&ui)?;
    let a = in_experiment(&ui, id, ui.store.get_run(&a_id).await.or_page(&ui)?)?;
    let b = in_experiment(&ui, id, ui.store.get_run(&b_id).await.or_page(&ui)?)?;
    let a_rows = run_traces(&ui, id, &a_id).await.or_page(&ui)?;
    let b_rows = run_traces(&ui, id, &b_id).await.or_page(&ui)?;
    let metric_keys: BTreeSet<&str> = a.data.metrics.iter().chain(&b.data.metrics).map(|m| m.key.as_str()).collect();
    let metric = |run: &Run, key: &str| run.data.metrics.iter().find(|m| m.key == key).map(|m| m.value);
    // Rows matched by their inputs.
    let by_input = |rows: &[TraceInfo]| -> BTreeMap<String, TraceInfo> {
        rows.iter().map(|t| (t.request_preview.clone().unwrap_or_default(), t.clone())).collect()
    };
    let (a_map, b_map) = (by_input(&a_rows), by_input(&b_rows));
    let inputs: BTreeSet<&String> = a_map.keys().chain(b_map.keys()).collect();
    let scorer_names: BTreeSet<String> =
        a_rows.iter().chain(&b_rows).flat_map(|t| scores(t, AssessmentKind::Feedback).into_keys()).collect();
    struct Row<'a> {
        input: &'a str,
        a: Option<&'a TraceInfo>,
        b: Option<&'a TraceInfo>,
        /// Sum of score changes b − a: negative is a regression.
        change: f64,
    }
    let mut rows: Vec<Row> = inputs
        .into_iter()
        .map(|input| {
            let (ta, tb) = (a_map.get(input), b_map.get(input));
            let (sa, sb) = (
                ta.map(|t| scores(t, AssessmentKind::Feedback)).unwrap_or_default(),
                tb.map(|t| scores(t, AssessmentKind::Feedback)).unwrap_or_default(),
            );
            let change =
                scorer_names.iter().filter_map(|s| Some(numeric(&sb.get(s)?.0)? - numeric(&sa.get(s)?.0)?)).sum();
            Row { input, a: ta, b: tb, change }
        })
        .collect();
    // Regressions first, then improvements, then the unchanged.
    rows.sort_by(|x, y| {
        let rank = |r: &Row| {
            if r.change < 0.0 {
                0
            } else if r.change > 0.0 {
                1
            } else {
                2
            }
        };
        rank(x).cmp(&rank(y)).then(x.change.abs().total_cmp(&y.change.abs()).reverse())
    });
    let crumbs = [("Experiments", ui.url("/experiments")), ("Runs", ui.url(&format!("/experiments/{id}/runs")))];
    let run_link = |run: &Run| {
        html! { a href=(ui.url(&format!("/experiments/{id}/runs/{}", run.info.run_id))) { (run.info.run_name) } }
    };
    let body = html! {
        (tabs(&ui, &id.to_string(), "Runs"))
        h2 { "Metrics" }
        table.grid.compare {
            thead { tr { th { "Metric" } th.num { (run_link(&a)) } th.num { (run_link(&b)) } th.num { "Difference" } } }
            tbody {
                @for key in &metric_keys {
                    @let (va, vb) = (metric(&a, key), metric(&b, key));
                    tr {
                        td { (key) }
                        td.num { (va.map(format_number).unwrap_or_default()) }
                        td.num { (vb.map(format_number).unwrap_or_default()) }
                        td.num { @if let (Some(x), Some(y)) = (va, vb) {
                            span.(if y < x { "worse" } else if y > x { "better" } else { "same" }) { (format!("{:+.4}", y - x)) }
                        } }
                    }
                }
            }
        }
        h2 { "Rows (regressions first)" }
        table.grid.compare-rows {
            thead { tr { th { "Inputs" } th { "Change" } @for s in &scorer_names { th { (s) } } th { "Outputs" } } }
            tbody {
                @for row in &rows {
                    @let sa = row.a.map(|t| scores(t, AssessmentKind::Feedback)).unwrap_or_default();
                    @let sb = row.b.map(|t| scores(t, AssessmentKind::Feedback)).unwrap_or_default();
                    tr.(if row.change < 0.0 { "regression" } else if row.change > 0.0 { "improvement" } else { "unchanged" }) {
                        td.preview { (row.input) }
                        td { @if row.change < 0.0 { "regression" } @else if row.change > 0.0 { "improvement" } @else { "—" } }
                        @for s in &scorer_names {
                            td { (sa.get(s).map(|v| v.0.as_str()).unwrap_or("·")) " → " (sb.get(s).map(|v| v.0.as_str()).unwrap_or("·")) }
                        }
                        td.preview {
                            @if let Some(t) = row.a { a href=(ui.url(&format!("/experiments/{id}/traces/{}", t.trace_id))) { (t.response_preview.as_deref().unwrap_or("(none)")) } }
                            " → "
                            @if let Some(t) = row.b { a href=(ui.url(&format!("/experiments/{id}/traces/{}", t.trace_id))) { (t.response_preview.as_deref().unwrap_or("(none)")) } }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &format!("{} vs {}", a.info.run_name, b.info.run_name), &crumbs, body))
}

/// The decoded pairs of a query string (a key may repeat).
fn form_pairs(raw: &str) -> Vec<(String, String)> {
    let uri: axum::http::Uri = format!("/?{raw}").parse().unwrap_or_default();
    Query::<Vec<(String, String)>>::try_from_uri(&uri).map(|q| q.0).unwrap_or_default()
}
