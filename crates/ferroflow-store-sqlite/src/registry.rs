//! The model registry in SQLite: [`RegistryStore`] for [`SqliteStore`].
//!
//! Children of a registered model (versions, tags, aliases) hang off its integer id. Every read
//! is one statement: a model or version comes back with its children as JSON arrays built by
//! correlated subqueries (index seeks), and a search page with the children of its rows only.
//! Writes run on the single writer connection in one transaction, which is what makes "highest
//! version + 1" race-free, and use as few statements as they can (each is a hand-off to the
//! writer's thread).

use crate::error::{is_unique_violation, stored_enum, Context};
use crate::sql::{
    push_numeric_comparison, push_page, push_string_comparison, split_page, tag_rows, upsert_pairs, OnConflict,
};
use crate::SqliteStore;
use ferroflow_core::entities::*;
use ferroflow_core::ids::{AliasName, ModelName, TagKey};
use ferroflow_core::search::registry::{
    ModelVersionKey, ModelVersionOrderKey, PromptScope, RegisteredModelKey, RegisteredModelOrderKey,
};
use ferroflow_core::search::{Clause, OrderBy};
use ferroflow_core::store::{RegistryStore, SearchQuery};
use ferroflow_core::{time, Error, Result};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use std::sync::LazyLock;

/// What a deleted version keeps instead of its lineage, as the reference redacts it.
const REDACTED_SOURCE: &str = "REDACTED-SOURCE-PATH";
const REDACTED_RUN_ID: &str = "REDACTED-RUN-ID";
const REDACTED_RUN_LINK: &str = "REDACTED-RUN-LINK";

/// `<alias> IS a prompt` as SQL over a tag table aliased `p`, matching [`is_prompt_tagged`].
const PROMPT_TAG_MATCH: &str = "p.key = 'mlflow.prompt.is_prompt' AND lower(p.value) = 'true'";

// Every read is ONE statement that returns ONE value: a model or version with all of its
// children as JSON, or a whole search page as a JSON array of them. Each statement is a hand-off
// to the connection's worker thread and each row another message back from it, which costs more
// than the SQL. Children are built by correlated subqueries (each an index seek) and carry their
// rowid, so they are put in first-set order here: an ORDER BY inside an aggregate costs SQLite a
// temporary b-tree per call. (`json(...)` keeps a subquery's array an array inside another.)

/// A version row `v` whose model's name is `name_column` as `[name, version, creation, last
/// update, description, stage, source, run id, run link, model id, [[rowid, key, value], ...],
/// [[rowid, alias], ...]]`: read by [`version_from_json`].
fn version_json_sql(v: &str, name_column: &str) -> String {
    format!(
        "json_array({name_column}, {v}.version, {v}.creation_time, {v}.last_updated_time, {v}.description, \
             {v}.current_stage, {v}.source, {v}.run_id, {v}.run_link, {v}.model_id, \
             json((SELECT json_group_array(json_array(t.rowid, t.key, t.value)) FROM model_version_tags t \
                   WHERE t.rm_id = {v}.rm_id AND t.version = {v}.version)), \
             json((SELECT json_group_array(json_array(a.rowid, a.alias)) FROM registered_model_aliases a \
                   WHERE a.rm_id = {v}.rm_id AND a.version = {v}.version)))"
    )
}

/// A model row `rm` as `[name, creation, last update, description, tags, aliases, latest
/// versions]`: tags as `[[rowid, key, value], ...]`, aliases as `[[rowid, alias, version], ...]`
/// and the newest live version of each stage as [`LatestJson`] (its aliases are among the
/// model's). Read by [`model_from_json`]. The newest version of a stage is one seek in
/// `model_versions_live_by_stage` (migration 0006).
fn model_json_sql(rm: &str) -> String {
    let stages: Vec<String> = ModelStage::ALL.iter().map(|stage| format!("('{}')", stage.as_str())).collect();
    format!(
        "json_array({rm}.name, {rm}.creation_time, {rm}.last_updated_time, {rm}.description, \
           json((SELECT json_group_array(json_array(t.rowid, t.key, t.value)) FROM registered_model_tags t \
                 WHERE t.rm_id = {rm}.id)), \
           json((SELECT json_group_array(json_array(a.rowid, a.alias, a.version)) FROM registered_model_aliases a \
                 WHERE a.rm_id = {rm}.id)), \
           json((SELECT json_group_array(json_array(lv.version, lv.creation_time, lv.last_updated_time, \
                      lv.description, lv.current_stage, lv.source, lv.run_id, lv.run_link, lv.model_id, \
                      json((SELECT json_group_array(json_array(t.rowid, t.key, t.value)) FROM model_version_tags t \
                            WHERE t.rm_id = lv.rm_id AND t.version = lv.version)))) \
                 FROM (VALUES {}) stage JOIN model_versions lv ON lv.rm_id = {rm}.id AND lv.version = \
                   (SELECT max(x.version) FROM model_versions x \
                    WHERE x.rm_id = {rm}.id AND x.current_stage = stage.column1 AND x.deleted = 0))))",
        stages.join(", ")
    )
}

/// [`model_json_sql`] over a model row (or page row) aliased `rm`.
static MODEL_JSON_SQL: LazyLock<String> = LazyLock::new(|| model_json_sql("rm"));

/// [`version_json_sql`] over a page row aliased `v` that carries its model's `name`.
static PAGE_VERSION_JSON_SQL: LazyLock<String> = LazyLock::new(|| version_json_sql("v", "v.name"));

/// One model with its children, by name.
static LOAD_MODEL_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM registered_models rm WHERE rm.name = ?", *MODEL_JSON_SQL));

/// One live version with its children, by model name and number.
static LOAD_VERSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM registered_models rm JOIN model_versions v ON v.rm_id = rm.id \
         WHERE rm.name = ? AND v.version = ? AND v.deleted = 0",
        version_json_sql("v", "rm.name")
    )
});

/// The version an alias names (NULL when the alias is unknown), whether that version is live,
/// and the version with its children; no row when the model is unknown.
static VERSION_BY_ALIAS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT a.version, v.version IS NOT NULL, {} FROM registered_models rm \
         LEFT JOIN registered_model_aliases a ON a.rm_id = rm.id AND a.alias = ?1 \
         LEFT JOIN model_versions v ON v.rm_id = rm.id AND v.version = a.version AND v.deleted = 0 \
         WHERE rm.name = ?2",
        version_json_sql("v", "rm.name")
    )
});

/// As [`VERSION_BY_ALIAS_SQL`] for `latest`: the highest live version.
static LATEST_VERSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT v.version, v.version IS NOT NULL, {} FROM registered_models rm \
         LEFT JOIN model_versions v ON v.rm_id = rm.id AND v.deleted = 0 AND v.version = \
           (SELECT max(x.version) FROM model_versions x WHERE x.rm_id = rm.id AND x.deleted = 0) \
         WHERE rm.name = ?1",
        version_json_sql("v", "rm.name")
    )
});

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

fn bad_json(error: serde_json::Error) -> Error {
    Error::internal(format!("unreadable registry children: {error}"))
}

/// `[[rowid, key, value], ...]` as tags in rowid order: the order they were first set.
fn tags_in_order(mut triples: Vec<(i64, String, String)>) -> Vec<Tag> {
    triples.sort_unstable_by_key(|(rowid, _, _)| *rowid);
    triples.into_iter().map(|(_, key, value)| Tag::new(key, value)).collect()
}

/// A latest version inside [`model_json_sql`]: `[version, creation, last update, description,
/// stage, source, run id, run link, model id, tags]`.
type LatestJson = (i64, i64, i64, String, String, String, String, String, Option<String>, Vec<(i64, String, String)>);

/// What [`model_json_sql`] writes.
type ModelJson =
    (String, i64, i64, Option<String>, Vec<(i64, String, String)>, Vec<(i64, String, i64)>, Vec<LatestJson>);

/// What [`version_json_sql`] writes.
type VersionJson = (
    String,
    i64,
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Vec<(i64, String, String)>,
    Vec<(i64, String)>,
);

fn stage_of(text: &str) -> Result<ModelStage> {
    stored_enum("model version stage", text, ModelStage::parse)
}

fn model_from_json(
    (name, creation_timestamp, last_updated_timestamp, description, tags, mut aliases, mut latest): ModelJson,
) -> Result<RegisteredModel> {
    aliases.sort_unstable_by_key(|(rowid, _, _)| *rowid);
    latest.sort_unstable_by_key(|version| version.0);
    let latest_versions = latest
        .into_iter()
        .map(|(version, created, updated, description, stage, source, run_id, run_link, model_id, tags)| {
            Ok(ModelVersion {
                name: name.clone(),
                version,
                creation_timestamp: created,
                last_updated_timestamp: updated,
                description,
                current_stage: stage_of(&stage)?,
                source,
                run_id,
                run_link,
                model_id,
                tags: tags_in_order(tags),
                aliases: aliases
                    .iter()
                    .filter(|(_, _, aliased)| *aliased == version)
                    .map(|(_, alias, _)| alias.clone())
                    .collect(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(RegisteredModel {
        name,
        creation_timestamp,
        last_updated_timestamp,
        description,
        latest_versions,
        tags: tags_in_order(tags),
        aliases: aliases.into_iter().map(|(_, alias, version)| ModelAlias { alias, version }).collect(),
    })
}

fn version_from_json(
    (name, version, created, updated, description, stage, source, run_id, run_link, model_id, tags, mut aliases): VersionJson,
) -> Result<ModelVersion> {
    aliases.sort_unstable_by_key(|(rowid, _)| *rowid);
    Ok(ModelVersion {
        name,
        version,
        creation_timestamp: created,
        last_updated_timestamp: updated,
        description,
        current_stage: stage_of(&stage)?,
        source,
        run_id,
        run_link,
        model_id,
        tags: tags_in_order(tags),
        aliases: aliases.into_iter().map(|(_, alias)| alias).collect(),
    })
}

fn model_from_row(row: &SqliteRow, column: usize) -> Result<RegisteredModel> {
    serde_json::from_str(row.get::<&str, _>(column)).map_err(bad_json).and_then(model_from_json)
}

fn version_from_row(row: &SqliteRow, column: usize) -> Result<ModelVersion> {
    serde_json::from_str(row.get::<&str, _>(column)).map_err(bad_json).and_then(version_from_json)
}

/// Tags as a multi-row upsert leaves them: first-set order, last value wins.
fn upserted(tags: &[Tag]) -> Vec<Tag> {
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for tag in tags {
        match out.iter_mut().find(|existing| existing.key == tag.key) {
            Some(existing) => existing.value = tag.value.clone(),
            None => out.push(tag.clone()),
        }
    }
    out
}

/// The id of the model called `name`, or `RESOURCE_DOES_NOT_EXIST`.
async fn registered_model_id(conn: &mut SqliteConnection, name: &str) -> Result<i64> {
    sqlx::query("SELECT id FROM registered_models WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading registered model {name}"))?
        .map(|row| row.get(0))
        .ok_or_else(|| model_not_found(name))
}

/// The model id of a live version, or `RESOURCE_DOES_NOT_EXIST` for the model or the version.
async fn live_version(conn: &mut SqliteConnection, name: &str, version: i64) -> Result<i64> {
    let row = sqlx::query(
        "SELECT rm.id, v.version FROM registered_models rm \
         LEFT JOIN model_versions v ON v.rm_id = rm.id AND v.version = ?1 AND v.deleted = 0 WHERE rm.name = ?2",
    )
    .bind(version)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await
    .context(|| format!("loading version {version} of registered model {name}"))?
    .ok_or_else(|| model_not_found(name))?;
    match row.get::<Option<i64>, _>(1) {
        Some(_) => Ok(row.get(0)),
        None => Err(version_not_found(name, version)),
    }
}

async fn touch_model(conn: &mut SqliteConnection, rm_id: i64, now: i64) -> Result<()> {
    sqlx::query("UPDATE registered_models SET last_updated_time = ? WHERE id = ?")
        .bind(now)
        .bind(rm_id)
        .execute(&mut *conn)
        .await
        .context(|| format!("updating the time of registered model #{rm_id}"))?;
    Ok(())
}

async fn load_model(conn: &mut SqliteConnection, name: &str) -> Result<RegisteredModel> {
    let row = sqlx::query(&LOAD_MODEL_SQL)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading registered model {name}"))?
        .ok_or_else(|| model_not_found(name))?;
    model_from_row(&row, 0)
}

async fn load_version(conn: &mut SqliteConnection, name: &str, version: i64) -> Result<ModelVersion> {
    let row = sqlx::query(&LOAD_VERSION_SQL)
        .bind(name)
        .bind(version)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading version {version} of registered model {name}"))?
        .ok_or_else(|| version_not_found(name, version))?;
    version_from_row(&row, 0)
}

/// Touches the model called `name` and inserts its next version, returning the version's row
/// (none when there is no such model). Two statements sent as ONE command: each command is a
/// hand-off to the writer's thread, and the caller's transaction keeps them all-or-nothing. The
/// number is the highest ever given + 1, deleted versions included; the single writer
/// connection and the transaction keep anyone else from taking it in between.
fn insert_version<'q>(
    name: &'q str,
    now: i64,
    new_version: &'q NewModelVersion,
    storage_location: Option<&'q str>,
    run_id: Option<&'q str>,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    sqlx::query(
        "INSERT INTO model_versions (rm_id, version, creation_time, last_updated_time, description, source, \
             storage_location, run_id, run_link, model_id) \
         SELECT rm.id, coalesce((SELECT max(x.version) FROM model_versions x WHERE x.rm_id = rm.id), 0) + 1, \
             ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
         FROM registered_models rm WHERE rm.name = ?1 \
         RETURNING rm_id, version, creation_time, last_updated_time, description, current_stage, source, run_id, \
             run_link, model_id",
    )
    .bind(name)
    .bind(now)
    .bind(new_version.description.as_deref().unwrap_or(""))
    .bind(&new_version.source)
    .bind(storage_location)
    .bind(run_id.unwrap_or(""))
    .bind(new_version.run_link.as_deref().unwrap_or(""))
    .bind(&new_version.model_id)
}

/// The version [`insert_version`] returned. Its tags are the request's, and a new number never
/// had an alias (numbers are not reused, and deleting a version drops its aliases).
fn inserted_version(name: &str, row: &sqlx::sqlite::SqliteRow, tags: &[Tag]) -> Result<ModelVersion> {
    Ok(ModelVersion {
        name: name.to_string(),
        version: row.get(1),
        creation_timestamp: row.get(2),
        last_updated_timestamp: row.get(3),
        description: row.get(4),
        current_stage: stage_of(row.get::<&str, _>(5))?,
        source: row.get(6),
        run_id: row.get(7),
        run_link: row.get(8),
        model_id: row.get(9),
        tags: upserted(tags),
        aliases: Vec::new(),
    })
}

pub(crate) async fn upsert_model_tags(conn: &mut SqliteConnection, rm_id: i64, tags: &[Tag]) -> Result<()> {
    upsert_pairs(conn, "registered_model_tags", &["rm_id"], &tag_rows(rm_id, tags), OnConflict::Replace).await
}

pub(crate) async fn upsert_version_tags(
    conn: &mut SqliteConnection,
    rm_id: i64,
    version: i64,
    tags: &[Tag],
) -> Result<()> {
    let rows = tag_rows((rm_id, version), tags);
    upsert_pairs(conn, "model_version_tags", &["rm_id", "version"], &rows, OnConflict::Replace).await
}

/// The message for a taken name, which says whether a prompt or a model holds it.
async fn name_taken(conn: &mut SqliteConnection, model: &NewRegisteredModel) -> Result<Error> {
    let existing_is_prompt = sqlx::query(&format!(
        "SELECT 1 FROM registered_model_tags p JOIN registered_models rm ON rm.id = p.rm_id \
         WHERE rm.name = ? AND {PROMPT_TAG_MATCH}"
    ))
    .bind(model.name.as_str())
    .fetch_optional(&mut *conn)
    .await
    .context(|| format!("creating registered model {}", model.name.as_str()))?
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
                .context(|| format!("loading logged model {model_id}"))?
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
            .context(|| format!("loading version {number} of registered model {name}"))?
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
                .context(|| format!("loading logged model {model_id}"))?
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
        .context(|| format!("loading logged model {model_id}"))?;
    if exists.is_none() {
        return Ok(());
    }
    let existing: Option<String> = sqlx::query("SELECT value FROM logged_model_tags WHERE model_id = ? AND key = ?")
        .bind(model_id)
        .bind(MODEL_VERSIONS_TAG_KEY)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading tag {MODEL_VERSIONS_TAG_KEY} of logged model {model_id}"))?
        .map(|row| row.get(0));
    // A tag someone overwrote with non-JSON is replaced rather than failing the registration.
    let mut entries: Vec<serde_json::Value> =
        existing.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    entries.push(serde_json::json!({ "name": name, "version": version }));
    // Python's spacing, as the reference writes it: clients compare the string.
    let text = ferroflow_proto::encoding::python_json(&serde_json::Value::Array(entries));
    let rows = [(model_id, MODEL_VERSIONS_TAG_KEY, text.as_str())];
    upsert_pairs(conn, "logged_model_tags", &["model_id"], &rows, OnConflict::Replace).await
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
fn model_order_sql(order_by: &[OrderBy<RegisteredModelOrderKey>]) -> String {
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
    format!(" ORDER BY {}", terms.join(", "))
}

/// The requested order (newest update first when none), then name and version descending;
/// `name_column` is where the model's name is (`rm.name` in the page query, `v.name` around it).
fn version_order_sql(order_by: &[OrderBy<ModelVersionOrderKey>], name_column: &str) -> String {
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
                ModelVersionOrderKey::Name => name_column,
                ModelVersionOrderKey::VersionNumber => "v.version",
                ModelVersionOrderKey::CreationTimestamp => "v.creation_time",
                ModelVersionOrderKey::LastUpdatedTimestamp => "v.last_updated_time",
            };
            format!("{column} {}", direction(item.ascending))
        })
        .collect();
    if !order_by.iter().any(|item| item.key == ModelVersionOrderKey::Name) {
        terms.push(format!("{name_column} ASC"));
    }
    if !order_by.iter().any(|item| item.key == ModelVersionOrderKey::VersionNumber) {
        terms.push("v.version DESC".to_string());
    }
    format!(" ORDER BY {}", terms.join(", "))
}

#[async_trait::async_trait]
impl RegistryStore for SqliteStore {
    async fn create_registered_model(&self, model: &NewRegisteredModel) -> Result<RegisteredModel> {
        let now = time::now_millis();
        let mut tx =
            self.write.begin().await.context(|| format!("creating registered model {}", model.name.as_str()))?;
        let inserted = sqlx::query(
            "INSERT INTO registered_models (name, creation_time, last_updated_time, description) \
             VALUES (?, ?, ?, ?) RETURNING id, name, creation_time, last_updated_time, description",
        )
        .bind(model.name.as_str())
        .bind(now)
        .bind(now)
        .bind(&model.description)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            // A failed statement does not end the transaction, so the message can still look.
            Err(e) if is_unique_violation(&e) => return Err(name_taken(&mut tx, model).await?),
            Err(e) => return Err(e).context(|| format!("creating registered model {}", model.name.as_str())),
        };
        upsert_model_tags(&mut tx, row.get(0), &model.tags).await?;
        tx.commit().await.context(|| format!("creating registered model {}", model.name.as_str()))?;
        // A new model has no versions or aliases yet; its tags are the request's.
        Ok(RegisteredModel {
            name: row.get(1),
            creation_timestamp: row.get(2),
            last_updated_timestamp: row.get(3),
            description: row.get(4),
            latest_versions: Vec::new(),
            tags: upserted(&model.tags),
            aliases: Vec::new(),
        })
    }

    async fn get_registered_model(&self, name: &ModelName) -> Result<RegisteredModel> {
        let name = name.as_str();
        let mut conn = self.read.acquire().await.context(|| format!("loading registered model {name}"))?;
        load_model(&mut conn, name).await
    }

    async fn update_registered_model(&self, name: &ModelName, description: Option<&str>) -> Result<RegisteredModel> {
        let name = name.as_str();
        let mut tx = self.write.begin().await.context(|| format!("updating registered model {name}"))?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        sqlx::query("UPDATE registered_models SET description = ?, last_updated_time = ? WHERE id = ?")
            .bind(description)
            .bind(time::now_millis())
            .bind(rm_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("updating registered model {name}"))?;
        let updated = load_model(&mut tx, name).await?;
        tx.commit().await.context(|| format!("updating registered model {name}"))?;
        Ok(updated)
    }

    async fn rename_registered_model(&self, name: &ModelName, new_name: &ModelName) -> Result<RegisteredModel> {
        let new_name = new_name.as_str();
        let name = name.as_str();
        let now = time::now_millis();
        let mut tx = self.write.begin().await.context(|| format!("renaming registered model {name} to {new_name}"))?;
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
            Err(e) => return Err(e).context(|| format!("renaming registered model {name} to {new_name}")),
        }
        sqlx::query("UPDATE model_versions SET last_updated_time = ? WHERE rm_id = ? AND deleted = 0")
            .bind(now)
            .bind(rm_id)
            .execute(&mut *tx)
            .await
            .context(|| format!("renaming registered model {name} to {new_name}"))?;
        let model = load_model(&mut tx, new_name).await?;
        tx.commit().await.context(|| format!("renaming registered model {name} to {new_name}"))?;
        Ok(model)
    }

    async fn delete_registered_model(&self, name: &ModelName) -> Result<()> {
        let name = name.as_str();
        let mut tx = self.write.begin().await.context(|| format!("deleting registered model {name}"))?;
        // Versions, tags and aliases go with it (ON DELETE CASCADE).
        let deleted = sqlx::query("DELETE FROM registered_models WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting registered model {name}"))?;
        if deleted.rows_affected() == 0 {
            return Err(model_not_found(name));
        }
        tx.commit().await.context(|| format!("deleting registered model {name}"))
    }

    async fn search_registered_models(
        &self,
        scope: PromptScope,
        query: &SearchQuery<RegisteredModelKey, RegisteredModelOrderKey>,
    ) -> Result<Page<RegisteredModel>> {
        // The page is chosen first (the inner query), so children are built for its rows only,
        // and comes back as one JSON array, ordered again: SQL keeps no subquery's row order.
        let order = model_order_sql(&query.order_by);
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT json_group_array({} {order}) FROM (SELECT rm.id, rm.name, rm.creation_time, \
                 rm.last_updated_time, rm.description FROM registered_models rm WHERE 1 = 1",
            *MODEL_JSON_SQL
        ));
        if scope == PromptScope::Models {
            push_exclude_prompts(&mut builder, "rm.id", false);
        }
        for clause in &query.clauses {
            builder.push(" AND ");
            push_model_clause(&mut builder, clause)?;
        }
        builder.push(&order);
        push_page(&mut builder, query.max_results, query.offset);
        builder.push(") rm");
        let row = builder.build().fetch_one(&self.read).await.context(|| "searching registered models")?;
        let rows: Vec<ModelJson> = serde_json::from_str(row.get::<&str, _>(0)).map_err(bad_json)?;
        let (rows, next_offset) = split_page(rows, query.max_results, query.offset);
        Ok(Page { items: rows.into_iter().map(model_from_json).collect::<Result<_>>()?, next_offset })
    }

    async fn get_latest_versions(&self, name: &ModelName, stages: &[ModelStage]) -> Result<Vec<ModelVersion>> {
        let model = self.get_registered_model(name).await?;
        Ok(model
            .latest_versions
            .into_iter()
            .filter(|version| stages.is_empty() || stages.contains(&version.current_stage))
            .collect())
    }

    async fn set_registered_model_tag(&self, name: &ModelName, tag: &Tag) -> Result<()> {
        let name = name.as_str();
        let mut tx =
            self.write.begin().await.context(|| format!("setting tag {} of registered model {name}", tag.key))?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        upsert_model_tags(&mut tx, rm_id, std::slice::from_ref(tag)).await?;
        tx.commit().await.context(|| format!("setting tag {} of registered model {name}", tag.key))
    }

    async fn delete_registered_model_tag(&self, name: &ModelName, key: &TagKey) -> Result<()> {
        let name = name.as_str();
        let key = key.as_str();
        let mut tx = self.write.begin().await.context(|| format!("deleting tag {key} of registered model {name}"))?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_tags WHERE rm_id = ? AND key = ?")
            .bind(rm_id)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting tag {key} of registered model {name}"))?;
        tx.commit().await.context(|| format!("deleting tag {key} of registered model {name}"))
    }

    async fn create_model_version(&self, new_version: &NewModelVersion) -> Result<ModelVersion> {
        let now = time::now_millis();
        let name = new_version.name.as_str();
        let source = ModelSource::parse(&new_version.source);
        if source == ModelSource::Other && new_version.model_id.is_none() && new_version.tags.is_empty() {
            // The common registration is one statement (the model's update time follows by
            // trigger): autocommit on the single writer, no transaction to begin and commit.
            let run_id = new_version.run_id.as_deref().filter(|id| !id.is_empty());
            let row = insert_version(name, now, new_version, None, run_id)
                .fetch_optional(&self.write)
                .await
                .context(|| format!("creating a version of registered model {name}"))?
                .ok_or_else(|| model_not_found(name))?;
            return inserted_version(name, &row, &new_version.tags);
        }
        let mut tx = self.write.begin().await.context(|| format!("creating a version of registered model {name}"))?;
        if source != ModelSource::Other || new_version.model_id.is_some() {
            // An unknown model is reported before a source that does not resolve.
            registered_model_id(&mut tx, name).await?;
        }
        let (storage_location, run_id) = resolve_source(&mut tx, new_version).await?;
        let row = insert_version(name, now, new_version, storage_location.as_deref(), run_id.as_deref())
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("creating a version of registered model {name}"))?
            .ok_or_else(|| model_not_found(name))?;
        let (rm_id, version): (i64, i64) = (row.get(0), row.get(1));
        upsert_version_tags(&mut tx, rm_id, version, &new_version.tags).await?;
        if let Some(model_id) = new_version.model_id.as_deref().filter(|_| !new_version.is_prompt()) {
            record_version_on_logged_model(&mut tx, model_id, name, version).await?;
        }
        tx.commit().await.context(|| format!("creating a version of registered model {name}"))?;
        inserted_version(name, &row, &new_version.tags)
    }

    async fn get_model_version(&self, name: &ModelName, version: i64) -> Result<ModelVersion> {
        let name = name.as_str();
        let mut conn =
            self.read.acquire().await.context(|| format!("loading version {version} of registered model {name}"))?;
        load_version(&mut conn, name, version).await
    }

    async fn update_model_version(
        &self,
        name: &ModelName,
        version: i64,
        description: Option<&str>,
    ) -> Result<ModelVersion> {
        let name = name.as_str();
        let mut tx =
            self.write.begin().await.context(|| format!("updating version {version} of registered model {name}"))?;
        let rm_id = live_version(&mut tx, name, version).await?;
        sqlx::query("UPDATE model_versions SET description = ?, last_updated_time = ? WHERE rm_id = ? AND version = ?")
            .bind(description.unwrap_or(""))
            .bind(time::now_millis())
            .bind(rm_id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .context(|| format!("updating version {version} of registered model {name}"))?;
        let updated = load_version(&mut tx, name, version).await?;
        tx.commit().await.context(|| format!("updating version {version} of registered model {name}"))?;
        Ok(updated)
    }

    async fn transition_model_version_stage(
        &self,
        name: &ModelName,
        version: i64,
        stage: ModelStage,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        let name = name.as_str();
        let now = time::now_millis();
        let mut tx =
            self.write.begin().await.context(|| {
                format!("moving version {version} of registered model {name} to stage {}", stage.as_str())
            })?;
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
            .context(|| format!("moving version {version} of registered model {name} to stage {}", stage.as_str()))?;
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
        .context(|| format!("moving version {version} of registered model {name} to stage {}", stage.as_str()))?;
        touch_model(&mut tx, rm_id, now).await?;
        let moved = load_version(&mut tx, name, version).await?;
        tx.commit()
            .await
            .context(|| format!("moving version {version} of registered model {name} to stage {}", stage.as_str()))?;
        Ok(moved)
    }

    async fn delete_model_version(&self, name: &ModelName, version: i64) -> Result<()> {
        let name = name.as_str();
        let now = time::now_millis();
        let mut tx =
            self.write.begin().await.context(|| format!("deleting version {version} of registered model {name}"))?;
        let rm_id = live_version(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE rm_id = ? AND version = ?")
            .bind(rm_id)
            .bind(version)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting version {version} of registered model {name}"))?;
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
        .context(|| format!("deleting version {version} of registered model {name}"))?;
        touch_model(&mut tx, rm_id, now).await?;
        tx.commit().await.context(|| format!("deleting version {version} of registered model {name}"))
    }

    async fn search_model_versions(
        &self,
        scope: PromptScope,
        query: &SearchQuery<ModelVersionKey, ModelVersionOrderKey>,
    ) -> Result<Page<ModelVersion>> {
        // As for models: the page first, then its children, as one JSON array ordered again.
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT json_group_array({} {}) FROM (SELECT v.rm_id AS rm_id, rm.name AS name, v.version AS version, \
                 v.creation_time AS creation_time, v.last_updated_time AS last_updated_time, \
                 v.description AS description, v.current_stage AS current_stage, v.source AS source, \
                 v.run_id AS run_id, v.run_link AS run_link, v.model_id AS model_id \
             FROM model_versions v JOIN registered_models rm ON rm.id = v.rm_id WHERE v.deleted = 0",
            *PAGE_VERSION_JSON_SQL,
            version_order_sql(&query.order_by, "v.name")
        ));
        if scope == PromptScope::Models {
            push_exclude_prompts(&mut builder, "v.rm_id", true);
        }
        for clause in &query.clauses {
            builder.push(" AND ");
            push_version_clause(&mut builder, clause)?;
        }
        builder.push(version_order_sql(&query.order_by, "rm.name"));
        push_page(&mut builder, query.max_results, query.offset);
        builder.push(") v");
        let row = builder.build().fetch_one(&self.read).await.context(|| "searching model versions")?;
        let rows: Vec<VersionJson> = serde_json::from_str(row.get::<&str, _>(0)).map_err(bad_json)?;
        let (rows, next_offset) = split_page(rows, query.max_results, query.offset);
        Ok(Page { items: rows.into_iter().map(version_from_json).collect::<Result<_>>()?, next_offset })
    }

    async fn get_model_version_download_uri(&self, name: &ModelName, version: i64) -> Result<String> {
        let name = name.as_str();
        sqlx::query(
            "SELECT coalesce(v.storage_location, v.source) FROM model_versions v \
             JOIN registered_models rm ON rm.id = v.rm_id WHERE rm.name = ? AND v.version = ? AND v.deleted = 0",
        )
        .bind(name)
        .bind(version)
        .fetch_optional(&self.read)
        .await
        .context(|| format!("loading version {version} of registered model {name}"))?
        .map(|row| row.get(0))
        .ok_or_else(|| version_not_found(name, version))
    }

    async fn set_model_version_tag(&self, name: &ModelName, version: i64, tag: &Tag) -> Result<()> {
        let name = name.as_str();
        let mut tx = self
            .write
            .begin()
            .await
            .context(|| format!("setting tag {} of version {version} of registered model {name}", tag.key))?;
        let rm_id = live_version(&mut tx, name, version).await?;
        upsert_version_tags(&mut tx, rm_id, version, std::slice::from_ref(tag)).await?;
        tx.commit().await.context(|| format!("setting tag {} of version {version} of registered model {name}", tag.key))
    }

    async fn delete_model_version_tag(&self, name: &ModelName, version: i64, key: &TagKey) -> Result<()> {
        let name = name.as_str();
        let key = key.as_str();
        let mut tx = self
            .write
            .begin()
            .await
            .context(|| format!("deleting tag {key} of version {version} of registered model {name}"))?;
        let rm_id = live_version(&mut tx, name, version).await?;
        sqlx::query("DELETE FROM model_version_tags WHERE rm_id = ? AND version = ? AND key = ?")
            .bind(rm_id)
            .bind(version)
            .bind(key)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting tag {key} of version {version} of registered model {name}"))?;
        tx.commit().await.context(|| format!("deleting tag {key} of version {version} of registered model {name}"))
    }

    async fn set_registered_model_alias(&self, name: &ModelName, alias: &AliasName, version: i64) -> Result<()> {
        let alias = alias.as_str();
        let name = name.as_str();
        let mut tx =
            self.write.begin().await.context(|| format!("setting alias {alias} of registered model {name}"))?;
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
        .context(|| format!("setting alias {alias} of registered model {name}"))?;
        tx.commit().await.context(|| format!("setting alias {alias} of registered model {name}"))
    }

    async fn delete_registered_model_alias(&self, name: &ModelName, alias: &AliasName) -> Result<()> {
        let alias = alias.as_str();
        let name = name.as_str();
        let mut tx =
            self.write.begin().await.context(|| format!("deleting alias {alias} of registered model {name}"))?;
        let rm_id = registered_model_id(&mut tx, name).await?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE rm_id = ? AND alias = ?")
            .bind(rm_id)
            .bind(alias)
            .execute(&mut *tx)
            .await
            .context(|| format!("deleting alias {alias} of registered model {name}"))?;
        tx.commit().await.context(|| format!("deleting alias {alias} of registered model {name}"))
    }

    async fn get_model_version_by_alias(&self, name: &ModelName, alias: &AliasLookup) -> Result<ModelVersion> {
        let name = name.as_str();
        let query = match alias {
            AliasLookup::Latest => sqlx::query(&LATEST_VERSION_SQL),
            AliasLookup::Named(alias) => sqlx::query(&VERSION_BY_ALIAS_SQL).bind(alias.as_str()),
        };
        let row = query
            .bind(name)
            .fetch_optional(&self.read)
            .await
            .context(|| format!("loading an alias of registered model {name}"))?
            .ok_or_else(|| model_not_found(name))?;
        let live: bool = row.get(1);
        match (row.get::<Option<i64>, _>(0), alias) {
            (Some(_), _) if live => version_from_row(&row, 2),
            (Some(version), _) => Err(version_not_found(name, version)),
            (None, AliasLookup::Latest) => Err(Error::not_found(format!("Latest version not found for model {name}."))),
            (None, AliasLookup::Named(alias)) => {
                Err(Error::invalid(format!("Registered model alias {alias} not found.")))
            }
        }
    }
}
