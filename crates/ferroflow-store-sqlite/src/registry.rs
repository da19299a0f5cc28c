//! The model registry in SQLite: [`RegistryStore`] for [`SqliteStore`].
//!
//! Children of a registered model (versions, tags, aliases) hang off its integer id. Reads of
//! many models or versions load their children with one query per table for the whole page,
//! never one per row. Writes run on the single writer connection in one transaction, which is
//! what makes "highest version + 1" race-free.

use crate::error::{is_unique_violation, map_sqlx};
use crate::sql::{json_list, push_numeric_comparison, push_string_comparison};
use crate::SqliteStore;
use ferroflow_core::entities::*;
use ferroflow_core::search::registry::{
    ModelVersionKey, ModelVersionOrderKey, PromptScope, RegisteredModelKey, RegisteredModelOrderKey,
};
use ferroflow_core::search::{Clause, OrderBy};
use ferroflow_core::store::{RegistryStore, SearchQuery};
use ferroflow_core::{time, Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::collections::{HashMap, HashSet};

const MODEL_COLUMNS: &str = "rm.id, rm.name, rm.creation_time, rm.last_updated_time, rm.description";
const VERSION_COLUMNS: &str = "v.rm_id, rm.name, v.version, v.creation_time, v.last_updated_time, v.description, \
     v.current_stage, v.source, v.run_id, v.run_link, v.model_id";

/// What a deleted version keeps instead of its lineage, as the reference redacts it.
const REDACTED_SOURCE: &str = "REDACTED-SOURCE-PATH";
const REDACTED_RUN_ID: &str = "REDACTED-RUN-ID";
const REDACTED_RUN_LINK: &str = "REDACTED-RUN-LINK";

/// `<alias> IS a prompt` as SQL over a tag table aliased `p`, matching [`is_prompt_tagged`].
const PROMPT_TAG_MATCH: &str = "p.key = 'mlflow.prompt.is_prompt' AND lower(p.value) = 'true'";

fn model_not_found(name: &str) -> Error {
    Error::not_found(format!("Registered Model with name={name} not found"))
}

fn version_not_found(name: &str, version: i64) -> Error {
    Error::not_found(format!("Model Version (name={name}, version={version}) not found"))
}

fn invalid_source(source: &str, id_name: &str) -> Error {
    Error::invalid(format!(
        "Invalid model version source: '{source}'. The {id_name} request parameter must identify the resource \
         that contains the source."
    ))
}

/// A registered model row with its id, before its children are loaded.
struct ModelRow {
    id: i64,
    model: RegisteredModel,
}

/// A version row with its model's id, before its tags and aliases are loaded.
struct VersionRow {
    rm_id: i64,
    version: ModelVersion,
}

fn model_from_row(row: &SqliteRow) -> ModelRow {
    ModelRow {
        id: row.get(0),
        model: RegisteredModel {
            name: row.get(1),
            creation_timestamp: row.get(2),
            last_updated_timestamp: row.get(3),
            description: row.get(4),
            latest_versions: Vec::new(),
            tags: Vec::new(),
            aliases: Vec::new(),
        },
    }
}

fn version_from_row(row: &SqliteRow) -> VersionRow {
    VersionRow {
        rm_id: row.get(0),
        version: ModelVersion {
            name: row.get(1),
            version: row.get(2),
            creation_timestamp: row.get(3),
            last_updated_timestamp: row.get(4),
            description: row.get(5),
            current_stage: ModelStage::parse(row.get::<&str, _>(6)).unwrap_or(ModelStage::None),
            source: row.get(7),
            run_id: row.get(8),
            run_link: row.get(9),
            model_id: row.get(10),
            tags: Vec::new(),
            aliases: Vec::new(),
        },
    }
}

/// The id of the model called `name`, or `RESOURCE_DOES_NOT_EXIST`.
async fn registered_model_id(conn: &mut SqliteConnection, name: &str) -> Result<i64> {
    sqlx::query("SELECT id FROM registered_models WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?
        .map(|row| row.get(0))
        .ok_or_else(|| model_not_found(name))
}

/// The model id of a live version, or `RESOURCE_DOES_NOT_EXIST` for the model or the version.
async fn live_version(conn: &mut SqliteConnection, name: &str, version: i64) -> Result<i64> {
    let rm_id = registered_model_id(conn, name).await?;
    let found = sqlx::query("SELECT 1 FROM model_versions WHERE rm_id = ? AND version = ? AND deleted = 0")
        .bind(rm_id)
        .bind(version)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    match found {
        Some(_) => Ok(rm_id),
        None => Err(version_not_found(name, version)),
    }
}

async fn touch_model(conn: &mut SqliteConnection, rm_id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE registered_models SET last_updated_time = ? WHERE id = ?")
        .bind(now)
        .bind(rm_id)
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    Ok(())
}

/// Fills tags and aliases of versions with one query per table.
async fn complete_versions(conn: &mut SqliteConnection, rows: Vec<VersionRow>) -> Result<Vec<ModelVersion>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let rm_ids: Vec<String> =
        rows.iter().map(|row| row.rm_id.to_string()).collect::<HashSet<_>>().into_iter().collect();
    let list = json_list(&rm_ids);
    let wanted: HashSet<(i64, i64)> = rows.iter().map(|row| (row.rm_id, row.version.version)).collect();

    let mut tags: HashMap<(i64, i64), Vec<Tag>> = HashMap::new();
    let tag_rows = sqlx::query(
        "SELECT rm_id, version, key, value FROM model_version_tags \
         WHERE rm_id IN (SELECT value FROM json_each(?)) ORDER BY rowid",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    for row in tag_rows {
        let id = (row.get::<i64, _>(0), row.get::<i64, _>(1));
        if wanted.contains(&id) {
            tags.entry(id).or_default().push(Tag::new(row.get::<String, _>(2), row.get::<String, _>(3)));
        }
    }
    let mut aliases: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    let alias_rows = sqlx::query(
        "SELECT rm_id, version, alias FROM registered_model_aliases \
         WHERE rm_id IN (SELECT value FROM json_each(?)) ORDER BY rowid",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    for row in alias_rows {
        aliases.entry((row.get(0), row.get(1))).or_default().push(row.get(2));
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let id = (row.rm_id, row.version.version);
            let mut version = row.version;
            version.tags = tags.remove(&id).unwrap_or_default();
            version.aliases = aliases.remove(&id).unwrap_or_default();
            version
        })
        .collect())
}

/// Fills tags, aliases and latest versions of models with one query per table.
async fn complete_models(conn: &mut SqliteConnection, rows: Vec<ModelRow>) -> Result<Vec<RegisteredModel>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|row| row.id.to_string()).collect();
    let list = json_list(&ids);

    let mut tags: HashMap<i64, Vec<Tag>> = HashMap::new();
    let tag_rows = sqlx::query(
        "SELECT rm_id, key, value FROM registered_model_tags WHERE rm_id IN (SELECT value FROM json_each(?)) \
         ORDER BY rowid",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    for row in tag_rows {
        tags.entry(row.get(0)).or_default().push(Tag::new(row.get::<String, _>(1), row.get::<String, _>(2)));
    }
    let mut aliases: HashMap<i64, Vec<ModelAlias>> = HashMap::new();
    let alias_rows = sqlx::query(
        "SELECT rm_id, alias, version FROM registered_model_aliases WHERE rm_id IN (SELECT value FROM json_each(?)) \
         ORDER BY rowid",
    )
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    for row in alias_rows {
        aliases.entry(row.get(0)).or_default().push(ModelAlias { alias: row.get(1), version: row.get(2) });
    }
    // The newest live version of each stage, per model.
    let latest_rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM ( \
             SELECT *, row_number() OVER (PARTITION BY rm_id, current_stage ORDER BY version DESC) AS rank \
             FROM model_versions WHERE rm_id IN (SELECT value FROM json_each(?)) AND deleted = 0 \
         ) v JOIN registered_models rm ON rm.id = v.rm_id WHERE v.rank = 1 ORDER BY v.rm_id, v.version"
    ))
    .bind(&list)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    let latest = complete_versions(conn, latest_rows.iter().map(version_from_row).collect()).await?;
    let mut latest_by_model: HashMap<String, Vec<ModelVersion>> = HashMap::new();
    for version in latest {
        latest_by_model.entry(version.name.clone()).or_default().push(version);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut model = row.model;
            model.tags = tags.remove(&row.id).unwrap_or_default();
            model.aliases = aliases.remove(&row.id).unwrap_or_default();
            model.latest_versions = latest_by_model.remove(&model.name).unwrap_or_default();
            model
        })
        .collect())
}

async fn load_model(conn: &mut SqliteConnection, name: &str) -> Result<RegisteredModel> {
    let row = sqlx::query(&format!("SELECT {MODEL_COLUMNS} FROM registered_models rm WHERE rm.name = ?"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?
        .ok_or_else(|| model_not_found(name))?;
    let models = complete_models(conn, vec![model_from_row(&row)]).await?;
    models.into_iter().next().ok_or_else(|| model_not_found(name))
}

async fn load_version(conn: &mut SqliteConnection, name: &str, version: i64) -> Result<ModelVersion> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN registered_models rm ON rm.id = v.rm_id \
         WHERE rm.name = ? AND v.version = ? AND v.deleted = 0"
    ))
    .bind(name)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_sqlx)?
    .ok_or_else(|| version_not_found(name, version))?;
    let versions = complete_versions(conn, vec![version_from_row(&row)]).await?;
    versions.into_iter().next().ok_or_else(|| version_not_found(name, version))
}

async fn upsert_model_tags(conn: &mut SqliteConnection, rm_id: i64, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO registered_model_tags (rm_id, key, value) ");
    builder.push_values(tags, |mut b, tag| {
        b.push_bind(rm_id).push_bind(&tag.key).push_bind(&tag.value);
    });
    builder.push(" ON CONFLICT (rm_id, key) DO UPDATE SET value = excluded.value");
    builder.build().execute(&mut *conn).await.map_err(map_sqlx)?;
    Ok(())
}

async fn upsert_version_tags(conn: &mut SqliteConnection, rm_id: i64, version: i64, tags: &[Tag]) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut builder: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO model_version_tags (rm_id, version, key, value) ");
    builder.push_values(tags, |mut b, tag| {
        b.push_bind(rm_id).push_bind(version).push_bind(&tag.key).push_bind(&tag.value);
    });
    builder.push(" ON CONFLICT (rm_id, version, key) DO UPDATE SET value = excluded.value");
    builder.build().execute(&mut *conn).await.map_err(map_sqlx)?;
    Ok(())
}

/// The message for a taken name, which says whether a prompt or a model holds it.
async fn name_taken(conn: &mut SqliteConnection, model: &NewRegisteredModel) -> Result<Error> {
    let existing_is_prompt = sqlx::query(&format!(
        "SELECT 1 FROM registered_model_tags p JOIN registered_models rm ON rm.id = p.rm_id \
         WHERE rm.name = ? AND {PROMPT_TAG_MATCH}"
    ))
    .bind(&model.name)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_sqlx)?
    .is_some();
    let entity = |is_prompt: bool| if is_prompt { "Prompt" } else { "Registered Model" };
    let (old, new) = (entity(existing_is_prompt), entity(is_prompt_tagged(&model.tags)));
    Ok(if old != new {
        Error::already_exists(format!(
            "Tried to create a {} with name '{}', but the name is already taken by a {}. MLflow does not allow \
             creating a model and a prompt with the same name.",
            new.to_lowercase(),
            model.name,
            old.to_lowercase()
        ))
    } else {
        Error::already_exists(format!("{new} (name={}) already exists.", model.name))
    })
}

/// Where a new version's files are, and the run that made them when the request named none.
async fn resolve_source(
    conn: &mut SqliteConnection,
    version: &NewModelVersion,
) -> Result<(Option<String>, Option<String>)> {
    let mut run_id = version.run_id.clone().filter(|id| !id.is_empty());
    let storage_location = match ModelSource::parse(&version.source) {
        ModelSource::LoggedModel(model_id) => {
            let row = sqlx::query("SELECT artifact_location, source_run_id FROM logged_models WHERE model_id = ?")
                .bind(&model_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_sqlx)?
                .ok_or_else(|| invalid_source(&version.source, "model_id"))?;
            if run_id.is_none() {
                run_id = Some(row.get::<String, _>(1)).filter(|id| !id.is_empty());
            }
            Some(row.get::<String, _>(0))
        }
        ModelSource::RegisteredVersion { name, version: number } => {
            let row = sqlx::query(
                "SELECT coalesce(v.storage_location, v.source) FROM model_versions v \
                 JOIN registered_models rm ON rm.id = v.rm_id WHERE rm.name = ? AND v.version = ? AND v.deleted = 0",
            )
            .bind(&name)
            .bind(number)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_sqlx)?
            .ok_or_else(|| invalid_source(&version.source, "name and version"))?;
            Some(row.get::<String, _>(0))
        }
        ModelSource::Other => None,
    };
    if run_id.is_none() {
        if let Some(model_id) = version.model_id.as_deref() {
            run_id = sqlx::query("SELECT source_run_id FROM logged_models WHERE model_id = ?")
                .bind(model_id)
                .fetch_optional(&mut *conn)
                .await
                .map_err(map_sqlx)?
                .map(|row| row.get::<String, _>(0))
                .filter(|id| !id.is_empty());
        }
    }
    Ok((storage_location, run_id))
}

/// Appends `{"name", "version"}` to the logged model's `mlflow.modelVersions` tag, as the
/// reference server does when a version names its logged model. A missing model is skipped.
async fn record_version_on_logged_model(
    conn: &mut SqliteConnection,
    model_id: &str,
    name: &str,
    version: i64,
) -> Result<()> {
    let exists = sqlx::query("SELECT 1 FROM logged_models WHERE model_id = ?")
        .bind(model_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?;
    if exists.is_none() {
        return Ok(());
    }
    let existing: Option<String> = sqlx::query("SELECT value FROM logged_model_tags WHERE model_id = ? AND key = ?")
        .bind(model_id)
        .bind(MODEL_VERSIONS_TAG_KEY)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_sqlx)?
        .map(|row| row.get(0));
    // A tag someone overwrote with non-JSON is replaced rather than failing the registration.
    let mut entries: Vec<serde_json::Value> =
        existing.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    entries.push(serde_json::json!({ "name": name, "version": version }));
    sqlx::query(
        "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) \
         ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
    )
    .bind(model_id)
    .bind(MODEL_VERSIONS_TAG_KEY)
    .bind(serde_json::Value::Array(entries).to_string())
    .execute(&mut *conn)
    .await
    .map_err(map_sqlx)?;
    Ok(())
}

/// `NOT EXISTS` conditions that keep prompts out of a search over models or versions.
fn push_exclude_prompts(builder: &mut QueryBuilder<'_, Sqlite>, rm_id_column: &str, with_versions: bool) {
    builder.push(format!(
        " AND NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE p.rm_id = {rm_id_column} AND {PROMPT_TAG_MATCH})"
    ));
    if with_versions {
        // A version tagged as a prompt marks its whole model as one, as in the reference.
        builder.push(format!(
            " AND NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE p.rm_id = {rm_id_column} AND {PROMPT_TAG_MATCH})"
        ));
    }
}

fn push_model_clause(builder: &mut QueryBuilder<'_, Sqlite>, clause: &Clause<RegisteredModelKey>) -> Result<()> {
    match &clause.key {
        RegisteredModelKey::Name => push_string_comparison(builder, "rm.name", clause.comparator, &clause.value),
        RegisteredModelKey::Tag(key) => {
            builder.push("EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.rm_id = rm.id AND t.key = ");
            builder.push_bind(key.clone());
            builder.push(" AND ");
            push_string_comparison(builder, "t.value", clause.comparator, &clause.value)?;
            builder.push(")");
            Ok(())
        }
    }
}

fn push_version_clause(builder: &mut QueryBuilder<'_, Sqlite>, clause: &Clause<ModelVersionKey>) -> Result<()> {
    match &clause.key {
        ModelVersionKey::Name => push_string_comparison(builder, "rm.name", clause.comparator, &clause.value),
        ModelVersionKey::RunId => push_string_comparison(builder, "v.run_id", clause.comparator, &clause.value),
        ModelVersionKey::SourcePath => push_string_comparison(builder, "v.source", clause.comparator, &clause.value),
        ModelVersionKey::VersionNumber => {
            push_numeric_comparison(builder, "v.version", clause.comparator, &clause.value)
        }
        ModelVersionKey::Tag(key) => {
            builder.push(
                "EXISTS (SELECT 1 FROM model_version_tags t WHERE t.rm_id = v.rm_id AND t.version = v.version \
                 AND t.key = ",
            );
            builder.push_bind(key.clone());
            builder.push(" AND ");
            push_string_comparison(builder, "t.value", clause.comparator, &clause.value)?;
            builder.push(")");
            Ok(())
        }
    }
}

fn direction(ascending: bool) -> &'static str {
    if ascending {
        "ASC"
    } else {
        "DESC"
    }
}

/// The requested order, then name (unless ordered by already): models' natural order.
fn push_model_order(builder: &mut QueryBuilder<'_, Sqlite>, order_by: &[OrderBy<RegisteredModelOrderKey>]) {
    let mut terms: Vec<String> = order_by
        .iter()
        .map(|item| {
            let column = match item.key {
                RegisteredModelOrderKey::Name => "rm.name",
                RegisteredModelOrderKey::CreationTimestamp => "rm.creation_time",
                RegisteredModelOrderKey::LastUpdatedTimestamp => "rm.last_updated_time",
            };
            format!("{column} {}", direction(item.ascending))
        })
        .collect();
    if !order_by.iter().any(|item| item.key == RegisteredModelOrderKey::Name) {
        terms.push("rm.name ASC".to_string());
    }
    builder.push(format!(" ORDER BY {}", terms.join(", ")));
}

/// The requested order (newest update first when none), then name and version descending.
fn push_version_order(builder: &mut QueryBuilder<'_, Sqlite>, order_by: &[OrderBy<ModelVersionOrderKey>]) {
    let default_order = [
        OrderBy { key: ModelVersionOrderKey::LastUpdatedTimestamp, ascending: false },
        OrderBy { key: ModelVersionOrderKey::Name, ascending: true },
        OrderBy { key: ModelVersionOrderKey::VersionNumber, ascending: false },
    ];
    let order_by = if order_by.is_empty() { &default_order[..] } else { order_by };
    let mut terms: Vec<String> = order_by
        .iter()
        .map(|item| {
            let column = match item.key {
                ModelVersionOrderKey::Name => "rm.name",
                ModelVersionOrderKey::VersionNumber => "v.version",
                ModelVersionOrderKey::CreationTimestamp => "v.creation_time",
                ModelVersionOrderKey::LastUpdatedTimestamp => "v.last_updated_time",
            };
            format!("{column} {}", direction(item.ascending))
        })
        .collect();
    if !order_by.iter().any(|item| item.key == ModelVersionOrderKey::Name) {
        terms.push("rm.name ASC".to_string());
    }
    if !order_by.iter().any(|item| item.key == ModelVersionOrderKey::VersionNumber) {
        terms.push("v.version DESC".to_string());
    }
    builder.push(format!(" ORDER BY {}", terms.join(", ")));
}

fn push_page(builder: &mut QueryBuilder<'_, Sqlite>, max_results: u64, offset: u64) {
    builder.push(" LIMIT ");
    builder.push_bind((max_results + 1) as i64);
    builder.push(" OFFSET ");
    builder.push_bind(offset as i64);
}

/// Keeps one page of `rows` and says where the next begins (one extra row was fetched).
fn split_page<T>(mut rows: Vec<T>, max_results: u64, offset: u64) -> (Vec<T>, Option<u64>) {
    if rows.len() as u64 > max_results {
        rows.truncate(max_results as usize);
        (rows, Some(offset + max_results))
    } else {
        (rows, None)
    }
}

#[async_trait::async_trait]
impl RegistryStore for SqliteStore {
    async fn create_registered_model(&self, model: &NewRegisteredModel) -> Result<RegisteredModel> {
        let now = time::now_millis();
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let inserted = sqlx::query(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) \
             VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&model.name)
        .bind(now)
        .bind(now)
        .bind(&model.description)
        .fetch_one(&mut *tx)
        .await;
        let rm_id: i64 = match inserted {
            Ok(row) => row.get(0),
            // A failed statement does not end the transaction, so the message can still look.
            Err(e) if is_unique_violation(&e) => return Err(name_taken(&mut tx, model).await?),
            Err(e) => return Err(map_sqlx(e)),
        };
        upsert_model_tags(&mut tx, rm_id, &model.tags).await?;
        let created = load_model(&mut tx, &model.name).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(created)
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let mut conn = self.read.acquire().await.map_err(map_sqlx)?;
        load_model(&mut conn, name).await
    }

    async fn update_registered_model(&self, name: &str, description: Option<&str>) -> Result<RegisteredModel> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        sqlx::query("UPDATE registered_models SET description = ?, last_updated_time = ? WHERE id = ?")
            .bind(description)
            .bind(time::now_millis())
            .bind(rm_id)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let updated = load_model(&mut tx, name).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(updated)
    }

    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        let now = time::now_millis();
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        let renamed = sqlx::query("UPDATE registered_models SET name = ?, last_updated_time = ? WHERE id = ?")
            .bind(new_name)
            .bind(now)
            .bind(rm_id)
            .execute(&mut *tx)
            .await;
        match renamed {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::already_exists(format!("Registered Model (name={new_name}) already exists.")))
            }
            Err(e) => return Err(map_sqlx(e)),
        }
        sqlx::query("UPDATE model_versions SET last_updated_time = ? WHERE rm_id = ? AND deleted = 0")
            .bind(now)
            .bind(rm_id)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let model = load_model(&mut tx, new_name).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(model)
    }

    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        // Versions, tags and aliases go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM registered_models WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        if deleted.rows_affected() == 0 {
            return Err(model_not_found(name));
        }
        tx.commit().await.map_err(map_sqlx)
    }

    async fn search_registered_models(
        &self,
        scope: PromptScope,
        query: &SearchQuery<RegisteredModelKey, RegisteredModelOrderKey>,
    ) -> Result<Page<RegisteredModel>> {
        let mut builder: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {MODEL_COLUMNS} FROM registered_models rm WHERE 1 = 1"));
        if scope == PromptScope::Models {
            push_exclude_prompts(&mut builder, "rm.id", false);
        }
        for clause in &query.clauses {
            builder.push(" AND ");
            push_model_clause(&mut builder, clause)?;
        }
        push_model_order(&mut builder, &query.order_by);
        push_page(&mut builder, query.max_results, query.offset);
        let mut conn = self.read.acquire().await.map_err(map_sqlx)?;
        let rows = builder.build().fetch_all(&mut *conn).await.map_err(map_sqlx)?;
        let (rows, next_offset) =
            split_page(rows.iter().map(model_from_row).collect(), query.max_results, query.offset);
        Ok(Page { items: complete_models(&mut conn, rows).await?, next_offset })
    }

    async fn get_latest_versions(&self, name: &str, stages: &[ModelStage]) -> Result<Vec<ModelVersion>> {
        let model = self.get_registered_model(name).await?;
        Ok(model
            .latest_versions
            .into_iter()
            .filter(|version| stages.is_empty() || stages.contains(&version.current_stage))
            .collect())
    }

    async fn set_registered_model_tag(&self, name: &str, tag: &Tag) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        upsert_model_tags(&mut tx, rm_id, std::slice::from_ref(tag)).await?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_tags WHERE rm_id = ? AND key = ?")
            .bind(rm_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn create_model_version(&self, new_version: &NewModelVersion) -> Result<ModelVersion> {
        let now = time::now_millis();
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = registered_model_id(&mut tx, &new_version.name).await?;
        let (storage_location, run_id) = resolve_source(&mut tx, new_version).await?;
        // One writer connection and one transaction: nobody else can take this number between
        // the read of the maximum and the insert.
        let version: i64 = sqlx::query(
            "INSERT INTO model_versions (rm_id, version, creation_time, last_updated_time, description, source, \
                 storage_location, run_id, run_link, model_id) \
             SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
             FROM model_versions WHERE rm_id = ?1 RETURNING version",
        )
        .bind(rm_id)
        .bind(now)
        .bind(new_version.description.as_deref().unwrap_or(""))
        .bind(&new_version.source)
        .bind(&storage_location)
        .bind(run_id.as_deref().unwrap_or(""))
        .bind(new_version.run_link.as_deref().unwrap_or(""))
        .bind(&new_version.model_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_sqlx)?
        .get(0);
        upsert_version_tags(&mut tx, rm_id, version, &new_version.tags).await?;
        touch_model(&mut tx, rm_id, now).await?;
        if let Some(model_id) = new_version.model_id.as_deref().filter(|_| !new_version.is_prompt()) {
            record_version_on_logged_model(&mut tx, model_id, &new_version.name, version).await?;
        }
        let created = load_version(&mut tx, &new_version.name, version).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(created)
    }

    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let mut conn = self.read.acquire().await.map_err(map_sqlx)?;
        load_version(&mut conn, name, version).await
    }

    async fn update_model_version(&self, name: &str, version: i64, description: Option<&str>) -> Result<ModelVersion> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = live_version(&mut tx, name, version).await?;
        sqlx::query("UPDATE model_versions SET description = ?, last_updated_time = ? WHERE rm_id = ? AND version = ?")
            .bind(description.unwrap_or(""))
            .bind(time::now_millis())
            .bind(rm_id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        let updated = load_version(&mut tx, name, version).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(updated)
    }

    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: ModelStage,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        let now = time::now_millis();
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = live_version(&mut tx, name, version).await?;
        if archive_existing {
            sqlx::query(
                "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ? \
                 WHERE rm_id = ? AND version != ? AND current_stage = ? AND deleted = 0",
            )
            .bind(now)
            .bind(rm_id)
            .bind(version)
            .bind(stage.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        }
        sqlx::query(
            "UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE rm_id = ? AND version = ?",
        )
        .bind(stage.as_str())
        .bind(now)
        .bind(rm_id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        touch_model(&mut tx, rm_id, now).await?;
        let moved = load_version(&mut tx, name, version).await?;
        tx.commit().await.map_err(map_sqlx)?;
        Ok(moved)
    }

    async fn delete_model_version(&self, name: &str, version: i64) -> Result<()> {
        let now = time::now_millis();
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = live_version(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE rm_id = ? AND version = ?")
            .bind(rm_id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        sqlx::query(
            "UPDATE model_versions SET deleted = 1, last_updated_time = ?, description = '', source = ?, \
                 storage_location = NULL, run_id = ?, run_link = ? \
             WHERE rm_id = ? AND version = ?",
        )
        .bind(now)
        .bind(REDACTED_SOURCE)
        .bind(REDACTED_RUN_ID)
        .bind(REDACTED_RUN_LINK)
        .bind(rm_id)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        touch_model(&mut tx, rm_id, now).await?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn search_model_versions(
        &self,
        scope: PromptScope,
        query: &SearchQuery<ModelVersionKey, ModelVersionOrderKey>,
    ) -> Result<Page<ModelVersion>> {
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN registered_models rm ON rm.id = v.rm_id \
             WHERE v.deleted = 0"
        ));
        if scope == PromptScope::Models {
            push_exclude_prompts(&mut builder, "v.rm_id", true);
        }
        for clause in &query.clauses {
            builder.push(" AND ");
            push_version_clause(&mut builder, clause)?;
        }
        push_version_order(&mut builder, &query.order_by);
        push_page(&mut builder, query.max_results, query.offset);
        let mut conn = self.read.acquire().await.map_err(map_sqlx)?;
        let rows = builder.build().fetch_all(&mut *conn).await.map_err(map_sqlx)?;
        let (rows, next_offset) =
            split_page(rows.iter().map(version_from_row).collect(), query.max_results, query.offset);
        Ok(Page { items: complete_versions(&mut conn, rows).await?, next_offset })
    }

    async fn get_model_version_download_uri(&self, name: &str, version: i64) -> Result<String> {
        sqlx::query(
            "SELECT coalesce(v.storage_location, v.source) FROM model_versions v \
             JOIN registered_models rm ON rm.id = v.rm_id WHERE rm.name = ? AND v.version = ? AND v.deleted = 0",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.read)
        .await
        .map_err(map_sqlx)?
        .map(|row| row.get(0))
        .ok_or_else(|| version_not_found(name, version))
    }

    async fn set_model_version_tag(&self, name: &str, version: i64, tag: &Tag) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = live_version(&mut tx, name, version).await?;
        upsert_version_tags(&mut tx, rm_id, version, std::slice::from_ref(tag)).await?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = live_version(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM model_version_tags WHERE rm_id = ? AND version = ? AND key = ?")
            .bind(rm_id)
            .bind(version)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn set_registered_model_alias(&self, name: &str, alias: &str, version: i64) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = live_version(&mut tx, name, version).await?;
        sqlx::query(
            "INSERT INTO registered_model_aliases (rm_id, alias, version) VALUES (?, ?, ?) \
             ON CONFLICT (rm_id, alias) DO UPDATE SET version = excluded.version",
        )
        .bind(rm_id)
        .bind(alias)
        .bind(version)
        .execute(&mut *tx)
        .await
        .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        let mut tx = self.write.begin().await.map_err(map_sqlx)?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE rm_id = ? AND alias = ?")
            .bind(rm_id)
            .bind(alias)
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx)?;
        tx.commit().await.map_err(map_sqlx)
    }

    async fn get_model_version_by_alias(&self, name: &str, alias: &AliasLookup) -> Result<ModelVersion> {
        let mut conn = self.read.acquire().await.map_err(map_sqlx)?;
        let rm_id = registered_model_id(&mut conn, name).await?;
        let version: Option<i64> = match alias {
            AliasLookup::Latest => {
                sqlx::query("SELECT max(version) FROM model_versions WHERE rm_id = ? AND deleted = 0")
                    .bind(rm_id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map_sqlx)?
                    .get(0)
            }
            AliasLookup::Named(alias) => {
                sqlx::query("SELECT version FROM registered_model_aliases WHERE rm_id = ? AND alias = ?")
                    .bind(rm_id)
                    .bind(alias)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map_sqlx)?
                    .map(|row| row.get(0))
            }
        };
        match (version, alias) {
            (Some(version), _) => load_version(&mut conn, name, version).await,
            (None, AliasLookup::Latest) => Err(Error::not_found(format!("Latest version not found for model {name}."))),
            (None, AliasLookup::Named(alias)) => {
                Err(Error::invalid(format!("Registered model alias {alias} not found.")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_core::search::registry as grammar;
    use ferroflow_core::store::{LoggedModelStore, TrackingStore};
    use std::sync::Arc;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let uri = format!("sqlite:///{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&uri, "mlflow-artifacts:").await.expect("connect");
        (dir, store)
    }

    fn new_model(name: &str, tags: &[(&str, &str)]) -> NewRegisteredModel {
        NewRegisteredModel {
            name: name.to_string(),
            description: None,
            tags: tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect(),
        }
    }

    fn new_version(name: &str, source: &str) -> NewModelVersion {
        NewModelVersion { name: name.to_string(), source: source.to_string(), ..Default::default() }
    }

    async fn model_names(store: &SqliteStore, filter: &str) -> Vec<String> {
        let (scope, clauses) = grammar::split_prompt_scope(grammar::parse_registered_model_filter(filter).unwrap());
        let query = SearchQuery { clauses, order_by: Vec::new(), max_results: 100, offset: 0 };
        let page = store.search_registered_models(scope, &query).await.unwrap();
        page.items.into_iter().map(|model| model.name).collect()
    }

    #[tokio::test]
    async fn concurrent_registrations_get_distinct_consecutive_versions() {
        let (_dir, store) = store().await;
        let store = Arc::new(store);
        store.create_registered_model(&new_model("m", &[])).await.unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.create_model_version(&new_version("m", &format!("s3://b/{i}"))).await })
            })
            .collect();
        let mut versions = Vec::new();
        for task in tasks {
            versions.push(task.await.unwrap().unwrap().version);
        }
        versions.sort();
        assert_eq!(versions, (1..=50).collect::<Vec<i64>>());
        // A deleted number is never given again.
        store.delete_model_version("m", 50).await.unwrap();
        assert!(store.get_model_version("m", 50).await.unwrap_err().is_not_found());
        assert_eq!(store.create_model_version(&new_version("m", "s3://b/x")).await.unwrap().version, 51);
    }

    #[tokio::test]
    async fn prompts_are_hidden_unless_asked_for() {
        let (_dir, store) = store().await;
        store.create_registered_model(&new_model("model-a", &[("team", "x")])).await.unwrap();
        store
            .create_registered_model(&new_model("prompt-a", &[(PROMPT_TAG_KEY, "true"), ("team", "x")]))
            .await
            .unwrap();
        assert_eq!(model_names(&store, "").await, ["model-a"]);
        assert_eq!(model_names(&store, "tag.`mlflow.prompt.is_prompt` != 'true'").await, ["model-a"]);
        assert_eq!(model_names(&store, "name = 'prompt-a'").await, Vec::<String>::new());
        assert_eq!(model_names(&store, "tags.`mlflow.prompt.is_prompt` = 'true'").await, ["prompt-a"]);
        assert_eq!(
            model_names(&store, "tags.`mlflow.prompt.is_prompt` = 'true' AND tags.team = 'x'").await,
            ["prompt-a"]
        );
        let taken = store.create_registered_model(&new_model("prompt-a", &[])).await.unwrap_err();
        assert_eq!(taken.code, ferroflow_core::ErrorCode::ResourceAlreadyExists);
        assert!(taken.message.contains("already taken by a prompt"), "{}", taken.message);
    }

    #[tokio::test]
    async fn aliases_and_latest() {
        let (_dir, store) = store().await;
        store.create_registered_model(&new_model("m", &[])).await.unwrap();
        let latest = store.get_model_version_by_alias("m", &AliasLookup::Latest).await.unwrap_err();
        assert!(latest.is_not_found());
        for _ in 0..3 {
            store.create_model_version(&new_version("m", "s3://b")).await.unwrap();
        }
        store.set_registered_model_alias("m", "champion", 2).await.unwrap();
        let by_alias = store.get_model_version_by_alias("m", &AliasLookup::Named("champion".into())).await.unwrap();
        assert_eq!((by_alias.version, by_alias.aliases.clone()), (2, vec!["champion".to_string()]));
        assert_eq!(store.get_model_version_by_alias("m", &AliasLookup::Latest).await.unwrap().version, 3);
        let model = store.get_registered_model("m").await.unwrap();
        assert_eq!(model.aliases, vec![ModelAlias { alias: "champion".into(), version: 2 }]);
        assert_eq!(model.latest_versions.iter().map(|v| v.version).collect::<Vec<_>>(), [3]);
        store.delete_registered_model_alias("m", "champion").await.unwrap();
        let unknown = store.get_model_version_by_alias("m", &AliasLookup::Named("champion".into())).await.unwrap_err();
        assert_eq!(unknown.code, ferroflow_core::ErrorCode::InvalidParameterValue);
        assert_eq!(unknown.message, "Registered model alias champion not found.");
        assert!(store.set_registered_model_alias("m", "x", 9).await.unwrap_err().is_not_found());
    }

    #[tokio::test]
    async fn logged_model_sources_resolve_to_their_artifacts() {
        let (_dir, store) = store().await;
        let experiment = store.create_experiment("e", None, &[], "mlflow-artifacts:").await.unwrap();
        let logged = store
            .create_logged_model(&NewLoggedModel {
                experiment_id: experiment.clone(),
                name: Some("agent".into()),
                source_run_id: Some("r1".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        store.create_registered_model(&new_model("m", &[])).await.unwrap();
        let version = store
            .create_model_version(&NewModelVersion {
                model_id: Some(logged.model_id.clone()),
                ..new_version("m", &format!("models:/{}", logged.model_id))
            })
            .await
            .unwrap();
        assert_eq!(version.run_id, "r1");
        assert_eq!(version.model_id.as_deref(), Some(logged.model_id.as_str()));
        let uri = store.get_model_version_download_uri("m", 1).await.unwrap();
        assert_eq!(uri, format!("mlflow-artifacts:/{experiment}/models/{}/artifacts", logged.model_id));
        let tagged = store.get_logged_model(&logged.model_id, false).await.unwrap();
        let recorded = tagged.tags.iter().find(|tag| tag.key == MODEL_VERSIONS_TAG_KEY).unwrap();
        assert_eq!(recorded.value, r#"[{"name":"m","version":1}]"#);
        let missing = store.create_model_version(&new_version("m", "models:/m-nope")).await.unwrap_err();
        assert_eq!(missing.code, ferroflow_core::ErrorCode::InvalidParameterValue);
    }
}
