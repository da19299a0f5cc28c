//! The rules of evaluation datasets and registered scorers that need no storage: how an
//! upsert matches records by their inputs and merges them, how a dataset's schema, profile
//! and digest follow from its records, the record page cursor, and the checks on scorer
//! registrations (../shared/spec/mlflow-rest.md §13–14).
//!
//! Stores call these inside their transactions, so every backend merges the same way.

use crate::entities::{
    DatasetRecord, JsonObject, RecordCursor, RecordSource, RecordSourceType, RecordUpsert, Tag, UpsertCounts,
};
use crate::{ids, Error, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The tag the client puts on datasets and records to say who wrote them.
pub const USER_TAG: &str = "mlflow.user";

// ---- matching and merging records ----

/// `value` as JSON with every object's keys sorted, recursively: two inputs are the same
/// record exactly when their canonical texts are equal, whatever order the client wrote the
/// keys in.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => write_canonical_object(map, out),
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The upsert key of a record: the canonical text of its inputs.
pub fn input_key(inputs: &JsonObject) -> String {
    let mut out = String::new();
    write_canonical_object(inputs, &mut out);
    out
}

fn write_canonical_object(object: &JsonObject, out: &mut String) {
    let mut entries: Vec<(&String, &Value)> = object.iter().collect();
    // Byte order of UTF-8 is code-point order, which is how the reference sorts keys.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (position, (key, item)) in entries.into_iter().enumerate() {
        if position > 0 {
            out.push(',');
        }
        out.push_str(&Value::String(key.clone()).to_string());
        out.push(':');
        write_canonical(item, out);
    }
    out.push('}');
}

/// The result of matching an upsert batch against the stored records.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertPlan {
    /// Every record to write, new or changed, each once, in the order first touched.
    pub records: Vec<DatasetRecord>,
    pub counts: UpsertCounts,
    /// Who the dataset was last updated by: the `mlflow.user` tag of the last record that
    /// has one, else the request's `updated_by`.
    pub updated_by: Option<String>,
}

/// Matches `incoming` records against `existing` ones by inputs and merges them.
///
/// `existing` needs to hold only the stored records whose inputs occur in the batch. A
/// record whose inputs equal a stored record's (or an earlier record's of the same batch)
/// updates it and counts as updated; any other record is inserted with a new `dr-` id.
pub fn plan_upsert(
    dataset_id: &str,
    existing: Vec<DatasetRecord>,
    incoming: &[RecordUpsert],
    updated_by: Option<&str>,
    now: i64,
) -> UpsertPlan {
    let mut position_by_key: HashMap<String, usize> = HashMap::new();
    let mut stored: Vec<(DatasetRecord, bool)> = Vec::new();
    for record in existing {
        position_by_key.insert(input_key(&record.inputs), stored.len());
        stored.push((record, false));
    }
    let mut touched_order: Vec<usize> = Vec::new();
    let mut counts = UpsertCounts::default();
    let mut last_user = updated_by.map(str::to_string);
    for upsert in incoming {
        let record_user = user_of(upsert.tags.as_ref()).or_else(|| updated_by.map(str::to_string));
        if upsert.tags.as_ref().is_some_and(|tags| tags.contains_key(USER_TAG)) {
            last_user = record_user.clone();
        }
        let key = input_key(&upsert.inputs);
        match position_by_key.get(&key) {
            Some(&position) => {
                let (record, touched) = &mut stored[position];
                merge_record(record, upsert, record_user, now);
                if !*touched {
                    *touched = true;
                    touched_order.push(position);
                }
                counts.updated += 1;
            }
            None => {
                position_by_key.insert(key, stored.len());
                touched_order.push(stored.len());
                stored.push((new_record(dataset_id, upsert, record_user, now), true));
                counts.inserted += 1;
            }
        }
    }
    let mut slots: Vec<Option<DatasetRecord>> = stored.into_iter().map(|(record, _)| Some(record)).collect();
    let records = touched_order.into_iter().filter_map(|position| slots[position].take()).collect();
    UpsertPlan { records, counts, updated_by: last_user }
}

/// The `mlflow.user` tag of a record, as text.
fn user_of(tags: Option<&JsonObject>) -> Option<String> {
    tags?.get(USER_TAG).and_then(tag_value_text)
}

/// A new record from an upsert. Absent outputs become `{}`, as the reference stores them.
pub fn new_record(dataset_id: &str, upsert: &RecordUpsert, user: Option<String>, now: i64) -> DatasetRecord {
    let outputs = match &upsert.outputs {
        None => Some(Value::Object(Map::new())),
        Some(Value::Null) => None,
        Some(value) => Some(value.clone()),
    };
    DatasetRecord {
        dataset_record_id: ids::new_dataset_record_id(),
        dataset_id: dataset_id.to_string(),
        inputs: upsert.inputs.clone(),
        outputs,
        expectations: upsert.expectations.clone(),
        tags: upsert.tags.clone().unwrap_or_default(),
        source: upsert.source.clone(),
        created_time: now,
        last_update_time: now,
        created_by: user.clone(),
        last_updated_by: user,
    }
}

/// Merges an upsert into the record with the same inputs: outputs are replaced when sent
/// (`null` clears them), expectations and tags are merged key by key (sent keys win), and
/// the source and creation fields stay. `user` becomes `last_updated_by` when known.
pub fn merge_record(record: &mut DatasetRecord, upsert: &RecordUpsert, user: Option<String>, now: i64) {
    if let Some(outputs) = &upsert.outputs {
        record.outputs = if outputs.is_null() { None } else { Some(outputs.clone()) };
    }
    if let Some(expectations) = upsert.expectations.as_ref().filter(|e| !e.is_empty()) {
        let merged = record.expectations.get_or_insert_with(Map::new);
        for (key, value) in expectations {
            merged.insert(key.clone(), value.clone());
        }
    }
    if let Some(tags) = upsert.tags.as_ref().filter(|t| !t.is_empty()) {
        for (key, value) in tags {
            record.tags.insert(key.clone(), value.clone());
        }
    }
    record.last_update_time = now;
    if user.is_some() {
        record.last_updated_by = user;
    }
}

// ---- schema, profile and digest ----

/// The schema's name for the JSON type of `value`.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The dataset schema after an upsert: the stored schema plus the type of every key not
/// seen before in the inputs, outputs and expectations of `incoming`. A key keeps the type it
/// was first seen with. `None` while there is neither a schema nor a record.
pub fn updated_schema(existing: Option<&str>, incoming: &[RecordUpsert]) -> Option<String> {
    if incoming.is_empty() && existing.is_none() {
        return None;
    }
    let mut schema = match existing.and_then(|text| serde_json::from_str::<Value>(text).ok()) {
        Some(Value::Object(map)) => map,
        // Unreadable or absent: start again rather than fail an upsert over derived data.
        _ => Map::new(),
    };
    for section in ["inputs", "outputs", "expectations"] {
        schema.entry(section).or_insert_with(|| Value::Object(Map::new()));
    }
    schema.entry("version").or_insert_with(|| Value::String("1.0".to_string()));
    for upsert in incoming {
        add_key_types(&mut schema, "inputs", Some(&upsert.inputs));
        match &upsert.outputs {
            Some(Value::Object(outputs)) => add_key_types(&mut schema, "outputs", Some(outputs)),
            None | Some(Value::Null) => {}
            // Outputs that are not an object (a plain answer string) have one type.
            Some(other) => {
                let unset = matches!(schema.get("outputs"), Some(Value::Object(map)) if map.is_empty());
                if unset {
                    schema.insert("outputs".to_string(), Value::String(type_name(other).to_string()));
                }
            }
        }
        add_key_types(&mut schema, "expectations", upsert.expectations.as_ref());
    }
    Some(Value::Object(schema).to_string())
}

fn add_key_types(schema: &mut JsonObject, section: &str, values: Option<&JsonObject>) {
    let Some(values) = values else { return };
    // A section that holds a single type (non-object outputs) takes no keys.
    let Some(Value::Object(types)) = schema.get_mut(section) else { return };
    for (key, value) in values {
        if !types.contains_key(key) {
            types.insert(key.clone(), Value::String(type_name(value).to_string()));
        }
    }
}

/// The dataset profile for `num_records` records; `None` for an empty dataset.
pub fn profile(num_records: u64) -> Option<String> {
    (num_records > 0).then(|| format!("{{\"num_records\": {num_records}}}"))
}

/// FNV-1a, 64 bits: a few lines, stable across versions and platforms, which a digest needs
/// (std's `DefaultHasher` promises neither). Not for anything adversarial.
struct Fnv64(u64);

impl Fnv64 {
    fn new() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A hash of what a record holds for evaluation (inputs, outputs, expectations), stored with
/// the record so that the dataset digest never needs the records themselves.
pub fn content_hash(record: &DatasetRecord) -> u64 {
    let mut hasher = Fnv64::new();
    hasher.write(input_key(&record.inputs).as_bytes());
    // Separators keep `{"a":1}` + `null` apart from any other split of the same bytes.
    hasher.write(&[0x1f]);
    match &record.outputs {
        Some(outputs) => hasher.write(canonical_json(outputs).as_bytes()),
        None => hasher.write(b"-"),
    }
    hasher.write(&[0x1f]);
    match &record.expectations {
        Some(expectations) => hasher.write(input_key(expectations).as_bytes()),
        None => hasher.write(b"-"),
    }
    hasher.0
}

/// The dataset digest: 8 hex characters from the name and the content hashes of all its
/// records, in any order (they are summed), so it changes whenever a record is added,
/// changed or removed.
pub fn dataset_digest(name: &str, content_hashes: &[u64]) -> String {
    let sum = content_hashes.iter().fold(0u64, |total, hash| total.wrapping_add(*hash));
    let mut hasher = Fnv64::new();
    hasher.write(name.as_bytes());
    hasher.write(&[0x1f]);
    hasher.write(&(content_hashes.len() as u64).to_le_bytes());
    hasher.write(&sum.to_le_bytes());
    format!("{:016x}", hasher.0)[..8].to_string()
}

// ---- request values ----

/// A tag value as the dataset and record tags hold it: text as is, other JSON as its text;
/// `None` for `null` (setting a tag to `null` leaves it alone, as in the reference).
pub fn tag_value_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// Dataset tags from the decoded `tags` JSON object of a request.
pub fn dataset_tags(tags: &JsonObject) -> Result<Vec<Tag>> {
    let mut out = Vec::with_capacity(tags.len());
    for (key, value) in tags {
        if key.is_empty() {
            return Err(Error::invalid("Dataset tag keys must not be empty."));
        }
        if let Some(text) = tag_value_text(value) {
            out.push(Tag::new(key.clone(), text));
        }
    }
    Ok(out)
}

/// A record `source` as the client sends it: `{"source_type": "HUMAN", "source_data": {..}}`.
pub fn record_source(value: &Value) -> Result<RecordSource> {
    let Value::Object(object) = value else {
        return Err(Error::invalid(format!("Invalid record source {value}: expected an object.")));
    };
    if let Some(unknown) = object.keys().find(|key| !matches!(key.as_str(), "source_type" | "source_data")) {
        return Err(Error::invalid(format!(
            "Invalid record source: unknown field '{unknown}' (expected 'source_type' and 'source_data')."
        )));
    }
    let source_type = match object.get("source_type") {
        Some(Value::String(text)) => RecordSourceType::parse(text).ok_or_else(|| {
            Error::invalid(format!(
                "Invalid dataset record source type: {text}. Valid source types: \
                 ['UNSPECIFIED', 'TRACE', 'HUMAN', 'DOCUMENT', 'CODE']"
            ))
        })?,
        _ => return Err(Error::invalid("A record source needs a string 'source_type'.")),
    };
    let source_data = match object.get("source_data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(data)) => data.clone(),
        Some(other) => {
            return Err(Error::invalid(format!("Invalid record source_data {other}: expected an object.")));
        }
    };
    Ok(RecordSource { source_type, source_data })
}

pub fn dataset_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("Invalid dataset name: it must be a non-empty string."));
    }
    crate::validation::max_length("Dataset name", name, MAX_DATASET_NAME_LENGTH)
}

pub const MAX_DATASET_NAME_LENGTH: usize = 255;
/// The reference caps `datasets/search` pages at the same size as experiment searches.
pub const MAX_RESULTS_SEARCH_DATASETS: i64 = 50_000;
/// The client asks for 1000 records a page; a larger page is allowed up to this.
pub const MAX_RESULTS_DATASET_RECORDS: i64 = 10_000;

// ---- record page cursor ----

/// The page token of the page after `cursor`: base64 of `<created_time>:<record id>`, the
/// reference's format, so a token stays valid across servers.
pub fn encode_record_cursor(cursor: &RecordCursor) -> String {
    STANDARD.encode(format!("{}:{}", cursor.created_time, cursor.dataset_record_id))
}

/// An absent or empty token is the first page; anything unreadable is
/// `INVALID_PARAMETER_VALUE`.
pub fn decode_record_cursor(token: Option<&str>) -> Result<Option<RecordCursor>> {
    let token = match token.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(token) => token,
    };
    let invalid = || Error::invalid(format!("Invalid page token '{token}' for dataset records."));
    let bytes = STANDARD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (time, id) = text.split_once(':').ok_or_else(invalid)?;
    let created_time = time.parse::<i64>().map_err(|_| invalid())?;
    Ok(Some(RecordCursor { created_time, dataset_record_id: id.to_string() }))
}

// ---- scorers ----

/// Scorer names: any non-blank text, as the reference allows.
pub fn scorer_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("Scorer name cannot be empty or contain only whitespace."));
    }
    crate::validation::max_length("Scorer name", name, MAX_SCORER_NAME_LENGTH)
}

pub const MAX_SCORER_NAME_LENGTH: usize = 256;

/// A serialized scorer must be a JSON object; it is stored verbatim. A custom `@scorer`
/// function (its serialization carries Python source in `call_source`, at any depth: an
/// ensemble may hold one) is refused unless `custom_scorers` is on
/// (`MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS`), as the reference refuses it: the client runs that
/// source when it reads the scorer back, and refuses to outside Databricks, so a stored one
/// would break every later `list_scorers` of the experiment.
pub fn serialized_scorer(text: &str, custom_scorers: bool) -> Result<()> {
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => value,
        _ => return Err(Error::invalid("Invalid serialized_scorer: it must be a JSON object.")),
    };
    if !custom_scorers && has_call_source(&value) {
        return Err(Error::invalid(CUSTOM_SCORERS_DISABLED));
    }
    Ok(())
}

/// The reference's words, which tell the user the three ways out.
const CUSTOM_SCORERS_DISABLED: &str = "Custom scorer registration (using @scorer decorator) is disabled by default \
outside of Databricks tracking environments due to security concerns. Custom scorers require arbitrary code \
execution during deserialization.\n\nTo use custom scorers:\n1. Configure MLflow to use a Databricks tracking URI, \
or\n2. Manage your custom scorer code in a source code repository (e.g., GitHub) and import it directly, or\n3. On a \
self-managed MLflow server (or local environment) that you trust to run the scorer's code, set the \
MLFLOW_SERVER_ENABLE_CUSTOM_SCORERS environment variable to true, or\n4. Use built-in scorers or make_judge() \
scorers instead.";

fn has_call_source(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            map.get("call_source").is_some_and(|source| !source.is_null()) || map.values().any(has_call_source)
        }
        Value::Array(items) => items.iter().any(has_call_source),
        _ => false,
    }
}

/// The judge model a serialized scorer names, where MLflow's serialized forms keep it.
fn scorer_model(value: &Value) -> Option<&str> {
    // A form's data, when the scorer is of that form (an empty object is not).
    let data = |key: &str| value.get(key).filter(|data| data.as_object().is_some_and(|o| !o.is_empty()));
    for key in ["instructions_judge_pydantic_data", "builtin_scorer_pydantic_data"] {
        if let Some(data) = data(key) {
            return data.get("model").and_then(Value::as_str);
        }
    }
    if let Some(memory) = data("memory_augmented_judge_data") {
        return memory.get("base_judge").and_then(scorer_model);
    }
    data("third_party_scorer_data").and_then(|data| data.get("model")).and_then(Value::as_str)
}

/// Whether a scorer may be sampled onto incoming traces (`sample_rate` above 0): only a judge
/// calling an MLflow AI gateway model (`gateway:/…`) can be run by a server without the
/// user's keys, so the reference refuses the rest, with its message.
pub fn online_scoring(name: &str, latest_serialized: &str, sample_rate: f64) -> Result<()> {
    if sample_rate <= 0.0 {
        return Ok(());
    }
    let value = serde_json::from_str::<Value>(latest_serialized).unwrap_or(Value::Null);
    let gateway = scorer_model(&value).and_then(|model| model.split_once(":/")).is_some_and(|(p, _)| p == "gateway");
    if gateway {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "Scorer '{name}' does not use a gateway model. Automatic evaluation is only supported for scorers that use \
         gateway models."
    )))
}

/// `sample_rate` of an online scoring config: a fraction of traces.
pub fn sample_rate(rate: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&rate) {
        return Err(Error::invalid(format!("sample_rate must be between 0.0 and 1.0, got {rate}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> JsonObject {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn upsert(value: Value) -> RecordUpsert {
        let map = object(value);
        RecordUpsert {
            inputs: map.get("inputs").cloned().map(object).unwrap_or_default(),
            outputs: map.get("outputs").cloned(),
            expectations: map.get("expectations").cloned().and_then(|v| v.as_object().cloned()),
            tags: map.get("tags").cloned().and_then(|v| v.as_object().cloned()),
            source: map.get("source").map(|s| record_source(s).unwrap()),
        }
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 1.5}], "x": null}});
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,{"c":1.5,"d":2}]},"b":1}"#);
        assert_eq!(input_key(&object(json!({"q": "x", "p": 1}))), input_key(&object(json!({"p": 1, "q": "x"}))));
        // 1 and 1.0 are different inputs, as in the reference's JSON dump.
        assert_ne!(input_key(&object(json!({"p": 1}))), input_key(&object(json!({"p": 1.0}))));
        assert_eq!(canonical_json(&json!("é\"\n")), "\"é\\\"\\n\"");
    }

    #[test]
    fn upsert_inserts_then_updates_by_inputs() {
        let first = vec![
            upsert(
                json!({"inputs": {"question": "What is MLflow?"}, "expectations": {"expected_response": "A platform"},
                          "tags": {"mlflow.user": "root", "t": "1"}, "source": {"source_type": "HUMAN", "source_data": {}}}),
            ),
            upsert(
                json!({"inputs": {"question": "What is Spark?"}, "expectations": {"expected_response": "An engine"}}),
            ),
        ];
        let plan = plan_upsert("d-1", Vec::new(), &first, None, 100);
        assert_eq!(plan.counts, UpsertCounts { inserted: 2, updated: 0 });
        assert_eq!(plan.updated_by.as_deref(), Some("root"));
        assert_eq!(plan.records.len(), 2);
        let stored = plan.records[0].clone();
        assert!(stored.dataset_record_id.starts_with("dr-") && stored.dataset_record_id.len() == 35);
        assert_eq!(stored.outputs, Some(json!({})), "absent outputs are stored as {{}}");
        assert_eq!(stored.created_by.as_deref(), Some("root"));
        assert_eq!(plan.records[1].created_by, None);

        // Same question with keys in another order: an update that merges.
        let second = vec![upsert(json!({"inputs": {"question": "What is MLflow?"},
            "expectations": {"expected_response": "An ML platform", "extra": 1}, "tags": {"mlflow.user": "bob"}}))];
        let plan = plan_upsert("d-1", vec![stored.clone()], &second, None, 200);
        assert_eq!(plan.counts, UpsertCounts { inserted: 0, updated: 1 });
        let merged = &plan.records[0];
        assert_eq!(merged.dataset_record_id, stored.dataset_record_id);
        assert_eq!(
            Value::Object(merged.expectations.clone().unwrap()),
            json!({"expected_response": "An ML platform", "extra": 1})
        );
        assert_eq!(Value::Object(merged.tags.clone()), json!({"mlflow.user": "bob", "t": "1"}));
        assert_eq!((merged.created_time, merged.last_update_time), (100, 200));
        assert_eq!((merged.created_by.as_deref(), merged.last_updated_by.as_deref()), (Some("root"), Some("bob")));
        assert_eq!(merged.outputs, Some(json!({})), "outputs not sent: kept");
        assert_eq!(merged.source, stored.source, "the source stays");
    }

    #[test]
    fn upsert_merges_duplicates_within_one_batch_and_clears_outputs() {
        let batch = vec![
            upsert(json!({"inputs": {"q": 1}, "outputs": "first"})),
            upsert(json!({"inputs": {"q": 1}, "outputs": null, "expectations": {}})),
            upsert(json!({"inputs": {"q": 2}, "outputs": {"answer": 2}})),
        ];
        let plan = plan_upsert("d-1", Vec::new(), &batch, Some("carol"), 5);
        assert_eq!(plan.counts, UpsertCounts { inserted: 2, updated: 1 });
        assert_eq!(plan.records.len(), 2);
        assert_eq!(plan.records[0].outputs, None);
        assert_eq!(plan.records[0].expectations, None, "empty expectations merge nothing");
        assert_eq!(plan.records[1].outputs, Some(json!({"answer": 2})));
        assert_eq!(plan.records[1].created_by.as_deref(), Some("carol"), "updated_by is the fallback user");
        assert_eq!(plan.updated_by.as_deref(), Some("carol"));
    }

    #[test]
    fn only_touched_records_are_written() {
        let stored: Vec<DatasetRecord> = [json!({"inputs": {"q": "a"}}), json!({"inputs": {"q": "b"}})]
            .into_iter()
            .map(|v| new_record("d-1", &upsert(v), None, 1))
            .collect();
        let plan =
            plan_upsert("d-1", stored.clone(), &[upsert(json!({"inputs": {"q": "b"}, "tags": {"k": "v"}}))], None, 2);
        assert_eq!(plan.records.len(), 1);
        assert_eq!(plan.records[0].dataset_record_id, stored[1].dataset_record_id);
    }

    #[test]
    fn schema_grows_with_new_keys_only() {
        let first = vec![upsert(json!({"inputs": {"question": "q"}, "expectations": {"expected_response": "r"}}))];
        let schema = updated_schema(None, &first).unwrap();
        assert_eq!(
            schema,
            r#"{"inputs":{"question":"string"},"outputs":{},"expectations":{"expected_response":"string"},"version":"1.0"}"#
        );
        let second =
            vec![upsert(json!({"inputs": {"question": 3, "n": 2, "f": 0.5, "b": true, "l": [1], "o": {}, "z": null},
                                         "outputs": {"answer": "a"}}))];
        let schema: Value = serde_json::from_str(&updated_schema(Some(&schema), &second).unwrap()).unwrap();
        assert_eq!(
            schema,
            json!({"inputs": {"question": "string", "n": "integer", "f": "float", "b": "boolean", "l": "array",
                              "o": "object", "z": "null"},
                   "outputs": {"answer": "string"}, "expectations": {"expected_response": "string"}, "version": "1.0"})
        );
        assert_eq!(updated_schema(None, &[]), None);
        let plain = updated_schema(None, &[upsert(json!({"inputs": {}, "outputs": "text"}))]).unwrap();
        assert!(plain.contains(r#""outputs":"string""#), "{plain}");
        // A later object output does not break a single-type outputs schema.
        let again = updated_schema(Some(&plain), &[upsert(json!({"inputs": {}, "outputs": {"k": 1}}))]).unwrap();
        assert!(again.contains(r#""outputs":"string""#), "{again}");
        // Garbage in the stored schema is replaced, not an error.
        assert!(updated_schema(Some("not json"), &first).unwrap().starts_with(r#"{"inputs":{"question""#));
    }

    #[test]
    fn profile_counts_records() {
        assert_eq!(profile(2).as_deref(), Some(r#"{"num_records": 2}"#));
        assert_eq!(profile(0), None);
    }

    #[test]
    fn digest_follows_content_not_order() {
        let a = new_record("d-1", &upsert(json!({"inputs": {"q": "a"}, "expectations": {"e": 1}})), None, 1);
        let b = new_record("d-1", &upsert(json!({"inputs": {"q": "b"}})), Some("x".into()), 2);
        let both = dataset_digest("ds", &[content_hash(&a), content_hash(&b)]);
        assert_eq!(both.len(), 8);
        assert!(both.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(both, dataset_digest("ds", &[content_hash(&b), content_hash(&a)]));
        assert_ne!(both, dataset_digest("ds", &[content_hash(&a)]));
        assert_ne!(both, dataset_digest("other", &[content_hash(&a), content_hash(&b)]));
        assert_ne!(dataset_digest("ds", &[]), dataset_digest("ds", &[content_hash(&a)]));
        // Tags and timestamps are not content; expectations are.
        let mut retagged = a.clone();
        retagged.tags.insert("k".into(), json!("v"));
        retagged.last_update_time = 9;
        assert_eq!(content_hash(&retagged), content_hash(&a));
        let mut changed = a.clone();
        merge_record(&mut changed, &upsert(json!({"inputs": {"q": "a"}, "expectations": {"e": 2}})), None, 3);
        assert_ne!(content_hash(&changed), content_hash(&a));
        // Stable across runs and platforms: a fixed input has a fixed digest.
        assert_eq!(dataset_digest("", &[]), "c5a2e060", "checked against an independent FNV-1a");
    }

    #[test]
    fn record_sources() {
        let source = record_source(&json!({"source_type": "trace", "source_data": {"trace_id": "tr-1"}})).unwrap();
        assert_eq!(source.source_type, RecordSourceType::Trace);
        assert_eq!(source.source_id(), Some("tr-1"));
        let human = record_source(&json!({"source_type": "HUMAN", "source_data": null})).unwrap();
        assert_eq!(human.source_id(), None);
        assert!(human.source_data.is_empty());
        let doc = record_source(&json!({"source_type": "DOCUMENT", "source_data": {"source_id": "doc-7"}})).unwrap();
        assert_eq!(doc.source_id(), Some("doc-7"));
        assert!(record_source(&json!({"source_type": "ROBOT"})).unwrap_err().message.contains("ROBOT"));
        assert!(record_source(&json!({"source_data": {}})).is_err());
        assert!(record_source(&json!({"source_type": "CODE", "extra": 1})).is_err());
        assert!(record_source(&json!("HUMAN")).is_err());
        assert!(record_source(&json!({"source_type": "CODE", "source_data": [1]})).is_err());
    }

    #[test]
    fn tags_and_names() {
        let tags = dataset_tags(&object(json!({"stage": "dev", "n": 3, "gone": null, "b": true}))).unwrap();
        let pairs: Vec<(&str, &str)> = tags.iter().map(|t| (t.key.as_str(), t.value.as_str())).collect();
        assert_eq!(pairs, [("stage", "dev"), ("n", "3"), ("b", "true")]);
        assert!(dataset_tags(&object(json!({"": "x"}))).is_err());
        assert!(dataset_name("qa").is_ok());
        assert!(dataset_name("  ").is_err());
        assert!(scorer_name("s").is_ok());
        assert!(scorer_name(" ").unwrap_err().message.contains("empty"));
        assert!(serialized_scorer(r#"{"name": "s", "call_source": null}"#, false).is_ok());
        assert!(serialized_scorer("[1]", false).is_err());
        assert!(serialized_scorer("{", false).is_err());
        assert!(sample_rate(0.0).is_ok() && sample_rate(1.0).is_ok());
        assert!(sample_rate(1.5).is_err() && sample_rate(f64::NAN).is_err() && sample_rate(-0.1).is_err());
    }

    #[test]
    fn record_cursors_round_trip() {
        let cursor = RecordCursor { created_time: 1795779549892, dataset_record_id: "dr-0a8d".into() };
        let token = encode_record_cursor(&cursor);
        assert_eq!(String::from_utf8(STANDARD.decode(&token).unwrap()).unwrap(), "1795779549892:dr-0a8d");
        assert_eq!(decode_record_cursor(Some(&token)).unwrap(), Some(cursor));
        assert_eq!(decode_record_cursor(None).unwrap(), None);
        assert_eq!(decode_record_cursor(Some("")).unwrap(), None);
        assert!(decode_record_cursor(Some("%%%")).is_err());
        assert!(decode_record_cursor(Some(&STANDARD.encode("no-colon"))).is_err());
        assert!(decode_record_cursor(Some(&STANDARD.encode("x:dr-1"))).is_err());
    }

    #[test]
    fn custom_scorers_are_refused_unless_turned_on() {
        let custom = r#"{"name": "x", "call_source": "return True", "original_func_name": "x"}"#;
        let nested = r#"{"ensemble_scorer_data": {"scorers": [{"call_source": "return 1"}]}}"#;
        let builtin = r#"{"name": "safety", "call_source": null, "builtin_scorer_class": "Safety"}"#;
        for text in [custom, nested] {
            let error = serialized_scorer(text, false).unwrap_err();
            assert!(error.message.starts_with("Custom scorer registration (using @scorer decorator)"));
            assert!(serialized_scorer(text, true).is_ok());
        }
        assert!(serialized_scorer(builtin, false).is_ok());
        assert!(serialized_scorer("[1]", true).is_err());
    }

    #[test]
    fn online_scoring_needs_a_gateway_judge() {
        let judge = |model: &str| json!({"builtin_scorer_pydantic_data": {"model": model}}).to_string();
        assert!(online_scoring("s", &judge("gateway:/chat"), 0.5).is_ok());
        assert!(online_scoring("s", &judge("openai:/gpt-4o-mini"), 0.0).is_ok());
        let error = online_scoring("s", &judge("openai:/gpt-4o-mini"), 0.5).unwrap_err();
        assert_eq!(
            error.message,
            "Scorer 's' does not use a gateway model. Automatic evaluation is only supported for scorers that use \
             gateway models."
        );
        let memory = json!({"memory_augmented_judge_data": {"base_judge": {"instructions_judge_pydantic_data": {"model": "gateway:/j"}}}});
        assert!(online_scoring("s", &memory.to_string(), 1.0).is_ok());
        assert!(online_scoring("s", r#"{"call_source": "x"}"#, 1.0).is_err());
    }
}
