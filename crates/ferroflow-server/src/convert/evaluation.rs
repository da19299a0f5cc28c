//! Evaluation datasets and registered scorers: wire ⇄ domain, including the JSON the wire
//! carries inside strings (dataset tags, the records of an upsert or a read).

use ferroflow_core::entities as domain;
use ferroflow_core::entities::JsonObject;
use ferroflow_core::evaluation as rules;
use ferroflow_core::{Error, Result};
use ferroflow_proto::evaluation as wire;
use serde_json::{Map, Value};

/// Decodes a field that holds a JSON object in a string (`tags`).
pub fn json_object_field(field: &str, text: &str) -> Result<JsonObject> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Error::invalid(format!("Invalid value for '{field}': expected a JSON object in a string."))),
        Err(error) => Err(Error::invalid(format!("Invalid JSON in '{field}': {error}"))),
    }
}

/// Dataset tags from the `tags` string of a request; absent or empty is no tag.
pub fn dataset_tags_from_wire(text: Option<&str>) -> Result<Vec<domain::Tag>> {
    match text.filter(|text| !text.trim().is_empty()) {
        None => Ok(Vec::new()),
        Some(text) => rules::dataset_tags(&json_object_field("tags", text)?),
    }
}

fn tags_json(tags: &[domain::Tag]) -> String {
    let object: Map<String, Value> =
        tags.iter().map(|tag| (tag.key.clone(), Value::String(tag.value.clone()))).collect();
    Value::Object(object).to_string()
}

pub fn evaluation_dataset(dataset: domain::EvaluationDataset) -> wire::Dataset {
    wire::Dataset {
        tags: tags_json(&dataset.tags),
        dataset_id: dataset.dataset_id,
        name: dataset.name,
        schema: dataset.schema,
        profile: dataset.profile,
        digest: dataset.digest,
        created_time: dataset.created_time,
        last_update_time: dataset.last_update_time,
        created_by: dataset.created_by,
        last_updated_by: dataset.last_updated_by,
        experiment_ids: dataset.experiment_ids.unwrap_or_default().iter().map(ToString::to_string).collect(),
    }
}

/// An optional JSON object field of a record; `null` counts as absent.
fn optional_object(index: usize, field: &str, value: Option<Value>) -> Result<Option<JsonObject>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(Error::invalid(format!(
            "Invalid record at index {index}: '{field}' must be a JSON object, got {other}"
        ))),
    }
}

/// The records of an upsert, from the `records` string (a JSON array of objects).
pub fn dataset_record_upserts(text: &str) -> Result<Vec<domain::RecordUpsert>> {
    let records: Vec<wire::RecordIn> = serde_json::from_str(text).map_err(|error| {
        Error::invalid(format!("Invalid 'records': expected a JSON array of record objects ({error})"))
    })?;
    records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let inputs = match record.inputs {
                Some(Value::Object(inputs)) => inputs,
                Some(other) => {
                    return Err(Error::invalid(format!(
                        "Invalid record at index {index}: 'inputs' must be a JSON object, got {other}"
                    )))
                }
                None => return Err(Error::invalid(format!("Invalid record at index {index}: it has no 'inputs'."))),
            };
            let source =
                match record.source {
                    None | Some(Value::Null) => None,
                    Some(source) => Some(rules::record_source(&source).map_err(|error| {
                        Error::invalid(format!("Invalid record at index {index}: {}", error.message))
                    })?),
                };
            Ok(domain::RecordUpsert {
                inputs,
                outputs: record.outputs,
                expectations: optional_object(index, "expectations", record.expectations)?,
                tags: optional_object(index, "tags", record.tags)?,
                source,
            })
        })
        .collect()
}

fn record_out(record: domain::DatasetRecord) -> wire::RecordOut {
    let source_id = record.source.as_ref().and_then(|source| source.source_id().map(str::to_string));
    let source_type = record.source.as_ref().map(|source| source.source_type.as_str().to_string());
    let source = record.source.map(|source| {
        let mut object = Map::new();
        object.insert("source_type".into(), Value::String(source.source_type.as_str().to_string()));
        object.insert("source_data".into(), Value::Object(source.source_data));
        Value::Object(object)
    });
    wire::RecordOut {
        dataset_record_id: record.dataset_record_id,
        dataset_id: record.dataset_id,
        inputs: Value::Object(record.inputs),
        expectations: record.expectations.map(Value::Object),
        tags: Value::Object(record.tags),
        source,
        source_id,
        source_type,
        created_time: record.created_time,
        last_update_time: record.last_update_time,
        created_by: record.created_by,
        last_updated_by: record.last_updated_by,
        outputs: record.outputs,
    }
}

/// The `records` string of a read: a JSON array, `[]` for no record.
pub fn dataset_records_json(records: Vec<domain::DatasetRecord>) -> Result<String> {
    let out: Vec<wire::RecordOut> = records.into_iter().map(record_out).collect();
    serde_json::to_string(&out).map_err(|error| Error::internal(format!("printing dataset records: {error}")))
}

pub fn scorer_version(scorer: domain::ScorerVersion) -> wire::Scorer {
    wire::Scorer {
        experiment_id: scorer.experiment_id.get(),
        scorer_name: scorer.scorer_name,
        scorer_version: scorer.scorer_version,
        serialized_scorer: scorer.serialized_scorer,
        creation_time: scorer.creation_time,
        scorer_id: scorer.scorer_id,
    }
}

pub fn registered_scorer(scorer: domain::ScorerVersion) -> wire::RegisterScorerResponse {
    wire::RegisterScorerResponse {
        version: scorer.scorer_version,
        scorer_id: scorer.scorer_id,
        experiment_id: scorer.experiment_id.to_string(),
        name: scorer.scorer_name,
        serialized_scorer: scorer.serialized_scorer,
        creation_time: scorer.creation_time,
    }
}

pub fn online_scoring_config(config: domain::OnlineScoringConfig) -> wire::OnlineScoringConfig {
    wire::OnlineScoringConfig {
        online_scoring_config_id: config.online_scoring_config_id,
        scorer_id: config.scorer_id,
        sample_rate: config.sample_rate,
        experiment_id: config.experiment_id.to_string(),
        filter_string: config.filter_string,
    }
}

/// A scorer version number from the wire (int32).
pub fn scorer_version_number(version: Option<i64>) -> Result<Option<i32>> {
    version
        .map(|number| {
            i32::try_from(number).ok().filter(|number| *number > 0).ok_or_else(|| {
                Error::invalid(format!("Invalid scorer version {number}: it must be a positive integer."))
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upserts_from_the_records_string() {
        let text = r#"[{"inputs": {"question": "What is MLflow?"}, "expectations": {"expected_response": "A platform"},
                        "tags": {"mlflow.user": "root"}, "source": {"source_type": "HUMAN", "source_data": {}}},
                       {"inputs": {"q": 2}, "outputs": null, "expectations": null}]"#;
        let records = dataset_record_upserts(text).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].source.as_ref().map(|s| s.source_type), Some(domain::RecordSourceType::Human));
        assert_eq!(records[1].outputs, Some(Value::Null));
        assert_eq!(records[1].expectations, None);
        for (bad, part) in [
            ("{}", "expected a JSON array"),
            ("[1]", "expected a JSON array"),
            (r#"[{"expectations": {}}]"#, "index 0: it has no 'inputs'"),
            (r#"[{"inputs": [1]}]"#, "'inputs' must be a JSON object"),
            (r#"[{"inputs": {}, "tags": "x"}]"#, "'tags' must be a JSON object"),
            (r#"[{"inputs": {}, "source": {"source_type": "NOPE"}}]"#, "NOPE"),
            ("not json", "expected a JSON array"),
        ] {
            let error = dataset_record_upserts(bad).unwrap_err();
            assert!(error.message.contains(part), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn records_print_as_the_client_reads_them() {
        let record = domain::DatasetRecord {
            dataset_record_id: "dr-1".into(),
            dataset_id: "d-1".into(),
            inputs: json!({"q": "x"}).as_object().cloned().unwrap(),
            outputs: Some(json!({})),
            expectations: None,
            tags: Map::new(),
            source: Some(domain::RecordSource {
                source_type: domain::RecordSourceType::Trace,
                source_data: json!({"trace_id": "tr-1"}).as_object().cloned().unwrap(),
            }),
            created_time: 1,
            last_update_time: 2,
            created_by: Some("root".into()),
            last_updated_by: None,
        };
        let text = dataset_records_json(vec![record]).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!([{"dataset_record_id": "dr-1", "dataset_id": "d-1", "inputs": {"q": "x"}, "tags": {},
                    "source": {"source_type": "TRACE", "source_data": {"trace_id": "tr-1"}}, "source_id": "tr-1",
                    "source_type": "TRACE", "created_time": 1, "last_update_time": 2, "created_by": "root", "outputs": {}}])
        );
        assert_eq!(dataset_records_json(Vec::new()).unwrap(), "[]");
    }

    #[test]
    fn tags_strings() {
        let tags = dataset_tags_from_wire(Some(r#"{"stage": "dev", "mlflow.user": "root"}"#)).unwrap();
        assert_eq!(tags_json(&tags), r#"{"stage":"dev","mlflow.user":"root"}"#);
        assert!(dataset_tags_from_wire(None).unwrap().is_empty());
        assert!(dataset_tags_from_wire(Some("[]")).is_err());
        assert!(dataset_tags_from_wire(Some("{")).is_err());
        assert_eq!(scorer_version_number(Some(2)).unwrap(), Some(2));
        assert!(scorer_version_number(Some(0)).is_err());
        assert!(scorer_version_number(Some(1 << 40)).is_err());
    }
}
