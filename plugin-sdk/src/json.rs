//! A JSON document read for a few fields and dropped: keys and plain strings borrow from the
//! reply, objects are arrays of pairs.
//!
//! A driver reads a few dozen fields of each reply once. `serde_json::Value` builds a `BTreeMap`
//! with an owned `String` per key to do that, and inside WASM that was most of a poll's CPU:
//! an AxeOS reply has about 70 keys, and building and searching the map (key compares, node
//! allocations) cost more than the rest of the driver. [`Json`] allocates two vectors per object
//! (its members, and a 4-byte tag per key) and nothing per key; a lookup scans the tags and
//! compares a key only where its tag matches.
//!
//! The lenient readers of [`crate::lenient`] take any [`JsonValue`], so code written against
//! `serde_json::Value` keeps working and can move to [`Json`] where it is hot.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A parsed JSON value that borrows its keys and unescaped strings from the text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// Any other number.
    F64(f64),
    /// A string (owned only when it held escapes).
    Str(Cow<'a, str>),
    /// An array.
    Array(Vec<Json<'a>>),
    /// An object, members in document order; a repeated key is read as its last value, as
    /// `serde_json::Value` does.
    Object(Object<'a>),
}

/// The members of a [`Json::Object`], with a tag per key to find them by.
///
/// Drivers look up dozens of keys, many of them absent (a field renamed between firmware
/// versions, `chain_rate5` on a three-board miner), in objects of up to ~150 members. A scan
/// over the pairs themselves read 56 bytes and followed a pointer per member; the tags are 4
/// contiguous bytes each, so a miss costs a pass over a few cache lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<'a> {
    members: Vec<(Cow<'a, str>, Json<'a>)>,
    tags: Vec<u32>,
}

/// Length, first, middle and last byte: enough to tell apart nearly every pair of keys in a
/// miner's reply (`chain_rate1`/`chain_rate2`, `hashRate_1m`/`hashRate_1h`) without reading
/// more than four bytes of either.
fn tag(key: &str) -> u32 {
    let b = key.as_bytes();
    match b.len() {
        0 => 0,
        n => {
            (n as u32 & 0xff)
                | u32::from(b[n - 1]) << 8
                | u32::from(b[0]) << 16
                | u32::from(b[n / 2]) << 24
        }
    }
}

impl<'a> Object<'a> {
    /// An object of `members`, in document order.
    pub fn new(members: Vec<(Cow<'a, str>, Json<'a>)>) -> Self {
        let tags = members.iter().map(|(k, _)| tag(k)).collect();
        Object { members, tags }
    }

    /// The value of `key` (its last, if repeated).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        let want = tag(key);
        let mut end = self.tags.len();
        while let Some(i) = self.tags[..end].iter().rposition(|&t| t == want) {
            match self.members.get(i) {
                Some((k, v)) if k.as_ref() == key => return Some(v),
                _ => end = i,
            }
        }
        None
    }

    /// The members in document order.
    pub fn members(&self) -> &[(Cow<'a, str>, Json<'a>)] {
        &self.members
    }
}

impl<'a> Json<'a> {
    /// Parses a whole document (at most 128 levels deep, like `serde_json`).
    pub fn parse(text: &'a [u8]) -> Result<Json<'a>, serde_json::Error> {
        match std::str::from_utf8(text) {
            // Checked once, whole: read from bytes, each string was checked on its own, a call
            // per string (1.4% of the daemon's CPU at 10,000 miners).
            Ok(text) => serde_json::from_str(text),
            // Read from the bytes, for the error to say where the bad byte is.
            Err(_) => serde_json::from_slice(text),
        }
    }

    /// The member `key` of an object; `None` for a missing key or a non-object.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(o) => o.get(key),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The members of an object, in document order.
    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(o) => Some(o.members()),
            _ => None,
        }
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// True for an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }
}

/// A scalar as the lenient readers see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// Any other number.
    F64(f64),
    /// A string.
    Str(&'a str),
    /// An array or an object.
    Compound,
}

/// What [`crate::lenient`] needs of a parsed JSON value: implemented by [`Json`] and by
/// `serde_json::Value`.
pub trait JsonValue: Sized {
    /// The member `key` of an object.
    fn member(&self, key: &str) -> Option<&Self>;
    /// The elements of an array.
    fn elements(&self) -> Option<&[Self]>;
    /// True for an object.
    fn is_object_value(&self) -> bool;
    /// The value as a scalar.
    fn scalar(&self) -> Scalar<'_>;
    /// Calls `f` on each member of an object, in order (nothing for a non-object).
    fn for_each_member(&self, f: &mut dyn FnMut(&str, &Self));
    /// The text of a string.
    fn str_value(&self) -> Option<&str> {
        match self.scalar() {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl JsonValue for Json<'_> {
    fn member(&self, key: &str) -> Option<&Self> {
        self.get(key)
    }
    fn elements(&self) -> Option<&[Self]> {
        self.as_array()
    }
    fn is_object_value(&self) -> bool {
        self.is_object()
    }
    fn scalar(&self) -> Scalar<'_> {
        match self {
            Json::Null => Scalar::Null,
            Json::Bool(b) => Scalar::Bool(*b),
            Json::U64(u) => Scalar::U64(*u),
            Json::I64(i) => Scalar::I64(*i),
            Json::F64(f) => Scalar::F64(*f),
            Json::Str(s) => Scalar::Str(s),
            Json::Array(_) | Json::Object(_) => Scalar::Compound,
        }
    }
    fn for_each_member(&self, f: &mut dyn FnMut(&str, &Self)) {
        for (k, v) in self.as_object().unwrap_or_default() {
            f(k, v);
        }
    }
}

impl JsonValue for serde_json::Value {
    fn member(&self, key: &str) -> Option<&Self> {
        self.get(key)
    }
    fn elements(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }
    fn is_object_value(&self) -> bool {
        self.is_object()
    }
    fn scalar(&self) -> Scalar<'_> {
        use serde_json::Value;
        match self {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => Scalar::U64(u),
                (None, Some(i)) => Scalar::I64(i),
                _ => n.as_f64().map_or(Scalar::Null, Scalar::F64),
            },
            Value::String(s) => Scalar::Str(s),
            Value::Array(_) | Value::Object(_) => Scalar::Compound,
        }
    }
    fn for_each_member(&self, f: &mut dyn FnMut(&str, &Self)) {
        for (k, v) in self.as_object().into_iter().flatten() {
            f(k, v);
        }
    }
}

/// Written back as the JSON it was read from (members in document order).
impl serde::Serialize for Json<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::U64(u) => s.serialize_u64(*u),
            Json::I64(i) => s.serialize_i64(*i),
            Json::F64(f) => s.serialize_f64(*f),
            Json::Str(t) => s.serialize_str(t),
            Json::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Json::Object(o) => {
                let mut map = s.serialize_map(Some(o.members.len()))?;
                for (k, v) in &o.members {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Json<'de>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Json<'de>, E> {
        Ok(Json::U64(u))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Json<'de>, E> {
        Ok(if i >= 0 {
            Json::U64(i as u64)
        } else {
            Json::I64(i)
        })
    }
    fn visit_f64<E>(self, f: f64) -> Result<Json<'de>, E> {
        Ok(Json::F64(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(k) = map.next_key_seed(KeySeed)? {
            out.push((k, map.next_value()?));
        }
        Ok(Json::Object(Object::new(out)))
    }
}

/// Reads an object key without copying it (serde's own `Cow<str>` always copies).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_string()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// `j` read through both implementations, as the lenient readers see them.
    fn both(text: &str) -> (Json<'_>, Value) {
        (
            Json::parse(text.as_bytes()).expect("valid JSON"),
            serde_json::from_str(text).expect("valid JSON"),
        )
    }

    #[test]
    fn keys_and_plain_strings_borrow_escaped_ones_are_unescaped() {
        let text = r#"{"a":"plain","b\u0041":"tab\tbed"}"#;
        let j = Json::parse(text.as_bytes()).expect("valid");
        let members = j.as_object().expect("object");
        assert!(matches!(members[0].0, Cow::Borrowed("a")));
        assert!(matches!(
            j.get("a"),
            Some(Json::Str(Cow::Borrowed("plain")))
        ));
        assert_eq!(members[1].0, "bA");
        assert_eq!(j.get("bA").and_then(Json::as_str), Some("tab\tbed"));
    }

    #[test]
    fn a_repeated_key_reads_as_its_last_value_as_with_serde_json() {
        let (j, v) = both(r#"{"k":1,"k":2}"#);
        assert_eq!(j.member("k").map(JsonValue::scalar), Some(Scalar::U64(2)));
        assert_eq!(v.member("k").map(JsonValue::scalar), Some(Scalar::U64(2)));
    }

    #[test]
    fn keys_that_share_a_tag_are_told_apart() {
        // Same length, first, middle and last byte: the same tag.
        assert_eq!(tag("axyc"), tag("azyc"));
        let j = Json::parse(br#"{"axyc":1,"azyc":2,"q":0}"#).expect("valid");
        assert_eq!(
            j.member("axyc").map(JsonValue::scalar),
            Some(Scalar::U64(1))
        );
        assert_eq!(
            j.member("azyc").map(JsonValue::scalar),
            Some(Scalar::U64(2))
        );
        assert_eq!(j.member("awyc"), None);
        assert_eq!(j.member(""), None);
        let j = Json::parse(br#"{"axyc":1,"azyc":2,"axyc":3,"":4}"#).expect("valid");
        assert_eq!(
            j.member("axyc").map(JsonValue::scalar),
            Some(Scalar::U64(3))
        );
        assert_eq!(j.member("").map(JsonValue::scalar), Some(Scalar::U64(4)));
    }

    #[test]
    fn scalars_read_the_same_through_both() {
        let text = r#"{"u":18446744073709551615,"i":-3,"f":1.5,"e":1e400,"t":true,"n":null,"s":"4.29G","a":[1],"o":{}}"#;
        // 1e400 is out of range for f64: serde_json refuses it in both.
        assert!(Json::parse(text.as_bytes()).is_err());
        let text = text.replace("1e400", "1e300");
        let (j, v) = both(&text);
        for key in ["u", "i", "f", "e", "t", "n", "s", "a", "o", "missing"] {
            assert_eq!(
                j.member(key).map(JsonValue::scalar),
                v.member(key).map(JsonValue::scalar),
                "{key}"
            );
        }
        assert_eq!(
            j.member("a").and_then(JsonValue::elements).map(<[_]>::len),
            Some(1)
        );
        assert!(j.member("o").is_some_and(JsonValue::is_object_value));
    }

    #[test]
    fn writes_back_what_it_read() {
        let text = r#"{"b":[1,-2,2.5,"x\"y",null,true],"a":{}}"#;
        let j = Json::parse(text.as_bytes()).expect("valid");
        assert_eq!(serde_json::to_string(&j).expect("serializes"), text);
        let mut keys = Vec::new();
        j.for_each_member(&mut |k, _| keys.push(k.to_string()));
        assert_eq!(keys, ["b", "a"], "document order");
    }

    #[test]
    fn bad_documents_are_errors_not_panics() {
        let deep = "[".repeat(10_000);
        for bad in [
            "",
            "{",
            "{\"a\":}",
            "nul",
            "[1,]",
            deep.as_str(),
            "\"\\ud800\"",
        ] {
            assert!(Json::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(Json::parse(b"\xff").is_err());
    }
}
