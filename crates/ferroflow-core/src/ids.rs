//! Identifiers and names: the newtypes every layer past the wire carries, and the ids the server
//! mints, in MLflow's formats (`../shared/spec/mlflow-rest.md` §3.1).
//!
//! A newtype is made by its `parse` function (at the boundary, from what a client sent) or by
//! `from_stored` (by a store, from its own rows); past that, nothing re-validates it.
//! One mistake gets one error code wherever it is made: an id that cannot be an id is
//! `INVALID_PARAMETER_VALUE`; a well-formed id that names nothing is
//! `RESOURCE_DOES_NOT_EXIST` from the store.

use crate::{Error, Result};
use std::fmt;

/// An experiment id: a non-negative decimal integer (`"0"` is the Default experiment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExperimentId(i64);

impl ExperimentId {
    /// The Default experiment every store starts with.
    pub const DEFAULT: ExperimentId = ExperimentId(0);

    pub fn parse(text: &str) -> Result<Self> {
        text.parse::<i64>().ok().filter(|n| *n >= 0).map(ExperimentId).ok_or_else(|| {
            Error::invalid(format!("Invalid experiment ID '{text}'. Experiment ID must be a valid integer."))
        })
    }
    /// Parses every id of a list (the `experiment_ids` of searches).
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Self>> {
        texts.iter().map(|text| ExperimentId::parse(text.as_ref())).collect()
    }
    /// An id read back from the store's own rows.
    pub fn from_stored(id: i64) -> Self {
        ExperimentId(id)
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// The Default experiment, where MLflow puts what names no experiment.
impl Default for ExperimentId {
    fn default() -> Self {
        ExperimentId::DEFAULT
    }
}

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Implements the shared parts of a string id newtype.
macro_rules! string_id {
    ($name:ident) => {
        impl $name {
            /// An id read back from the store's own rows, or minted by the server.
            pub fn from_stored(id: impl Into<String>) -> Self {
                $name(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// A run id: a letter or digit, then up to 255 letters, digits, `_` or `-` (the server mints
/// 32 lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);
string_id!(RunId);

impl RunId {
    pub fn parse(text: &str) -> Result<Self> {
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok || text.len() > 256 || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(Error::invalid(format!("Invalid value '{text}' for parameter 'run_id'.")));
        }
        Ok(RunId(text.to_string()))
    }
    pub fn new() -> Self {
        RunId(new_hex_id())
    }
}

impl Default for RunId {
    fn default() -> Self {
        RunId::new()
    }
}

/// A trace id. Traces made by MLflow 3 clients and OTLP senders are `tr-` + 32 hex; other
/// non-empty ids are accepted as given (and simply name no trace when none has them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(String);
string_id!(TraceId);

impl TraceId {
    /// Not empty, at most 256 bytes, no control characters or `/` (ids become path segments
    /// of artifact locations).
    pub fn parse(text: &str) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::invalid("Missing value for required parameter 'trace_id'."));
        }
        if text.len() > 256 || text.chars().any(|c| c.is_control() || c == '/') {
            return Err(Error::invalid(format!("Invalid trace id '{text}'.")));
        }
        Ok(TraceId(text.to_string()))
    }
    /// Parses every id of a list.
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Self>> {
        texts.iter().map(|text| TraceId::parse(text.as_ref())).collect()
    }
}

/// A span id: 16 lowercase hex characters (the 8 bytes of an OTel span id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(String);
string_id!(SpanId);

impl SpanId {
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::invalid(format!("Invalid span id '{text}': expected 16 lowercase hex characters.")));
        }
        Ok(SpanId(text.to_string()))
    }
}

/// A registered model (or prompt) name: not blank, no `/` or `:`, not `.` or `..` (names
/// become path segments of `models:/<name>/<version>` URIs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelName(String);
string_id!(ModelName);

impl ModelName {
    /// `parameter` is the request field the name came in (`name`, `new_name`), named by the
    /// message for a blank one.
    pub fn parse(parameter: &str, text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Err(Error::invalid(format!("Missing value for required parameter '{parameter}'.")));
        }
        if text.contains('/') || text.contains(':') {
            return Err(Error::invalid(format!("Invalid model name '{text}'. Names cannot contain '/' or ':'.")));
        }
        if text == "." || text == ".." {
            return Err(Error::invalid(format!(
                "Invalid value \"{text}\" for parameter '{parameter}': names may be treated as file paths and must \
                 not resolve to another name."
            )));
        }
        Ok(ModelName(text.to_string()))
    }
}

/// A registered model alias: letters, digits, `_` and `-`, at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);
string_id!(AliasName);

impl AliasName {
    /// An alias as a delete names it.
    pub fn parse(text: &str) -> Result<Self> {
        crate::validation::model_alias(text)?;
        Ok(AliasName(text.to_string()))
    }
    /// An alias a client may set: a valid name that is not reserved (`validation::settable_model_alias`).
    pub fn parse_settable(text: &str) -> Result<Self> {
        crate::validation::settable_model_alias(text)?;
        Ok(AliasName(text.to_string()))
    }
}

/// The key of a registered model or model version tag, as `delete-tag` names it: MLflow's tag
/// name form (letters, digits, `_ - . / :` and spaces, a normal relative path), the form
/// `validation::registry_tag` also checks when the tag is set; the length limit is only a
/// set's (MLflow deletes by a longer key without complaint).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagKey(String);
string_id!(TagKey);

impl TagKey {
    pub fn parse(text: &str) -> Result<Self> {
        crate::validation::entity_key_form("tag key", text)?;
        Ok(TagKey(text.to_string()))
    }
}

/// 32 lowercase hex characters, as MLflow's run ids.
pub fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `a-` + 32 hex.
pub fn new_assessment_id() -> String {
    format!("a-{}", new_hex_id())
}

/// `m-` + 32 hex.
pub fn new_logged_model_id() -> String {
    format!("m-{}", new_hex_id())
}

/// `d-` + 32 hex.
pub fn new_dataset_id() -> String {
    format!("d-{}", new_hex_id())
}

/// `dr-` + 32 hex.
pub fn new_dataset_record_id() -> String {
    format!("dr-{}", new_hex_id())
}

/// uuid4 with dashes, as MLflow's scorer ids.
pub fn new_scorer_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

const ADJECTIVES: &[&str] = &[
    "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager", "fair", "gentle", "glad",
    "grand", "honest", "keen", "kind", "lively", "lucky", "merry", "nimble", "polite", "proud", "quick", "quiet",
    "rare", "sharp", "shy", "smooth", "steady", "swift", "tidy", "vivid", "warm", "wise",
];
const NOUNS: &[&str] = &[
    "ant", "bat", "bear", "bee", "carp", "cat", "crane", "deer", "doe", "dove", "eel", "elk", "fox", "frog", "goat",
    "hare", "hawk", "lark", "lynx", "mole", "moth", "newt", "owl", "ox", "quail", "ram", "seal", "shrew", "slug",
    "snail", "swan", "toad", "wasp", "wolf", "wren", "yak",
];

/// A readable name for a run created without one, like `swift-owl-417`.
pub fn random_run_name() -> String {
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    let adjective = ADJECTIVES[bytes[0] as usize % ADJECTIVES.len()];
    let noun = NOUNS[bytes[1] as usize % NOUNS.len()];
    let number = u16::from_le_bytes([bytes[2], bytes[3]]) % 1000;
    format!("{adjective}-{noun}-{number}")
}
