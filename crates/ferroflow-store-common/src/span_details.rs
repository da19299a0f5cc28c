//! A span's trace state, events and links as the `spans.extra` column keeps them: one JSON
//! object, `{"trace_state": …, "events": […], "links": […]}` with each member only when the
//! span has one, event and link attributes as OTLP key/value lists of AnyValue JSON
//! (`{"key": k, "value": {"string_value": …}}`) and link ids in base64. That is the format
//! rows have always been written in, so old rows read back as new ones do; the domain sees
//! typed [`SpanEvent`]s and [`SpanLink`]s only.
//!
//! Writing is on the ingest path: values are serialized straight from the borrowed records,
//! with no intermediate JSON tree per span.

use base64::Engine as _;
use ferroflow_core::entities::{SpanEvent, SpanLink};
use ferroflow_core::Result;
use ferroflow_proto::encoding::{any_value_json, json_of_any_value_json};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::corrupt;

/// A span's details, decoded from its `extra` column.
#[derive(Debug, Default, PartialEq)]
pub struct SpanDetails {
    pub trace_state: Option<String>,
    pub events: Vec<SpanEvent>,
    pub links: Vec<SpanLink>,
}

/// The column's text for these details; `None` when the span has none of them.
pub fn encode(trace_state: Option<&str>, events: &[SpanEvent], links: &[SpanLink]) -> Option<String> {
    let trace_state = trace_state.filter(|state| !state.is_empty());
    if trace_state.is_none() && events.is_empty() && links.is_empty() {
        return None;
    }
    // Serializing these borrowed views into a String cannot fail.
    serde_json::to_string(&DetailsOut { trace_state, events, links }).ok()
}

/// The details a column holds; text that does not decode is an error naming the span.
pub fn decode(text: Option<&str>, span: &str) -> Result<SpanDetails> {
    let Some(text) = text else {
        return Ok(SpanDetails::default());
    };
    let what = || format!("events and links of span {span}");
    let stored: DetailsIn = serde_json::from_str(text).map_err(|err| corrupt(what(), err))?;
    let attributes = |pairs: Vec<KeyValueIn>| -> Result<Vec<(String, Value)>> {
        pairs
            .into_iter()
            .map(|pair| match json_of_any_value_json(&pair.value) {
                Some(value) => Ok((pair.key, value)),
                None => Err(corrupt(what(), format!("attribute {:?} is not an AnyValue", pair.key))),
            })
            .collect()
    };
    let base64 = |text: &str| -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD.decode(text).map_err(|err| corrupt(what(), err))
    };
    let events = stored
        .events
        .into_iter()
        .map(|event| {
            Ok(SpanEvent {
                name: event.name,
                time_unix_nano: event.time_unix_nano,
                attributes: attributes(event.attributes)?,
            })
        })
        .collect::<Result<_>>()?;
    let links = stored
        .links
        .into_iter()
        .map(|link| {
            Ok(SpanLink {
                trace_id: base64(&link.trace_id)?,
                span_id: base64(&link.span_id)?,
                attributes: attributes(link.attributes)?,
            })
        })
        .collect::<Result<_>>()?;
    Ok(SpanDetails { trace_state: stored.trace_state.filter(|s| !s.is_empty()), events, links })
}

#[derive(Deserialize)]
struct DetailsIn {
    #[serde(default)]
    trace_state: Option<String>,
    #[serde(default)]
    events: Vec<EventIn>,
    #[serde(default)]
    links: Vec<LinkIn>,
}

#[derive(Deserialize)]
struct EventIn {
    #[serde(default)]
    time_unix_nano: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    attributes: Vec<KeyValueIn>,
}

#[derive(Deserialize)]
struct LinkIn {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    span_id: String,
    #[serde(default)]
    attributes: Vec<KeyValueIn>,
}

#[derive(Deserialize)]
struct KeyValueIn {
    key: String,
    #[serde(default = "empty_object")]
    value: Value,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

#[derive(Serialize)]
struct DetailsOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_state: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty", serialize_with = "events_out")]
    events: &'a [SpanEvent],
    #[serde(skip_serializing_if = "<[_]>::is_empty", serialize_with = "links_out")]
    links: &'a [SpanLink],
}

fn events_out<S: Serializer>(events: &&[SpanEvent], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(events.len()))?;
    for event in events.iter() {
        seq.serialize_element(&EventOut(event))?;
    }
    seq.end()
}

fn links_out<S: Serializer>(links: &&[SpanLink], serializer: S) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(links.len()))?;
    for link in links.iter() {
        seq.serialize_element(&LinkOut(link))?;
    }
    seq.end()
}

struct EventOut<'a>(&'a SpanEvent);

impl Serialize for EventOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("time_unix_nano", &event.time_unix_nano)?;
        map.serialize_entry("name", &event.name)?;
        // An event without attributes was always written without the member.
        if !event.attributes.is_empty() {
            map.serialize_entry("attributes", &AttributesOut(&event.attributes))?;
        }
        map.end()
    }
}

struct LinkOut<'a>(&'a SpanLink);

impl Serialize for LinkOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let link = self.0;
        let engine = &base64::engine::general_purpose::STANDARD;
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("trace_id", &engine.encode(&link.trace_id))?;
        map.serialize_entry("span_id", &engine.encode(&link.span_id))?;
        map.serialize_entry("attributes", &AttributesOut(&link.attributes))?;
        map.end()
    }
}

struct AttributesOut<'a>(&'a [(String, Value)]);

impl Serialize for AttributesOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for (key, value) in self.0 {
            seq.serialize_element(&KeyValueOut { key, value: any_value_json(value) })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct KeyValueOut<'a> {
    key: &'a str,
    value: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A column as rows were written before the details were typed (the server's convert
    /// layer built this JSON itself).
    const OLD_FORMAT: &str = r#"{"trace_state":"vendor=1","events":[{"time_unix_nano":1700000000000000000,"name":"exception","attributes":[{"key":"exception.type","value":{"string_value":"ValueError"}},{"key":"exception.message","value":{"string_value":"bad"}},{"key":"n","value":{"int_value":3}}]},{"time_unix_nano":5,"name":"plain"}],"links":[{"trace_id":"AAECAwQFBgcICQoLDA0ODw==","span_id":"AQEBAQEBAQE=","attributes":[{"key":"w","value":{"double_value":0.5}}]}]}"#;

    fn typed() -> SpanDetails {
        SpanDetails {
            trace_state: Some("vendor=1".into()),
            events: vec![
                SpanEvent {
                    name: "exception".into(),
                    time_unix_nano: 1_700_000_000_000_000_000,
                    attributes: vec![
                        ("exception.type".into(), json!("ValueError")),
                        ("exception.message".into(), json!("bad")),
                        ("n".into(), json!(3)),
                    ],
                },
                SpanEvent { name: "plain".into(), time_unix_nano: 5, attributes: Vec::new() },
            ],
            links: vec![SpanLink {
                trace_id: (0..16).collect(),
                span_id: vec![1; 8],
                attributes: vec![("w".into(), json!(0.5))],
            }],
        }
    }

    #[test]
    fn old_rows_decode_and_new_rows_are_written_the_same() {
        assert_eq!(decode(Some(OLD_FORMAT), "s").unwrap(), typed());
        let details = typed();
        let written = encode(details.trace_state.as_deref(), &details.events, &details.links).unwrap();
        assert_eq!(written, OLD_FORMAT);
        assert_eq!(encode(None, &[], &[]), None);
        assert_eq!(decode(None, "s").unwrap(), SpanDetails::default());
    }

    #[test]
    fn damaged_columns_are_errors() {
        assert!(decode(Some("{not json"), "s").is_err());
        assert!(decode(Some(r#"{"links":[{"trace_id":"***","span_id":""}]}"#), "s").is_err());
        let err = decode(Some(r#"{"events":[{"name":"e","attributes":[{"key":"k","value":"bare"}]}]}"#), "s1");
        assert!(err.unwrap_err().to_string().contains("span s1"));
    }
}
