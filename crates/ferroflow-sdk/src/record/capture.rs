//! Recording values on the caller's path without building `serde_json::Value` trees.
//!
//! A traced call records its arguments and its return value. Most are scalars (numbers,
//! strings, booleans, `Option`s of them); [`capture`] keeps those as a [`Captured`] (no
//! allocation but a string's copy) through a serializer that accepts scalars only, and falls
//! back to `serde_json::to_value` for anything else. The arguments of a call are kept as
//! [`Fields`], inline up to [`INLINE_FIELDS`]. The exporter thread serializes both (JSON text
//! through their `Serialize` impls, OTLP `AnyValue`s in `export::otlp`) exactly as it would
//! the `serde_json::Value` that `serde_json::to_value` makes of the same input, without
//! building that tree.
//!
//! A value is serialized twice only when it is not a scalar and its `Serialize` impl starts
//! with a scalar call before a compound one (no derived or standard impl does).

use std::fmt;

use serde::ser::{Impossible, Serialize, Serializer};
use serde_json::Value;

use super::to_json;

/// A recorded value: a scalar, or the JSON of anything else.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Captured {
    #[default]
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Json(Box<Value>),
}

impl Serialize for Captured {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Captured::Null => serializer.serialize_unit(),
            Captured::Bool(b) => serializer.serialize_bool(*b),
            Captured::I64(i) => serializer.serialize_i64(*i),
            Captured::U64(u) => serializer.serialize_u64(*u),
            // serde_json writes a non-finite float as null (like a `Value` made from it); the
            // Python-JSON encoding writes `NaN` / `Infinity` as Python does.
            Captured::F64(f) => serializer.serialize_f64(*f),
            Captured::Str(s) => serializer.serialize_str(s),
            Captured::Json(value) => value.serialize(serializer),
        }
    }
}

impl Captured {
    /// The JSON value `serde_json::to_value` makes of the same input.
    #[cfg(test)]
    pub(crate) fn into_value(self) -> Value {
        match self {
            Captured::Null => Value::Null,
            Captured::Bool(b) => Value::Bool(b),
            Captured::I64(i) => Value::from(i),
            Captured::U64(u) => Value::from(u),
            // Non-finite floats become null, as in serde_json.
            Captured::F64(f) => Value::from(f),
            Captured::Str(s) => Value::String(s),
            Captured::Json(value) => *value,
        }
    }
}

impl From<Value> for Captured {
    fn from(value: Value) -> Self {
        Captured::Json(Box::new(value))
    }
}

/// Records `value`: a scalar as is, anything else as its JSON (see the module docs).
#[inline]
pub(crate) fn capture<T: Serialize + ?Sized>(value: &T) -> Captured {
    match value.serialize(ScalarSerializer) {
        Ok(captured) => captured,
        Err(NotScalar) => Captured::Json(Box::new(to_json(value))),
    }
}

/// How many arguments a traced call keeps without allocating.
pub(crate) const INLINE_FIELDS: usize = 3;

type Field = (&'static str, Captured);

/// The named arguments of a traced call, in order.
#[derive(Debug)]
pub(crate) enum Fields {
    Inline { len: usize, items: [Field; INLINE_FIELDS] },
    Heap(Vec<Field>),
}

impl Default for Fields {
    fn default() -> Self {
        Fields::Inline { len: 0, items: Default::default() }
    }
}

impl Fields {
    fn as_slice(&self) -> &[Field] {
        match self {
            Fields::Inline { len, items } => &items[..*len],
            Fields::Heap(heap) => heap,
        }
    }

    /// The `(name, value)` pairs, in argument order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(&'static str, Captured)> {
        self.as_slice().iter()
    }

    /// Adds an argument; a repeated name keeps its first position and takes the new value, as
    /// `serde_json::Map::insert` does.
    #[inline]
    pub(crate) fn push(&mut self, key: &'static str, value: Captured) {
        let existing = match self {
            Fields::Inline { len, items } => items[..*len].iter_mut().find(|(k, _)| *k == key),
            Fields::Heap(heap) => heap.iter_mut().find(|(k, _)| *k == key),
        };
        if let Some(slot) = existing {
            slot.1 = value;
            return;
        }
        match self {
            Fields::Inline { len, items } if *len < INLINE_FIELDS => {
                items[*len] = (key, value);
                *len += 1;
            }
            Fields::Inline { items, .. } => {
                let mut heap = Vec::with_capacity(INLINE_FIELDS * 2);
                heap.extend(items.iter_mut().map(std::mem::take));
                heap.push((key, value));
                *self = Fields::Heap(heap);
            }
            Fields::Heap(heap) => heap.push((key, value)),
        }
    }

    /// A JSON object in argument order.
    #[cfg(test)]
    pub(crate) fn into_value(self) -> Value {
        let items: Vec<Field> = match self {
            Fields::Inline { len, items } => items.into_iter().take(len).collect(),
            Fields::Heap(heap) => heap,
        };
        let mut map = serde_json::Map::with_capacity(items.len());
        for (key, value) in items {
            map.insert(key.to_string(), value.into_value());
        }
        Value::Object(map)
    }
}

/// An object keyed by argument name.
impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = self.as_slice();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in fields {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// "Not a scalar": fall back to `serde_json::to_value`.
#[derive(Debug)]
pub(crate) struct NotScalar;

impl fmt::Display for NotScalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a scalar")
    }
}

impl std::error::Error for NotScalar {}

impl serde::ser::Error for NotScalar {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        NotScalar
    }
}

/// Accepts what `serde_json::to_value` turns into a JSON scalar the same way every time;
/// refuses the rest (compound values, `f32`, 128-bit integers, bytes) so that serde_json
/// handles them.
struct ScalarSerializer;

type No = Impossible<Captured, NotScalar>;

impl Serializer for ScalarSerializer {
    type Ok = Captured;
    type Error = NotScalar;
    type SerializeSeq = No;
    type SerializeTuple = No;
    type SerializeTupleStruct = No;
    type SerializeTupleVariant = No;
    type SerializeMap = No;
    type SerializeStruct = No;
    type SerializeStructVariant = No;

    fn serialize_bool(self, v: bool) -> Result<Captured, NotScalar> {
        Ok(Captured::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Captured, NotScalar> {
        Ok(Captured::I64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Captured, NotScalar> {
        Ok(Captured::I64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Captured, NotScalar> {
        Ok(Captured::I64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Captured, NotScalar> {
        Ok(Captured::I64(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Captured, NotScalar> {
        Ok(Captured::U64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Captured, NotScalar> {
        Ok(Captured::U64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Captured, NotScalar> {
        Ok(Captured::U64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Captured, NotScalar> {
        Ok(Captured::U64(v))
    }
    fn serialize_f32(self, _v: f32) -> Result<Captured, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_f64(self, v: f64) -> Result<Captured, NotScalar> {
        Ok(Captured::F64(v))
    }
    fn serialize_char(self, v: char) -> Result<Captured, NotScalar> {
        Ok(Captured::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Captured, NotScalar> {
        Ok(Captured::Str(v.to_owned()))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Captured, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_none(self) -> Result<Captured, NotScalar> {
        Ok(Captured::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Captured, NotScalar> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Captured, NotScalar> {
        Ok(Captured::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Captured, NotScalar> {
        Ok(Captured::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Captured, NotScalar> {
        Ok(Captured::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Captured, NotScalar> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<Captured, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<No, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple(self, _len: usize) -> Result<No, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<No, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<No, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<No, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<No, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<No, NotScalar> {
        Err(NotScalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the SDK recorded before: `to_json` (serde_json, or the text of its error).
    fn same_as_serde_json<T: Serialize + ?Sized>(value: &T) {
        let captured = capture(value);
        let expected = to_json(value);
        assert_eq!(serde_json::to_string(&captured).unwrap(), serde_json::to_string(&expected).unwrap());
        assert_eq!(captured.into_value(), expected);
    }

    #[derive(serde::Serialize)]
    struct Unit;
    #[derive(serde::Serialize)]
    struct Newtype(u8);
    #[derive(serde::Serialize)]
    enum E {
        A,
        B(i32),
        C { x: i32 },
    }
    #[derive(serde::Serialize)]
    struct S {
        a: i32,
        b: Vec<&'static str>,
    }

    #[test]
    fn captured_values_read_back_as_serde_json_makes_them() {
        same_as_serde_json(&1i64);
        same_as_serde_json(&-7i8);
        same_as_serde_json(&u64::MAX);
        same_as_serde_json(&0.1f64);
        same_as_serde_json(&1.5f32);
        // NaN: null in JSON (as serde_json makes it), a double in OTLP, `NaN` in Python's JSON.
        let nan = capture(&f64::NAN);
        assert_eq!(serde_json::to_string(&nan).unwrap(), "null");
        assert_eq!(ferroflow_proto::encoding::python_json(&nan), "NaN");
        same_as_serde_json(&i128::MAX);
        same_as_serde_json(&5u128);
        same_as_serde_json(&true);
        same_as_serde_json(&'x');
        same_as_serde_json("text");
        same_as_serde_json(&String::from("owned"));
        same_as_serde_json(&Some(3));
        same_as_serde_json(&None::<i32>);
        same_as_serde_json(&());
        same_as_serde_json(&Unit);
        same_as_serde_json(&Newtype(4));
        same_as_serde_json(&E::A);
        same_as_serde_json(&E::B(2));
        same_as_serde_json(&E::C { x: 1 });
        same_as_serde_json(&S { a: 1, b: vec!["x", "y"] });
        same_as_serde_json(&vec![1, 2, 3]);
        same_as_serde_json(&(1, "a"));
        same_as_serde_json(&json!({"k": [1, {"n": null}]}));
        same_as_serde_json(&b"bytes"[..]);
        assert!(matches!(capture(&7u32), Captured::U64(7)));
        assert!(matches!(capture("s"), Captured::Str(_)));
        assert!(matches!(capture(&vec![1]), Captured::Json(_)));
    }

    #[test]
    fn fields_keep_order_inline_and_past_it() {
        let mut fields = Fields::default();
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            fields.push(key, capture(&i));
            if i + 1 == INLINE_FIELDS {
                assert!(matches!(fields, Fields::Inline { .. }));
            }
        }
        assert!(matches!(fields, Fields::Heap(_)));
        let value = fields.into_value();
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"a":0,"b":1,"c":2,"d":3,"e":4}"#);
        assert_eq!(Fields::default().into_value(), json!({}));
        let mut repeated = Fields::default();
        repeated.push("a", capture(&1));
        repeated.push("b", capture(&2));
        repeated.push("a", capture(&3));
        assert_eq!(serde_json::to_string(&repeated.into_value()).unwrap(), r#"{"a":3,"b":2}"#);
    }
}
