//! MLflow's validation rules and limits, checked once at the boundary so that everything past
//! it can trust its input.

use crate::entities::{Metric, Param, RunBatch, Tag};
use crate::{Error, Result};

pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;
pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_ENTITIES_PER_BATCH: usize = 1000;
pub const MAX_PARAM_VAL_LENGTH: usize = 6000;
pub const MAX_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
pub const MAX_EXPERIMENT_TAG_VAL_LENGTH: usize = 20000;
pub const MAX_ENTITY_KEY_LENGTH: usize = 250;
pub const MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH: usize = 100_000;
pub const MAX_REGISTERED_MODEL_ALIAS_LENGTH: usize = 255;
pub const MAX_TRACE_TAG_KEY_LENGTH: usize = 250;
pub const MAX_TRACE_TAG_VAL_LENGTH: usize = 8000;
pub const MAX_RUN_NAME_LENGTH: usize = 250;
pub const MAX_RESULTS_SEARCH_RUNS: i64 = 50_000;
pub const MAX_RESULTS_SEARCH_EXPERIMENTS: i64 = 50_000;
pub const MAX_RESULTS_SEARCH_TRACES: i64 = 500;
pub const MAX_RESULTS_METRIC_HISTORY: i64 = 25_000;

/// A field the request must carry.
pub fn required<'a>(field: &str, value: Option<&'a str>) -> Result<&'a str> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(Error::invalid(format!("Missing value for required parameter '{field}'."))),
    }
}

pub fn max_length(what: &str, value: &str, limit: usize) -> Result<()> {
    let length = value.chars().count();
    if length > limit {
        return Err(Error::invalid(format!(
            "{what} exceeds the maximum length of {limit} characters (got {length})."
        )));
    }
    Ok(())
}

/// Names of params, metrics and tags: letters, digits, `_ - . / :` and spaces, and they must
/// stay the same name when treated as a file path.
pub fn entity_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty.")));
    }
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' ' | ':');
    if !key.chars().all(allowed) {
        return Err(Error::invalid(format!(
            "Invalid {what} '{key}': names may only contain alphanumerics, underscores (_), dashes (-), \
             periods (.), spaces ( ), colons (:) and slashes (/)."
        )));
    }
    if !path_is_normal(key) {
        return Err(Error::invalid(format!(
            "Invalid {what} '{key}': names may be treated as file paths and must not resolve to another name."
        )));
    }
    max_length(what, key, MAX_ENTITY_KEY_LENGTH)
}

/// True when a `/`-separated name has no empty, `.` or `..` segments and no leading slash.
fn path_is_normal(name: &str) -> bool {
    !name.starts_with('/')
        && !name.ends_with('/')
        && name.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

pub fn metric(metric: &Metric) -> Result<()> {
    entity_key("metric name", &metric.key)?;
    if metric.timestamp < 0 {
        return Err(Error::invalid(format!(
            "Invalid timestamp {} for metric '{}': must be a nonnegative long.",
            metric.timestamp, metric.key
        )));
    }
    Ok(())
}

pub fn param(param: &Param) -> Result<()> {
    entity_key("param name", &param.key)?;
    max_length(&format!("Param value of '{}'", param.key), &param.value, MAX_PARAM_VAL_LENGTH)
}

pub fn run_tag(tag: &Tag) -> Result<()> {
    entity_key("tag name", &tag.key)?;
    max_length(&format!("Tag value of '{}'", tag.key), &tag.value, MAX_TAG_VAL_LENGTH)
}

pub fn experiment_tag(tag: &Tag) -> Result<()> {
    entity_key("tag name", &tag.key)?;
    max_length(&format!("Tag value of '{}'", tag.key), &tag.value, MAX_EXPERIMENT_TAG_VAL_LENGTH)
}

pub fn experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("Invalid experiment name: it must be a non-empty string."));
    }
    max_length("Experiment name", name, MAX_EXPERIMENT_NAME_LENGTH)
}

/// Experiment ids are decimal integers.
pub fn experiment_id(id: &str) -> Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::invalid(format!("Invalid experiment ID '{id}': must be an integer.")))
}

/// Run ids: a letter or digit then up to 255 word characters or dashes.
pub fn run_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || id.len() > 256 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Error::invalid(format!("Invalid value '{id}' for parameter 'run_id'.")));
    }
    Ok(())
}

/// Everything one `log-batch` carries: per-item rules, batch limits, and no param logged twice
/// with different values.
pub fn run_batch(batch: &RunBatch) -> Result<()> {
    if batch.metrics.len() > MAX_METRICS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_METRICS_PER_BATCH} metrics. Got {} metrics.",
            batch.metrics.len()
        )));
    }
    if batch.params.len() > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} params. Got {} params.",
            batch.params.len()
        )));
    }
    if batch.tags.len() > MAX_PARAMS_TAGS_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_PARAMS_TAGS_PER_BATCH} tags. Got {} tags.",
            batch.tags.len()
        )));
    }
    let total = batch.metrics.len() + batch.params.len() + batch.tags.len();
    if total > MAX_ENTITIES_PER_BATCH {
        return Err(Error::invalid(format!(
            "A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} metrics, params and tags in total. Got {total}."
        )));
    }
    batch.metrics.iter().try_for_each(metric)?;
    batch.params.iter().try_for_each(param)?;
    batch.tags.iter().try_for_each(run_tag)?;
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for p in &batch.params {
        if let Some(previous) = seen.insert(&p.key, &p.value) {
            if previous != p.value {
                return Err(Error::invalid(format!(
                    "Duplicate parameter keys have been submitted: '{}' with values '{previous}' and '{}'.",
                    p.key, p.value
                )));
            }
        }
    }
    Ok(())
}

/// Artifact paths: relative, `/`-separated, no `..`, no backslashes, no NUL.
pub fn artifact_path(path: &str) -> Result<()> {
    let bad = path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path.split('/').any(|segment| segment == "..")
        || path.contains("://");
    if bad {
        return Err(Error::invalid(format!("Invalid path '{path}': must be relative and must not contain '..'.")));
    }
    Ok(())
}

pub fn max_results(what: &str, requested: Option<i64>, default: i64, maximum: i64) -> Result<i64> {
    let value = requested.unwrap_or(default);
    if value <= 0 || value > maximum {
        return Err(Error::invalid(format!(
            "Invalid value {value} for parameter 'max_results' of {what}: it must be at most {maximum} and positive."
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(entity_key("tag name", "mlflow.runName").is_ok());
        assert!(entity_key("tag name", "a/b c:d-e_f").is_ok());
        assert!(entity_key("tag name", "../x").is_err());
        assert!(entity_key("tag name", "a//b").is_err());
        assert!(entity_key("tag name", "bad!").is_err());
        assert!(entity_key("tag name", &"k".repeat(251)).is_err());
    }

    #[test]
    fn batch_param_conflict() {
        let batch = RunBatch {
            params: vec![
                Param { key: "a".into(), value: "1".into() },
                Param { key: "a".into(), value: "2".into() },
            ],
            ..Default::default()
        };
        assert!(run_batch(&batch).is_err());
    }

    #[test]
    fn artifact_paths() {
        assert!(artifact_path("1/abc/artifacts/x.txt").is_ok());
        assert!(artifact_path("../etc/passwd").is_err());
        assert!(artifact_path("/etc/passwd").is_err());
        assert!(artifact_path("a\\b").is_err());
    }
}
