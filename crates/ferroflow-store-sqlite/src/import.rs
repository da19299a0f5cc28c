//! [`ImportStore`] for [`SqliteStore`]: records copied from an MLflow database, each in one
//! writer transaction, skipped when already there (`INSERT OR IGNORE` on the record's key
//! decides, so a second import changes nothing).

use crate::error::Context;
use crate::evaluation::{content_hashes, link_experiments, upsert_tags, write_records};
use crate::registry::{upsert_model_tags, upsert_version_tags};
use crate::sql::{tag_rows, upsert_pairs, OnConflict};
use crate::tracking::{insert_metrics, insert_params, upsert_run_tags};
use crate::SqliteStore;
use ferroflow_core::entities::{Experiment, LoggedModel};
use ferroflow_core::evaluation as rules;
use ferroflow_core::store::{ImportStore, ImportedDataset, ImportedModel, ImportedRun, ImportedScorer};
use ferroflow_core::Result;
use sqlx::{Row, SqliteConnection};

/// Those of `keys` that name an experiment the store has, in their order.
async fn existing_experiments(conn: &mut SqliteConnection, keys: &[i64], doing: &str) -> Result<Vec<i64>> {
    let found: Vec<i64> = sqlx::query_scalar(
        "SELECT experiment_id FROM experiments WHERE experiment_id IN (SELECT value FROM json_each(?))",
    )
    .bind(serde_json::to_string(keys).unwrap_or_else(|_| "[]".into()))
    .fetch_all(&mut *conn)
    .await
    .context(|| doing.to_string())?;
    Ok(keys.iter().copied().filter(|key| found.contains(key)).collect())
}

#[async_trait::async_trait]
impl ImportStore for SqliteStore {
    async fn import_experiment(&self, experiment: &Experiment) -> Result<bool> {
        let id = experiment.experiment_id.get();
        let doing = || format!("importing experiment {id}");
        let mut tx = self.write.begin().await.context(doing)?;
        // The Default experiment (0) is made at start-up; the imported one takes its place.
        let replaced = id == 0
            && sqlx::query("SELECT 1 FROM experiments WHERE experiment_id = 0 AND creation_time <> ?")
                .bind(experiment.creation_time)
                .fetch_optional(&mut *tx)
                .await
                .context(doing)?
                .is_some()
            && sqlx::query("SELECT 1 FROM runs WHERE experiment_id = 0 LIMIT 1")
                .fetch_optional(&mut *tx)
                .await
                .context(doing)?
                .is_none();
        if replaced {
            sqlx::query(
                "UPDATE experiments SET name = ?, artifact_location = ?, lifecycle_stage = ?, creation_time = ?, \
                 last_update_time = ? WHERE experiment_id = 0",
            )
            .bind(&experiment.name)
            .bind(&experiment.artifact_location)
            .bind(experiment.lifecycle_stage.as_str())
            .bind(experiment.creation_time)
            .bind(experiment.last_update_time)
            .execute(&mut *tx)
            .await
            .context(doing)?;
        } else {
            let inserted = sqlx::query(
                "INSERT OR IGNORE INTO experiments \
                 (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&experiment.name)
            .bind(&experiment.artifact_location)
            .bind(experiment.lifecycle_stage.as_str())
            .bind(experiment.creation_time)
            .bind(experiment.last_update_time)
            .execute(&mut *tx)
            .await
            .context(doing)?;
            if inserted.rows_affected() == 0 {
                return Ok(false);
            }
        }
        upsert_pairs(
            &mut tx,
            "experiment_tags",
            &["experiment_id"],
            &tag_rows(id, &experiment.tags),
            OnConflict::Replace,
        )
        .await?;
        tx.commit().await.context(doing)?;
        Ok(true)
    }

    async fn import_run(&self, run: &ImportedRun) -> Result<bool> {
        let info = &run.info;
        let run_id = info.run_id.as_str();
        let doing = || format!("importing run {run_id}");
        let mut tx = self.write.begin().await.context(doing)?;
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, end_time, \
             artifact_uri, lifecycle_stage, deleted_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(run_id)
        .bind(info.experiment_id.get())
        .bind(&info.run_name)
        .bind(&info.user_id)
        .bind(info.status.as_str())
        .bind(info.start_time)
        .bind(info.end_time)
        .bind(&info.artifact_uri)
        .bind(info.lifecycle_stage.as_str())
        .bind(run.deleted_time)
        .execute(&mut *tx)
        .await
        .context(doing)?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        insert_params(&mut tx, run_id, &run.params).await?;
        insert_metrics(&mut tx, run_id, &run.metric_history).await?;
        upsert_run_tags(&mut tx, run_id, &run.tags).await?;
        tx.commit().await.context(doing)?;
        Ok(true)
    }

    async fn import_registered_model(&self, imported: &ImportedModel) -> Result<bool> {
        let model = &imported.model;
        let doing = || format!("importing registered model {}", model.name);
        let mut tx = self.write.begin().await.context(doing)?;
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO registered_models (name, creation_time, last_updated_time, description) \
             VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&model.name)
        .bind(model.creation_timestamp)
        .bind(model.last_updated_timestamp)
        .bind(&model.description)
        .fetch_optional(&mut *tx)
        .await
        .context(doing)?;
        let Some(row) = inserted else { return Ok(false) };
        let rm_id: i64 = row.get(0);
        upsert_model_tags(&mut tx, rm_id, &model.tags).await?;
        for imported_version in &imported.versions {
            let v = &imported_version.version;
            sqlx::query(
                "INSERT INTO model_versions (rm_id, version, creation_time, last_updated_time, description, \
                 current_stage, source, storage_location, run_id, run_link, model_id, deleted) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(rm_id)
            .bind(v.version)
            .bind(v.creation_timestamp)
            .bind(v.last_updated_timestamp)
            .bind(&v.description)
            .bind(v.current_stage.as_str())
            .bind(&v.source)
            .bind(&imported_version.storage_location)
            .bind(&v.run_id)
            .bind(&v.run_link)
            .bind(&v.model_id)
            .bind(imported_version.deleted as i64)
            .execute(&mut *tx)
            .await
            .context(doing)?;
            upsert_version_tags(&mut tx, rm_id, v.version, &v.tags).await?;
        }
        for alias in &imported.aliases {
            sqlx::query("INSERT OR REPLACE INTO registered_model_aliases (rm_id, alias, version) VALUES (?, ?, ?)")
                .bind(rm_id)
                .bind(&alias.alias)
                .bind(alias.version)
                .execute(&mut *tx)
                .await
                .context(doing)?;
        }
        tx.commit().await.context(doing)?;
        Ok(true)
    }

    async fn import_logged_model(&self, model: &LoggedModel, deleted: bool) -> Result<bool> {
        let model_id = model.model_id.as_str();
        let doing = || format!("importing logged model {model_id}");
        let mut tx = self.write.begin().await.context(doing)?;
        let inserted = sqlx::query(
            "INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time, \
             last_updated_time, status, model_type, source_run_id, lifecycle_stage) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(model_id)
        .bind(model.experiment_id.get())
        .bind(&model.name)
        .bind(&model.artifact_uri)
        .bind(model.creation_timestamp)
        .bind(model.last_updated_timestamp)
        .bind(model.status.as_short())
        .bind(&model.model_type)
        .bind(&model.source_run_id)
        .bind(if deleted { "deleted" } else { "active" })
        .execute(&mut *tx)
        .await
        .context(doing)?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        upsert_pairs(
            &mut tx,
            "logged_model_tags",
            &["model_id"],
            &tag_rows(model_id, &model.tags),
            OnConflict::Replace,
        )
        .await?;
        let params: Vec<(&str, &str, &str)> =
            model.params.iter().map(|p| (model_id, p.key.as_str(), p.value.as_str())).collect();
        upsert_pairs(&mut tx, "logged_model_params", &["model_id"], &params, OnConflict::Replace).await?;
        tx.commit().await.context(doing)?;
        Ok(true)
    }

    async fn import_evaluation_dataset(&self, imported: &ImportedDataset) -> Result<bool> {
        let dataset = &imported.dataset;
        let dataset_id = dataset.dataset_id.as_str();
        let doing = format!("importing evaluation dataset {dataset_id}");
        let mut tx = self.write.begin().await.context(|| doing.clone())?;
        let inserted = sqlx::query(
            "INSERT OR IGNORE INTO evaluation_datasets (dataset_id, name, schema, profile, digest, created_time, \
             last_update_time, created_by, last_updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(dataset_id)
        .bind(&dataset.name)
        .bind(&dataset.schema)
        .bind(&dataset.profile)
        .bind(&dataset.digest)
        .bind(dataset.created_time)
        .bind(dataset.last_update_time)
        .bind(&dataset.created_by)
        .bind(&dataset.last_updated_by)
        .execute(&mut *tx)
        .await
        .context(|| doing.clone())?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        upsert_tags(&mut tx, dataset_id, &dataset.tags).await?;
        let keys: Vec<i64> = dataset.experiment_ids.iter().flatten().map(|id| id.get()).collect();
        let keys = existing_experiments(&mut tx, &keys, &doing).await?;
        link_experiments(&mut tx, dataset_id, &keys).await?;
        write_records(&mut tx, &imported.records).await?;
        if dataset.digest.is_empty() {
            let hashes = content_hashes(&mut tx, dataset_id).await?;
            sqlx::query("UPDATE evaluation_datasets SET digest = ? WHERE dataset_id = ?")
                .bind(rules::dataset_digest(&dataset.name, &hashes))
                .bind(dataset_id)
                .execute(&mut *tx)
                .await
                .context(|| doing.clone())?;
        }
        tx.commit().await.context(|| doing.clone())?;
        Ok(true)
    }

    async fn import_scorer(&self, scorer: &ImportedScorer) -> Result<bool> {
        let scorer_id = scorer.scorer_id.as_str();
        let doing = || format!("importing scorer {scorer_id} ({})", scorer.scorer_name);
        let mut tx = self.write.begin().await.context(doing)?;
        // Ignored on either key: the id, or the experiment's name for a scorer.
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO scorers (scorer_id, experiment_id, scorer_name) VALUES (?, ?, ?)")
                .bind(scorer_id)
                .bind(scorer.experiment_id.get())
                .bind(&scorer.scorer_name)
                .execute(&mut *tx)
                .await
                .context(doing)?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        for version in &scorer.versions {
            sqlx::query(
                "INSERT INTO scorer_versions (scorer_id, scorer_version, serialized_scorer, creation_time) \
                 VALUES (?, ?, ?, ?)",
            )
            .bind(scorer_id)
            .bind(version.scorer_version)
            .bind(&version.serialized_scorer)
            .bind(version.creation_time)
            .execute(&mut *tx)
            .await
            .context(doing)?;
        }
        if let Some(config) = &scorer.online_config {
            sqlx::query(
                "INSERT OR IGNORE INTO online_scoring_configs \
                 (online_scoring_config_id, scorer_id, experiment_id, sample_rate, filter_string) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&config.online_scoring_config_id)
            .bind(scorer_id)
            .bind(config.experiment_id.get())
            .bind(config.sample_rate)
            .bind(&config.filter_string)
            .execute(&mut *tx)
            .await
            .context(doing)?;
        }
        tx.commit().await.context(doing)?;
        Ok(true)
    }

    async fn imported_scorer_versions(&self, scorer_id: &str) -> Result<Option<u64>> {
        let count: Option<i64> = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM scorer_versions v WHERE v.scorer_id = s.scorer_id) \
             FROM scorers s WHERE s.scorer_id = ?",
        )
        .bind(scorer_id)
        .fetch_optional(&self.read)
        .await
        .context(|| format!("counting the versions of scorer {scorer_id}"))?;
        Ok(count.map(|n| n as u64))
    }
}
