//! `/experiments/{id}/traces`: the traces table with latency and token charts. `?filter=` is
//! the `search_traces` grammar (parsed by the core, searched by the store, as the API does);
//! `?order=latency`, `?range=1h|24h|7d`, `?page=` (the API's page token). The charts are the
//! experiment's trace metrics over the chosen range (average latency and total tokens per time
//! bucket), read through the same store query as `traces/metrics`.

use crate::format;
use crate::layout::{self, OrPage, PageResult};
use crate::pages::experiment_id;
use crate::Ui;
use axum::extract::{Path, Query, State};
use ferroflow_core::entities::{
    Aggregation, Assessment, ExperimentId, TraceInfo, TraceMetric, TraceMetricsQuery, META_TOKEN_USAGE,
    META_TRACE_SESSION, META_TRACE_USER,
};
use ferroflow_core::search::{page_token, traces as grammar};
use ferroflow_core::store::SearchQuery;
use ferroflow_core::Result;
use maud::{html, Markup};
use serde::Deserialize;

/// Traces per page of the table, unless `?size=` says otherwise (up to `MAX_PAGE_SIZE`).
const PAGE_SIZE: u64 = 50;
const MAX_PAGE_SIZE: u64 = 500;

#[derive(Deserialize, Default)]
pub struct TableQuery {
    #[serde(default)]
    filter: String,
    #[serde(default)]
    order: String,
    #[serde(default)]
    range: String,
    page: Option<String>,
    size: Option<u64>,
}

/// The experiment's tabs, shared by its pages.
pub fn tabs(ui: &Ui, experiment: &str, active: &str) -> Markup {
    let tab = |name: &str, path: &str| {
        let href = ui.url(&format!("/experiments/{experiment}/{path}"));
        html! { a.tab.active[name == active] href=(href) { (name) } }
    };
    html! { nav.tabs { (tab("Traces", "traces")) (tab("Sessions", "sessions")) (tab("Runs", "runs")) (tab("Datasets", "datasets")) (tab("Scorers", "scorers")) } }
}

fn range_ms(range: &str) -> Option<i64> {
    match range {
        "1h" => Some(3_600_000),
        "24h" => Some(86_400_000),
        "7d" => Some(7 * 86_400_000),
        _ => None,
    }
}

/// Most buckets a chart draws.
const MAX_BUCKETS: u64 = 1000;

/// The charts' bucket width and bounds for a range: about sixty buckets, or a day each over
/// all time.
fn chart_window(range: &str) -> (i64, Option<i64>, Option<i64>) {
    let now = ferroflow_core::time::now_millis();
    match range_ms(range) {
        Some(window) => ((window / 60).max(1000), Some(now - window), Some(now)),
        None => (86_400_000, None, None),
    }
}

/// One aggregate of a trace metric per time bucket, as `(bucket start, value)` points.
async fn chart_points(
    ui: &Ui,
    experiment: ExperimentId,
    range: &str,
    metric: TraceMetric,
    aggregation: Aggregation,
) -> Result<Vec<(i64, f64)>> {
    let (width, start, end) = chart_window(range);
    let query = TraceMetricsQuery {
        experiment_ids: vec![experiment],
        metric,
        aggregations: vec![aggregation],
        dimensions: Vec::new(),
        filters: Vec::new(),
        time_interval_ms: Some(width),
        start_time_ms: start,
        end_time_ms: end,
        max_results: MAX_BUCKETS,
    };
    let rows = ui.store.query_trace_metrics(&query).await?;
    Ok(rows.into_iter().filter_map(|row| Some((row.bucket_ms?, row.values.first().copied().flatten()?))).collect())
}

fn build_query(query: &TableQuery) -> Result<SearchQuery<grammar::TraceKey>> {
    let mut clauses = grammar::parse_filter(query.filter.trim())?;
    if let Some(window) = range_ms(&query.range) {
        let since = ferroflow_core::time::now_millis() - window;
        clauses.extend(grammar::parse_filter(&format!("trace.timestamp_ms > {since}"))?);
    }
    let order = match query.order.as_str() {
        "latency" => "execution_time_ms DESC",
        _ => "timestamp_ms DESC",
    };
    Ok(SearchQuery {
        clauses,
        order_by: grammar::parse_order_by(&[order.to_string()])?,
        max_results: query.size.unwrap_or(PAGE_SIZE).clamp(1, MAX_PAGE_SIZE),
        offset: page_token::decode(query.page.as_deref().filter(|p| !p.is_empty()))?,
    })
}

/// Total tokens from the trace's `mlflow.trace.tokenUsage` metadata.
pub fn total_tokens(trace: &TraceInfo) -> Option<i64> {
    let usage: serde_json::Value = serde_json::from_str(trace.metadata_value(META_TOKEN_USAGE)?).ok()?;
    usage.get("total_tokens")?.as_i64()
}

/// An assessment's value as short text (`true`, `0.8`, `"good"`).
pub fn assessment_value(assessment: &Assessment) -> String {
    let body = &assessment.body;
    let value = body
        .get("feedback")
        .or_else(|| body.get("expectation"))
        .and_then(|v| v.get("value"))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

fn short(text: Option<&str>, max: usize) -> String {
    let text = text.unwrap_or("");
    if text.chars().count() > max {
        format!("{}…", text.chars().take(max).collect::<String>())
    } else {
        text.to_string()
    }
}

pub async fn table(
    State(ui): State<Ui>,
    Path(experiment): Path<String>,
    Query(query): Query<TableQuery>,
) -> PageResult {
    let id = experiment_id(&ui, &experiment)?;
    let experiment = ui.store.get_experiment(id).await.or_page(&ui)?;
    let crumbs = [("Experiments", ui.url("/experiments"))];
    // A bad filter shows the store's message above the form, not an error page.
    let search = async {
        match build_query(&query) {
            Ok(search) => ui.store.search_traces(&[id], &search).await.map(Some),
            Err(e) => Err(e),
        }
    };
    // The table and the two charts are independent reads: asked at once, the page waits for the
    // slowest of them rather than their sum (the store's read pool has several connections).
    let (page, latency, tokens) = futures::join!(
        search,
        chart_points(&ui, id, &query.range, TraceMetric::Latency, Aggregation::Avg),
        chart_points(&ui, id, &query.range, TraceMetric::TotalTokens, Aggregation::Sum),
    );
    let (traces, next, error) = match page {
        Ok(Some(page)) => (page.items, page.next_offset, None),
        Ok(None) => (Vec::new(), None, None),
        Err(e) if e.code == ferroflow_core::ErrorCode::InternalError => return Err(layout::UiError::new(&ui, e)),
        Err(e) => (Vec::new(), None, Some(e.message)),
    };
    let latency = latency.or_page(&ui)?;
    let tokens = tokens.or_page(&ui)?;
    let here = |page: Option<String>, order: &str| {
        let mut url = form_url(&query.filter, order, &query.range);
        if let Some(size) = query.size {
            url.push_str(&format!("&size={size}"));
        }
        if let Some(page) = page {
            url.push_str(&format!("&page={}", percent(&page)));
        }
        url
    };
    let body = html! {
        (tabs(&ui, &experiment.experiment_id.to_string(), "Traces"))
        form.search method="get" {
            input.wide type="search" name="filter" value=(query.filter) placeholder="Filter, e.g. trace.status = 'OK' AND tags.env = 'prod'" aria-label="Filter traces";
            select name="range" aria-label="Time range" {
                @for (value, label) in [("", "All time"), ("1h", "Last hour"), ("24h", "Last 24 hours"), ("7d", "Last 7 days")] {
                    option value=(value) selected[query.range == value] { (label) }
                }
            }
            select name="order" aria-label="Sort by" {
                option value="" selected[query.order != "latency"] { "Newest first" }
                option value="latency" selected[query.order == "latency"] { "Slowest first" }
            }
            button type="submit" { "Apply" }
        }
        @if let Some(message) = &error {
            p.error role="alert" { (message) }
        }
        @if !traces.is_empty() {
            div.charts {
                (format::bar_chart("Average latency", &latency, format::duration_ms))
                (format::bar_chart("Total tokens", &tokens, |n| format!("{n:.0}")))
            }
        }
        @if traces.is_empty() && error.is_none() {
            @if query.filter.is_empty() && query.range.is_empty() {
                (layout::empty_state("No traces in this experiment yet. Two lines of Python record one:",
                    &format!("mlflow.set_experiment(experiment_id=\"{}\")\nmlflow.trace(lambda q: q.upper(), name=\"shout\")(\"hello\")", experiment.experiment_id)))
            } @else {
                p.empty { "No trace matches." }
            }
        } @else if !traces.is_empty() {
            table.grid.traces {
                thead { tr {
                    th { "Trace" } th { "Time" } th { "Request" } th { "Response" } th { "Status" }
                    th.num { a href=(here(None, "latency")) { "Latency" } } th.num { "Tokens" } th { "User" } th { "Session" } th { "Tags" } th { "Assessments" }
                } }
                tbody {
                    @for t in &traces {
                        @let link = ui.url(&format!("/experiments/{}/traces/{}", experiment.experiment_id, t.trace_id));
                        tr {
                            td.mono { a href=(link) { (short(Some(t.trace_id.as_str()), 14)) } }
                            td.nowrap { (format::when(t.request_time)) }
                            td.preview { (short(t.request_preview.as_deref(), 120)) }
                            td.preview { (short(t.response_preview.as_deref(), 120)) }
                            td { span.(format!("state {}", t.state.as_str().to_lowercase())) { (t.state.as_str()) } }
                            td.num { @if let Some(ms) = t.execution_duration { (format::duration_ms(ms as f64)) } }
                            td.num { @if let Some(n) = total_tokens(t) { (n) } }
                            td { (t.metadata_value(META_TRACE_USER).unwrap_or("")) }
                            td { @if let Some(s) = t.metadata_value(META_TRACE_SESSION) {
                                a href=(ui.url(&format!("/experiments/{}/sessions/{}", experiment.experiment_id, percent(s)))) { (s) }
                            } }
                            td { @for (k, v) in t.tags.iter().filter(|(k, _)| !k.starts_with("mlflow.")) { span.chip { (k) "=" (short(Some(v), 40)) } } }
                            td { @for a in t.assessments.iter().filter(|a| a.valid) { span.chip { (a.name) ": " (short(Some(&assessment_value(a)), 40)) } } }
                        }
                    }
                }
            }
            nav.pager {
                @if let Some(next) = next {
                    a rel="next" href=(here(Some(page_token::encode(next)), &query.order)) { "Next page →" }
                }
            }
        }
    };
    Ok(layout::page(&ui, &experiment.name, &crumbs, body))
}

/// The table's query string with these settings.
fn form_url(filter: &str, order: &str, range: &str) -> String {
    let encoded: String = form_urlencoded_pairs(&[("filter", filter), ("order", order), ("range", range)]);
    format!("?{encoded}")
}

fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", percent(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encodes everything but unreserved characters.
pub fn percent(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
