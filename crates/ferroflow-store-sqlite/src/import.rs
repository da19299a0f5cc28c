//! [`ImportStore`] for [`SqliteStore`]: records copied from an MLflow database, each in one
//! writer transaction, skipped when already there (`INSERT OR IGNORE` on the record's key
//! decides, so a second import changes nothing).

use crate::error::Context;
use crate::registry::{upsert_model_tags, upsert_version_tags};
use crate::sql::{tag_rows, upsert_pairs, OnConflict};
use crate::tracking::{insert_metrics, insert_params, upsert_run_tags};
use crate::SqliteStore;
use ferroflow_core::entities::{Experiment, LoggedModel};
use ferroflow_core::store::{ImportStore, ImportedModel, ImportedRun};
use ferroflow_core::Result;
use sqlx::Row;

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
}
