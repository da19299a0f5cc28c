//! GenAI issues in SQLite: [`IssueStore`] for [`SqliteStore`]. One row per issue; lists and
//! metadata are JSON text columns.

use crate::error::{is_unique_violation, Context};
use crate::SqliteStore;
use ferroflow_core::entities::{Issue, IssueFilterKey, IssueOrderKey, IssuePage, IssueSearch};
use ferroflow_core::ids::ExperimentId;
use ferroflow_core::store::IssueStore;
use ferroflow_core::{Error, Result};
use ferroflow_store_common::issues::{
    decode_list, decode_metadata, encode_list, encode_metadata, severity_rank_sql, status_rank_sql,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

const COLUMNS: &str = "i.issue_id, i.experiment_id, i.name, i.description, i.status, i.severity, i.root_causes, \
     i.source_run_id, i.categories, i.created_by, i.created_timestamp, i.last_updated_timestamp, \
     i.last_seen_timestamp, i.last_updated_by, i.metadata";

/// `issue` assessments name their issue by id; the trace count is of distinct traces.
const TRACE_COUNT: &str =
    "(SELECT count(DISTINCT a.trace_id) FROM assessments a WHERE a.kind = 'issue' AND a.name = i.issue_id)";

fn issue_of(row: &SqliteRow, with_trace_count: bool, basic: bool) -> Result<Issue> {
    Ok(Issue {
        issue_id: row.get(0),
        experiment_id: ExperimentId::from_stored(row.get(1)),
        name: row.get(2),
        description: if basic { String::new() } else { row.get(3) },
        status: row.get(4),
        severity: row.get(5),
        root_causes: if basic { Vec::new() } else { decode_list(row.get(6))? },
        source_run_id: row.get(7),
        categories: decode_list(row.get(8))?,
        created_by: row.get(9),
        created_timestamp: row.get(10),
        last_updated_timestamp: row.get(11),
        last_seen_timestamp: row.get(12),
        last_updated_by: row.get(13),
        metadata: if basic { Vec::new() } else { decode_metadata(row.get(14))? },
        trace_count: if with_trace_count { Some(row.get(15)) } else { None },
    })
}

async fn load(conn: &mut SqliteConnection, issue_id: &str) -> Result<Issue> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM issues i WHERE i.issue_id = ?"))
        .bind(issue_id)
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading issue {issue_id}"))?
        .ok_or_else(|| Error::not_found(format!("Issue with ID '{issue_id}' not found")))?;
    issue_of(&row, false, false)
}

/// An issue lives in an active experiment; a deleted one is as missing as an unknown one.
async fn require_live_experiment(conn: &mut SqliteConnection, experiment_id: ExperimentId) -> Result<()> {
    let stage: Option<String> = sqlx::query_scalar("SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?")
        .bind(experiment_id.get())
        .fetch_optional(&mut *conn)
        .await
        .context(|| format!("loading experiment {experiment_id}"))?;
    match stage.as_deref() {
        Some("active") => Ok(()),
        _ => Err(Error::not_found(format!("No Experiment with id={experiment_id} exists"))),
    }
}

fn already_exists() -> Error {
    Error::already_exists("Issue ID already exists")
}

#[async_trait::async_trait]
impl IssueStore for SqliteStore {
    async fn create_issue(&self, issue: &Issue) -> Result<Issue> {
        let mut tx = self.write.begin().await.context(|| format!("creating issue {}", issue.issue_id))?;
        require_live_experiment(&mut tx, issue.experiment_id).await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM issues WHERE issue_id = ?")
            .bind(&issue.issue_id)
            .fetch_optional(&mut *tx)
            .await
            .context(|| format!("creating issue {}", issue.issue_id))?;
        if taken.is_some() {
            return Err(already_exists());
        }
        if let Some(run_id) = &issue.source_run_id {
            let run_experiment: Option<i64> = sqlx::query_scalar("SELECT experiment_id FROM runs WHERE run_uuid = ?")
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await
                .context(|| format!("loading run {run_id}"))?;
            match run_experiment {
                None => return Err(Error::not_found(format!("Run with id={run_id} not found"))),
                Some(id) if id != issue.experiment_id.get() => {
                    return Err(Error::invalid("Source run must belong to the Issue experiment"))
                }
                Some(_) => {}
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO issues (issue_id, experiment_id, name, description, status, severity, root_causes, \
             source_run_id, categories, created_by, created_timestamp, last_updated_timestamp, \
             last_seen_timestamp, last_updated_by, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&issue.issue_id)
        .bind(issue.experiment_id.get())
        .bind(&issue.name)
        .bind(&issue.description)
        .bind(&issue.status)
        .bind(&issue.severity)
        .bind(encode_list(&issue.root_causes))
        .bind(&issue.source_run_id)
        .bind(encode_list(&issue.categories))
        .bind(&issue.created_by)
        .bind(issue.created_timestamp)
        .bind(issue.last_updated_timestamp)
        .bind(issue.last_seen_timestamp)
        .bind(&issue.last_updated_by)
        .bind(encode_metadata(&issue.metadata))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(error) if is_unique_violation(&error) => return Err(already_exists()),
            other => other.context(|| format!("creating issue {}", issue.issue_id))?,
        };
        let stored = load(&mut tx, &issue.issue_id).await?;
        tx.commit().await.context(|| format!("creating issue {}", issue.issue_id))?;
        Ok(stored)
    }

    async fn get_issue(&self, issue_id: &str) -> Result<Issue> {
        let mut conn = self.read.acquire().await.context(|| format!("loading issue {issue_id}"))?;
        load(&mut conn, issue_id).await
    }

    async fn update_issue(
        &self,
        issue_id: &str,
        update: &(dyn for<'a> Fn(&'a Issue) -> Result<Issue> + Send + Sync),
    ) -> Result<Issue> {
        // The one writer connection serializes updates: read, merge and write cannot interleave.
        let mut tx = self.write.begin().await.context(|| format!("updating issue {issue_id}"))?;
        let existing = load(&mut tx, issue_id).await?;
        let issue = update(&existing)?;
        sqlx::query(
            "UPDATE issues SET name = ?, description = ?, status = ?, severity = ?, categories = ?, \
             last_updated_timestamp = ?, last_seen_timestamp = ?, last_updated_by = ?, metadata = ? \
             WHERE issue_id = ?",
        )
        .bind(&issue.name)
        .bind(&issue.description)
        .bind(&issue.status)
        .bind(&issue.severity)
        .bind(encode_list(&issue.categories))
        .bind(issue.last_updated_timestamp)
        .bind(issue.last_seen_timestamp)
        .bind(&issue.last_updated_by)
        .bind(encode_metadata(&issue.metadata))
        .bind(issue_id)
        .execute(&mut *tx)
        .await
        .context(|| format!("updating issue {issue_id}"))?;
        let stored = load(&mut tx, issue_id).await?;
        tx.commit().await.context(|| format!("updating issue {issue_id}"))?;
        Ok(stored)
    }

    async fn search_issues(&self, search: &IssueSearch) -> Result<IssuePage> {
        let mut conn = self.read.acquire().await.context(|| "searching issues")?;
        let push_filters = |builder: &mut QueryBuilder<'_, Sqlite>| {
            builder.push(" FROM issues i WHERE 1 = 1");
            if let Some(experiment_id) = search.experiment_id {
                builder.push(" AND i.experiment_id = ").push_bind(experiment_id.get());
            }
            for filter in &search.filters {
                let column = match filter.key {
                    IssueFilterKey::Status => "i.status",
                    IssueFilterKey::SourceRunId => "i.source_run_id",
                };
                builder.push(format!(" AND {column} {} ", if filter.equal { "=" } else { "!=" }));
                builder.push_bind(filter.value.clone());
            }
            if let Some(name) = &search.name {
                // A literal substring, whatever its characters: instr, not LIKE.
                builder.push(" AND instr(lower(i.name), lower(").push_bind(name.clone()).push(")) > 0");
            }
            for (column, values) in [("status", &search.statuses), ("severity", &search.severities)] {
                if !values.is_empty() {
                    builder.push(format!(" AND i.{column} IN (SELECT value FROM json_each("));
                    builder.push_bind(encode_list(values)).push("))");
                }
            }
            if !search.categories.is_empty() {
                let wanted: Vec<String> = search.categories.iter().map(|c| c.trim().to_lowercase()).collect();
                builder.push(
                    " AND EXISTS (SELECT 1 FROM json_each(i.categories) c WHERE lower(trim(c.value)) IN \
                     (SELECT value FROM json_each(",
                );
                builder.push_bind(encode_list(&wanted)).push(")))");
            }
        };
        let total_count = if search.include_total_count {
            let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT count(*)");
            push_filters(&mut builder);
            let count: i64 = builder.build().fetch_one(&mut *conn).await.context(|| "counting issues")?.get(0);
            Some(count as u64)
        } else {
            None
        };
        let mut builder: QueryBuilder<Sqlite> = QueryBuilder::new(format!("SELECT {COLUMNS}, {TRACE_COUNT}"));
        push_filters(&mut builder);
        builder.push(" ORDER BY ");
        if search.order_by.is_empty() {
            builder.push(severity_rank_sql("i.severity"));
            builder.push(" DESC");
            if search.include_trace_count {
                builder.push(format!(", {TRACE_COUNT} DESC"));
            }
            builder.push(", i.created_timestamp DESC");
        }
        for (index, (key, ascending)) in search.order_by.iter().enumerate() {
            if index > 0 {
                builder.push(", ");
            }
            match key {
                IssueOrderKey::Severity => {
                    builder.push(severity_rank_sql("i.severity"));
                }
                IssueOrderKey::Status => {
                    builder.push(status_rank_sql("i.status"));
                }
                IssueOrderKey::Name => {
                    builder.push("lower(i.name)");
                }
                IssueOrderKey::CreatedTimestamp => {
                    builder.push("i.created_timestamp");
                }
                IssueOrderKey::LastUpdatedTimestamp => {
                    builder.push("i.last_updated_timestamp");
                }
                IssueOrderKey::LastSeenTimestamp => {
                    builder.push("i.last_seen_timestamp");
                }
            }
            builder.push(if *ascending { " ASC" } else { " DESC" });
        }
        // The id breaks ties, so pages never overlap.
        builder.push(", i.issue_id DESC LIMIT ").push_bind(search.max_results as i64 + 1);
        builder.push(" OFFSET ").push_bind(search.offset as i64);
        let rows = builder.build().fetch_all(&mut *conn).await.context(|| "searching issues")?;
        let mut issues = rows
            .iter()
            .map(|row| issue_of(row, search.include_trace_count, search.basic))
            .collect::<Result<Vec<_>>>()?;
        let next_offset = if issues.len() as u64 > search.max_results {
            issues.truncate(search.max_results as usize);
            Some(search.offset + search.max_results)
        } else {
            None
        };
        Ok(IssuePage { issues, next_offset, total_count })
    }
}
