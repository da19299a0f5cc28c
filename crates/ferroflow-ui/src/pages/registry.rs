//! `/prompts`, `/prompts/{name}` (versions with templates, commit messages, aliases;
//! `?diff=v1,v2` shows a word-level diff), `/models`, `/models/{name}` (versions, aliases,
//! stages, tags, source run or logged model). Prompts and models are both registered models;
//! the prompt tag divides them, as in the API.

use crate::access::Viewer;
use crate::format;
use crate::layout::{self, OrPage, PageResult};
use crate::Ui;
use axum::extract::{Path, Query, State};
use ferroflow_core::entities::{ModelVersion, RegisteredModel};
use ferroflow_core::ids::ModelName;
use ferroflow_core::search::registry::{ModelVersionKey, ModelVersionOrderKey, PromptScope, RegisteredModelOrderKey};
use ferroflow_core::search::{Clause, Comparator, Literal, OrderBy};
use ferroflow_core::store::SearchQuery;
use maud::{html, Markup};
use serde::Deserialize;

const MAX_LISTED: u64 = 500;
/// The version tag holding a prompt's template.
const PROMPT_TEXT_TAG: &str = "mlflow.prompt.text";

/// The prompts or models the viewer may read (all of them when sign-in is off).
async fn registered(ui: &Ui, viewer: &Viewer, scope: PromptScope) -> ferroflow_core::Result<Vec<RegisteredModel>> {
    let query = SearchQuery {
        clauses: Vec::new(),
        order_by: vec![OrderBy { key: RegisteredModelOrderKey::Name, ascending: true }],
        max_results: MAX_LISTED,
        offset: 0,
    };
    let mut readable = Vec::new();
    for model in ui.store.search_registered_models(scope, &query).await?.items {
        if viewer.can_read_model(&model.name).await? {
            readable.push(model);
        }
    }
    Ok(readable)
}

async fn versions(ui: &Ui, scope: PromptScope, name: &str) -> ferroflow_core::Result<Vec<ModelVersion>> {
    let query = SearchQuery {
        clauses: vec![Clause {
            key: ModelVersionKey::Name,
            comparator: Comparator::Eq,
            value: Literal::Str(name.to_string()),
        }],
        order_by: vec![OrderBy { key: ModelVersionOrderKey::VersionNumber, ascending: false }],
        max_results: MAX_LISTED,
        offset: 0,
    };
    Ok(ui.store.search_model_versions(scope, &query).await?.items)
}

fn list_page(ui: &Ui, title: &str, base: &str, items: &[RegisteredModel], empty: Markup) -> Markup {
    let body = html! {
        @if items.is_empty() { (empty) }
        @else {
            table.grid {
                thead { tr { th { "Name" } th { "Latest version" } th { "Aliases" } th { "Updated" } th { "Description" } } }
                tbody {
                    @for m in items {
                        tr {
                            td { a href=(ui.url(&format!("{base}/{}", crate::pages::traces::percent(&m.name)))) { (m.name) } }
                            td.num { (m.latest_versions.iter().map(|v| v.version).max().map(|v| v.to_string()).unwrap_or_default()) }
                            td { @for a in &m.aliases { span.chip { (a.alias) " → v" (a.version) } } }
                            td.nowrap { (format::when(m.last_updated_timestamp)) }
                            td.preview { (m.description.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    layout::page(ui, title, &[], body)
}

pub async fn prompts(State(ui): State<Ui>, viewer: Viewer) -> PageResult {
    let items = registered(&ui, &viewer, PromptScope::Prompts).await.or_page(&ui)?;
    let empty = layout::empty_state(
        "No prompts yet. Register one:",
        "mlflow.genai.register_prompt(name=\"greeting\", template=\"Hello {{name}}!\",\n                             commit_message=\"first version\")",
    );
    Ok(list_page(&ui, "Prompts", "/prompts", &items, empty))
}

pub async fn models(State(ui): State<Ui>, viewer: Viewer) -> PageResult {
    let items = registered(&ui, &viewer, PromptScope::Models).await.or_page(&ui)?;
    let empty = layout::empty_state(
        "No registered models yet. Register one from a run:",
        "mlflow.register_model(\"runs:/<run_id>/model\", \"my-model\")",
    );
    Ok(list_page(&ui, "Models", "/models", &items, empty))
}

#[derive(Deserialize, Default)]
pub struct PromptQuery {
    #[serde(default)]
    diff: String,
}

fn template(version: &ModelVersion) -> &str {
    version.tags.iter().rev().find(|t| t.key == PROMPT_TEXT_TAG).map(|t| t.value.as_str()).unwrap_or("")
}

pub async fn prompt(State(ui): State<Ui>, Path(name): Path<String>, Query(query): Query<PromptQuery>) -> PageResult {
    let model_name = ModelName::parse("name", &name).or_page(&ui)?;
    let model = ui.store.get_registered_model(&model_name).await.or_page(&ui)?;
    let all = versions(&ui, PromptScope::Prompts, &name).await.or_page(&ui)?;
    let base = ui.url(&format!("/prompts/{}", crate::pages::traces::percent(&name)));
    let picked: Vec<i64> = query.diff.split(',').filter_map(|v| v.trim().parse().ok()).collect();
    let diff = match picked.as_slice() {
        [a, b] => {
            let (Some(old), Some(new)) = (all.iter().find(|v| v.version == *a), all.iter().find(|v| v.version == *b))
            else {
                let message = format!("Prompt {name} has no version {a} or {b}.");
                return Err(layout::UiError::new(&ui, ferroflow_core::Error::not_found(message)));
            };
            Some((old, new))
        }
        _ => None,
    };
    let body = html! {
        @if let Some(d) = &model.description { p { (d) } }
        @if let Some((old, new)) = diff {
            h2 { "Version " (old.version) " → " (new.version) }
            pre.diff { (word_diff(template(old), template(new))) }
        }
        form.search method="get" {
            label { "Compare versions " input name="diff" value=(query.diff) placeholder="1,2" aria-label="Versions to compare"; }
            button type="submit" { "Show diff" }
        }
        @for (i, v) in all.iter().enumerate() {
            section.version {
                h2 {
                    "Version " (v.version)
                    @for a in &v.aliases { " " span.chip { "@" (a) } }
                }
                p.source {
                    (format::when(v.creation_timestamp))
                    @if !v.description.is_empty() { " · " span.commit { (v.description) } }
                    @if let Some(prev) = all.get(i + 1) {
                        " · " a href=(format!("{base}?diff={},{}", prev.version, v.version)) { "diff with v" (prev.version) }
                    }
                }
                pre.code { (template(v)) }
            }
        }
    };
    Ok(layout::page(&ui, &name, &[("Prompts", ui.url("/prompts"))], body))
}

pub async fn model(State(ui): State<Ui>, Path(name): Path<String>) -> PageResult {
    let model_name = ModelName::parse("name", &name).or_page(&ui)?;
    let model = ui.store.get_registered_model(&model_name).await.or_page(&ui)?;
    let all = versions(&ui, PromptScope::Models, &name).await.or_page(&ui)?;
    let body = html! {
        @if let Some(d) = &model.description { p { (d) } }
        h2 { "Aliases" }
        @if model.aliases.is_empty() { p.empty { "None." } }
        @for a in &model.aliases { span.chip { (a.alias) " → v" (a.version) } }
        h2 { "Tags" }
        @if model.tags.is_empty() { p.empty { "None." } }
        @for t in &model.tags { span.chip { (t.key) "=" (t.value) } }
        h2 { "Versions" }
        table.grid {
            thead { tr { th { "Version" } th { "Stage" } th { "Aliases" } th { "Created" } th { "Source" } th { "Tags" } } }
            tbody {
                @for v in &all {
                    tr {
                        td.num { (v.version) }
                        td { (v.current_stage.as_str()) }
                        td { @for a in &v.aliases { span.chip { "@" (a) } } }
                        td.nowrap { (format::when(v.creation_timestamp)) }
                        td {
                            @if !v.run_id.is_empty() {
                                a href=(ui.url(&format!("/runs/{}", crate::pages::traces::percent(&v.run_id)))) { "run " (v.run_id) } br;
                            }
                            span.mono { (v.source) }
                            @if let Some(m) = &v.model_id { br; span.chip { "logged model " (m) } }
                        }
                        td { @for t in &v.tags { span.chip { (t.key) "=" (t.value) } } }
                    }
                }
            }
        }
    };
    Ok(layout::page(&ui, &name, &[("Models", ui.url("/models"))], body))
}

/// A word-level diff: words only in `old` are struck, words only in `new` marked inserted
/// (longest common subsequence over whitespace-separated words, whitespace kept).
pub fn word_diff(old: &str, new: &str) -> Markup {
    let a: Vec<&str> = old.split_inclusive(char::is_whitespace).collect();
    let b: Vec<&str> = new.split_inclusive(char::is_whitespace).collect();
    // Very long templates fall back to "all removed, all added" rather than a huge table.
    if a.len() * b.len() > 4_000_000 {
        return html! { del { (old) } ins { (new) } };
    }
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut parts: Vec<(char, &str)> = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            parts.push(('=', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            parts.push(('+', b[j]));
            j += 1;
        } else {
            parts.push(('-', a[i]));
            i += 1;
        }
    }
    html! {
        @for (op, word) in parts {
            @match op { '+' => ins { (word) }, '-' => del { (word) }, _ => (word) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::word_diff;

    #[test]
    fn word_diff_marks_inserted_and_removed_words_and_escapes() {
        let html = word_diff("Answer {{q}} briefly.", "Answer {{q}} politely <b>and</b> briefly.").0;
        assert_eq!(html, "Answer {{q}} <ins>politely </ins><ins>&lt;b&gt;and&lt;/b&gt; </ins>briefly.");
        let removed = word_diff("a b c", "a c").0;
        assert_eq!(removed, "a <del>b </del>c");
    }
}
