//! `ferroflow import`: copies an MLflow database (SQLite or PostgreSQL, any 3.x schema, read from its
//! `alembic_version`) into ferroflow's store, and optionally its artifacts.
//!
//! Everything is written through the core's store traits (`ImportStore` for records that keep
//! their ids and times, `TraceStore` for traces), so the target can be any backend. Each record
//! is one transaction and a record already there is skipped, so an interrupted import is
//! resumed by running the same command again, and running it twice changes nothing. Traces are
//! read a chunk at a time (a query a table for their tags, metadata and assessments) and their
//! spans written together after their records: a trace whose spans did not all arrive is done
//! again by the next run. The source is opened read-only. At the end a summary compares the source's counts with what the
//! target holds of them.

use anyhow::{bail, Context};
use ferroflow_core::artifacts::ArtifactRepo;
use ferroflow_core::entities::*;
use ferroflow_core::ids::{ExperimentId, ModelName, RunId, TraceId};
use ferroflow_core::store::{
    ImportStore, ImportedDataset, ImportedModel, ImportedRun, ImportedScorer, ImportedVersion, Store,
};
use ferroflow_core::time;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::AnyPool;
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// The target: a store and, when artifacts are copied, the repository they go to.
pub struct Target<'a, S: Store + ImportStore> {
    pub store: &'a S,
    pub artifacts: &'a dyn ArtifactRepo,
}

/// One table's line of the summary.
#[derive(Debug, Default)]
struct Tally {
    name: &'static str,
    source: u64,
    copied: u64,
    skipped: u64,
    /// What the target holds of the source's records, counted after the copy.
    in_target: u64,
}

impl Tally {
    /// One record written (`true`) or found already there (`false`).
    fn count(&mut self, copied: bool) {
        if copied {
            self.copied += 1;
        } else {
            self.skipped += 1;
        }
    }
}

/// Opens the MLflow database (SQLite, opened read-only, or PostgreSQL) and says which schema
/// it has. Both are read through sqlx's `Any` driver with `$n` placeholders, which SQLite
/// takes too; only the catalog probes below differ.
async fn open_source(uri: &str) -> anyhow::Result<(AnyPool, String)> {
    sqlx::any::install_default_drivers();
    let url = if ferroflow_store_postgres::is_postgres_uri(uri) {
        ferroflow_store_postgres::normalize_uri(uri).map_err(|e| anyhow::anyhow!("{}", e.message))?
    } else if uri.starts_with("sqlite:") || !uri.contains("://") {
        let path = ferroflow_store_sqlite::path_from_uri(uri).map_err(|e| anyhow::anyhow!("{}", e.message))?;
        if !std::path::Path::new(&path).is_file() {
            bail!("no MLflow database at {path}");
        }
        format!("sqlite://{path}?mode=ro")
    } else {
        bail!("unsupported --from '{uri}': MLflow databases on SQLite (sqlite:///<path>) or PostgreSQL (postgresql://…) are imported");
    };
    let pool = AnyPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .with_context(|| format!("opening the MLflow database {}", crate::Backend::redacted(uri)))?;
    let version: String = sqlx::query_scalar("SELECT version_num FROM alembic_version")
        .fetch_one(&pool)
        .await
        .context("reading alembic_version: is this an MLflow database?")?;
    Ok((pool, version))
}

fn is_sqlite(pool: &AnyPool) -> bool {
    pool.connect_options().database_url.scheme() == "sqlite"
}

async fn has_table(pool: &AnyPool, table: &str) -> anyhow::Result<bool> {
    let sql = if is_sqlite(pool) {
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1"
    } else {
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
    };
    Ok(sqlx::query(sql).bind(table).fetch_optional(pool).await?.is_some())
}

async fn has_column(pool: &AnyPool, table: &str, column: &str) -> anyhow::Result<bool> {
    let sql = if is_sqlite(pool) {
        "SELECT 1 FROM pragma_table_info($1) WHERE name = $2"
    } else {
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 \
         AND column_name = $2"
    };
    Ok(sqlx::query(sql).bind(table).bind(column).fetch_optional(pool).await?.is_some())
}

/// A boolean column, selected as `CAST(column AS INTEGER)`: PostgreSQL has the type, SQLite
/// stores 0 or 1 under a declared type the `Any` driver does not map.
fn flag(row: &AnyRow, at: usize) -> bool {
    row.get::<Option<i64>, _>(at).is_some_and(|n| n != 0)
}

fn bar(name: &str, length: u64) -> ProgressBar {
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>20} [{bar:40}] {pos}/{len} {per_sec} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// Key/value rows of one owner, grouped: `SELECT key, value FROM table WHERE owner = $1`.
/// `owner` is bound with its own type (PostgreSQL compares an integer column to no text).
async fn pairs<'q, T>(pool: &AnyPool, sql: &'q str, owner: T) -> anyhow::Result<Vec<Tag>>
where
    T: sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'q,
{
    let rows = sqlx::query(sql).bind(owner).fetch_all(pool).await.with_context(|| format!("reading: {sql}"))?;
    Ok(rows
        .iter()
        .map(|r| Tag::new(r.get::<String, _>(0), r.get::<Option<String>, _>(1).unwrap_or_default()))
        .collect())
}

fn stage(text: Option<String>) -> LifecycleStage {
    text.as_deref().and_then(LifecycleStage::parse).unwrap_or(LifecycleStage::Active)
}

pub async fn run<S: Store + ImportStore>(
    from: &str,
    target: Target<'_, S>,
    artifacts_from: Option<&dyn ArtifactRepo>,
) -> anyhow::Result<()> {
    let (source, version) = open_source(from).await?;
    eprintln!("importing from {from} (MLflow schema {version})");
    let mut tallies = vec![
        experiments(&source, target.store).await?,
        runs(&source, target.store).await?,
        logged_models(&source, target.store).await?,
        registered_models(&source, target.store).await?,
        traces(&source, target.store).await?,
        evaluation_datasets(&source, target.store).await?,
        scorers(&source, target.store).await?,
    ];
    if let Some(from_artifacts) = artifacts_from {
        tallies.push(copy_artifacts(from_artifacts, target.artifacts).await?);
    }
    println!("{:<20} {:>10} {:>10} {:>10} {:>10}", "table", "source", "copied", "skipped", "in target");
    let mut complete = true;
    for t in &tallies {
        println!("{:<20} {:>10} {:>10} {:>10} {:>10}", t.name, t.source, t.copied, t.skipped, t.in_target);
        complete &= t.in_target == t.source;
    }
    if !complete {
        bail!("the target does not hold every record of the source (see the summary and the warnings above)");
    }
    Ok(())
}

async fn experiments<S: Store + ImportStore>(source: &AnyPool, store: &S) -> anyhow::Result<Tally> {
    let rows = sqlx::query(
        "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time \
         FROM experiments ORDER BY experiment_id",
    )
    .fetch_all(source)
    .await?;
    let mut tally = Tally { name: "experiments", source: rows.len() as u64, ..Tally::default() };
    let progress = bar(tally.name, tally.source);
    for row in &rows {
        let id: i64 = row.get(0);
        let experiment = Experiment {
            experiment_id: ExperimentId::from_stored(id),
            name: row.get(1),
            artifact_location: row.get::<Option<String>, _>(2).unwrap_or_default(),
            lifecycle_stage: stage(row.get(3)),
            creation_time: row.get::<Option<i64>, _>(4).unwrap_or(0),
            last_update_time: row.get::<Option<i64>, _>(5).unwrap_or(0),
            tags: pairs(source, "SELECT key, value FROM experiment_tags WHERE experiment_id = $1", id).await?,
        };
        tally.count(store.import_experiment(&experiment).await?);
        progress.inc(1);
    }
    progress.finish();
    for row in &rows {
        let id = ExperimentId::from_stored(row.get(0));
        if store.get_experiment(id).await.is_ok_and(|e| e.name == row.get::<String, _>(1)) {
            tally.in_target += 1;
        }
    }
    Ok(tally)
}

async fn runs<S: Store + ImportStore>(source: &AnyPool, store: &S) -> anyhow::Result<Tally> {
    let rows = sqlx::query(
        "SELECT run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, \
         lifecycle_stage, deleted_time FROM runs ORDER BY start_time, run_uuid",
    )
    .fetch_all(source)
    .await?;
    let mut tally = Tally { name: "runs", source: rows.len() as u64, ..Tally::default() };
    let model_metrics = has_table(source, "logged_model_metrics").await?;
    let progress = bar(tally.name, tally.source);
    for row in &rows {
        let run_id: String = row.get(0);
        let metrics =
            sqlx::query("SELECT key, value, timestamp, step, CAST(is_nan AS INTEGER) FROM metrics WHERE run_uuid = $1")
                .bind(&run_id)
                .fetch_all(source)
                .await?;
        let of_models = if model_metrics { model_metrics_of_run(source, &run_id).await? } else { HashMap::new() };
        let metric_history = metrics
            .iter()
            .map(|m| {
                let (key, stored, timestamp, step): (String, f64, i64, i64) = (m.get(0), m.get(1), m.get(2), m.get(3));
                let model = of_models.get(&(key.clone(), timestamp, step, stored.to_bits()));
                Metric {
                    key,
                    value: if flag(m, 4) { f64::NAN } else { stored },
                    timestamp,
                    step,
                    model_id: model.map(|(id, _, _)| id.clone()),
                    dataset_name: model.and_then(|(_, name, _)| name.clone()),
                    dataset_digest: model.and_then(|(_, _, digest)| digest.clone()),
                    run_id: None,
                }
            })
            .collect();
        let run = ImportedRun {
            info: RunInfo {
                run_id: RunId::from_stored(run_id.clone()),
                experiment_id: ExperimentId::from_stored(row.get::<Option<i64>, _>(1).unwrap_or(0)),
                run_name: row.get::<Option<String>, _>(2).unwrap_or_default(),
                user_id: row.get::<Option<String>, _>(3).unwrap_or_default(),
                status: row
                    .get::<Option<String>, _>(4)
                    .as_deref()
                    .and_then(RunStatus::parse)
                    .unwrap_or(RunStatus::Finished),
                start_time: row.get::<Option<i64>, _>(5).unwrap_or(0),
                end_time: row.get(6),
                artifact_uri: row.get::<Option<String>, _>(7).unwrap_or_default(),
                lifecycle_stage: stage(row.get(8)),
            },
            deleted_time: row.get(9),
            params: pairs(source, "SELECT key, value FROM params WHERE run_uuid = $1", run_id.as_str())
                .await?
                .into_iter()
                .map(|t| Param { key: t.key, value: t.value })
                .collect(),
            tags: pairs(source, "SELECT key, value FROM tags WHERE run_uuid = $1", run_id.as_str()).await?,
            metric_history,
        };
        tally.count(store.import_run(&run).await?);
        progress.inc(1);
    }
    progress.finish();
    for row in &rows {
        if store.get_run(&RunId::from_stored(row.get::<String, _>(0))).await.is_ok() {
            tally.in_target += 1;
        }
    }
    Ok(tally)
}

/// A metric's identity in a run's history: key, time, step and stored value (bits).
type MetricKey = (String, i64, i64, u64);

/// The metrics of a run that MLflow also wrote against a logged model (`logged_model_metrics`,
/// a second copy of the run's row): ferroflow keeps one row naming the model, so the run's
/// history rows are matched to them and carry the model's id and dataset.
async fn model_metrics_of_run(
    source: &AnyPool,
    run_id: &str,
) -> anyhow::Result<HashMap<MetricKey, (String, Option<String>, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT metric_name, metric_timestamp_ms, metric_step, metric_value, model_id, dataset_name, dataset_digest \
         FROM logged_model_metrics WHERE run_id = $1",
    )
    .bind(run_id)
    .fetch_all(source)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let value: f64 = r.get::<Option<f64>, _>(3).unwrap_or(0.0);
            ((r.get(0), r.get(1), r.get(2), value.to_bits()), (r.get(4), r.get(5), r.get(6)))
        })
        .collect())
}

/// MLflow 3's logged models with their params and tags (their metrics came with the runs).
async fn logged_models<S: Store + ImportStore>(source: &AnyPool, store: &S) -> anyhow::Result<Tally> {
    let mut tally = Tally { name: "logged models", ..Tally::default() };
    if !has_table(source, "logged_models").await? {
        return Ok(tally);
    }
    let rows = sqlx::query(
        "SELECT model_id, experiment_id, name, artifact_location, creation_timestamp_ms, last_updated_timestamp_ms, \
         status, lifecycle_stage, model_type, source_run_id FROM logged_models ORDER BY creation_timestamp_ms, model_id",
    )
    .fetch_all(source)
    .await?;
    tally.source = rows.len() as u64;
    let progress = bar(tally.name, tally.source);
    for row in &rows {
        let model_id: String = row.get(0);
        let status: i64 = row.get::<Option<i64>, _>(6).unwrap_or(1);
        let model = LoggedModel {
            model_id: model_id.clone(),
            experiment_id: ExperimentId::from_stored(row.get::<Option<i64>, _>(1).unwrap_or(0)),
            name: row.get(2),
            creation_timestamp: row.get::<Option<i64>, _>(4).unwrap_or(0),
            last_updated_timestamp: row.get::<Option<i64>, _>(5).unwrap_or(0),
            artifact_uri: row.get::<Option<String>, _>(3).unwrap_or_default(),
            status: LoggedModelStatus::parse(&status.to_string()).unwrap_or(LoggedModelStatus::Pending),
            model_type: row.get::<Option<String>, _>(8).unwrap_or_default(),
            source_run_id: row.get::<Option<String>, _>(9).unwrap_or_default(),
            tags: pairs(
                source,
                "SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = $1",
                model_id.as_str(),
            )
            .await?,
            params: pairs(
                source,
                "SELECT param_key, param_value FROM logged_model_params WHERE model_id = $1",
                model_id.as_str(),
            )
            .await?
            .into_iter()
            .map(|t| Param { key: t.key, value: t.value })
            .collect(),
            metrics: Vec::new(),
        };
        let deleted = stage(row.get(7)) == LifecycleStage::Deleted;
        tally.count(store.import_logged_model(&model, deleted).await?);
        progress.inc(1);
    }
    progress.finish();
    for row in &rows {
        if store.get_logged_model(&row.get::<String, _>(0), true).await.is_ok() {
            tally.in_target += 1;
        }
    }
    Ok(tally)
}

async fn registered_models<S: Store + ImportStore>(source: &AnyPool, store: &S) -> anyhow::Result<Tally> {
    let models = sqlx::query(
        "SELECT name, creation_time, last_updated_time, description FROM registered_models ORDER BY creation_time, name",
    )
    .fetch_all(source)
    .await?;
    let mut tally = Tally { name: "registered models", source: models.len() as u64, ..Tally::default() };
    let storage_location = has_column(source, "model_versions", "storage_location").await?;
    let progress = bar(tally.name, tally.source);
    for row in &models {
        let name: String = row.get(0);
        let version_rows = sqlx::query(&format!(
            "SELECT version, creation_time, last_updated_time, description, current_stage, source, run_id, run_link, \
             {} FROM model_versions WHERE name = $1 ORDER BY version",
            if storage_location { "storage_location" } else { "NULL" }
        ))
        .bind(&name)
        .fetch_all(source)
        .await?;
        let mut versions = Vec::with_capacity(version_rows.len());
        for v in &version_rows {
            let number: i64 = v.get(0);
            let stage_text: Option<String> = v.get(4);
            let tags = sqlx::query("SELECT key, value FROM model_version_tags WHERE name = $1 AND version = $2")
                .bind(&name)
                .bind(number)
                .fetch_all(source)
                .await?
                .iter()
                .map(|t| Tag::new(t.get::<String, _>(0), t.get::<Option<String>, _>(1).unwrap_or_default()))
                .collect();
            let source_uri: String = v.get::<Option<String>, _>(5).unwrap_or_default();
            // A version made from a logged model names it in its source (`models:/m-…`).
            let model_id = source_uri.strip_prefix("models:/").filter(|id| id.starts_with("m-")).map(str::to_string);
            versions.push(ImportedVersion {
                version: ModelVersion {
                    name: name.clone(),
                    version: number,
                    creation_timestamp: v.get::<Option<i64>, _>(1).unwrap_or(0),
                    last_updated_timestamp: v.get::<Option<i64>, _>(2).unwrap_or(0),
                    description: v.get::<Option<String>, _>(3).unwrap_or_default(),
                    current_stage: stage_text.as_deref().and_then(ModelStage::parse).unwrap_or(ModelStage::None),
                    source: source_uri,
                    run_id: v.get::<Option<String>, _>(6).unwrap_or_default(),
                    run_link: v.get::<Option<String>, _>(7).unwrap_or_default(),
                    model_id,
                    tags,
                    aliases: Vec::new(),
                },
                storage_location: v.get(8),
                // MLflow keeps a deleted version's row with this stage, so numbers are not reused.
                deleted: stage_text.as_deref() == Some("Deleted_Internal"),
            });
        }
        let aliases = sqlx::query("SELECT alias, version FROM registered_model_aliases WHERE name = $1 ORDER BY alias")
            .bind(&name)
            .fetch_all(source)
            .await?
            .iter()
            .map(|a| ModelAlias { alias: a.get(0), version: a.get(1) })
            .collect();
        let model = ImportedModel {
            model: RegisteredModel {
                name: name.clone(),
                creation_timestamp: row.get::<Option<i64>, _>(1).unwrap_or(0),
                last_updated_timestamp: row.get::<Option<i64>, _>(2).unwrap_or(0),
                description: row.get(3),
                latest_versions: Vec::new(),
                tags: pairs(source, "SELECT key, value FROM registered_model_tags WHERE name = $1", name.as_str())
                    .await?,
                aliases: Vec::new(),
            },
            versions,
            aliases,
        };
        tally.count(store.import_registered_model(&model).await?);
        progress.inc(1);
    }
    progress.finish();
    for row in &models {
        if store.get_registered_model(&ModelName::from_stored(row.get::<String, _>(0))).await.is_ok() {
            tally.in_target += 1;
        }
    }
    Ok(tally)
}

/// An assessment row as the wire's JSON body, which the core reads as the client's.
fn assessment_body(row: &AnyRow, trace_id: &str) -> Map<String, Value> {
    let parse = |text: Option<String>| text.and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let mut body = Map::new();
    body.insert("assessment_id".into(), Value::String(row.get(0)));
    body.insert("assessment_name".into(), Value::String(row.get(1)));
    body.insert("trace_id".into(), Value::String(trace_id.to_string()));
    let mut source = Map::new();
    source.insert("source_type".into(), Value::String(row.get(5)));
    if let Some(id) = row.get::<Option<String>, _>(6) {
        source.insert("source_id".into(), Value::String(id));
    }
    body.insert("source".into(), Value::Object(source));
    body.insert("create_time".into(), Value::String(time::millis_to_rfc3339(row.get(7))));
    body.insert("last_update_time".into(), Value::String(time::millis_to_rfc3339(row.get(8))));
    let kind: String = row.get(2);
    let mut value = Map::new();
    if let Some(v) = parse(row.get(3)) {
        value.insert("value".into(), v);
    }
    if let Some(error) = parse(row.get(4)) {
        value.insert("error".into(), error);
    }
    body.insert(if kind == "expectation" { "expectation" } else { "feedback" }.into(), Value::Object(value));
    for (column, at) in [("rationale", 9), ("span_id", 10), ("run_id", 11), ("overrides", 12)] {
        if let Some(text) = row.get::<Option<String>, _>(at) {
            body.insert(column.into(), Value::String(text));
        }
    }
    body.insert("valid".into(), Value::Bool(flag(row, 13)));
    if let Some(metadata) = parse(row.get(14)) {
        body.insert("metadata".into(), metadata);
    }
    body
}

/// Traces read per chunk: their tags, metadata and assessments come in one query a table.
const TRACE_CHUNK: usize = 200;

/// Spans gathered before they are written: one transaction for many traces' spans, memory
/// bounded whatever the traces' sizes.
const SPAN_FLUSH: usize = 10_000;

/// Rows of `sql` (a `SELECT` whose last column is the owning trace's id and which ends in
/// `IN ({ids})`) for the traces `ids`, grouped by that id.
async fn rows_of_traces(source: &AnyPool, sql: &str, ids: &[String]) -> anyhow::Result<HashMap<String, Vec<AnyRow>>> {
    let placeholders = (1..=ids.len()).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ");
    let sql = sql.replace("{ids}", &placeholders);
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id.as_str());
    }
    let mut grouped: HashMap<String, Vec<AnyRow>> = HashMap::new();
    for row in query.fetch_all(source).await.with_context(|| format!("reading: {sql}"))? {
        let owner: String = row.get(row.len() - 1);
        grouped.entry(owner).or_default().push(row);
    }
    Ok(grouped)
}

/// Key/value rows (`key, value, owner`) of one trace as pairs.
fn trace_pairs(rows: Option<Vec<AnyRow>>) -> Vec<(String, String)> {
    rows.unwrap_or_default()
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<Option<String>, _>(1).unwrap_or_default()))
        .collect()
}

/// Spans waiting to be written, by experiment: (experiment, the span JSON of each trace).
#[derive(Default)]
struct PendingSpans {
    spans: Vec<(ExperimentId, Vec<Value>)>,
    count: usize,
}

impl PendingSpans {
    fn push(&mut self, experiment_id: ExperimentId, spans: Vec<Value>) {
        self.count += spans.len();
        self.spans.push((experiment_id, spans));
    }

    /// Writes what is gathered: one ingest a experiment.
    async fn flush<S: Store + ImportStore>(&mut self, store: &S) -> anyhow::Result<()> {
        let mut by_experiment: Vec<(ExperimentId, Vec<Value>)> = Vec::new();
        for (experiment_id, spans) in self.spans.drain(..) {
            match by_experiment.iter_mut().find(|(e, _)| *e == experiment_id) {
                Some((_, all)) => all.extend(spans),
                None => by_experiment.push((experiment_id, spans)),
            }
        }
        self.count = 0;
        for (experiment_id, spans) in by_experiment {
            let document = serde_json::json!({ "spans": spans });
            let records = ferroflow_server::convert::otlp::records_from_trace_document(&document)
                .map_err(|e| anyhow::anyhow!("spans of experiment {experiment_id}: {}", e.message))?;
            ferroflow_core::traces::ingest_spans(store, experiment_id, None, records)
                .await
                .map_err(|e| anyhow::anyhow!("spans of experiment {experiment_id}: {}", e.message))?;
        }
        Ok(())
    }
}

async fn traces<S: Store + ImportStore>(source: &AnyPool, store: &S) -> anyhow::Result<Tally> {
    if !has_table(source, "trace_info").await? {
        return Ok(Tally { name: "traces", ..Tally::default() });
    }
    let with_spans = has_table(source, "spans").await?;
    let with_assessments = has_table(source, "assessments").await?;
    let mut columns = Vec::new();
    for column in PROMOTED_COLUMNS.iter().chain(TOKEN_COLUMNS).chain(COST_COLUMNS) {
        if has_column(source, "trace_info", column).await? {
            columns.push(*column);
        }
    }
    // The promoted columns follow the eight of every schema.
    let rows = sqlx::query(&format!(
        "SELECT request_id, experiment_id, client_request_id, timestamp_ms, execution_time_ms, status, \
         request_preview, response_preview{} FROM trace_info ORDER BY timestamp_ms, request_id",
        columns.iter().map(|c| format!(", {c}")).collect::<String>()
    ))
    .fetch_all(source)
    .await?;
    let mut tally = Tally { name: "traces", source: rows.len() as u64, ..Tally::default() };
    let progress = bar(tally.name, tally.source);
    let mut pending = PendingSpans::default();
    for chunk in rows.chunks(TRACE_CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|r| r.get::<String, _>(0)).collect();
        let trace_ids: Vec<TraceId> = ids.iter().cloned().map(TraceId::from_stored).collect();
        let there: HashSet<TraceId> = store
            .get_trace_infos(&trace_ids)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?
            .into_iter()
            .map(|i| i.trace_id)
            .collect();
        let mut tags =
            rows_of_traces(source, "SELECT key, value, request_id FROM trace_tags WHERE request_id IN ({ids})", &ids)
                .await?;
        let mut metadata = rows_of_traces(
            source,
            "SELECT key, value, request_id FROM trace_request_metadata WHERE request_id IN ({ids})",
            &ids,
        )
        .await?;
        let mut assessment_rows = if with_assessments {
            rows_of_traces(
                source,
                "SELECT assessment_id, name, assessment_type, value, error, source_type, source_id, \
                 created_timestamp, last_updated_timestamp, rationale, span_id, run_id, overrides, \
                 CAST(valid AS INTEGER), assessment_metadata, trace_id FROM assessments WHERE trace_id IN ({ids}) \
                 ORDER BY created_timestamp",
                &ids,
            )
            .await?
        } else {
            HashMap::new()
        };
        for (row, (id, trace_id)) in chunk.iter().zip(ids.iter().zip(&trace_ids)) {
            let spans: Vec<Value> = if with_spans {
                sqlx::query_scalar::<_, String>(
                    "SELECT content FROM spans WHERE trace_id = $1 ORDER BY start_time_unix_nano",
                )
                .bind(id.as_str())
                .fetch_all(source)
                .await?
                .iter()
                .map(|c| serde_json::from_str(c))
                .collect::<Result<_, _>>()
                .with_context(|| format!("a span of trace {id} is not JSON"))?
            } else {
                Vec::new()
            };
            // Done before (the record and all spans are there): skip.
            if there.contains(trace_id)
                && store.span_skeleton(trace_id).await.map(|s| s.len()).unwrap_or(0) == spans.len()
            {
                tally.skipped += 1;
                progress.inc(1);
                continue;
            }
            let experiment_id = ExperimentId::from_stored(row.get(1));
            let mut assessments = Vec::new();
            for a in assessment_rows.remove(id).unwrap_or_default() {
                let assessment = ferroflow_core::assessments::new_assessment(trace_id, assessment_body(&a, id), true)
                    .map_err(|e| anyhow::anyhow!("assessment of trace {id}: {}", e.message))?;
                assessments.push(assessment);
            }
            let (promoted_tags, promoted_metadata) = promoted_columns(row, &columns, 8);
            let mut tags = trace_pairs(tags.remove(id));
            let mut metadata = trace_pairs(metadata.remove(id));
            for (promoted, into) in [(promoted_tags, &mut tags), (promoted_metadata, &mut metadata)] {
                for (key, value) in promoted {
                    into.retain(|(k, _)| k != &key);
                    into.push((key, value));
                }
            }
            let info = TraceInfo {
                trace_id: trace_id.clone(),
                experiment_id,
                client_request_id: row.get(2),
                request_time: row.get(3),
                execution_duration: row.get(4),
                state: TraceState::parse(&row.get::<String, _>(5)).unwrap_or(TraceState::Unspecified),
                request_preview: row.get(6),
                response_preview: row.get(7),
                metadata,
                tags,
                assessments,
            };
            // The record first, then the spans (written with those of other traces, below):
            // spans that arrive after StartTraceV3 never override the client's record, and a
            // trace whose spans are not all there yet is done again by the next run.
            if let Err(error) = store.start_trace(&info).await {
                // A trace of a deleted experiment cannot be written (no trace can).
                tracing::warn!(trace = %id, error = %error.message, "trace not imported");
                progress.inc(1);
                continue;
            }
            if !spans.is_empty() {
                pending.push(experiment_id, spans);
            }
            if pending.count >= SPAN_FLUSH {
                pending.flush(store).await?;
            }
            tally.copied += 1;
            progress.inc(1);
        }
    }
    pending.flush(store).await?;
    progress.finish();
    let ids: Vec<TraceId> = rows.iter().map(|r| TraceId::from_stored(r.get::<String, _>(0))).collect();
    for chunk in ids.chunks(500) {
        tally.in_target += store.get_trace_infos(chunk).await.map(|found| found.len() as u64).unwrap_or(0);
    }
    Ok(tally)
}

/// A JSON column of the source (text in SQLite): `None` when absent, SQL NULL or JSON `null`.
fn json_column(text: Option<String>, what: impl FnOnce() -> String) -> anyhow::Result<Option<Value>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str::<Value>(&text).with_context(|| format!("{} is not JSON", what()))? {
        Value::Null => Ok(None),
        value => Ok(Some(value)),
    }
}

fn json_object(value: Option<Value>, what: impl FnOnce() -> String) -> anyhow::Result<Option<JsonObject>> {
    match value {
        None => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => bail!("{} is not a JSON object: {other}", what()),
    }
}

/// The key MLflow wraps a record's outputs in (so that any JSON value, `null` included, can be
/// stored in its JSON column).
const WRAPPED_OUTPUTS: &str = "mlflow_wrapped";

/// A record's outputs as MLflow reads them back: unwrapped; a value stored unwrapped (no
/// schema has written one, but the column is plain JSON) is kept as it is.
fn record_outputs(stored: Option<Value>) -> Option<Value> {
    match stored {
        Some(Value::Object(mut object)) if object.len() == 1 && object.contains_key(WRAPPED_OUTPUTS) => {
            object.remove(WRAPPED_OUTPUTS).filter(|v| !v.is_null())
        }
        other => other,
    }
}

/// Evaluation datasets (MLflow 3.4+) with their tags, records and the experiments they are
/// linked to (rows of `entity_associations`).
async fn evaluation_datasets<S: Store + ImportStore>(source: &AnyPool, store: &S) -> anyhow::Result<Tally> {
    let mut tally = Tally { name: "evaluation datasets", ..Tally::default() };
    if !has_table(source, "evaluation_datasets").await? {
        return Ok(tally);
    }
    let associations = has_table(source, "entity_associations").await?;
    let outputs = has_column(source, "evaluation_dataset_records", "outputs").await?;
    let rows = sqlx::query(
        "SELECT dataset_id, name, schema, profile, digest, created_time, last_update_time, created_by, \
         last_updated_by FROM evaluation_datasets ORDER BY created_time, dataset_id",
    )
    .fetch_all(source)
    .await?;
    tally.source = rows.len() as u64;
    let progress = bar(tally.name, tally.source);
    for row in &rows {
        let dataset_id: String = row.get(0);
        let experiment_ids = if associations {
            sqlx::query_scalar::<_, String>(
                "SELECT destination_id FROM entity_associations WHERE source_type = 'evaluation_dataset' \
                 AND source_id = $1 AND destination_type = 'experiment' ORDER BY created_time, destination_id",
            )
            .bind(&dataset_id)
            .fetch_all(source)
            .await?
            .iter()
            .filter_map(|id| id.parse::<i64>().ok())
            .map(ExperimentId::from_stored)
            .collect()
        } else {
            Vec::new()
        };
        let record_rows = sqlx::query(&format!(
            "SELECT dataset_record_id, CAST(inputs AS TEXT), {}, CAST(expectations AS TEXT), CAST(tags AS TEXT), \
             CAST(source AS TEXT), created_time, last_update_time, created_by, last_updated_by \
             FROM evaluation_dataset_records WHERE dataset_id = $1 ORDER BY created_time, dataset_record_id",
            // JSON columns (PostgreSQL's `json` type) are read as their text.
            if outputs { "CAST(outputs AS TEXT)" } else { "NULL" }
        ))
        .bind(&dataset_id)
        .fetch_all(source)
        .await?;
        let mut records = Vec::with_capacity(record_rows.len());
        for r in &record_rows {
            let record_id: String = r.get(0);
            let what = |column: &str| format!("{column} of dataset record {record_id}");
            let source_value = json_column(r.get(5), || what("the source"))?;
            let record_source = match source_value.as_ref().map(ferroflow_core::evaluation::record_source) {
                Some(Ok(parsed)) => Some(parsed),
                Some(Err(error)) => {
                    tracing::warn!(record = %record_id, error = %error.message, "record source not imported");
                    None
                }
                None => None,
            };
            records.push(DatasetRecord {
                dataset_record_id: record_id.clone(),
                dataset_id: dataset_id.clone(),
                inputs: json_object(json_column(r.get(1), || what("inputs"))?, || what("inputs"))?.unwrap_or_default(),
                outputs: record_outputs(json_column(r.get(2), || what("outputs"))?),
                expectations: json_object(json_column(r.get(3), || what("expectations"))?, || what("expectations"))?,
                tags: json_object(json_column(r.get(4), || what("tags"))?, || what("tags"))?.unwrap_or_default(),
                source: record_source,
                created_time: r.get::<Option<i64>, _>(6).unwrap_or(0),
                last_update_time: r.get::<Option<i64>, _>(7).unwrap_or(0),
                created_by: r.get(8),
                last_updated_by: r.get(9),
            });
        }
        let dataset = ImportedDataset {
            dataset: EvaluationDataset {
                dataset_id: dataset_id.clone(),
                name: row.get(1),
                tags: pairs(
                    source,
                    "SELECT key, value FROM evaluation_dataset_tags WHERE dataset_id = $1",
                    dataset_id.as_str(),
                )
                .await?,
                schema: row.get(2),
                profile: row.get(3),
                // Empty: the store works it out from the records.
                digest: row.get::<Option<String>, _>(4).unwrap_or_default(),
                created_time: row.get::<Option<i64>, _>(5).unwrap_or(0),
                last_update_time: row.get::<Option<i64>, _>(6).unwrap_or(0),
                created_by: row.get(7),
                last_updated_by: row.get(8),
                experiment_ids: Some(experiment_ids),
            },
            records,
        };
        tally.count(store.import_evaluation_dataset(&dataset).await?);
        progress.inc(1);
    }
    progress.finish();
    for row in &rows {
        if store.get_evaluation_dataset(&row.get::<String, _>(0)).await.is_ok() {
            tally.in_target += 1;
        }
    }
    Ok(tally)
}

/// Registered scorers (MLflow 3.4+) with every version and, where the schema has them, their
/// online scoring configs. A scorer whose versions were all deleted is copied too (MLflow
/// keeps its row, and its id, for the next registration under that name).
async fn scorers<S: Store + ImportStore>(source: &AnyPool, store: &S) -> anyhow::Result<Tally> {
    let mut tally = Tally { name: "scorers", ..Tally::default() };
    if !has_table(source, "scorers").await? {
        return Ok(tally);
    }
    let online_configs = has_table(source, "online_scoring_configs").await?;
    let rows =
        sqlx::query("SELECT scorer_id, experiment_id, scorer_name FROM scorers ORDER BY experiment_id, scorer_name")
            .fetch_all(source)
            .await?;
    tally.source = rows.len() as u64;
    let progress = bar(tally.name, tally.source);
    let mut version_counts = Vec::with_capacity(rows.len());
    for row in &rows {
        let scorer_id: String = row.get(0);
        let experiment_id = ExperimentId::from_stored(row.get(1));
        let scorer_name: String = row.get(2);
        let versions: Vec<ScorerVersion> = sqlx::query(
            "SELECT scorer_version, serialized_scorer, creation_time FROM scorer_versions WHERE scorer_id = $1 \
             ORDER BY scorer_version",
        )
        .bind(&scorer_id)
        .fetch_all(source)
        .await?
        .iter()
        .map(|v| ScorerVersion {
            experiment_id,
            scorer_name: scorer_name.clone(),
            scorer_version: v.get(0),
            serialized_scorer: v.get(1),
            creation_time: v.get::<Option<i64>, _>(2).unwrap_or(0),
            scorer_id: scorer_id.clone(),
        })
        .collect();
        // MLflow replaces a scorer's config on each update, so there is at most one.
        let online_config = if online_configs {
            sqlx::query(
                "SELECT online_scoring_config_id, sample_rate, experiment_id, filter_string \
                 FROM online_scoring_configs WHERE scorer_id = $1 ORDER BY online_scoring_config_id LIMIT 1",
            )
            .bind(&scorer_id)
            .fetch_optional(source)
            .await?
            .map(|c| OnlineScoringConfig {
                online_scoring_config_id: c.get(0),
                scorer_id: scorer_id.clone(),
                sample_rate: c.get(1),
                experiment_id: ExperimentId::from_stored(c.get(2)),
                filter_string: c.get(3),
            })
        } else {
            None
        };
        version_counts.push((scorer_id.clone(), versions.len() as u64));
        let scorer = ImportedScorer { scorer_id, experiment_id, scorer_name, versions, online_config };
        tally.count(store.import_scorer(&scorer).await?);
        progress.inc(1);
    }
    progress.finish();
    // Counted by id and number of versions: a scorer left without versions is there too.
    for (scorer_id, versions) in &version_counts {
        if store.imported_scorer_versions(scorer_id).await? == Some(*versions) {
            tally.in_target += 1;
        }
    }
    Ok(tally)
}

/// Columns that newer schemas fill instead of a tag or metadata entry (MLflow reads them back
/// as such): the trace name, the session, token usage and cost.
const PROMOTED_COLUMNS: &[&str] = &["trace_name", "session_id"];
const TOKEN_COLUMNS: &[&str] = &[
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation_input_tokens_above_1hr",
];
const COST_COLUMNS: &[&str] = &["input_cost", "output_cost", "total_cost"];

type Pairs = Vec<(String, String)>;

/// The tag and metadata entries that `columns` (those of the promoted columns the schema has,
/// selected from `row` from column `first` on) stand for, as MLflow writes them back (token
/// usage and cost as Python's JSON).
fn promoted_columns(row: &AnyRow, columns: &[&str], first: usize) -> (Pairs, Pairs) {
    let (mut tags, mut metadata) = (Vec::new(), Vec::new());
    let mut tokens = Map::new();
    let mut cost = Map::new();
    for (at, column) in columns.iter().enumerate().map(|(i, c)| (first + i, c)) {
        match *column {
            "trace_name" => {
                if let Some(name) = row.get::<Option<String>, _>(at) {
                    tags.push(("mlflow.traceName".to_string(), name));
                }
            }
            "session_id" => {
                if let Some(session) = row.get::<Option<String>, _>(at) {
                    metadata.push(("mlflow.trace.session".to_string(), session));
                }
            }
            c if TOKEN_COLUMNS.contains(&c) => {
                if let Some(n) = row.get::<Option<i64>, _>(at) {
                    tokens.insert(c.to_string(), Value::from(n));
                }
            }
            c => {
                if let Some(x) = row.get::<Option<f64>, _>(at) {
                    cost.insert(c.to_string(), Value::from(x));
                }
            }
        }
    }
    if !tokens.is_empty() {
        metadata.push(("mlflow.trace.tokenUsage".to_string(), ferroflow_proto::encoding::python_json(&tokens)));
    }
    if !cost.is_empty() {
        metadata.push(("mlflow.trace.cost".to_string(), ferroflow_proto::encoding::python_json(&cost)));
    }
    (tags, metadata)
}

/// Every file below `from`'s root, copied to the same path in `to` unless a file of the same
/// size is there already. Streams: no file is held in memory.
async fn copy_artifacts(from: &dyn ArtifactRepo, to: &dyn ArtifactRepo) -> anyhow::Result<Tally> {
    let mut files: Vec<(String, Option<u64>)> = Vec::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for entry in from.list(&folder).await.map_err(|e| anyhow::anyhow!("listing {folder}: {}", e.message))? {
            let path = if folder.is_empty() { entry.path.clone() } else { format!("{folder}/{}", entry.path) };
            if entry.is_dir {
                folders.push(path);
            } else {
                files.push((path, entry.file_size));
            }
        }
    }
    files.sort();
    let mut tally = Tally { name: "artifact files", source: files.len() as u64, ..Tally::default() };
    let progress = bar(tally.name, tally.source);
    let mut sizes_there: HashMap<String, HashMap<String, Option<u64>>> = HashMap::new();
    for (path, size) in &files {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        if !sizes_there.contains_key(folder) {
            let listing = to.list(folder).await.map_err(|e| anyhow::anyhow!("listing {folder}: {}", e.message))?;
            sizes_there.insert(folder.to_string(), listing.into_iter().map(|f| (f.path, f.file_size)).collect());
        }
        if sizes_there[folder].get(name).is_some_and(|there| there == size) {
            tally.skipped += 1;
        } else {
            let body = from.get(path).await.map_err(|e| anyhow::anyhow!("reading {path}: {}", e.message))?;
            to.put(path, body.stream).await.map_err(|e| anyhow::anyhow!("writing {path}: {}", e.message))?;
            tally.copied += 1;
        }
        progress.inc(1);
    }
    progress.finish();
    tally.in_target = tally.copied + tally.skipped;
    Ok(tally)
}
