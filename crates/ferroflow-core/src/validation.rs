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
        // MLflow's request-schema text, suffix included.
        _ => Err(Error::invalid(format!(
            "Missing value for required parameter '{field}'. See the API docs for more information about request parameters."
        ))),
    }
}

pub fn max_length(what: &str, value: &str, limit: usize) -> Result<()> {
    let length = value.chars().count();
    if length > limit {
        return Err(Error::invalid(format!("{what} exceeds the maximum length of {limit} characters (got {length}).")));
    }
    Ok(())
}

/// A trace tag, whether it comes with StartTraceV3 or by itself: MLflow's key and value limits.
pub fn trace_tag(key: &str, value: &str) -> Result<()> {
    max_length("Trace tag key", key, MAX_TRACE_TAG_KEY_LENGTH)?;
    max_length(&format!("Trace tag value of '{key}'"), value, MAX_TRACE_TAG_VAL_LENGTH)
}

/// A trace tag set by itself (`PATCH traces/{id}/tags`): MLflow also holds its key to the tag
/// name form there, which the tags of a StartTraceV3 record are not held to.
pub fn set_trace_tag(key: &str, value: &str) -> Result<()> {
    entity_key_form("trace tag key", key)?;
    trace_tag(key, value)
}

/// Names of params, metrics and tags: letters, digits, `_ - . / :` and spaces, and they must
/// stay the same name when treated as a file path; at most 250 characters.
pub fn entity_key(what: &str, key: &str) -> Result<()> {
    entity_key_form(what, key)?;
    max_length(what, key, MAX_ENTITY_KEY_LENGTH)
}

/// The form of an entity key without its length limit: what MLflow checks of a key that names
/// a registry tag to delete.
pub fn entity_key_form(what: &str, key: &str) -> Result<()> {
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
    Ok(())
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

/// Artifact paths: relative, `/`-separated, no `..`, no backslashes, no control characters
/// (a line break in a key is stored by some S3 servers but not listed back readably, which
/// would break every listing of its directory).
pub fn artifact_path(path: &str) -> Result<()> {
    let bad = path.starts_with('/')
        || path.contains('\\')
        || path.chars().any(char::is_control)
        || path.contains('#')
        || path.split('/').any(|segment| segment == "..")
        || path.contains("://");
    if bad {
        // MLflow's exact text; clients match it.
        return Err(Error::invalid("Invalid path"));
    }
    Ok(())
}

/// A page size within `1..=maximum`, refused with MLflow's text: the reference checks the upper
/// bound of these searches in its request schema (whose message is generic) and the others in
/// its store.
pub fn max_results(what: &str, requested: Option<i64>, default: i64, maximum: i64) -> Result<i64> {
    const CHECKED_BY_SCHEMA: &[&str] =
        &["runs/search", "traces/search", "registered-models/search", "model-versions/search"];
    let value = requested.unwrap_or(default);
    if value <= 0 && what == "model-versions/search" {
        return Err(Error::invalid(format!(
            "Invalid value for max_results. It must be a positive integer, but got {value}"
        )));
    }
    if value <= 0 {
        return Err(Error::invalid(format!(
            "Invalid value {value} for parameter 'max_results' supplied. It must be a positive integer"
        )));
    }
    if value > maximum {
        return Err(Error::invalid(if CHECKED_BY_SCHEMA.contains(&what) {
            format!(
                "Invalid value {value} for parameter 'max_results' supplied:  Hint: Value was of type 'int'. \
                 See the API docs for more information about request parameters."
            )
        } else {
            format!("Invalid value {value} for parameter 'max_results' supplied. It must be at most {maximum}")
        }));
    }
    Ok(value)
}

// ---- model registry, prompts and logged models (../shared/spec/mlflow-rest.md §10–12) ----

/// Prompt versions carry no files: their `source` must be one of the placeholders MLflow's own
/// senders use.
pub const PROMPT_SOURCE_PLACEHOLDERS: &[&str] = &["dummy-source", "prompt-template"];
pub const MAX_RESULTS_SEARCH_REGISTERED_MODELS: i64 = 1000;
pub const MAX_RESULTS_SEARCH_MODEL_VERSIONS: i64 = 200_000;
pub const MAX_RESULTS_SEARCH_LOGGED_MODELS: i64 = 1000;

/// A model version number as the wire carries it: a decimal string.
pub fn model_version(version: &str) -> Result<i64> {
    version
        .trim()
        .parse::<i64>()
        .map_err(|_| Error::invalid(format!("Parameter 'version' must be an integer, got '{version}'.")))
}

/// Tags of registered models and model versions: run-tag key rules, values up to 100,000
/// characters (prompt templates live in them).
pub fn registry_tag(tag: &Tag) -> Result<()> {
    entity_key("tag key", &tag.key)?;
    if tag.key == "mlflow.prompt.text" && tag.value.chars().count() > MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH {
        return Err(Error::invalid(format!(
            "Prompt text exceeds max length of {MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH} characters."
        )));
    }
    max_length(&format!("Tag value of '{}'", tag.key), &tag.value, MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH)
}

/// Alias names: letters, digits, `_` and `-`, at most 255 characters.
pub fn model_alias(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(Error::invalid("Registered model alias name cannot be empty."));
    }
    if !alias.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') {
        return Err(Error::invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores (_), and dashes (-)."
        )));
    }
    max_length("Registered model alias name", alias, MAX_REGISTERED_MODEL_ALIAS_LENGTH)
}

/// An alias a client may set: a valid name that is not reserved. `latest` names the highest
/// version and `v<digits>` reads as a version number, so neither can point elsewhere.
pub fn settable_model_alias(alias: &str) -> Result<()> {
    model_alias(alias)?;
    if alias.eq_ignore_ascii_case("latest") {
        return Err(Error::invalid("'latest' alias name (case insensitive) is reserved."));
    }
    let mut chars = alias.chars();
    let version_like = matches!(chars.next(), Some('v' | 'V')) && alias.len() > 1 && chars.all(|c| c.is_ascii_digit());
    if version_like {
        return Err(Error::invalid(format!("Version alias name '{alias}' is reserved.")));
    }
    Ok(())
}

/// The alias of a lookup: `latest` (any case) is resolved by the server, anything else must be
/// a valid alias name.
pub fn alias_lookup(alias: &str) -> Result<crate::entities::AliasLookup> {
    let alias = crate::ids::AliasName::parse(alias)?;
    if alias.as_str().eq_ignore_ascii_case("latest") {
        return Ok(crate::entities::AliasLookup::Latest);
    }
    Ok(crate::entities::AliasLookup::Named(alias))
}

/// The `source` of a new model version. Prompt versions must use a placeholder; other sources
/// must not climb out of their location with `..` segments (also when percent-encoded), since
/// the client downloads whatever `get-download-uri` names.
pub fn model_version_source(source: &str, is_prompt: bool) -> Result<()> {
    if is_prompt {
        if !PROMPT_SOURCE_PLACEHOLDERS.contains(&source) {
            return Err(Error::invalid(format!(
                "Invalid prompt source: '{source}'. Prompt sources must use an MLflow placeholder."
            )));
        }
        return Ok(());
    }
    let mut decoded = source.to_string();
    // Decode until stable so that `%252e%252e` cannot hide a `..`.
    for _ in 0..8 {
        let next = percent_decode(&decoded);
        if next == decoded {
            break;
        }
        decoded = next;
    }
    // A local path may hold `..`: it is resolved, then checked against its run's directory
    // (`model_version_source_owner`).
    if is_local_uri(source) {
        return Ok(());
    }
    let path = uri_path(&decoded);
    let collapsed = collapse_slashes(path.trim_end_matches('/'));
    if decoded.contains('\0')
        || decoded.split('/').any(|segment| segment == "..")
        || collapsed.split('/').any(|segment| segment == ".")
    {
        return Err(Error::invalid(format!(
            "Invalid model version source: '{source}'. If supplying a source as an http, https, local file \
             path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without \
             relative path references present. Please provide an absolute path."
        )));
    }
    Ok(())
}

/// Which request parameter names the owner of a model version's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceOwner {
    Run,
    LoggedModel,
}

impl SourceOwner {
    fn parameter(self) -> &'static str {
        match self {
            SourceOwner::Run => "run_id",
            SourceOwner::LoggedModel => "model_id",
        }
    }
}

/// Whether checking a source needs its owner's artifact root (`owner_root` of
/// [`model_version_source_owner`]): local paths and `mlflow-artifacts` locations do.
pub fn source_needs_owner_root(source: &str) -> bool {
    is_local_uri(source) || is_mlflow_artifact_source(source)
}

/// `Invalid model version source` for a source its owner does not hold.
pub fn source_not_of_owner(source: &str, owner: SourceOwner) -> Error {
    Error::invalid(format!(
        "Invalid model version source: '{source}'. The {} request parameter must identify the resource that \
         contains the source.",
        owner.parameter()
    ))
}

/// MLflow 3.18's check that a model version's source belongs to the run (or logged model) the
/// request names, so that a client cannot register arbitrary server paths: a local path must lie
/// inside the owner's local artifact directory, `runs:/` and `models:/<model id>` sources must
/// name the owner, `mlflow-artifacts` locations must lie under the owner's artifact root.
/// `owner_id` is the request's `run_id` or `model_id`; `owner_root` that owner's artifact root
/// (looked up by the caller when [`source_needs_owner_root`] says so and the owner exists).
pub fn model_version_source_owner(
    source: &str,
    owner: SourceOwner,
    owner_id: Option<&str>,
    owner_root: Option<&str>,
) -> Result<()> {
    let owner_id = owner_id.filter(|id| !id.is_empty());
    if is_local_uri(source) {
        let mut shown = source.to_string();
        if owner_id.is_some() {
            let resolved = normalize_path(local_path_of(source));
            shown.clone_from(&resolved);
            if let Some(root) = owner_root.filter(|root| is_local_uri(root)) {
                let root = normalize_path(local_path_of(root));
                let inside = resolved == root || resolved.starts_with(&format!("{}/", root.trim_end_matches('/')));
                if inside {
                    return Ok(());
                }
            }
        }
        let what = match owner {
            SourceOwner::Run => "run specified by the run_id",
            SourceOwner::LoggedModel => "run specified by the model_id",
        };
        return Err(Error::invalid(format!(
            "Invalid model version source: '{shown}'. To use a local path as a model version source, the {} \
             request parameter has to be specified and the local path has to be contained within the artifact \
             directory of the {what}.",
            owner.parameter()
        )));
    }
    let (scheme, netloc, _) = uri_parts(source);
    if scheme == "runs" {
        if owner == SourceOwner::LoggedModel || !netloc.is_empty() {
            return Err(source_not_of_owner(source, owner));
        }
        let source_run = source.trim_start_matches("runs:").trim_start_matches('/').split('/').next();
        return if owner_id.is_some() && source_run == owner_id {
            Ok(())
        } else {
            Err(source_not_of_owner(source, SourceOwner::Run))
        };
    }
    if scheme == "models" {
        if !netloc.is_empty() {
            return Err(source_not_of_owner(source, SourceOwner::LoggedModel));
        }
        if let crate::entities::ModelSource::LoggedModel(model_id) = crate::entities::ModelSource::parse(source) {
            if owner == SourceOwner::LoggedModel && owner_id == Some(model_id.as_str()) {
                return Ok(());
            }
            return Err(source_not_of_owner(source, SourceOwner::LoggedModel));
        }
    }
    if is_mlflow_artifact_source(source) {
        if let (Some(_), Some(root)) = (owner_id, owner_root) {
            if is_uri_within_root(source, root) {
                return Ok(());
            }
        }
        return Err(source_not_of_owner(source, owner));
    }
    Ok(())
}

/// A path or URI with no scheme, or a `file:` URI on this host.
fn is_local_uri(uri: &str) -> bool {
    let (scheme, netloc, _) = uri_parts(uri);
    let host = netloc.rsplit('@').next().unwrap_or("").split(':').next().unwrap_or("");
    scheme.is_empty()
        || (scheme == "file"
            && (host.is_empty() || host == "." || host.starts_with("localhost") || host.starts_with("127.0.0.1")))
}

/// `mlflow-artifacts:` locations and http(s) URLs of the `mlflow-artifacts` route.
fn is_mlflow_artifact_source(source: &str) -> bool {
    let (scheme, _, parts) = uri_parts(source);
    const ROUTE: [&str; 4] = ["api", "2.0", "mlflow-artifacts", "artifacts"];
    scheme == "mlflow-artifacts"
        || ((scheme == "http" || scheme == "https") && parts.windows(ROUTE.len()).any(|window| window == ROUTE))
}

fn is_uri_within_root(source: &str, root: &str) -> bool {
    let (source_scheme, source_netloc, source_parts) = uri_parts(source);
    let (root_scheme, root_netloc, root_parts) = uri_parts(root);
    source_scheme == root_scheme
        && source_netloc == root_netloc
        && !root_parts.is_empty()
        && source_parts.starts_with(&root_parts)
}

/// `(scheme, netloc, path segments)`, lower-cased scheme and netloc, segments percent-decoded
/// until stable, as Python's `urlsplit` splits them.
fn uri_parts(uri: &str) -> (String, String, Vec<String>) {
    let uri = uri.split(['?', '#']).next().unwrap_or(uri);
    let (scheme, rest) = match uri.split_once(':') {
        Some((scheme, rest))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
        {
            (scheme.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), uri),
    };
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(after) => match after.find('/') {
            Some(slash) => (&after[..slash], &after[slash..]),
            None => (after, ""),
        },
        None => ("", rest),
    };
    let parts = path
        .split('/')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut decoded = part.to_string();
            for _ in 0..8 {
                let next = percent_decode(&decoded);
                if next == decoded {
                    break;
                }
                decoded = next;
            }
            decoded
        })
        .collect();
    (scheme, netloc.to_ascii_lowercase(), parts)
}

/// The path part of a URI (the whole text when it has no scheme).
fn uri_path(uri: &str) -> &str {
    let uri = uri.split(['?', '#']).next().unwrap_or(uri);
    let rest = match uri.split_once(':') {
        Some((scheme, rest))
            if scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) =>
        {
            rest
        }
        _ => return uri,
    };
    match rest.strip_prefix("//") {
        Some(after) => after.find('/').map_or("", |slash| &after[slash..]),
        None => rest,
    }
}

fn local_path_of(uri: &str) -> String {
    percent_decode(uri_path(uri))
}

fn collapse_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// `.` and `..` segments resolved without touching the file system.
fn normalize_path(path: String) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

/// `%XX` and `+` decoded; invalid escapes are kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => match (hex(bytes[index + 1]), hex(bytes[index + 2])) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    index += 3;
                }
                _ => {
                    out.push(b'%');
                    index += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Logged model names: when given, not empty and free of `/ : . % " '` (they end up in URIs).
pub fn logged_model_name(name: &str) -> Result<()> {
    const BAD: &[char] = &['/', ':', '.', '%', '"', '\''];
    if name.is_empty() || name.contains(BAD) {
        return Err(Error::invalid(format!(
            "Invalid model name ('{name}') provided. Model name must be a non-empty string and cannot contain \
             the following characters: ('/', ':', '.', '%', '\"', \"'\")"
        )));
    }
    Ok(())
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
            params: vec![Param { key: "a".into(), value: "1".into() }, Param { key: "a".into(), value: "2".into() }],
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
        assert!(artifact_path("c\u{b0}\nx").is_err() && artifact_path("tab\there").is_err());
        assert!(artifact_path("caf\u{e9}/\u{c5}.txt").is_ok());
    }
}

#[cfg(test)]
mod registry_tests {
    use super::*;
    use crate::entities::AliasLookup;

    fn message(result: Result<()>) -> String {
        match result {
            Ok(()) => "ok".to_string(),
            Err(err) => {
                assert_eq!(err.code, crate::ErrorCode::InvalidParameterValue);
                err.message
            }
        }
    }

    #[test]
    fn model_names() {
        let parse = |name: &str| message(crate::ids::ModelName::parse("name", name).map(|_| ()));
        assert_eq!(parse("my_agent"), "ok");
        assert_eq!(parse("qa-prompt.v2 x"), "ok");
        assert!(parse("  ").contains("Missing value for required parameter 'name'"));
        assert!(parse("a/b").contains("cannot contain '/' or ':'"));
        assert!(parse("a:b").contains("cannot contain '/' or ':'"));
        assert!(parse("..").contains("file paths"));
    }

    #[test]
    fn tag_keys() {
        let parse = |key: &str| message(crate::ids::TagKey::parse(key).map(|_| ()));
        assert_eq!(parse("mlflow.prompt.text"), "ok");
        assert!(parse("../x").contains("file paths"));
        assert!(parse("a//b").contains("file paths"));
        assert!(parse("bad!").contains("Invalid tag key 'bad!'"));
        assert!(message(set_trace_tag("../x", "v")).contains("file paths"));
        assert_eq!(message(set_trace_tag("a b:c-d_e.f/g", "v")), "ok");
        assert_eq!(message(trace_tag("../x", "v")), "ok");
        // A delete names the key without the length limit of a set, as MLflow checks it.
        assert_eq!(parse(&"k".repeat(251)), "ok");
    }

    #[test]
    fn versions() {
        assert_eq!(model_version("7").ok(), Some(7));
        assert_eq!(model_version(" 12 ").ok(), Some(12));
        assert!(model_version("one").unwrap_err().message.contains("must be an integer, got 'one'"));
        assert!(model_version("").is_err());
    }

    #[test]
    fn aliases() {
        for good in ["champion", "prod_2", "blue-green", "v", "vx1", "latestish", &"a".repeat(255)] {
            assert_eq!(message(settable_model_alias(good)), "ok", "alias {good}");
        }
        assert!(message(settable_model_alias("")).contains("cannot be empty"));
        assert!(message(settable_model_alias("has space")).contains("Invalid alias name: 'has space'"));
        assert!(message(settable_model_alias("a.b")).contains("Invalid alias name"));
        assert!(message(settable_model_alias(&"a".repeat(256))).contains("maximum length of 255"));
        assert!(message(settable_model_alias("latest")).contains("'latest' alias name"));
        assert!(message(settable_model_alias("LaTeSt")).contains("reserved"));
        assert!(message(settable_model_alias("v3")).contains("Version alias name 'v3' is reserved."));
        assert!(message(settable_model_alias("V12")).contains("reserved"));
    }

    #[test]
    fn alias_lookups() {
        assert_eq!(alias_lookup("latest").ok(), Some(AliasLookup::Latest));
        assert_eq!(alias_lookup("LATEST").ok(), Some(AliasLookup::Latest));
        assert_eq!(
            alias_lookup("champion").ok(),
            Some(AliasLookup::Named(crate::ids::AliasName::from_stored("champion")))
        );
        // Looking up a version-like alias is allowed; it simply names no alias.
        assert_eq!(alias_lookup("v1").ok(), Some(AliasLookup::Named(crate::ids::AliasName::from_stored("v1"))));
        assert!(alias_lookup("bad alias").is_err());
    }

    #[test]
    fn registry_tags() {
        assert_eq!(message(registry_tag(&Tag::new("mlflow.prompt.is_prompt", "true"))), "ok");
        assert_eq!(message(registry_tag(&Tag::new("team", "x".repeat(100_000)))), "ok");
        assert!(message(registry_tag(&Tag::new("team", "x".repeat(100_001)))).contains("maximum length of 100000"));
        assert!(message(registry_tag(&Tag::new("mlflow.prompt.text", "x".repeat(100_001))))
            .contains("Prompt text exceeds max length"));
        assert!(message(registry_tag(&Tag::new("k".repeat(251), "v"))).contains("maximum length of 250"));
        assert!(message(registry_tag(&Tag::new("", "v"))).contains("must not be empty"));
    }

    #[test]
    fn sources() {
        assert_eq!(message(model_version_source("dummy-source", true)), "ok");
        assert_eq!(message(model_version_source("prompt-template", true)), "ok");
        assert!(message(model_version_source("s3://bucket/x", true)).contains("Invalid prompt source"));
        assert_eq!(message(model_version_source("models:/m-abc", false)), "ok");
        assert_eq!(message(model_version_source("runs:/0123/model", false)), "ok");
        assert_eq!(message(model_version_source("s3://bucket/a..b/model", false)), "ok");
        for bad in ["s3://b/models/../../etc", "mlflow-artifacts:/1/..%2f..%2fx", "s3://b/./x"] {
            assert!(message(model_version_source(bad, false)).contains("Invalid model version source"), "{bad}");
        }
    }

    #[test]
    fn sources_belong_to_their_owner() {
        use SourceOwner::{LoggedModel, Run};
        let check = |source, owner, id, root| message(model_version_source_owner(source, owner, id, root));
        let root = Some("/srv/art/1/r1/artifacts");
        assert_eq!(check("/srv/art/1/r1/artifacts/model", Run, Some("r1"), root), "ok");
        assert_eq!(check("file:///srv/art/1/r1/artifacts/model/..", Run, Some("r1"), root), "ok");
        assert_eq!(
            check("file:///srv/art/1/r1/artifacts/../../r2/artifacts", Run, Some("r1"), root),
            "Invalid model version source: '/srv/art/1/r2/artifacts'. To use a local path as a model version \
             source, the run_id request parameter has to be specified and the local path has to be contained \
             within the artifact directory of the run specified by the run_id."
        );
        assert!(check("/etc", Run, None, None).starts_with("Invalid model version source: '/etc'. To use a local"));
        assert_eq!(check("runs:/r1/model", Run, Some("r1"), None), "ok");
        assert_eq!(
            check("runs:/r2/model", Run, Some("r1"), None),
            "Invalid model version source: 'runs:/r2/model'. The run_id request parameter must identify the \
             resource that contains the source."
        );
        let artifacts = Some("mlflow-artifacts:/1/r1/artifacts");
        assert_eq!(check("mlflow-artifacts:/1/r1/artifacts/model", Run, Some("r1"), artifacts), "ok");
        assert!(check("mlflow-artifacts:/1/r2/artifacts/model", Run, Some("r1"), artifacts).contains("run_id"));
        assert!(check("mlflow-artifacts:/1/r1/artifacts/model", Run, None, None).contains("run_id"));
        assert_eq!(check("models:/m-1", LoggedModel, Some("m-1"), None), "ok");
        assert!(check("models:/m-1", Run, Some("r1"), None).contains("model_id"));
        assert_eq!(check("s3://bucket/model", Run, None, None), "ok");
    }

    #[test]
    fn logged_model_names() {
        assert_eq!(message(logged_model_name("agent")), "ok");
        assert_eq!(message(logged_model_name("my-agent_2")), "ok");
        for bad in ["", "a.b", "a/b", "a:b", "50%", "it's", "\"q\""] {
            assert!(message(logged_model_name(bad)).contains("Invalid model name"), "{bad:?}");
        }
    }
}
