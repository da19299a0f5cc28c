//! Evaluation datasets, their records and registered scorers in PostgreSQL: [`EvaluationStore`]
//! for [`PostgresStore`], the SQLite store's (`ferroflow-store-sqlite/src/evaluation.rs`) in
//! PostgreSQL's dialect.
//!
//! The merge rules live in `ferroflow_core::evaluation`; this file loads what they need and
//! writes what they decide. An upsert reads the stored records it touches with one query
//! (their canonical inputs as one array parameter), writes all of them with one statement
//! per chunk, and recomputes the dataset's schema, profile and digest from stored columns,
//! never by loading every record. Pages of datasets load their tags with one query.

use crate::error::{corrupt, Context};
use crate::sql::{
    push_numeric_comparison, push_page, push_string_comparison, split_page, tag_rows, upsert_pairs, OnConflict,
};
use crate::PostgresStore;
use ferroflow_core::entities::*;
use ferroflow_core::evaluation::{self as rules, USER_TAG};
use ferroflow_core::search::datasets::DatasetKey;
use ferroflow_core::search::Clause;
use ferroflow_core::store::{EvaluationStore, SearchQuery};
use ferroflow_core::{ids, time, Error, Result};
use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};
use std::collections::HashMap;

const DATASET_COLUMNS: &str =
    "d.dataset_id, d.name, d.schema, d.profile, d.digest, d.created_time, d.last_update_time, d.created_by, d.last_updated_by";
const RECORD_COLUMNS: &str = "dataset_record_id, dataset_id, inputs, outputs, expectations, tags, source, \
     created_time, last_update_time, created_by, last_updated_by";
const SCORER_COLUMNS: &str =
    "s.experiment_id, s.scorer_name, v.scorer_version, v.serialized_scorer, v.creation_time, s.scorer_id";
/// Records per upsert statement; chunks stay well under PostgreSQL's parameter limit.
const RECORD_ROWS_PER_STATEMENT: usize = 500;

fn dataset_not_found(dataset_id: &str) -> Error {
    Error::not_found(format!("Evaluation dataset with id '{dataset_id}' not found"))
}

fn experiment_not_found(experiment_id: ExperimentId) -> Error {
    Error::not_found(format!("No Experiment with id={experiment_id} exists"))
}

fn scorer_not_found(name: &str, experiment_id: ExperimentId, version: Option<i32>) -> Error {
    match version {
        Some(version) => Error::not_found(format!(
            "Scorer with name '{name}' and version {version} not found for experiment {experiment_id}."
        )),
        None => Error::not_found(format!("Scorer with name '{name}' not found for experiment {experiment_id}.")),
    }
}

fn dataset_from_row(row: &PgRow) -> EvaluationDataset {
    EvaluationDataset {
        dataset_id: row.get(0),
        name: row.get(1),
        tags: Vec::new(),
        schema: row.get(2),
        profile: row.get(3),
        digest: row.get(4),
        created_time: row.get(5),
        last_update_time: row.get(6),
        created_by: row.get(7),
        last_updated_by: row.get(8),
        experiment_ids: None,
    }
}

/// A stored JSON object (text this store wrote); anything else is corruption, an error.
fn stored_object(text: Option<&str>, what: &str) -> Result<Option<JsonObject>> {
    let Some(text) = text else { return Ok(None) };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(corrupt(format_args!("record {what}"), format_args!("not an object: {other}"))),
        Err(error) => Err(corrupt(format_args!("record {what}"), error)),
    }
}

fn record_from_row(row: &PgRow) -> Result<DatasetRecord> {
    let outputs: Option<&str> = row.get(3);
    let source: Option<&str> = row.get(6);
    let outputs = outputs.map(serde_json::from_str).transpose().map_err(|e| corrupt("record outputs", e))?;
    let source = match source {
        Some(text) => {
            let value: Value = serde_json::from_str(text).map_err(|e| corrupt("record source", e))?;
            Some(rules::record_source(&value).map_err(|e| corrupt("record source", e.message))?)
        }
        None => None,
    };
    Ok(DatasetRecord {
        dataset_record_id: row.get(0),
        dataset_id: row.get(1),
        inputs: stored_object(row.get(2), "inputs")?.unwrap_or_default(),
        outputs,
        expectations: stored_object(row.get(4), "expectations")?,
        tags: stored_object(row.get(5), "tags")?.unwrap_or_default(),
        source,
        created_time: row.get(7),
        last_update_time: row.get(8),
        created_by: row.get(9),
        last_updated_by: row.get(10),
    })
}

fn source_json(source: &RecordSource) -> String {
    let mut object = Map::new();
    object.insert("source_type".into(), Value::String(source.source_type.as_str().to_string()));
    object.insert("source_data".into(), Value::Object(source.source_data.clone()));
    Value::Object(object).to_string()
}

fn object_json(object: &JsonObject) -> String {
    serde_json::to_string(object).unwrap_or_else(|_| "{}".to_string())
}

fn scorer_from_row(row: &PgRow) -> ScorerVersion {
    ScorerVersion {
        experiment_id: ExperimentId::from_stored(row.get(0)),
        scorer_name: row.get(1),
        scorer_version: row.get(2),
        serialized_scorer: row.get(3),
        creation_time: row.get(4),
        scorer_id: row.get(5),
    }
}

fn online_config_from_row(row: &PgRow) -> OnlineScoringConfig {
    OnlineScoringConfig {
        online_scoring_config_id: row.get(0),
        scorer_id: row.get(1),
        sample_rate: row.get(2),
        experiment_id: ExperimentId::from_stored(row.get(3)),
        filter_string: row.get(4),
    }
}

/// Fails unless every experiment exists; returns their keys in the given order.
async fn require_experiments(conn: &mut PgConnection, experiment_ids: &[ExperimentId]) -> Result<Vec<i64>> {
    let keys: Vec<i64> = experiment_ids.iter().map(|id| id.get()).collect();
    if keys.is_empty() {
        return Ok(keys);
    }
    let rows = sqlx::query("SELECT experiment_id FROM experiments WHERE experiment_id = ANY($1)")
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await
        .context(|| format!("loading experiments {keys:?}"))?;
    let found: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
    if let Some(missing) = experiment_ids.iter().zip(&keys).find(|(_, key)| !found.contains(key)) {
        return Err(experiment_not_found(*missing.0));
    }
    Ok(keys)
}

/// Fails unless the experiment exists and is active; scorers live only in live experiments.
async fn require_active_experiment(conn: &mut PgConnection, experiment_id: ExperimentId) -> Result<i64> {
    crate::tracking::require_active_experiment(conn, experiment_id, "").await?;
    Ok(experiment_id.get())
}

/// The dataset's name and schema, or `RESOURCE_DOES_NOT_EXIST`. The dataset's row stays locked
/// until the transaction ends, so writes to one dataset (a record upsert reads, merges and
/// writes) queue whichever server they come through.
async fn require_dataset(conn: &mut PgConnection, dataset_id: &str) -> Result<(String, Option<String>)> {
    let row = sqlx::query("SELECT name, schema FROM evaluation_datasets WHERE dataset_id = $1 FOR UPDATE")
        .bind(dataset_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading dataset {dataset_id}"))?
        .ok_or_else(|| dataset_not_found(dataset_id))?;
    Ok((row.get(0), row.get(1)))
}

async fn load_dataset(conn: &mut PgConnection, dataset_id: &str) -> Result<EvaluationDataset> {
    let row = sqlx::query(&format!("SELECT {DATASET_COLUMNS} FROM evaluation_datasets d WHERE d.dataset_id = $1"))
        .bind(dataset_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading dataset {dataset_id}"))?
        .ok_or_else(|| dataset_not_found(dataset_id))?;
    let mut datasets = fill_tags(conn, vec![dataset_from_row(&row)]).await?;
    datasets.pop().ok_or_else(|| dataset_not_found(dataset_id))
}

/// Loads the tags of a page of datasets with one query.
async fn fill_tags(conn: &mut PgConnection, mut datasets: Vec<EvaluationDataset>) -> Result<Vec<EvaluationDataset>> {
    if datasets.is_empty() {
        return Ok(datasets);
    }
    let ids: Vec<&str> = datasets.iter().map(|d| d.dataset_id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT dataset_id, key, value FROM evaluation_dataset_tags \
         WHERE dataset_id = ANY($1) ORDER BY seq",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .context(|| "loading the tags of a page of datasets")?;
    let mut tags: HashMap<String, Vec<Tag>> = HashMap::new();
    for row in rows {
        tags.entry(row.get(0)).or_default().push(Tag::new(row.get::<String, _>(1), row.get::<String, _>(2)));
    }
    for dataset in &mut datasets {
        dataset.tags = tags.remove(&dataset.dataset_id).unwrap_or_default();
    }
    Ok(datasets)
}

async fn experiment_ids_of(conn: &mut PgConnection, dataset_id: &str) -> Result<Vec<ExperimentId>> {
    let rows =
        sqlx::query("SELECT experiment_id FROM evaluation_dataset_experiments WHERE dataset_id = $1 ORDER BY seq")
            .bind(dataset_id)
            .fetch_all(&mut *conn)
            .await
            .context(|| format!("loading experiments of dataset {dataset_id}"))?;
    Ok(rows.iter().map(|row| ExperimentId::from_stored(row.get(0))).collect())
}

pub(crate) async fn upsert_tags(conn: &mut PgConnection, dataset_id: &str, tags: &[Tag]) -> Result<()> {
    let rows = tag_rows(dataset_id, tags);
    upsert_pairs(conn, "evaluation_dataset_tags", &["dataset_id"], &rows, OnConflict::Replace).await
}

pub(crate) async fn link_experiments(conn: &mut PgConnection, dataset_id: &str, keys: &[i64]) -> Result<()> {
    for key in keys {
        sqlx::query(
            "INSERT INTO evaluation_dataset_experiments (dataset_id, experiment_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(dataset_id)
        .bind(key)
        .execute(&mut *conn)
        .await
        .context(|| format!("linking dataset {dataset_id} to experiment {key}"))?;
    }
    Ok(())
}

/// Writes new and changed records: new ones are inserted, known ids get their mutable
/// fields replaced (creation fields, inputs and source never change on update).
pub(crate) async fn write_records(conn: &mut PgConnection, records: &[DatasetRecord]) -> Result<()> {
    for chunk in records.chunks(RECORD_ROWS_PER_STATEMENT) {
        let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO evaluation_dataset_records (dataset_record_id, dataset_id, input_key, inputs, outputs, \
             expectations, tags, source, content_hash, created_time, last_update_time, created_by, last_updated_by) ",
        );
        builder.push_values(chunk, |mut row, record| {
            row.push_bind(&record.dataset_record_id)
                .push_bind(&record.dataset_id)
                .push_bind(rules::input_key(&record.inputs))
                .push_bind(object_json(&record.inputs))
                .push_bind(record.outputs.as_ref().map(Value::to_string))
                .push_bind(record.expectations.as_ref().map(object_json))
                .push_bind(object_json(&record.tags))
                .push_bind(record.source.as_ref().map(source_json))
                // Stored as the same 64 bits in a signed BIGINT.
                .push_bind(rules::content_hash(record) as i64)
                .push_bind(record.created_time)
                .push_bind(record.last_update_time)
                .push_bind(&record.created_by)
                .push_bind(&record.last_updated_by);
        });
        builder.push(
            " ON CONFLICT (dataset_record_id) DO UPDATE SET outputs = EXCLUDED.outputs, \
             expectations = EXCLUDED.expectations, tags = EXCLUDED.tags, content_hash = EXCLUDED.content_hash, \
             last_update_time = EXCLUDED.last_update_time, last_updated_by = EXCLUDED.last_updated_by",
        );
        builder.build().execute(&mut *conn).await.context(|| format!("writing {} dataset records", records.len()))?;
    }
    Ok(())
}

/// The content hashes of every record of the dataset: enough for its profile and digest.
pub(crate) async fn content_hashes(conn: &mut PgConnection, dataset_id: &str) -> Result<Vec<u64>> {
    let rows = sqlx::query("SELECT content_hash FROM evaluation_dataset_records WHERE dataset_id = $1")
        .bind(dataset_id)
        .fetch_all(&mut *conn)
        .await
        .context(|| format!("loading record hashes of dataset {dataset_id}"))?;
    Ok(rows.iter().map(|row| row.get::<i64, _>(0) as u64).collect())
}

fn dataset_column(key: &DatasetKey) -> Option<&'static str> {
    match key {
        DatasetKey::Name => Some("d.name"),
        DatasetKey::CreatedBy => Some("d.created_by"),
        DatasetKey::LastUpdatedBy => Some("d.last_updated_by"),
        DatasetKey::CreatedTime => Some("d.created_time"),
        DatasetKey::LastUpdateTime => Some("d.last_update_time"),
        DatasetKey::Tag(_) => None,
    }
}

fn push_dataset_clause(builder: &mut QueryBuilder<'_, Postgres>, clause: &Clause<DatasetKey>) -> Result<()> {
    match &clause.key {
        DatasetKey::Tag(key) => {
            builder
                .push("EXISTS (SELECT 1 FROM evaluation_dataset_tags t WHERE t.dataset_id = d.dataset_id AND t.key = ");
            builder.push_bind(key.clone());
            builder.push(" AND ");
            push_string_comparison(builder, "t.value", clause.comparator, &clause.value)?;
            builder.push(")");
        }
        DatasetKey::CreatedTime | DatasetKey::LastUpdateTime => {
            let column = dataset_column(&clause.key).unwrap_or("d.created_time");
            push_numeric_comparison(builder, column, clause.comparator, &clause.value)?;
        }
        key => {
            let column = dataset_column(key).unwrap_or("d.name");
            push_string_comparison(builder, column, clause.comparator, &clause.value)?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl EvaluationStore for PostgresStore {
    async fn create_evaluation_dataset(&self, new: &NewEvaluationDataset) -> Result<EvaluationDataset> {
        let now = time::now_millis();
        let dataset_id = ids::new_dataset_id();
        let created_by = new
            .created_by
            .clone()
            .or_else(|| new.tags.iter().rev().find(|tag| tag.key == USER_TAG).map(|tag| tag.value.clone()));
        let mut tx = self.pool.begin().await.context(|| format!("creating dataset {dataset_id}"))?;
        let keys = require_experiments(&mut tx, &new.experiment_ids).await?;
        sqlx::query(
            "INSERT INTO evaluation_datasets (dataset_id, name, schema, profile, digest, created_time, \
             last_update_time, created_by, last_updated_by) VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6, $7)",
        )
        .bind(&dataset_id)
        .bind(&new.name)
        .bind(rules::dataset_digest(&new.name, &[]))
        .bind(now)
        .bind(now)
        .bind(&created_by)
        .bind(&created_by)
        .execute(&mut *tx)
        .await
        .context(|| format!("creating dataset {dataset_id}"))?;
        upsert_tags(&mut tx, &dataset_id, &new.tags).await?;
        link_experiments(&mut tx, &dataset_id, &keys).await?;
        let mut dataset = load_dataset(&mut tx, &dataset_id).await?;
        dataset.experiment_ids = Some(experiment_ids_of(&mut tx, &dataset_id).await?);
        tx.commit().await.context(|| format!("creating dataset {dataset_id}"))?;
        Ok(dataset)
    }

    async fn get_evaluation_dataset(&self, dataset_id: &str) -> Result<EvaluationDataset> {
        let mut conn = self.pool.acquire().await.context(|| format!("loading dataset {dataset_id}"))?;
        load_dataset(&mut conn, dataset_id).await
    }

    async fn delete_evaluation_dataset(&self, dataset_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.context(|| format!("deleting dataset {dataset_id}"))?;
        // Records, tags and experiment links go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM evaluation_datasets WHERE dataset_id = $1")
            .bind(dataset_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting dataset {dataset_id}"))?;
        tx.commit().await.context(|| format!("deleting dataset {dataset_id}"))
    }

    async fn search_evaluation_datasets(
        &self,
        experiment_ids: &[ExperimentId],
        query: &SearchQuery<DatasetKey>,
    ) -> Result<Page<EvaluationDataset>> {
        let mut builder: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {DATASET_COLUMNS} FROM evaluation_datasets d WHERE 1 = 1"));
        if !experiment_ids.is_empty() {
            // An id that is not a number links no dataset, so it simply matches nothing.
            let keys: Vec<i64> = experiment_ids.iter().map(|id| id.get()).collect();
            builder.push(
                " AND d.dataset_id IN (SELECT e.dataset_id FROM evaluation_dataset_experiments e \
                 WHERE e.experiment_id = ANY(",
            );
            builder.push_bind(keys);
            builder.push("))");
        }
        for clause in &query.clauses {
            builder.push(" AND ");
            push_dataset_clause(&mut builder, clause)?;
        }
        builder.push(" ORDER BY ");
        if query.order_by.is_empty() {
            builder.push("d.created_time DESC, ");
        }
        for item in &query.order_by {
            let column = dataset_column(&item.key)
                .ok_or_else(|| Error::invalid("Ordering datasets by tags is not supported"))?;
            builder.push(format!("{column} {}, ", if item.ascending { "ASC" } else { "DESC" }));
        }
        // The reference breaks ties by id, newest-looking first.
        builder.push("d.dataset_id DESC");
        push_page(&mut builder, query.max_results, query.offset);
        let mut conn = self.pool.acquire().await.context(|| "searching datasets")?;
        let rows = builder.build().fetch_all(&mut *conn).await.context(|| "searching datasets")?;
        let (datasets, next_offset) =
            split_page(rows.iter().map(dataset_from_row).collect(), query.max_results, query.offset);
        Ok(Page { items: fill_tags(&mut conn, datasets).await?, next_offset })
    }

    async fn set_evaluation_dataset_tags(&self, dataset_id: &str, tags: &[Tag]) -> Result<()> {
        let mut tx = self.pool.begin().await.context(|| format!("setting tags of dataset {dataset_id}"))?;
        require_dataset(&mut tx, dataset_id).await?;
        upsert_tags(&mut tx, dataset_id, tags).await?;
        tx.commit().await.context(|| format!("setting tags of dataset {dataset_id}"))
    }

    async fn delete_evaluation_dataset_tag(&self, dataset_id: &str, key: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.context(|| format!("deleting tag {key} of dataset {dataset_id}"))?;
        sqlx::query("DELETE FROM evaluation_dataset_tags WHERE dataset_id = $1 AND key = $2")
            .bind(dataset_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting tag {key} of dataset {dataset_id}"))?;
        tx.commit().await.context(|| format!("deleting tag {key} of dataset {dataset_id}"))
    }

    async fn upsert_dataset_records(
        &self,
        dataset_id: &str,
        records: &[RecordUpsert],
        updated_by: Option<&str>,
    ) -> Result<UpsertCounts> {
        let now = time::now_millis();
        let keys: Vec<String> = records.iter().map(|record| rules::input_key(&record.inputs)).collect();
        let mut tx = self.pool.begin().await.context(|| format!("upserting records of dataset {dataset_id}"))?;
        let (name, schema) = require_dataset(&mut tx, dataset_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {RECORD_COLUMNS} FROM evaluation_dataset_records \
             WHERE dataset_id = $1 AND input_key = ANY($2)"
        ))
        .bind(dataset_id)
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await
        .context(|| format!("upserting records of dataset {dataset_id}"))?;
        let existing: Vec<DatasetRecord> = rows.iter().map(record_from_row).collect::<Result<_>>()?;
        let plan = rules::plan_upsert(dataset_id, existing, records, updated_by, now);
        write_records(&mut tx, &plan.records).await?;
        let hashes = content_hashes(&mut tx, dataset_id).await?;
        sqlx::query(
            "UPDATE evaluation_datasets SET schema = $1, profile = $2, digest = $3, last_update_time = $4, \
             last_updated_by = coalesce($5, last_updated_by) WHERE dataset_id = $6",
        )
        .bind(rules::updated_schema(schema.as_deref(), records))
        .bind(rules::profile(hashes.len() as u64))
        .bind(rules::dataset_digest(&name, &hashes))
        .bind(now)
        .bind(&plan.updated_by)
        .bind(dataset_id)
        .execute(&mut *tx)
        .await
        .context(|| format!("upserting records of dataset {dataset_id}"))?;
        tx.commit().await.context(|| format!("upserting records of dataset {dataset_id}"))?;
        Ok(plan.counts)
    }

    async fn get_dataset_records(
        &self,
        dataset_id: &str,
        max_results: u64,
        after: Option<&RecordCursor>,
    ) -> Result<RecordPage> {
        let mut conn = self.pool.acquire().await.context(|| format!("loading records of dataset {dataset_id}"))?;
        require_dataset(&mut conn, dataset_id).await?;
        let mut builder: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {RECORD_COLUMNS} FROM evaluation_dataset_records WHERE dataset_id = "));
        builder.push_bind(dataset_id);
        if let Some(cursor) = after {
            // Keyset paging: stable while records are added or deleted between pages.
            builder.push(" AND (created_time > ");
            builder.push_bind(cursor.created_time);
            builder.push(" OR (created_time = ");
            builder.push_bind(cursor.created_time);
            builder.push(" AND dataset_record_id > ");
            builder.push_bind(cursor.dataset_record_id.clone());
            builder.push("))");
        }
        builder.push(" ORDER BY created_time, dataset_record_id LIMIT ");
        builder.push_bind((max_results + 1) as i64);
        let rows = builder
            .build()
            .fetch_all(&mut *conn)
            .await
            .context(|| format!("loading records of dataset {dataset_id}"))?;
        let mut records: Vec<DatasetRecord> = rows.iter().map(record_from_row).collect::<Result<_>>()?;
        let next = if records.len() as u64 > max_results {
            records.truncate(max_results as usize);
            records.last().map(|last| RecordCursor {
                created_time: last.created_time,
                dataset_record_id: last.dataset_record_id.clone(),
            })
        } else {
            None
        };
        Ok(RecordPage { records, next })
    }

    async fn delete_dataset_records(&self, dataset_id: &str, record_ids: &[String]) -> Result<u64> {
        let mut tx = self.pool.begin().await.context(|| format!("deleting records of dataset {dataset_id}"))?;
        let (name, _) = require_dataset(&mut tx, dataset_id).await?;
        let deleted = sqlx::query(
            "DELETE FROM evaluation_dataset_records \
             WHERE dataset_id = $1 AND dataset_record_id = ANY($2)",
        )
        .bind(dataset_id)
        .bind(record_ids)
        .execute(&mut *tx)
        .await
        .context(|| format!("deleting records of dataset {dataset_id}"))?
        .rows_affected();
        if deleted > 0 {
            // The schema keeps the keys it has seen; the count and digest follow the records.
            let hashes = content_hashes(&mut tx, dataset_id).await?;
            sqlx::query(
                "UPDATE evaluation_datasets SET profile = $1, digest = $2, last_update_time = $3 WHERE dataset_id = $4",
            )
            .bind(rules::profile(hashes.len() as u64))
            .bind(rules::dataset_digest(&name, &hashes))
            .bind(time::now_millis())
            .bind(dataset_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting records of dataset {dataset_id}"))?;
        }
        tx.commit().await.context(|| format!("deleting records of dataset {dataset_id}"))?;
        Ok(deleted)
    }

    async fn get_dataset_experiment_ids(&self, dataset_id: &str) -> Result<Vec<ExperimentId>> {
        let mut conn = self.pool.acquire().await.context(|| format!("loading experiments of dataset {dataset_id}"))?;
        require_dataset(&mut conn, dataset_id).await?;
        experiment_ids_of(&mut conn, dataset_id).await
    }

    async fn add_dataset_to_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[ExperimentId],
    ) -> Result<EvaluationDataset> {
        let mut tx = self.pool.begin().await.context(|| format!("adding dataset {dataset_id} to experiments"))?;
        require_dataset(&mut tx, dataset_id).await?;
        let keys = require_experiments(&mut tx, experiment_ids).await?;
        link_experiments(&mut tx, dataset_id, &keys).await?;
        sqlx::query("UPDATE evaluation_datasets SET last_update_time = $1 WHERE dataset_id = $2")
            .bind(time::now_millis())
            .bind(dataset_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("adding dataset {dataset_id} to experiments"))?;
        let mut dataset = load_dataset(&mut tx, dataset_id).await?;
        dataset.experiment_ids = Some(experiment_ids_of(&mut tx, dataset_id).await?);
        tx.commit().await.context(|| format!("adding dataset {dataset_id} to experiments"))?;
        Ok(dataset)
    }

    async fn remove_dataset_from_experiments(
        &self,
        dataset_id: &str,
        experiment_ids: &[ExperimentId],
    ) -> Result<EvaluationDataset> {
        let keys: Vec<i64> = experiment_ids.iter().map(|id| id.get()).collect();
        let mut tx = self.pool.begin().await.context(|| format!("removing dataset {dataset_id} from experiments"))?;
        require_dataset(&mut tx, dataset_id).await?;
        let removed = sqlx::query(
            "DELETE FROM evaluation_dataset_experiments \
             WHERE dataset_id = $1 AND experiment_id = ANY($2)",
        )
        .bind(dataset_id)
        .bind(&keys)
        .execute(&mut *tx)
        .await
        .context(|| format!("removing dataset {dataset_id} from experiments"))?
        .rows_affected();
        if removed > 0 {
            sqlx::query("UPDATE evaluation_datasets SET last_update_time = $1 WHERE dataset_id = $2")
                .bind(time::now_millis())
                .bind(dataset_id)
                .execute(&mut *tx)
                .await
                .context(|| format!("removing dataset {dataset_id} from experiments"))?;
        }
        let mut dataset = load_dataset(&mut tx, dataset_id).await?;
        dataset.experiment_ids = Some(experiment_ids_of(&mut tx, dataset_id).await?);
        tx.commit().await.context(|| format!("removing dataset {dataset_id} from experiments"))?;
        Ok(dataset)
    }

    async fn register_scorer(
        &self,
        experiment_id: ExperimentId,
        name: &str,
        serialized_scorer: &str,
    ) -> Result<ScorerVersion> {
        let now = time::now_millis();
        let mut tx =
            self.pool.begin().await.context(|| format!("registering scorer {name} in experiment {experiment_id}"))?;
        let key = require_active_experiment(&mut tx, experiment_id).await?;
        // The scorer's row, made if missing, stays locked until commit: registrations of one
        // scorer through any server take their version numbers one after the other.
        sqlx::query(
            "INSERT INTO scorers (scorer_id, experiment_id, scorer_name) VALUES ($1, $2, $3) \
             ON CONFLICT (experiment_id, scorer_name) DO NOTHING",
        )
        .bind(ids::new_scorer_id())
        .bind(key)
        .bind(name)
        .execute(&mut *tx)
        .await
        .context(|| format!("registering scorer {name} in experiment {experiment_id}"))?;
        let scorer_id: String =
            sqlx::query("SELECT scorer_id FROM scorers WHERE experiment_id = $1 AND scorer_name = $2 FOR UPDATE")
                .bind(key)
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .context(|| format!("registering scorer {name} in experiment {experiment_id}"))?
                .get(0);
        let version: i32 = sqlx::query(
            "INSERT INTO scorer_versions (scorer_id, scorer_version, serialized_scorer, creation_time) \
             VALUES ($1, (SELECT coalesce(max(scorer_version), 0) + 1 FROM scorer_versions WHERE scorer_id = $1), $2, $3) \
             RETURNING scorer_version",
        )
        .bind(&scorer_id)
        .bind(serialized_scorer)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context(|| format!("registering scorer {name} in experiment {experiment_id}"))?
        .get(0);
        tx.commit().await.context(|| format!("registering scorer {name} in experiment {experiment_id}"))?;
        Ok(ScorerVersion {
            experiment_id,
            scorer_name: name.to_string(),
            scorer_version: version,
            serialized_scorer: serialized_scorer.to_string(),
            creation_time: now,
            scorer_id,
        })
    }

    async fn list_scorers(&self, experiment_ids: &[ExperimentId]) -> Result<Vec<ScorerVersion>> {
        let mut conn = self.pool.acquire().await.context(|| "listing scorers")?;
        let mut keys = Vec::with_capacity(experiment_ids.len());
        for experiment_id in experiment_ids {
            keys.push(require_active_experiment(&mut conn, *experiment_id).await?);
        }
        let rows = sqlx::query(&format!(
            "SELECT {SCORER_COLUMNS} FROM scorers s JOIN scorer_versions v ON v.scorer_id = s.scorer_id \
             WHERE s.experiment_id = ANY($1) \
             AND v.scorer_version = (SELECT max(x.scorer_version) FROM scorer_versions x WHERE x.scorer_id = s.scorer_id) \
             ORDER BY s.experiment_id, s.scorer_name"
        ))
        .bind(&keys)
        .fetch_all(&mut *conn)
        .await
        .context(|| "listing scorers")?;
        Ok(rows.iter().map(scorer_from_row).collect())
    }

    async fn list_scorer_versions(&self, experiment_id: ExperimentId, name: &str) -> Result<Vec<ScorerVersion>> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context(|| format!("listing versions of scorer {name} in experiment {experiment_id}"))?;
        let key = require_active_experiment(&mut conn, experiment_id).await?;
        let rows = sqlx::query(&format!(
            "SELECT {SCORER_COLUMNS} FROM scorers s JOIN scorer_versions v ON v.scorer_id = s.scorer_id \
             WHERE s.experiment_id = $1 AND s.scorer_name = $2 ORDER BY v.scorer_version"
        ))
        .bind(key)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .context(|| format!("listing versions of scorer {name} in experiment {experiment_id}"))?;
        if rows.is_empty() {
            return Err(scorer_not_found(name, experiment_id, None));
        }
        Ok(rows.iter().map(scorer_from_row).collect())
    }

    async fn get_scorer(&self, experiment_id: ExperimentId, name: &str, version: Option<i32>) -> Result<ScorerVersion> {
        let mut conn =
            self.pool.acquire().await.context(|| format!("loading scorer {name} in experiment {experiment_id}"))?;
        let key = require_active_experiment(&mut conn, experiment_id).await?;
        let mut builder: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "SELECT {SCORER_COLUMNS} FROM scorers s JOIN scorer_versions v ON v.scorer_id = s.scorer_id \
             WHERE s.experiment_id = "
        ));
        builder.push_bind(key);
        builder.push(" AND s.scorer_name = ");
        builder.push_bind(name.to_string());
        if let Some(version) = version {
            builder.push(" AND v.scorer_version = ");
            builder.push_bind(version);
        }
        builder.push(" ORDER BY v.scorer_version DESC LIMIT 1");
        let row = builder
            .build()
            .fetch_optional(&mut *conn)
            .await
            .context(|| format!("loading scorer {name} in experiment {experiment_id}"))?
            .ok_or_else(|| scorer_not_found(name, experiment_id, version))?;
        Ok(scorer_from_row(&row))
    }

    async fn delete_scorer(&self, experiment_id: ExperimentId, name: &str, version: Option<i32>) -> Result<()> {
        let mut tx =
            self.pool.begin().await.context(|| format!("deleting scorer {name} in experiment {experiment_id}"))?;
        let key = require_active_experiment(&mut tx, experiment_id).await?;
        let scorer_id: String =
            sqlx::query("SELECT scorer_id FROM scorers WHERE experiment_id = $1 AND scorer_name = $2")
                .bind(key)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .context(|| format!("deleting scorer {name} in experiment {experiment_id}"))?
                .ok_or_else(|| scorer_not_found(name, experiment_id, None))?
                .get(0);
        let deleted = match version {
            Some(version) => sqlx::query("DELETE FROM scorer_versions WHERE scorer_id = $1 AND scorer_version = $2")
                .bind(&scorer_id)
                .bind(version)
                .execute(&mut *tx)
                .await
                .context(|| format!("deleting scorer {name} in experiment {experiment_id}"))?
                .rows_affected(),
            None => {
                let versions = sqlx::query("DELETE FROM scorer_versions WHERE scorer_id = $1")
                    .bind(&scorer_id)
                    .execute(&mut *tx)
                    .await
                    .context(|| format!("deleting scorer {name} in experiment {experiment_id}"))?
                    .rows_affected();
                // Every version gone: the name is free again, with a new id next time, and its
                // online config goes too (ON DELETE CASCADE).
                sqlx::query("DELETE FROM scorers WHERE scorer_id = $1")
                    .bind(&scorer_id)
                    .execute(&mut *tx)
                    .await
                    .context(|| format!("deleting scorer {name} in experiment {experiment_id}"))?;
                versions
            }
        };
        if deleted == 0 {
            return Err(scorer_not_found(name, experiment_id, version));
        }
        tx.commit().await.context(|| format!("deleting scorer {name} in experiment {experiment_id}"))
    }

    async fn get_online_scoring_configs(&self, scorer_ids: &[String]) -> Result<Vec<OnlineScoringConfig>> {
        if scorer_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT online_scoring_config_id, scorer_id, sample_rate, experiment_id, filter_string \
             FROM online_scoring_configs WHERE scorer_id = ANY($1) ORDER BY scorer_id",
        )
        .bind(scorer_ids)
        .fetch_all(&self.pool)
        .await
        .context(|| "loading online scoring configs")?;
        Ok(rows.iter().map(online_config_from_row).collect())
    }

    async fn upsert_online_scoring_config(
        &self,
        experiment_id: ExperimentId,
        name: &str,
        sample_rate: f64,
        filter_string: Option<&str>,
    ) -> Result<OnlineScoringConfig> {
        let mut tx =
            self.pool.begin().await.context(|| {
                format!("setting the online scoring config of scorer {name} in experiment {experiment_id}")
            })?;
        let key = require_active_experiment(&mut tx, experiment_id).await?;
        let scorer_id: String = sqlx::query(
            "SELECT s.scorer_id FROM scorers s WHERE s.experiment_id = $1 AND s.scorer_name = $2 \
             AND EXISTS (SELECT 1 FROM scorer_versions v WHERE v.scorer_id = s.scorer_id)",
        )
        .bind(key)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .context(|| format!("setting the online scoring config of scorer {name} in experiment {experiment_id}"))?
        .ok_or_else(|| scorer_not_found(name, experiment_id, None))?
        .get(0);
        // Replaced, not edited: the client reads a new config id as a new configuration.
        sqlx::query("DELETE FROM online_scoring_configs WHERE scorer_id = $1")
            .bind(&scorer_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("setting the online scoring config of scorer {name} in experiment {experiment_id}"))?;
        let config = OnlineScoringConfig {
            online_scoring_config_id: ids::new_hex_id(),
            scorer_id,
            sample_rate,
            experiment_id,
            filter_string: filter_string.map(str::to_string),
        };
        sqlx::query(
            "INSERT INTO online_scoring_configs (online_scoring_config_id, scorer_id, experiment_id, sample_rate, filter_string) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&config.online_scoring_config_id)
        .bind(&config.scorer_id)
        .bind(key)
        .bind(sample_rate)
        .bind(&config.filter_string)
        .execute(&mut *tx)
        .await
        .context(|| format!("setting the online scoring config of scorer {name} in experiment {experiment_id}"))?;
        tx.commit()
            .await
            .context(|| format!("setting the online scoring config of scorer {name} in experiment {experiment_id}"))?;
        Ok(config)
    }
}
