//! Experiments and runs in SQLite: [`TrackingStore`] for [`SqliteStore`].
//!
//! Reads of many runs load their children for the whole page (ids passed as one JSON parameter),
//! never one query per run: params and tags as one JSON row, metrics and inputs one query per
//! table, all at once on the read pool.

use crate::error::{corrupt, is_unique_violation, stored_enum, Context};
use crate::sql::{
    json_list, metric_value, push_numeric_comparison, push_page, push_string_comparison, rows_per_statement,
    split_page, tag_rows, upsert_pairs, OnConflict,
};
use crate::SqliteStore;
use ferroflow_core::entities::*;
use ferroflow_core::search::experiments::ExperimentKey;
use ferroflow_core::search::runs::{DatasetField, RunAttribute, RunKey};
use ferroflow_core::search::{Clause, Comparator, OrderBy};
use ferroflow_core::store::{SearchQuery, TrackingStore};
use ferroflow_core::{ids, time, Error, Result};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::HashMap;

const EXPERIMENT_COLUMNS: &str =
    "experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time";
const RUN_COLUMNS: &str =
    "run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage";

/// A run's params and tags as pairs, as `load_params_and_tags` reads them.
type PairLists = (Vec<(String, String)>, Vec<(String, String)>);

fn stage_of(text: &str) -> Result<LifecycleStage> {
    stored_enum("lifecycle stage", text, LifecycleStage::parse)
}

fn experiment_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Experiment> {
    Ok(Experiment {
        experiment_id: ExperimentId::from_stored(row.get(0)),
        name: row.get(1),
        artifact_location: row.get(2),
        lifecycle_stage: stage_of(row.get::<&str, _>(3))?,
        creation_time: row.get(4),
        last_update_time: row.get(5),
        tags: Vec::new(),
    })
}

fn run_info_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<RunInfo> {
    Ok(RunInfo {
        run_id: RunId::from_stored(row.get::<String, _>(0)),
        experiment_id: ExperimentId::from_stored(row.get(1)),
        run_name: row.get(2),
        user_id: row.get(3),
        status: stored_enum("run status", row.get::<&str, _>(4), RunStatus::parse)?,
        start_time: row.get(5),
        end_time: row.get(6),
        artifact_uri: row.get(7),
        lifecycle_stage: stage_of(row.get::<&str, _>(8))?,
    })
}

fn experiment_not_found(id: ExperimentId) -> Error {
    Error::not_found(format!("No Experiment with id={id} exists"))
}

fn run_not_found(id: &str) -> Error {
    Error::not_found(format!("Run with id={id} not found"))
}

impl SqliteStore {
    async fn experiment_tags(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<Tag>>> {
        let mut out: HashMap<i64, Vec<Tag>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let list = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(
            "SELECT experiment_id, key, value FROM experiment_tags \
             WHERE experiment_id IN (SELECT value FROM json_each(?)) ORDER BY key",
        )
        .bind(list)
        .fetch_all(&self.read)
        .await
        .context(|| "loading the tags of a page of experiments")?;
        for row in rows {
            out.entry(row.get(0)).or_default().push(Tag::new(row.get::<String, _>(1), row.get::<String, _>(2)));
        }
        Ok(out)
    }

    async fn fill_experiment_tags(&self, mut experiments: Vec<Experiment>) -> Result<Vec<Experiment>> {
        let ids: Vec<i64> = experiments.iter().map(|e| e.experiment_id.get()).collect();
        let mut tags = self.experiment_tags(&ids).await?;
        for experiment in &mut experiments {
            experiment.tags = tags.remove(&experiment.experiment_id.get()).unwrap_or_default();
        }
        Ok(experiments)
    }

    /// Loads params, tags, latest metrics, inputs and outputs for a page of runs: a few
    /// queries for the whole page (the ids as one JSON parameter), never one per run.
    async fn complete_runs(&self, infos: Vec<RunInfo>) -> Result<Vec<Run>> {
        if infos.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = infos.iter().map(|i| i.run_id.as_str()).collect();
        let list = json_list(&ids);
        // Independent reads: each on its own read connection, at the same time.
        let (pairs, mut metrics, mut inputs, mut outputs) = futures::try_join!(
            self.load_params_and_tags(&list, infos.len()),
            self.load_latest_metrics(&list),
            self.load_inputs(&list),
            self.load_outputs(&list),
        )?;
        Ok(infos
            .into_iter()
            .zip(pairs)
            .map(|(info, (params, tags))| {
                let id = info.run_id.as_str();
                Run {
                    data: RunData {
                        metrics: metrics.remove(id).unwrap_or_default(),
                        params: params.into_iter().map(|(key, value)| Param { key, value }).collect(),
                        tags: tags.into_iter().map(|(key, value)| Tag::new(key, value)).collect(),
                    },
                    inputs: inputs.remove(id).unwrap_or_default(),
                    outputs: outputs.remove(id).unwrap_or_default(),
                    info,
                }
            })
            .collect())
    }

    /// The params and tags of the runs in `list` (a JSON list of `count` ids), in its order:
    /// one JSON row of `[[params], [tags]]` per run, each pair `[key, value]`, concatenated
    /// from correlated subqueries over the primary keys (so params come in key order) and
    /// decoded in one pass.
    async fn load_params_and_tags(&self, list: &str, count: usize) -> Result<Vec<PairLists>> {
        let text: String = sqlx::query(
            "SELECT '[' || coalesce(group_concat('[' \
               || (SELECT coalesce(json_group_array(json_array(p.key, p.value)), '[]') FROM params p WHERE p.run_uuid = j.value) \
               || ',' \
               || (SELECT coalesce(json_group_array(json_array(t.key, t.value)), '[]') FROM tags t WHERE t.run_uuid = j.value) \
               || ']', ','), '') || ']' FROM json_each(?1) j",
        )
        .bind(list)
        .fetch_one(&self.read)
        .await
        .context(|| "loading the params and tags of a page of runs")?
        .get(0);
        let pairs: Vec<PairLists> = serde_json::from_str(&text).map_err(|e| corrupt("params and tags of runs", e))?;
        if pairs.len() != count {
            return Err(Error::internal(format!("params and tags of {} runs for {count} ids", pairs.len())));
        }
        Ok(pairs)
    }

    async fn load_latest_metrics(&self, list: &str) -> Result<HashMap<String, Vec<Metric>>> {
        let mut metrics: HashMap<String, Vec<Metric>> = HashMap::new();
        let rows = sqlx::query(
            "SELECT run_uuid, key, value, is_nan, timestamp, step FROM latest_metrics \
             WHERE run_uuid IN (SELECT value FROM json_each(?1))",
        )
        .bind(list)
        .fetch_all(&self.read)
        .await
        .context(|| "loading the latest metrics of a page of runs")?;
        for row in rows {
            metrics.entry(row.get(0)).or_default().push(Metric {
                key: row.get(1),
                value: metric_value(row.get(2), row.get::<i64, _>(3) != 0),
                timestamp: row.get(4),
                step: row.get(5),
                model_id: None,
                dataset_name: None,
                dataset_digest: None,
                run_id: None,
            });
        }
        Ok(metrics)
    }

    /// Dataset inputs (in the order they were logged), then model inputs.
    async fn load_inputs(&self, list: &str) -> Result<HashMap<String, RunInputs>> {
        let mut inputs: HashMap<String, RunInputs> = HashMap::new();
        let rows = sqlx::query(
            "SELECT i.run_uuid, d.name, d.digest, d.source_type, d.source, d.schema, d.profile, i.tags \
             FROM run_dataset_inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid \
             WHERE i.run_uuid IN (SELECT value FROM json_each(?1)) ORDER BY i.position",
        )
        .bind(list)
        .fetch_all(&self.read)
        .await
        .context(|| "loading the dataset inputs of a page of runs")?;
        for row in rows {
            let tags: Vec<(String, String)> =
                serde_json::from_str(row.get::<&str, _>(7)).map_err(|e| corrupt("dataset input tags", e))?;
            inputs.entry(row.get(0)).or_default().dataset_inputs.push(DatasetInput {
                dataset: Dataset {
                    name: row.get(1),
                    digest: row.get(2),
                    source_type: row.get(3),
                    source: row.get(4),
                    schema: row.get(5),
                    profile: row.get(6),
                },
                tags: tags.into_iter().map(|(k, v)| Tag::new(k, v)).collect(),
            });
        }
        let rows = sqlx::query(
            "SELECT run_uuid, model_id FROM run_model_inputs WHERE run_uuid IN (SELECT value FROM json_each(?1)) ORDER BY position",
        )
        .bind(list)
        .fetch_all(&self.read)
        .await
        .context(|| "loading the model inputs of a page of runs")?;
        for row in rows {
            inputs.entry(row.get(0)).or_default().model_inputs.push(row.get(1));
        }
        Ok(inputs)
    }

    async fn load_outputs(&self, list: &str) -> Result<HashMap<String, RunOutputs>> {
        let mut outputs: HashMap<String, RunOutputs> = HashMap::new();
        let rows = sqlx::query(
            "SELECT run_uuid, model_id, step FROM run_model_outputs WHERE run_uuid IN (SELECT value FROM json_each(?1)) ORDER BY rowid",
        )
        .bind(list)
        .fetch_all(&self.read)
        .await
        .context(|| "loading the model outputs of a page of runs")?;
        for row in rows {
            outputs
                .entry(row.get(0))
                .or_default()
                .model_outputs
                .push(ModelOutput { model_id: row.get(1), step: row.get(2) });
        }
        Ok(outputs)
    }
}

/// Fails unless the run exists and is active; returns its experiment id.
async fn require_active_run(conn: &mut SqliteConnection, run_id: &str) -> Result<i64> {
    let row = sqlx::query("SELECT lifecycle_stage, experiment_id FROM runs WHERE run_uuid = ?")
        .bind(run_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading run {run_id}"))?
        .ok_or_else(|| run_not_found(run_id))?;
    let stage: String = row.get(0);
    if stage != "active" {
        return Err(Error::invalid(format!(
            "The run {run_id} must be in the 'active' state. Current state is {stage}."
        )));
    }
    Ok(row.get(1))
}

async fn require_experiment(conn: &mut SqliteConnection, experiment_id: ExperimentId) -> Result<(i64, String, String)> {
    let row = sqlx::query(
        "SELECT experiment_id, lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?",
    )
    .bind(experiment_id.get())
    .fetch_optional(&mut *conn)
    .await
    .context(|| format!("loading experiment {experiment_id}"))?
    .ok_or_else(|| experiment_not_found(experiment_id))?;
    Ok((row.get(0), row.get(1), row.get(2)))
}

/// The one check that an experiment may take new children (runs, traces, logged models,
/// scorers): it exists and is active. `purpose` ends the message (e.g. `" to log traces"`).
/// Returns the experiment's artifact location.
pub(crate) async fn require_active_experiment(
    conn: &mut SqliteConnection,
    experiment_id: ExperimentId,
    purpose: &str,
) -> Result<String> {
    let row = sqlx::query("SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?")
        .bind(experiment_id.get())
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading experiment {experiment_id}"))?
        .ok_or_else(|| experiment_not_found(experiment_id))?;
    let stage: &str = row.get(0);
    if stage != "active" {
        return Err(Error::invalid(format!(
            "The experiment {experiment_id} must be in the 'active' state{purpose}. Current state is {stage}."
        )));
    }
    Ok(row.get(1))
}

/// Writes run tags, keeping `runs.name` equal to the `mlflow.runName` tag.
pub(crate) async fn upsert_run_tags(conn: &mut SqliteConnection, run_id: &str, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    upsert_pairs(conn, "tags", &["run_uuid"], &tag_rows(run_id, tags), OnConflict::Replace).await?;
    if let Some(tag) = tags.iter().rev().find(|t| t.key == "mlflow.runName") {
        sqlx::query("UPDATE runs SET name = ? WHERE run_uuid = ?")
            .bind(&tag.value)
            .bind(run_id)
            .execute(&mut *conn)
            .await
            .context(|| format!("updating the name of run {run_id}"))?;
    }
    Ok(())
}

pub(crate) async fn insert_params(conn: &mut SqliteConnection, run_id: &str, params: &[Param]) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = params.iter().map(|p| p.key.as_str()).collect();
    let rows =
        sqlx::query("SELECT key, value FROM params WHERE run_uuid = ? AND key IN (SELECT value FROM json_each(?))")
            .bind(run_id)
            .bind(json_list(&keys))
            .fetch_all(&mut *conn)
            .await
            .context(|| format!("loading params of run {run_id}"))?;
    let existing: HashMap<String, String> = rows.into_iter().map(|r| (r.get(0), r.get(1))).collect();
    for param in params {
        if let Some(old) = existing.get(&param.key) {
            if old != &param.value {
                return Err(Error::invalid(format!(
                    "Changing param values is not allowed. Param with key='{}' was already logged with value='{}' \
                     for run ID='{run_id}'. Attempted logging new value '{}'.",
                    param.key, old, param.value
                )));
            }
        }
    }
    let rows: Vec<(&str, &str, &str)> = params.iter().map(|p| (run_id, p.key.as_str(), p.value.as_str())).collect();
    upsert_pairs(conn, "params", &["run_uuid"], &rows, OnConflict::Keep).await
}

/// Orders metric values as MLflow picks the latest: step, then timestamp, then value.
fn metric_is_newer(candidate: &Metric, current: &Metric) -> bool {
    (candidate.step, candidate.timestamp) > (current.step, current.timestamp)
        || ((candidate.step, candidate.timestamp) == (current.step, current.timestamp)
            && candidate.value.total_cmp(&current.value).is_gt())
}

pub(crate) async fn insert_metrics(conn: &mut SqliteConnection, run_id: &str, metrics: &[Metric]) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    for chunk in metrics.chunks(rows_per_statement(9)) {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT OR IGNORE INTO metrics (run_uuid, key, value, is_nan, timestamp, step, model_id, dataset_name, dataset_digest) ",
        );
        builder.push_values(chunk, |mut b, m| {
            let nan = m.value.is_nan();
            b.push_bind(run_id)
                .push_bind(&m.key)
                .push_bind(if nan { 0.0 } else { m.value })
                .push_bind(nan as i64)
                .push_bind(m.timestamp)
                .push_bind(m.step)
                .push_bind(&m.model_id)
                .push_bind(&m.dataset_name)
                .push_bind(&m.dataset_digest);
        });
        builder.build().execute(&mut *conn).await.context(|| format!("inserting metrics of run {run_id}"))?;
    }
    // Reduce to one candidate per key before touching latest_metrics.
    let mut latest: HashMap<&str, &Metric> = HashMap::new();
    for metric in metrics {
        match latest.get(metric.key.as_str()) {
            Some(current) if !metric_is_newer(metric, current) => {}
            _ => {
                latest.insert(&metric.key, metric);
            }
        }
    }
    let candidates: Vec<&Metric> = latest.into_values().collect();
    for chunk in candidates.chunks(rows_per_statement(6)) {
        let mut builder: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO latest_metrics (run_uuid, key, value, is_nan, timestamp, step) ");
        builder.push_values(chunk, |mut b, m| {
            let nan = m.value.is_nan();
            b.push_bind(run_id)
                .push_bind(&m.key)
                .push_bind(if nan { None } else { Some(m.value) })
                .push_bind(nan as i64)
                .push_bind(m.timestamp)
                .push_bind(m.step);
        });
        builder.push(
            " ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, \
             timestamp = excluded.timestamp, step = excluded.step \
             WHERE (excluded.step, excluded.timestamp, coalesce(excluded.value, 0)) > \
                   (latest_metrics.step, latest_metrics.timestamp, coalesce(latest_metrics.value, 0))",
        );
        builder.build().execute(&mut *conn).await.context(|| format!("updating latest metrics of run {run_id}"))?;
    }
    Ok(())
}

fn run_attribute_column(attribute: &RunAttribute) -> &'static str {
    match attribute {
        RunAttribute::RunId => "r.run_uuid",
        RunAttribute::RunName => "r.name",
        RunAttribute::Status => "r.status",
        RunAttribute::UserId => "r.user_id",
        RunAttribute::ArtifactUri => "r.artifact_uri",
        RunAttribute::StartTime => "r.start_time",
        RunAttribute::EndTime => "r.end_time",
    }
}

fn push_run_clause(builder: &mut QueryBuilder<'_, Sqlite>, clause: &Clause<RunKey>) -> Result<()> {
    match &clause.key {
        RunKey::Attribute(attribute) => {
            let column = run_attribute_column(attribute);
            match attribute {
                RunAttribute::StartTime | RunAttribute::EndTime => {
                    push_numeric_comparison(builder, column, clause.comparator, &clause.value)?
                }
                _ => push_string_comparison(builder, column, clause.comparator, &clause.value)?,
            }
        }
        RunKey::Metric(key) => {
            builder.push("EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ");
            builder.push_bind(key.clone());
            builder.push(" AND m.is_nan = 0 AND ");
            push_numeric_comparison(builder, "m.value", clause.comparator, &clause.value)?;
            builder.push(")");
        }
        RunKey::Param(key) | RunKey::Tag(key) => {
            let table = if matches!(clause.key, RunKey::Param(_)) { "params" } else { "tags" };
            match clause.comparator {
                Comparator::IsNull => {
                    builder.push(format!(
                        "NOT EXISTS (SELECT 1 FROM {table} x WHERE x.run_uuid = r.run_uuid AND x.key = "
                    ));
                    builder.push_bind(key.clone());
                    builder.push(")");
                }
                Comparator::IsNotNull => {
                    builder.push(format!("EXISTS (SELECT 1 FROM {table} x WHERE x.run_uuid = r.run_uuid AND x.key = "));
                    builder.push_bind(key.clone());
                    builder.push(")");
                }
                comparator => {
                    builder.push(format!("EXISTS (SELECT 1 FROM {table} x WHERE x.run_uuid = r.run_uuid AND x.key = "));
                    builder.push_bind(key.clone());
                    builder.push(" AND ");
                    push_string_comparison(builder, "x.value", comparator, &clause.value)?;
                    builder.push(")");
                }
            }
        }
        RunKey::Dataset(field) => {
            let column = match field {
                DatasetField::Name => "d.name",
                DatasetField::Digest => "d.digest",
                DatasetField::Context => "(SELECT json_extract(t.value, '$[1]') FROM json_each(i.tags) t WHERE json_extract(t.value, '$[0]') = 'mlflow.data.context')",
            };
            builder.push(
                "EXISTS (SELECT 1 FROM run_dataset_inputs i JOIN datasets d ON d.dataset_uuid = i.dataset_uuid \
                 WHERE i.run_uuid = r.run_uuid AND ",
            );
            push_string_comparison(builder, column, clause.comparator, &clause.value)?;
            builder.push(")");
        }
    }
    Ok(())
}

fn push_run_order(builder: &mut QueryBuilder<'_, Sqlite>, order_by: &[OrderBy<RunKey>]) -> Result<()> {
    builder.push(" ORDER BY ");
    for item in order_by {
        // Runs missing the value sort last whichever the direction, as MLflow does: the
        // expression is pushed twice (null check, then value), each time with its own binds.
        builder.push("(");
        push_run_order_expression(builder, &item.key)?;
        builder.push(") IS NULL, ");
        push_run_order_expression(builder, &item.key)?;
        builder.push(if item.ascending { " ASC, " } else { " DESC, " });
    }
    builder.push("r.start_time DESC, r.run_uuid ASC");
    Ok(())
}

/// The value a run is ordered by; a metric, param or tag key is bound.
fn push_run_order_expression(builder: &mut QueryBuilder<'_, Sqlite>, key: &RunKey) -> Result<()> {
    let (select, key) = match key {
        RunKey::Attribute(attribute) => {
            builder.push(run_attribute_column(attribute));
            return Ok(());
        }
        RunKey::Metric(key) => ("SELECT m.value FROM latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.key = ", key),
        RunKey::Param(key) => ("SELECT x.value FROM params x WHERE x.run_uuid = r.run_uuid AND x.key = ", key),
        RunKey::Tag(key) => ("SELECT x.value FROM tags x WHERE x.run_uuid = r.run_uuid AND x.key = ", key),
        RunKey::Dataset(_) => return Err(Error::invalid("Ordering by dataset fields is not supported")),
    };
    builder.push("(");
    builder.push(select);
    builder.push_bind(key.clone());
    builder.push(")");
    Ok(())
}

fn experiment_column(key: &ExperimentKey) -> Option<&'static str> {
    match key {
        ExperimentKey::Name => Some("e.name"),
        ExperimentKey::ExperimentId => Some("e.experiment_id"),
        ExperimentKey::CreationTime => Some("e.creation_time"),
        ExperimentKey::LastUpdateTime => Some("e.last_update_time"),
        ExperimentKey::Tag(_) => None,
    }
}

#[async_trait::async_trait]
impl TrackingStore for SqliteStore {
    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: Option<&str>,
        tags: &[Tag],
        default_artifact_root: &str,
    ) -> Result<ExperimentId> {
        let now = time::now_millis();
        let mut tx = self.write.begin().await.context(|| format!("creating experiment {name}"))?;
        let inserted = sqlx::query(
            "INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
             VALUES (?, '', 'active', ?, ?) RETURNING experiment_id",
        )
        .bind(name)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match inserted {
            Ok(row) => row.get(0),
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::already_exists(format!("Experiment(name={name}) already exists.")));
            }
            Err(e) => return Err(e).context(|| format!("creating experiment {name}")),
        };
        let location = match artifact_location {
            Some(location) if !location.is_empty() => location.to_string(),
            _ => format!("{}/{id}", default_artifact_root.trim_end_matches('/')),
        };
        sqlx::query("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?")
            .bind(&location)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context(|| format!("creating experiment {name}"))?;
        upsert_pairs(&mut tx, "experiment_tags", &["experiment_id"], &tag_rows(id, tags), OnConflict::Replace).await?;
        tx.commit().await.context(|| format!("creating experiment {name}"))?;
        Ok(ExperimentId::from_stored(id))
    }

    async fn get_experiment(&self, experiment_id: ExperimentId) -> Result<Experiment> {
        let row = sqlx::query(&format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE experiment_id = ?"))
            .bind(experiment_id.get())
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading experiment {experiment_id}"))?
            .ok_or_else(|| experiment_not_found(experiment_id))?;
        let experiments = self.fill_experiment_tags(vec![experiment_from_row(&row)?]).await?;
        experiments.into_iter().next().ok_or_else(|| experiment_not_found(experiment_id))
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        let row = sqlx::query(&format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?"))
            .bind(name)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading experiment {name}"))?
            .ok_or_else(|| Error::not_found(format!("Could not find experiment with name '{name}'")))?;
        let experiments = self.fill_experiment_tags(vec![experiment_from_row(&row)?]).await?;
        experiments
            .into_iter()
            .next()
            .ok_or_else(|| Error::not_found(format!("Could not find experiment with name '{name}'")))
    }

    async fn search_experiments(&self, view: ViewType, query: &SearchQuery<ExperimentKey>) -> Result<Page<Experiment>> {
        let mut builder: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments e WHERE "));
        match view {
            ViewType::ActiveOnly => builder.push("e.lifecycle_stage = 'active'"),
            ViewType::DeletedOnly => builder.push("e.lifecycle_stage = 'deleted'"),
            ViewType::All => builder.push("1 = 1"),
        };
        for clause in &query.clauses {
            builder.push(" AND ");
            match &clause.key {
                ExperimentKey::Tag(key) => match clause.comparator {
                    Comparator::IsNull => {
                        builder.push("NOT EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.experiment_id AND t.key = ");
                        builder.push_bind(key.clone());
                        builder.push(")");
                    }
                    comparator => {
                        builder.push("EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.experiment_id AND t.key = ");
                        builder.push_bind(key.clone());
                        if comparator != Comparator::IsNotNull {
                            builder.push(" AND ");
                            push_string_comparison(&mut builder, "t.value", comparator, &clause.value)?;
                        }
                        builder.push(")");
                    }
                },
                ExperimentKey::Name => {
                    push_string_comparison(&mut builder, "e.name", clause.comparator, &clause.value)?
                }
                ExperimentKey::ExperimentId => push_string_comparison(
                    &mut builder,
                    "CAST(e.experiment_id AS TEXT)",
                    clause.comparator,
                    &clause.value,
                )?,
                key => {
                    let column = experiment_column(key).unwrap_or("e.creation_time");
                    push_numeric_comparison(&mut builder, column, clause.comparator, &clause.value)?
                }
            }
        }
        builder.push(" ORDER BY ");
        for item in &query.order_by {
            let direction = if item.ascending { "ASC" } else { "DESC" };
            let column = experiment_column(&item.key)
                .ok_or_else(|| Error::invalid("Ordering experiments by tags is not supported"))?;
            builder.push(format!("{column} {direction}, "));
        }
        builder.push("e.creation_time DESC, e.experiment_id ASC");
        push_page(&mut builder, query.max_results, query.offset);
        let rows = builder.build().fetch_all(&self.read).await.context(|| "searching experiments")?;
        let (experiments, next_offset) =
            split_page(rows.iter().map(experiment_from_row).collect::<Result<_>>()?, query.max_results, query.offset);
        Ok(Page { items: self.fill_experiment_tags(experiments).await?, next_offset })
    }

    async fn rename_experiment(&self, experiment_id: ExperimentId, new_name: &str) -> Result<()> {
        let mut tx = self.write.begin().await.context(|| format!("renaming experiment {experiment_id}"))?;
        let (key, stage, _) = require_experiment(&mut tx, experiment_id).await?;
        if stage != "active" {
            return Err(Error::invalid("Cannot rename a non-active experiment."));
        }
        let result = sqlx::query("UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?")
            .bind(new_name)
            .bind(time::now_millis())
            .bind(key)
            .execute(&mut *tx)
            .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::already_exists(format!("Experiment(name={new_name}) already exists.")));
            }
            Err(e) => return Err(e).context(|| format!("renaming experiment {experiment_id}")),
        }
        tx.commit().await.context(|| format!("renaming experiment {experiment_id}"))
    }

    async fn set_experiment_lifecycle(&self, experiment_id: ExperimentId, stage: LifecycleStage) -> Result<()> {
        let mut tx =
            self.write.begin().await.context(|| format!("marking experiment {experiment_id} {}", stage.as_str()))?;
        let (key, current, _) = require_experiment(&mut tx, experiment_id).await?;
        if key == 0 && stage == LifecycleStage::Deleted {
            return Err(Error::invalid("Cannot delete the default experiment '0'."));
        }
        let expected = match stage {
            LifecycleStage::Deleted => "active",
            LifecycleStage::Active => "deleted",
        };
        if current != expected {
            return Err(Error::invalid(format!(
                "Cannot {} experiment {experiment_id}: it is {current}.",
                if stage == LifecycleStage::Deleted { "delete" } else { "restore" }
            )));
        }
        let now = time::now_millis();
        sqlx::query("UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?")
            .bind(stage.as_str())
            .bind(now)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("marking experiment {experiment_id} {}", stage.as_str()))?;
        // Runs follow their experiment, as in MLflow.
        let deleted_time = if stage == LifecycleStage::Deleted { Some(now) } else { None };
        sqlx::query("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?")
            .bind(stage.as_str())
            .bind(deleted_time)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("marking experiment {experiment_id} {}", stage.as_str()))?;
        tx.commit().await.context(|| format!("marking experiment {experiment_id} {}", stage.as_str()))
    }

    async fn set_experiment_tag(&self, experiment_id: ExperimentId, tag: &Tag) -> Result<()> {
        let mut tx =
            self.write.begin().await.context(|| format!("setting tag {} of experiment {experiment_id}", tag.key))?;
        let key = experiment_id.get();
        require_active_experiment(&mut tx, experiment_id, "").await?;
        let rows = tag_rows(key, std::slice::from_ref(tag));
        upsert_pairs(&mut tx, "experiment_tags", &["experiment_id"], &rows, OnConflict::Replace).await?;
        sqlx::query("UPDATE experiments SET last_update_time = ? WHERE experiment_id = ?")
            .bind(time::now_millis())
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("setting tag {} of experiment {experiment_id}", tag.key))?;
        tx.commit().await.context(|| format!("setting tag {} of experiment {experiment_id}", tag.key))
    }

    async fn delete_experiment_tag(&self, experiment_id: ExperimentId, key: &str) -> Result<()> {
        let mut tx =
            self.write.begin().await.context(|| format!("deleting tag {key} of experiment {experiment_id}"))?;
        let (id, _, _) = require_experiment(&mut tx, experiment_id).await?;
        let result = sqlx::query("DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?")
            .bind(id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting tag {key} of experiment {experiment_id}"))?;
        if result.rows_affected() == 0 {
            return Err(Error::not_found(format!("No tag with name: {key} in experiment with id {experiment_id}")));
        }
        tx.commit().await.context(|| format!("deleting tag {key} of experiment {experiment_id}"))
    }

    async fn create_run(&self, new_run: &NewRun) -> Result<Run> {
        let mut tx =
            self.write.begin().await.context(|| format!("creating a run in experiment {}", new_run.experiment_id))?;
        let experiment_key = new_run.experiment_id.get();
        let location = require_active_experiment(&mut tx, new_run.experiment_id, "").await?;
        let run_id = ids::RunId::new();
        let tag_name = new_run.tags.iter().rev().find(|t| t.key == "mlflow.runName").map(|t| t.value.clone());
        let run_name = match (&new_run.run_name, tag_name) {
            (Some(name), Some(tag)) if !name.is_empty() && name != &tag => {
                return Err(Error::invalid(format!(
                    "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values \
                     (run_name='{name}', mlflow.runName='{tag}')."
                )));
            }
            (Some(name), _) if !name.is_empty() => name.clone(),
            (_, Some(tag)) => tag,
            _ => ids::random_run_name(),
        };
        let artifact_uri = format!("{}/{run_id}/artifacts", location.trim_end_matches('/'));
        sqlx::query(&format!("INSERT INTO runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, 'RUNNING', ?, NULL, ?, 'active')"))
            .bind(run_id.as_str())
            .bind(experiment_key)
            .bind(&run_name)
            .bind(&new_run.user_id)
            .bind(new_run.start_time)
            .bind(&artifact_uri)
            .execute(&mut *tx)
            .await
            .context(|| format!("creating run {run_id}"))?;
        let mut tags = new_run.tags.clone();
        if !tags.iter().any(|t| t.key == "mlflow.runName") {
            tags.push(Tag::new("mlflow.runName", run_name.clone()));
        }
        upsert_run_tags(&mut tx, run_id.as_str(), &tags).await?;
        tx.commit().await.context(|| format!("creating run {run_id}"))?;
        let mut sorted = tags;
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Run {
            info: RunInfo {
                run_id,
                experiment_id: new_run.experiment_id,
                run_name,
                user_id: new_run.user_id.clone(),
                status: RunStatus::Running,
                start_time: new_run.start_time,
                end_time: None,
                artifact_uri,
                lifecycle_stage: LifecycleStage::Active,
            },
            data: RunData { tags: sorted, ..Default::default() },
            inputs: RunInputs::default(),
            outputs: RunOutputs::default(),
        })
    }

    async fn get_run(&self, run_id: &RunId) -> Result<Run> {
        let run_id = run_id.as_str();
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid = ?"))
            .bind(run_id)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading run {run_id}"))?
            .ok_or_else(|| run_not_found(run_id))?;
        let runs = self.complete_runs(vec![run_info_from_row(&row)?]).await?;
        runs.into_iter().next().ok_or_else(|| run_not_found(run_id))
    }

    async fn update_run(&self, run_id: &RunId, update: &RunUpdate) -> Result<RunInfo> {
        let run_id = run_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("updating run {run_id}"))?;
        require_active_run(&mut tx, run_id).await?;
        if let Some(status) = update.status {
            sqlx::query("UPDATE runs SET status = ? WHERE run_uuid = ?")
                .bind(status.as_str())
                .bind(run_id)
                .execute(&mut *tx)
                .await
                .context(|| format!("updating run {run_id}"))?;
        }
        if let Some(end_time) = update.end_time {
            sqlx::query("UPDATE runs SET end_time = ? WHERE run_uuid = ?")
                .bind(end_time)
                .bind(run_id)
                .execute(&mut *tx)
                .await
                .context(|| format!("updating run {run_id}"))?;
        }
        if let Some(name) = update.run_name.as_deref().filter(|n| !n.is_empty()) {
            upsert_run_tags(&mut tx, run_id, &[Tag::new("mlflow.runName", name)]).await?;
        }
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_uuid = ?"))
            .bind(run_id)
            .fetch_one(&mut *tx)
            .await
            .context(|| format!("updating run {run_id}"))?;
        let info = run_info_from_row(&row)?;
        tx.commit().await.context(|| format!("updating run {run_id}"))?;
        Ok(info)
    }

    async fn set_run_lifecycle(&self, run_id: &RunId, stage: LifecycleStage) -> Result<()> {
        let run_id = run_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("marking run {run_id} {}", stage.as_str()))?;
        let exists = sqlx::query("SELECT 1 FROM runs WHERE run_uuid = ?")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("marking run {run_id} {}", stage.as_str()))?;
        if exists.is_none() {
            return Err(run_not_found(run_id));
        }
        let deleted_time = if stage == LifecycleStage::Deleted { Some(time::now_millis()) } else { None };
        sqlx::query("UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?")
            .bind(stage.as_str())
            .bind(deleted_time)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("marking run {run_id} {}", stage.as_str()))?;
        tx.commit().await.context(|| format!("marking run {run_id} {}", stage.as_str()))
    }

    async fn log_batch(&self, run_id: &RunId, batch: &RunBatch) -> Result<()> {
        let run_id = run_id.as_str();
        let logging = || format!("logging a batch to run {run_id}");
        let mut tx = self.write.begin().await.context(logging)?;
        require_active_run(&mut tx, run_id).await?;
        insert_params(&mut tx, run_id, &batch.params).await?;
        insert_metrics(&mut tx, run_id, &batch.metrics).await?;
        upsert_run_tags(&mut tx, run_id, &batch.tags).await?;
        tx.commit().await.context(logging)
    }

    async fn delete_run_tag(&self, run_id: &RunId, key: &str) -> Result<()> {
        let run_id = run_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("deleting tag {key} of run {run_id}"))?;
        require_active_run(&mut tx, run_id).await?;
        let result = sqlx::query("DELETE FROM tags WHERE run_uuid = ? AND key = ?")
            .bind(run_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting tag {key} of run {run_id}"))?;
        if result.rows_affected() == 0 {
            return Err(Error::not_found(format!("No tag with name: {key} in run with id {run_id}")));
        }
        tx.commit().await.context(|| format!("deleting tag {key} of run {run_id}"))
    }

    async fn search_runs(
        &self,
        experiment_ids: &[ExperimentId],
        view: ViewType,
        query: &SearchQuery<RunKey>,
    ) -> Result<Page<Run>> {
        let keys: Vec<i64> = experiment_ids.iter().map(|id| id.get()).collect();
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {} FROM runs r WHERE r.experiment_id IN (SELECT value FROM json_each(",
            RUN_COLUMNS.split(", ").map(|c| format!("r.{c}")).collect::<Vec<_>>().join(", ")
        ));
        builder.push_bind(serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into()));
        builder.push("))");
        match view {
            ViewType::ActiveOnly => builder.push(" AND r.lifecycle_stage = 'active'"),
            ViewType::DeletedOnly => builder.push(" AND r.lifecycle_stage = 'deleted'"),
            ViewType::All => builder.push(""),
        };
        for clause in &query.clauses {
            builder.push(" AND ");
            push_run_clause(&mut builder, clause)?;
        }
        push_run_order(&mut builder, &query.order_by)?;
        push_page(&mut builder, query.max_results, query.offset);
        let rows = builder.build().fetch_all(&self.read).await.context(|| "searching runs")?;
        let (infos, next_offset) =
            split_page(rows.iter().map(run_info_from_row).collect::<Result<_>>()?, query.max_results, query.offset);
        Ok(Page { items: self.complete_runs(infos).await?, next_offset })
    }

    async fn get_metric_history(
        &self,
        run_id: &RunId,
        key: &str,
        max_results: u64,
        offset: u64,
    ) -> Result<Page<Metric>> {
        let run_id = run_id.as_str();
        let exists = sqlx::query("SELECT 1 FROM runs WHERE run_uuid = ?")
            .bind(run_id)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading the history of metric {key} of run {run_id}"))?;
        if exists.is_none() {
            return Err(run_not_found(run_id));
        }
        let rows = sqlx::query(
            "SELECT key, value, is_nan, timestamp, step, model_id, dataset_name, dataset_digest FROM metrics \
             WHERE run_uuid = ? AND key = ? ORDER BY step, timestamp, value LIMIT ? OFFSET ?",
        )
        .bind(run_id)
        .bind(key)
        .bind((max_results + 1) as i64)
        .bind(offset as i64)
        .fetch_all(&self.read)
        .await
        .context(|| format!("loading the history of metric {key} of run {run_id}"))?;
        let metrics: Vec<Metric> = rows
            .iter()
            .map(|row| Metric {
                key: row.get(0),
                value: metric_value(row.get(1), row.get::<i64, _>(2) != 0),
                timestamp: row.get(3),
                step: row.get(4),
                model_id: row.get(5),
                dataset_name: row.get(6),
                dataset_digest: row.get(7),
                run_id: Some(run_id.to_string()),
            })
            .collect();
        let (items, next_offset) = split_page(metrics, max_results, offset);
        Ok(Page { items, next_offset })
    }

    async fn log_inputs(&self, run_id: &RunId, datasets: &[DatasetInput], model_ids: &[String]) -> Result<()> {
        let run_id = run_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("logging inputs of run {run_id}"))?;
        let experiment = require_active_run(&mut tx, run_id).await?;
        for input in datasets {
            let d = &input.dataset;
            let dataset_uuid: String = sqlx::query(
                "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, source_type, source, schema, profile) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (experiment_id, name, digest) DO UPDATE SET source_type = excluded.source_type \
                 RETURNING dataset_uuid",
            )
            .bind(ids::new_hex_id())
            .bind(experiment)
            .bind(&d.name)
            .bind(&d.digest)
            .bind(&d.source_type)
            .bind(&d.source)
            .bind(&d.schema)
            .bind(&d.profile)
            .fetch_one(&mut *tx)
            .await
            .context(|| format!("logging inputs of run {run_id}"))?
            .get(0);
            let tags: Vec<(&str, &str)> = input.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
            sqlx::query(
                "INSERT INTO run_dataset_inputs (run_uuid, dataset_uuid, tags, position) \
                 VALUES (?1, ?2, ?3, (SELECT count(*) FROM run_dataset_inputs WHERE run_uuid = ?1)) \
                 ON CONFLICT (run_uuid, dataset_uuid) DO UPDATE SET tags = excluded.tags",
            )
            .bind(run_id)
            .bind(&dataset_uuid)
            .bind(serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into()))
            .execute(&mut *tx)
            .await
            .context(|| format!("logging inputs of run {run_id}"))?;
        }
        for model_id in model_ids {
            sqlx::query(
                "INSERT OR IGNORE INTO run_model_inputs (run_uuid, model_id, position) \
                 VALUES (?1, ?2, (SELECT count(*) FROM run_model_inputs WHERE run_uuid = ?1))",
            )
            .bind(run_id)
            .bind(model_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("logging inputs of run {run_id}"))?;
        }
        tx.commit().await.context(|| format!("logging inputs of run {run_id}"))
    }

    async fn log_outputs(&self, run_id: &RunId, outputs: &[ModelOutput]) -> Result<()> {
        let run_id = run_id.as_str();
        let mut tx = self.write.begin().await.context(|| format!("logging outputs of run {run_id}"))?;
        require_active_run(&mut tx, run_id).await?;
        for output in outputs {
            sqlx::query(
                "INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES (?, ?, ?) \
                 ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step",
            )
            .bind(run_id)
            .bind(&output.model_id)
            .bind(output.step)
            .execute(&mut *tx)
            .await
            .context(|| format!("logging outputs of run {run_id}"))?;
        }
        tx.commit().await.context(|| format!("logging outputs of run {run_id}"))
    }
}
