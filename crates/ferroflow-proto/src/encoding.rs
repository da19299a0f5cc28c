//! Encodings the server and the SDK share, so that both write the same bytes for the same value:
//! JSON text as Python's `json.dumps` writes it (what MLflow keeps in previews, metadata and
//! tags), JSON values as OTLP `AnyValue`s (span attributes), and MLflow's `tr-` trace ids.
//!
//! A non-finite float is decided here, once: it travels as an OTLP double (NaN stays NaN), and
//! JSON text writes it as Python's `json` module does (`NaN`, `Infinity`, `-Infinity`). A
//! `serde_json::Value` cannot hold one (serde_json makes it `null`), so only floats that reach
//! these functions as floats keep it.

use std::cell::Cell;
use std::io;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, Serializer};
use serde_json::Value;

// ---- JSON text as Python writes it ----

/// JSON text as MLflow writes it (`json.dumps(value, ensure_ascii=False)`): Python's `", "`
/// and `": "` separators, non-ASCII characters as they are, non-finite floats as `NaN` /
/// `Infinity` / `-Infinity`. A value whose `Serialize` fails gives the empty string.
pub fn python_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    if write_python_json(&mut out, value, false).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// `json.dumps(value)` with Python's defaults (`ensure_ascii=True`: non-ASCII characters as
/// `\uXXXX` escapes), as MLflow stores JSON text it made itself.
pub fn python_json_ascii<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::new();
    if write_python_json(&mut out, value, true).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// The length in bytes of `json.dumps(value)` with Python's defaults (`ensure_ascii=True`:
/// non-ASCII characters as `\uXXXX` escapes), without building the text.
pub fn python_json_ascii_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match write_python_json(&mut count, value, true) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

fn write_python_json<W: io::Write, T: Serialize + ?Sized>(writer: W, value: &T, ascii: bool) -> serde_json::Result<()> {
    // serde_json writes a non-finite float as `null` through the formatter's `write_null`; the
    // hook below leaves the token Python writes in `pending` just before, for the formatter.
    let pending = Cell::new(None);
    let mut serializer = serde_json::Serializer::with_formatter(writer, PythonFormatter { ascii, pending: &pending });
    value.serialize(FloatHook { inner: &mut serializer, pending: &pending })
}

/// Python's non-finite float tokens.
fn python_float_token(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value == f64::INFINITY {
        Some("Infinity")
    } else if value == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// `serde_json`'s compact output with Python's separators; with `ascii`, `ensure_ascii`.
struct PythonFormatter<'p> {
    ascii: bool,
    /// The token to write instead of the next `null` (a non-finite float).
    pending: &'p Cell<Option<&'static str>>,
}

impl serde_json::ser::Formatter for PythonFormatter<'_> {
    fn write_null<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(self.pending.take().unwrap_or("null").as_bytes())
    }
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        if !self.ascii || fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            writer.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// A serializer that passes everything to `inner`, except that a non-finite float leaves its
/// Python token in `pending` and is written as a unit (which the formatter turns into the
/// token). Nested values are wrapped again, so the hook sees every float.
struct FloatHook<'p, S> {
    inner: S,
    pending: &'p Cell<Option<&'static str>>,
}

/// A value to serialize through a [`FloatHook`].
struct Hooked<'p, 'v, T: ?Sized> {
    value: &'v T,
    pending: &'p Cell<Option<&'static str>>,
}

impl<T: Serialize + ?Sized> Serialize for Hooked<'_, '_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(FloatHook { inner: serializer, pending: self.pending })
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> { self.inner.$method($($arg),*) })*
    };
}

impl<'p, S: Serializer> Serializer for FloatHook<'p, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = FloatHook<'p, S::SerializeSeq>;
    type SerializeTuple = FloatHook<'p, S::SerializeTuple>;
    type SerializeTupleStruct = FloatHook<'p, S::SerializeTupleStruct>;
    type SerializeTupleVariant = FloatHook<'p, S::SerializeTupleVariant>;
    type SerializeMap = FloatHook<'p, S::SerializeMap>;
    type SerializeStruct = FloatHook<'p, S::SerializeStruct>;
    type SerializeStructVariant = FloatHook<'p, S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool); serialize_i8(v: i8); serialize_i16(v: i16); serialize_i32(v: i32);
        serialize_i64(v: i64); serialize_i128(v: i128); serialize_u8(v: u8); serialize_u16(v: u16);
        serialize_u32(v: u32); serialize_u64(v: u64); serialize_u128(v: u128); serialize_char(v: char);
        serialize_str(v: &str); serialize_bytes(v: &[u8]); serialize_none(); serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        match python_float_token(v) {
            Some(token) => {
                self.pending.set(Some(token));
                self.inner.serialize_unit()
            }
            None => self.inner.serialize_f64(v),
        }
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&Hooked { value, pending: self.pending })
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_struct(name, &Hooked { value, pending: self.pending })
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_variant(name, index, variant, &Hooked { value, pending: self.pending })
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Ok(FloatHook { inner: self.inner.serialize_seq(len)?, pending: self.pending })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Ok(FloatHook { inner: self.inner.serialize_tuple(len)?, pending: self.pending })
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        Ok(FloatHook { inner: self.inner.serialize_tuple_struct(name, len)?, pending: self.pending })
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Ok(FloatHook { inner: self.inner.serialize_tuple_variant(name, index, variant, len)?, pending: self.pending })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(FloatHook { inner: self.inner.serialize_map(len)?, pending: self.pending })
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        Ok(FloatHook { inner: self.inner.serialize_struct(name, len)?, pending: self.pending })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Ok(FloatHook { inner: self.inner.serialize_struct_variant(name, index, variant, len)?, pending: self.pending })
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl<S: ser::$trait> ser::$trait for FloatHook<'_, S> {
            type Ok = S::Ok;
            type Error = S::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
                let pending = self.pending;
                self.inner.$method(&Hooked { value, pending })
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);

impl<S: ser::SerializeMap> ser::SerializeMap for FloatHook<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.inner.serialize_key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        let pending = self.pending;
        self.inner.serialize_value(&Hooked { value, pending })
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

macro_rules! fields {
    ($trait:ident) => {
        impl<S: ser::$trait> ser::$trait for FloatHook<'_, S> {
            type Ok = S::Ok;
            type Error = S::Error;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), S::Error> {
                let pending = self.pending;
                self.inner.serialize_field(key, &Hooked { value, pending })
            }
            fn end(self) -> Result<S::Ok, S::Error> {
                self.inner.end()
            }
        }
    };
}

fields!(SerializeStruct);
fields!(SerializeStructVariant);

// ---- OTLP AnyValues ----

/// A JSON value as an OTLP `AnyValue` with native types, as MLflow's exporter writes span
/// attributes: null → an empty `AnyValue`, an integer that fits → `intValue`, another number
/// → `doubleValue`, a list → `arrayValue`, an object → `kvlistValue` (keys in order).
pub fn any_value(value: &Value) -> AnyValue {
    let value = match value {
        Value::Null => None,
        Value::Bool(b) => Some(Any::BoolValue(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(Any::IntValue(i)),
            // A u64 past i64 or a float; `as_f64` never fails for either.
            None => return float_any_value(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Some(Any::StringValue(s.clone())),
        Value::Array(items) => Some(Any::ArrayValue(ArrayValue { values: items.iter().map(any_value).collect() })),
        Value::Object(map) => Some(Any::KvlistValue(KeyValueList {
            values: map.iter().map(|(k, v)| key_value(k, any_value(v))).collect(),
        })),
    };
    AnyValue { value }
}

/// A JSON value as the protobuf-JSON of its `AnyValue` in the span read format that GetTrace
/// returns (`{"string_value": …}`, `{"int_value": …}`, `{"kvlist_value": {"values": […]}}`;
/// null → `{}`), the same types [`any_value`] gives it. Written by [`write_any_value_json`].
pub fn any_value_json(value: &Value) -> Value {
    let mut out = Vec::new();
    match AnyValueJson(&mut out).deserialize(value) {
        Ok(()) => serde_json::from_slice(&out).unwrap_or_else(|_| Value::Object(Default::default())),
        Err(_) => Value::Object(Default::default()),
    }
}

/// Writes the read format of a span's attributes (`[{"key": …, "value": <AnyValue JSON>}, …]`,
/// as [`any_value_json`] gives each value) from the stored JSON object text of its canonical
/// attributes, straight from the text: no `Value` is built, so a read costs one pass over
/// the stored bytes. Fails on text that is not a JSON object.
pub fn write_attributes_json(out: &mut Vec<u8>, attributes: &str) -> serde_json::Result<()> {
    let mut deserializer = serde_json::Deserializer::from_str(attributes);
    AttributesJson(out).deserialize(&mut deserializer)?;
    deserializer.end()
}

/// Writes what it is fed as the AnyValue JSON of the read format (a `DeserializeSeed`, so
/// the same code transcodes stored text and `Value`s).
struct AnyValueJson<'o>(&'o mut Vec<u8>);

/// Writes a JSON object it is fed as the read format's attribute list.
struct AttributesJson<'o>(&'o mut Vec<u8>);

/// Writes a map key it is fed as a JSON string.
struct KeyJson<'o>(&'o mut Vec<u8>);

fn write_json_str(out: &mut Vec<u8>, text: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// `[{"key": K, "value": V}, …]` from the members of `map` (the attribute list and the body
/// of a `kvlist_value`).
fn write_members<'de, A: MapAccess<'de>>(out: &mut Vec<u8>, mut map: A) -> Result<(), A::Error> {
    out.push(b'[');
    let mut first = true;
    loop {
        let mark = out.len();
        out.extend_from_slice(if first { b"{\"key\":" } else { b",{\"key\":" });
        if map.next_key_seed(KeyJson(&mut *out))?.is_none() {
            out.truncate(mark);
            break;
        }
        out.extend_from_slice(b",\"value\":");
        map.next_value_seed(AnyValueJson(&mut *out))?;
        out.push(b'}');
        first = false;
    }
    out.push(b']');
    Ok(())
}

impl<'de> DeserializeSeed<'de> for AnyValueJson<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValueJson<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"{}");
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"{}");
        Ok(())
    }
    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        self.0.extend_from_slice(if value { b"{\"bool_value\":true}" } else { b"{\"bool_value\":false}" });
        Ok(())
    }
    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        self.0.extend_from_slice(b"{\"int_value\":");
        self.0.extend_from_slice(value.to_string().as_bytes());
        self.0.push(b'}');
        Ok(())
    }
    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        // Past i64 it is no int64: a double, as `any_value` sends it.
        let field: &[u8] = if i64::try_from(value).is_ok() { b"{\"int_value\":" } else { b"{\"double_value\":" };
        self.0.extend_from_slice(field);
        self.0.extend_from_slice(value.to_string().as_bytes());
        self.0.push(b'}');
        Ok(())
    }
    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        self.0.extend_from_slice(b"{\"double_value\":");
        let _ = serde_json::to_writer(&mut *self.0, &value);
        self.0.push(b'}');
        Ok(())
    }
    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        self.0.extend_from_slice(b"{\"string_value\":");
        write_json_str(self.0, value);
        self.0.push(b'}');
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        out.extend_from_slice(b"{\"array_value\":{\"values\":[");
        let mut first = true;
        loop {
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            if seq.next_element_seed(AnyValueJson(&mut *out))?.is_none() {
                out.truncate(mark);
                break;
            }
            first = false;
        }
        out.extend_from_slice(b"]}}");
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let out = self.0;
        out.extend_from_slice(b"{\"kvlist_value\":{\"values\":");
        write_members(out, map)?;
        out.extend_from_slice(b"}}");
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for AttributesJson<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AttributesJson<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of span attributes")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        write_members(self.0, map)
    }
}

impl<'de> DeserializeSeed<'de> for KeyJson<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyJson<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        write_json_str(self.0, value);
        Ok(())
    }
}

/// The plain JSON value of an [`any_value_json`] (the inverse: `{"int_value": 3}` → `3`,
/// `{}` → null, lists and key/value lists unwrapped), or `None` when `value` is not one.
pub fn json_of_any_value_json(value: &Value) -> Option<Value> {
    let object = value.as_object()?;
    let Some((kind, inner)) = object.iter().next() else {
        return Some(Value::Null);
    };
    if object.len() > 1 {
        return None;
    }
    Some(match kind.as_str() {
        "bool_value" | "int_value" | "double_value" | "string_value" => inner.clone(),
        "array_value" => {
            Value::Array(inner.get("values").and_then(Value::as_array).map_or(Some(Vec::new()), |items| {
                items.iter().map(json_of_any_value_json).collect::<Option<Vec<_>>>()
            })?)
        }
        "kvlist_value" => {
            let mut map = serde_json::Map::new();
            for pair in inner.get("values").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default() {
                let key = pair.get("key")?.as_str()?.to_string();
                map.insert(key, json_of_any_value_json(pair.get("value")?)?);
            }
            Value::Object(map)
        }
        _ => return None,
    })
}

/// A float as an OTLP `doubleValue`, non-finite ones included.
pub fn float_any_value(value: f64) -> AnyValue {
    AnyValue { value: Some(Any::DoubleValue(value)) }
}

/// A string as an OTLP `stringValue`.
pub fn string_any_value(value: impl Into<String>) -> AnyValue {
    AnyValue { value: Some(Any::StringValue(value.into())) }
}

/// One OTLP attribute.
pub fn key_value(key: impl Into<String>, value: AnyValue) -> KeyValue {
    KeyValue { key: key.into(), value: Some(value), ..Default::default() }
}

/// The `AnyValue` of a JSON text as Python writes it: the value it parses to, where Python's
/// non-finite tokens (`NaN`, `Infinity`, `-Infinity`) are doubles; `None` when the text is
/// not JSON.
pub fn python_json_any_value(text: &str) -> Option<AnyValue> {
    let trimmed = text.trim();
    let token = match trimmed {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    if let Some(float) = token {
        return Some(float_any_value(float));
    }
    serde_json::from_str::<Value>(trimmed).ok().map(|value| any_value(&value))
}

// ---- trace ids ----

/// MLflow's trace id for an OTel trace id: `tr-` and the lowercase hex of its bytes.
pub fn mlflow_trace_id(otel_trace_id: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(3 + otel_trace_id.len() * 2);
    out.push_str("tr-");
    for byte in otel_trace_id {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0xf)] as char);
    }
    out
}

/// The OTel trace id bytes of an MLflow trace id (`tr-<hex>`, or the hex alone); `None` when
/// the text is not hex.
pub fn otel_trace_id(mlflow_trace_id: &str) -> Option<Vec<u8>> {
    let hex = mlflow_trace_id.strip_prefix("tr-").unwrap_or(mlflow_trace_id);
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_json_writes_pythons_separators_and_floats() {
        let value = json!({"question": "what is mlflow?", "k": 3, "l": [1, 2], "x": 0.5, "n": null});
        assert_eq!(python_json(&value), r#"{"question": "what is mlflow?", "k": 3, "l": [1, 2], "x": 0.5, "n": null}"#);
        assert_eq!(python_json("h\u{e9}llo"), "\"h\u{e9}llo\"");
        assert_eq!(python_json(&f64::NAN), "NaN");
        assert_eq!(python_json(&vec![f64::INFINITY, f64::NEG_INFINITY, 1.5]), "[Infinity, -Infinity, 1.5]");
        #[derive(serde::Serialize)]
        struct Scores {
            loss: f32,
            best: Option<f64>,
            none: Option<f64>,
        }
        assert_eq!(
            python_json(&Scores { loss: f32::NAN, best: Some(f64::NAN), none: None }),
            r#"{"loss": NaN, "best": NaN, "none": null}"#
        );
    }

    #[test]
    fn ascii_length_counts_escapes() {
        assert_eq!(python_json_ascii_len("h\u{e9}llo"), r#""h\u00e9llo""#.len());
        assert_eq!(python_json_ascii_len("\u{1F600}"), r#""\ud83d\ude00""#.len());
        assert_eq!(python_json_ascii_len(&f64::NAN), 3);
    }

    /// The OTLP/JSON rendering of an `AnyValue`, as in the captures (`stringValue`, …).
    fn render(value: &AnyValue) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn any_values_are_native_like_the_python_client() {
        // From ../shared/spec/captures/b_tracing_sync.jsonl seq 5 (mlflow.spanOutputs of `retrieve`).
        let outputs = json!([{"page_content": "doc about what is mlflow?", "metadata": {"id": 1}}]);
        assert_eq!(
            render(&any_value(&outputs)),
            json!({"arrayValue": {"values": [{"kvlistValue": {"values": [
                {"key": "page_content", "value": {"stringValue": "doc about what is mlflow?"}},
                {"key": "metadata", "value": {"kvlistValue": {"values": [
                    {"key": "id", "value": {"intValue": "1"}}]}}}]}}]}})
        );
        assert_eq!(render(&any_value(&json!(0.1))), json!({"doubleValue": 0.1}));
        assert_eq!(render(&any_value(&json!(u64::MAX))), json!({"doubleValue": u64::MAX as f64}));
        assert_eq!(render(&any_value(&json!(true))), json!({"boolValue": true}));
        assert_eq!(render(&any_value(&json!({}))), json!({"kvlistValue": {"values": []}}));
        assert_eq!(any_value(&Value::Null), AnyValue { value: None });
        assert_eq!(
            any_value_json(&json!({"n": 20, "x": [0.5, null]})),
            json!({"kvlist_value": {"values": [{"key": "n", "value": {"int_value": 20}},
                {"key": "x", "value": {"array_value": {"values": [{"double_value": 0.5}, {}]}}}]}})
        );
    }

    #[test]
    fn stored_attributes_transcode_to_the_read_format() {
        let attributes = json!({"s": "a \"q\" é", "n": -3, "big": u64::MAX, "f": 1.5e300, "b": false,
            "null": null, "list": [1, "x", [true]], "obj": {"k": {}, "e": []}, "": "empty key"});
        let text = attributes.to_string();
        let mut out = Vec::new();
        write_attributes_json(&mut out, &text).unwrap();
        let written: Value = serde_json::from_slice(&out).unwrap();
        let expected: Vec<Value> = attributes
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| json!({"key": k, "value": any_value_json(v)}))
            .collect();
        assert_eq!(written, Value::Array(expected));
        assert_eq!(written[2]["value"], json!({"double_value": u64::MAX}));
        assert_eq!(
            written[6]["value"]["array_value"]["values"][2],
            json!({"array_value": {"values": [{"bool_value": true}]}})
        );
        let mut empty = Vec::new();
        write_attributes_json(&mut empty, "{}").unwrap();
        assert_eq!(empty, b"[]");
        assert!(write_attributes_json(&mut Vec::new(), "[1]").is_err());
        assert!(write_attributes_json(&mut Vec::new(), "{\"a\": 1} x").is_err());
    }

    #[test]
    fn non_finite_floats_travel_as_doubles() {
        let is_nan =
            |value: Option<AnyValue>| matches!(value.and_then(|v| v.value), Some(Any::DoubleValue(d)) if d.is_nan());
        assert!(is_nan(Some(float_any_value(f64::NAN))));
        assert!(is_nan(python_json_any_value("NaN")));
        assert_eq!(python_json_any_value("-Infinity"), Some(float_any_value(f64::NEG_INFINITY)));
        assert_eq!(python_json_any_value(" [1, \"a\"] "), Some(any_value(&json!([1, "a"]))));
        assert_eq!(python_json_any_value("not json"), None);
    }

    #[test]
    fn trace_ids_round_trip() {
        let bytes = [0x80u8; 16];
        let id = mlflow_trace_id(&bytes);
        assert_eq!(id, format!("tr-{}", "80".repeat(16)));
        assert_eq!(mlflow_trace_id(&0xabu128.to_be_bytes()), format!("tr-{}ab", "0".repeat(30)));
        assert_eq!(otel_trace_id(&id).as_deref(), Some(&bytes[..]));
        assert_eq!(otel_trace_id("tr-zz"), None);
        assert_eq!(otel_trace_id("tr-abc"), None);
    }

    #[test]
    fn any_value_json_reads_back() {
        for value in [
            json!(null),
            json!(true),
            json!(-3),
            json!(0.5),
            json!(1.0),
            json!("s"),
            json!([1, [null, "x"]]),
            json!({"a": {"b": [1.5, {}]}, "c": []}),
        ] {
            assert_eq!(json_of_any_value_json(&any_value_json(&value)), Some(value.clone()), "{value}");
        }
        assert_eq!(json_of_any_value_json(&json!("bare")), None);
        assert_eq!(json_of_any_value_json(&json!({"int_value": 1, "string_value": "x"})), None);
        assert_eq!(json_of_any_value_json(&json!({"mystery_value": 1})), None);
    }
}
