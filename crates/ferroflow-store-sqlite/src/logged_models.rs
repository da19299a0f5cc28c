//! Logged models in SQLite: [`LoggedModelStore`] for [`SqliteStore`].
//!
//! A logged model's metrics are not stored apart: they are the rows of `metrics` (written by
//! the run endpoints) whose `model_id` names the model. A page of models loads its tags, params
//! and metrics with one query per table.

use crate::error::{stored_enum, Context};
use crate::sql::{
    json_list, metric_value, push_numeric_comparison, push_page, push_string_comparison, split_page, tag_rows,
    upsert_pairs, OnConflict,
};
use crate::tracking::require_active_experiment;
use crate::SqliteStore;
use ferroflow_core::entities::*;
use ferroflow_core::search::logged_models::{LoggedModelAttribute, LoggedModelKey};
use ferroflow_core::search::Clause;
use ferroflow_core::store::LoggedModelStore;
use ferroflow_core::{ids, time, Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::HashMap;

const COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, lm.creation_time, lm.last_updated_time, \
     lm.artifact_location, lm.status, lm.model_type, lm.source_run_id";

fn not_found(model_id: &str) -> Error {
    Error::not_found(format!("Logged model with ID '{model_id}' not found."))
}

fn model_from_row(row: &SqliteRow) -> Result<LoggedModel> {
    Ok(LoggedModel {
        model_id: row.get(0),
        experiment_id: ExperimentId::from_stored(row.get(1)),
        name: row.get(2),
        creation_timestamp: row.get(3),
        last_updated_timestamp: row.get(4),
        artifact_uri: row.get(5),
        status: stored_enum("logged model status", row.get::<&str, _>(6), LoggedModelStatus::parse)?,
        model_type: row.get(7),
        source_run_id: row.get(8),
        tags: Vec::new(),
        params: Vec::new(),
        metrics: Vec::new(),
    })
}

/// Fills tags, params and metrics of a page of models.
async fn complete(conn: &mut SqliteConnection, mut models: Vec<LoggedModel>) -> Result<Vec<LoggedModel>> {
    if models.is_empty() {
        return Ok(models);
    }
    let ids: Vec<&str> = models.iter().map(|model| model.model_id.as_str()).collect();
    let list = json_list(&ids);
    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    let rows = sqlx::query(
        "SELECT model_id, key, value FROM logged_model_tags WHERE model_id IN (SELECT value FROM json_each(?)) \
         ORDER BY model_id, key",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .context(|| "loading the tags of a page of logged models")?;
    for row in rows {
        tags.entry(row.get(0)).or_default().push(Tag::new(row.get::<String, _>(1), row.get::<String, _>(2)));
    }
    let mut params: HashMap<String, Vec<Param>> = HashMap::new();
    let rows = sqlx::query(
        "SELECT model_id, key, value FROM logged_model_params WHERE model_id IN (SELECT value FROM json_each(?)) \
         ORDER BY model_id, key",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .context(|| "loading the params of a page of logged models")?;
    for row in rows {
        params.entry(row.get(0)).or_default().push(Param { key: row.get(1), value: row.get(2) });
    }
    let mut metrics: HashMap<String, Vec<Metric>> = HashMap::new();
    let rows = sqlx::query(
        "SELECT model_id, key, value, is_nan, timestamp, step, run_uuid, dataset_name, dataset_digest FROM metrics \
         WHERE model_id IN (SELECT value FROM json_each(?)) ORDER BY key, step, timestamp",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .context(|| "loading the metrics of a page of logged models")?;
    for row in rows {
        let model_id: String = row.get(0);
        metrics.entry(model_id.clone()).or_default().push(Metric {
            key: row.get(1),
            value: metric_value(row.get(2), row.get::<i64, _>(3) != 0),
            timestamp: row.get(4),
            step: row.get(5),
            model_id: Some(model_id),
            run_id: Some(row.get(6)),
            dataset_name: row.get(7),
            dataset_digest: row.get(8),
        });
    }
    for model in &mut models {
        model.tags = tags.remove(&model.model_id).unwrap_or_default();
        model.params = params.remove(&model.model_id).unwrap_or_default();
        model.metrics = metrics.remove(&model.model_id).unwrap_or_default();
    }
    Ok(models)
}

async fn load(conn: &mut SqliteConnection, model_id: &str, allow_deleted: bool) -> Result<LoggedModel> {
    let filter = if allow_deleted { "" } else { " AND lm.lifecycle_stage = 'active'" };
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM logged_models lm WHERE lm.model_id = ?{filter}"))
        .bind(model_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading logged model {model_id}"))?
        .ok_or_else(|| not_found(model_id))?;
    let models = complete(conn, vec![model_from_row(&row)?]).await?;
    models.into_iter().next().ok_or_else(|| not_found(model_id))
}

/// Fails unless the model exists (deleted or not, as the reference's writes allow).
async fn require(conn: &mut SqliteConnection, model_id: &str) -> Result<()> {
    sqlx::query("SELECT 1 FROM logged_models WHERE model_id = ?")
        .bind(model_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading logged model {model_id}"))?
        .map(|_| ())
        .ok_or_else(|| not_found(model_id))
}

async fn upsert_tags(conn: &mut SqliteConnection, model_id: &str, tags: &[Tag]) -> Result<()> {
    upsert_pairs(conn, "logged_model_tags", &["model_id"], &tag_rows(model_id, tags), OnConflict::Replace).await
}

/// Unlike a run's, a logged model's params may be logged again with another value.
async fn upsert_params(conn: &mut SqliteConnection, model_id: &str, params: &[Param]) -> Result<()> {
    let rows: Vec<(&str, &str, &str)> = params.iter().map(|p| (model_id, p.key.as_str(), p.value.as_str())).collect();
    upsert_pairs(conn, "logged_model_params", &["model_id"], &rows, OnConflict::Replace).await
}

fn attribute_column(attribute: &LoggedModelAttribute) -> &'static str {
    match attribute {
        LoggedModelAttribute::Name => "lm.name",
        LoggedModelAttribute::ModelId => "lm.model_id",
        LoggedModelAttribute::ModelType => "lm.model_type",
        LoggedModelAttribute::Status => "lm.status",
        LoggedModelAttribute::SourceRunId => "lm.source_run_id",
        LoggedModelAttribute::CreationTimestamp => "lm.creation_time",
        LoggedModelAttribute::LastUpdatedTimestamp => "lm.last_updated_time",
    }
}

/// `(m.dataset_name = ? [AND m.dataset_digest = ?]) OR ...` for the requested datasets.
fn push_dataset_match(builder: &mut QueryBuilder<'_, Sqlite>, datasets: &[LoggedModelDatasetFilter]) {
    builder.push("(");
    for (index, dataset) in datasets.iter().enumerate() {
        if index > 0 {
            builder.push(" OR ");
        }
        builder.push("(m.dataset_name = ");
        builder.push_bind(dataset.dataset_name.clone());
        if let Some(digest) = &dataset.dataset_digest {
            builder.push(" AND m.dataset_digest = ");
            builder.push_bind(digest.clone());
        }
        builder.push(")");
    }
    builder.push(")");
}

fn push_clause(
    builder: &mut QueryBuilder<'_, Sqlite>,
    clause: &Clause<LoggedModelKey>,
    datasets: &[LoggedModelDatasetFilter],
) -> Result<()> {
    match &clause.key {
        LoggedModelKey::Attribute(attribute) => {
            let column = attribute_column(attribute);
            match attribute {
                LoggedModelAttribute::CreationTimestamp | LoggedModelAttribute::LastUpdatedTimestamp => {
                    push_numeric_comparison(builder, column, clause.comparator, &clause.value)
                }
                _ => push_string_comparison(builder, column, clause.comparator, &clause.value),
            }
        }
        LoggedModelKey::Metric(key) => {
            builder.push("EXISTS (SELECT 1 FROM metrics m WHERE m.model_id = lm.model_id AND m.key = ");
            builder.push_bind(key.clone());
            builder.push(" AND m.is_nan = 0 AND ");
            push_numeric_comparison(builder, "m.value", clause.comparator, &clause.value)?;
            if !datasets.is_empty() {
                builder.push(" AND ");
                push_dataset_match(builder, datasets);
            }
            builder.push(")");
            Ok(())
        }
        LoggedModelKey::Param(key) | LoggedModelKey::Tag(key) => {
            let table = if matches!(clause.key, LoggedModelKey::Param(_)) {
                "logged_model_params"
            } else {
                "logged_model_tags"
            };
            builder.push(format!("EXISTS (SELECT 1 FROM {table} x WHERE x.model_id = lm.model_id AND x.key = "));
            builder.push_bind(key.clone());
            builder.push(" AND ");
            push_string_comparison(builder, "x.value", clause.comparator, &clause.value)?;
            builder.push(")");
            Ok(())
        }
    }
}

/// One order term, missing values last whatever the direction: an attribute column, or a
/// metric's latest value (newest timestamp, then step), optionally on one dataset.
fn push_order_term(builder: &mut QueryBuilder<'_, Sqlite>, order: &LoggedModelOrder) -> Result<()> {
    let direction = if order.ascending { "ASC" } else { "DESC" };
    match &order.key {
        LoggedModelKey::Attribute(attribute) => {
            let column = attribute_column(attribute);
            builder.push(format!("{column} IS NULL, {column} {direction}"));
        }
        LoggedModelKey::Metric(key) => {
            // The expression appears twice (null check, then value), each with its own binds.
            for suffix in [" IS NULL, ".to_string(), format!(" {direction}")] {
                builder.push(
                    "(SELECT m.value FROM metrics m WHERE m.model_id = lm.model_id AND m.is_nan = 0 AND m.key = ",
                );
                builder.push_bind(key.clone());
                if let Some(name) = &order.dataset_name {
                    builder.push(" AND m.dataset_name = ");
                    builder.push_bind(name.clone());
                }
                if let Some(digest) = &order.dataset_digest {
                    builder.push(" AND m.dataset_digest = ");
                    builder.push_bind(digest.clone());
                }
                builder.push(" ORDER BY m.timestamp DESC, m.step DESC, m.run_uuid ASC LIMIT 1)");
                builder.push(suffix);
            }
        }
        LoggedModelKey::Param(_) | LoggedModelKey::Tag(_) => {
            return Err(Error::invalid("Logged models can be ordered by attributes and metrics only."));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl LoggedModelStore for SqliteStore {
    async fn create_logged_model(&self, model: &NewLoggedModel) -> Result<LoggedModel> {
        let experiment_key = model.experiment_id.get();
        let now = time::now_millis();
        let mut tx = self
            .write
            .begin()
            .await
            .context(|| format!("creating a logged model in experiment {}", model.experiment_id))?;
        let location = require_active_experiment(&mut tx, model.experiment_id, "").await?;
        let model_id = ids::new_logged_model_id();
        let artifact_location = format!("{}/models/{model_id}/artifacts", location.trim_end_matches('/'));
        let name = model.name.clone().unwrap_or_else(ids::random_run_name);
        sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time, \
                 last_updated_time, status, model_type, source_run_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&model_id)
        .bind(experiment_key)
        .bind(&name)
        .bind(&artifact_location)
        .bind(now)
        .bind(now)
        .bind(LoggedModelStatus::Pending.as_short())
        .bind(model.model_type.as_deref().unwrap_or(""))
        .bind(model.source_run_id.as_deref().unwrap_or(""))
        .execute(&mut *tx)
        .await
        .context(|| format!("creating logged model {model_id}"))?;
        upsert_params(&mut tx, &model_id, &model.params).await?;
        upsert_tags(&mut tx, &model_id, &model.tags).await?;
        let created = load(&mut tx, &model_id, false).await?;
        tx.commit().await.context(|| format!("creating logged model {model_id}"))?;
        Ok(created)
    }

    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel> {
        let mut conn = self.read.acquire().await.context(|| format!("loading logged model {model_id}"))?;
        load(&mut conn, model_id, allow_deleted).await
    }

    async fn finalize_logged_model(&self, model_id: &str, status: LoggedModelStatus) -> Result<LoggedModel> {
        let mut tx = self.write.begin().await.context(|| format!("finalizing logged model {model_id}"))?;
        require(&mut tx, model_id).await?;
        sqlx::query("UPDATE logged_models SET status = ?, last_updated_time = ? WHERE model_id = ?")
            .bind(status.as_short())
            .bind(time::now_millis())
            .bind(model_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("finalizing logged model {model_id}"))?;
        let finalized = load(&mut tx, model_id, true).await?;
        tx.commit().await.context(|| format!("finalizing logged model {model_id}"))?;
        Ok(finalized)
    }

    async fn search_logged_models(&self, search: &LoggedModelSearch) -> Result<Page<LoggedModel>> {
        let experiment_keys: Vec<i64> = search.experiment_ids.iter().map(|id| id.get()).collect();
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM logged_models lm WHERE lm.lifecycle_stage = 'active' \
             AND lm.experiment_id IN (SELECT value FROM json_each("
        ));
        builder.push_bind(serde_json::to_string(&experiment_keys).unwrap_or_else(|_| "[]".into()));
        builder.push("))");
        for clause in &search.clauses {
            builder.push(" AND ");
            push_clause(&mut builder, clause, &search.datasets)?;
        }
        // Datasets without a metric clause still restrict: to models with metrics on them.
        let has_metric_clause = search.clauses.iter().any(|clause| matches!(clause.key, LoggedModelKey::Metric(_)));
        if !search.datasets.is_empty() && !has_metric_clause {
            builder.push(" AND EXISTS (SELECT 1 FROM metrics m WHERE m.model_id = lm.model_id AND ");
            push_dataset_match(&mut builder, &search.datasets);
            builder.push(")");
        }
        builder.push(" ORDER BY ");
        for order in &search.order_by {
            push_order_term(&mut builder, order)?;
            builder.push(", ");
        }
        let orders_by = |attribute: LoggedModelAttribute| {
            search.order_by.iter().any(|order| order.key == LoggedModelKey::Attribute(attribute.clone()))
        };
        if !orders_by(LoggedModelAttribute::CreationTimestamp) {
            builder.push("lm.creation_time DESC, ");
        }
        // The id last makes the order total, so pages neither repeat nor skip models.
        builder.push("lm.model_id ASC");
        push_page(&mut builder, search.max_results, search.offset);
        let mut conn = self.read.acquire().await.context(|| "searching logged models")?;
        let rows = builder.build().fetch_all(&mut *conn).await.context(|| "searching logged models")?;
        let (models, next_offset) =
            split_page(rows.iter().map(model_from_row).collect::<Result<_>>()?, search.max_results, search.offset);
        Ok(Page { items: complete(&mut conn, models).await?, next_offset })
    }

    async fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> Result<()> {
        let mut tx = self.write.begin().await.context(|| format!("setting tags of logged model {model_id}"))?;
        require(&mut tx, model_id).await?;
        upsert_tags(&mut tx, model_id, tags).await?;
        tx.commit().await.context(|| format!("setting tags of logged model {model_id}"))
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        let mut tx = self.write.begin().await.context(|| format!("deleting tag {key} of logged model {model_id}"))?;
        require(&mut tx, model_id).await?;
        let deleted = sqlx::query("DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?")
            .bind(model_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting tag {key} of logged model {model_id}"))?;
        if deleted.rows_affected() == 0 {
            return Err(Error::not_found(format!("No tag with key '{key}' found for model with ID '{model_id}'.")));
        }
        tx.commit().await.context(|| format!("deleting tag {key} of logged model {model_id}"))
    }

    async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        let mut tx = self.write.begin().await.context(|| format!("deleting logged model {model_id}"))?;
        require(&mut tx, model_id).await?;
        sqlx::query("UPDATE logged_models SET lifecycle_stage = 'deleted', last_updated_time = ? WHERE model_id = ?")
            .bind(time::now_millis())
            .bind(model_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting logged model {model_id}"))?;
        tx.commit().await.context(|| format!("deleting logged model {model_id}"))
    }

    async fn log_logged_model_params(&self, model_id: &str, params: &[Param]) -> Result<()> {
        let mut tx = self.write.begin().await.context(|| format!("logging params of logged model {model_id}"))?;
        require(&mut tx, model_id).await?;
        upsert_params(&mut tx, model_id, params).await?;
        tx.commit().await.context(|| format!("logging params of logged model {model_id}"))
    }
}
