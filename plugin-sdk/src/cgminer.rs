//! The CGMiner-style RPC (TCP 4028): request encoding, a quirk-tolerant pre-parser for the
//! malformed JSON real firmware sends, and envelope helpers.
//!
//! [`repair`] tokenises the reply and fixes, outside string literals only:
//! NUL bytes; `}{` and `""key` (missing commas); `,}`, `,]`, `[,{` and doubled commas;
//! `inf`/`nan` bare words (to `null`: not reported, never 0); a reply starting with `,` (Avalon);
//! raw control characters inside strings (btminer newlines); and a truncated reply (the last
//! partial element is dropped and every open container closed).

use crate::json::{Json, JsonValue, Scalar};
use serde_json::Value;

/// Why a reply could not be turned into JSON or did not report success.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CgminerError {
    /// Nothing but whitespace and NULs.
    #[error("empty reply")]
    Empty,
    /// Not JSON even after the quirk repairs.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// The envelope's STATUS was `E` or `F`.
    #[error("miner reported {status} (code {code}): {msg}")]
    Status {
        /// The status letter.
        status: String,
        /// The numeric code, if any.
        code: i64,
        /// The message.
        msg: String,
    },
    /// The expected section (e.g. `SUMMARY`) is missing.
    #[error("reply has no {0} section")]
    MissingSection(String),
}

/// The JSON request for `command` (with an optional parameter).
pub fn request(command: &str, parameter: Option<&str>) -> Vec<u8> {
    let v = match parameter {
        Some(p) => serde_json::json!({ "command": command, "parameter": p }),
        None => serde_json::json!({ "command": command }),
    };
    v.to_string().into_bytes()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Container {
    Object,
    Array,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Last {
    /// Nothing emitted yet.
    Start,
    /// Just opened an object or array.
    Open,
    /// A comma is owed before the next element (emitted lazily, so trailing commas vanish).
    Comma,
    /// An object key was emitted.
    Key,
    /// A colon was emitted.
    Colon,
    /// A complete value was emitted.
    Value,
}

struct Repairer {
    out: String,
    stack: Vec<Container>,
    last: Last,
    /// (output length, stack depth) after the last complete element: where a truncated reply is cut.
    safe: (usize, usize),
}

impl Repairer {
    fn new(cap: usize) -> Self {
        Repairer {
            out: String::with_capacity(cap),
            stack: Vec::new(),
            last: Last::Start,
            safe: (0, 0),
        }
    }

    fn mark_safe(&mut self) {
        self.safe = (self.out.len(), self.stack.len());
    }

    /// Emits what must come before a new value or key in the current position.
    fn before_element(&mut self) {
        match self.last {
            Last::Comma | Last::Value => {
                if !self.out.ends_with(['{', '[']) {
                    self.out.push(',');
                }
            }
            Last::Key => self.out.push(':'),
            Last::Start | Last::Open | Last::Colon => {}
        }
    }

    fn in_object_key_position(&self) -> bool {
        self.stack.last() == Some(&Container::Object)
            && !matches!(self.last, Last::Key | Last::Colon)
    }

    fn value_done(&mut self) {
        self.last = Last::Value;
        self.mark_safe();
    }

    fn open(&mut self, c: Container) {
        if self.last == Last::Start && !self.stack.is_empty() {
            self.last = Last::Comma;
        }
        if self.in_object_key_position() {
            // A container where a key belongs: no sensible repair but to drop the object's key slot.
            self.out.push_str("\"\":");
        } else {
            self.before_element();
        }
        self.out
            .push(if c == Container::Object { '{' } else { '[' });
        self.stack.push(c);
        self.last = Last::Open;
        self.mark_safe();
    }

    fn close(&mut self, c: Container) {
        // Unbalanced closers are dropped; a mismatched one closes what is open.
        if self.stack.is_empty() {
            return;
        }
        if matches!(self.last, Last::Key | Last::Colon) {
            self.out.push_str(if self.last == Last::Key {
                ":null"
            } else {
                "null"
            });
        }
        let top = self.stack.pop().unwrap_or(c);
        self.out
            .push(if top == Container::Object { '}' } else { ']' });
        self.value_done();
    }

    fn comma(&mut self) {
        match self.last {
            Last::Value => self.last = Last::Comma,
            Last::Key => {
                self.out.push_str(":null");
                self.last = Last::Comma;
            }
            Last::Colon => {
                self.out.push_str("null");
                self.last = Last::Comma;
            }
            // Leading or doubled commas are dropped.
            Last::Start | Last::Open | Last::Comma => {}
        }
    }

    fn colon(&mut self) {
        if self.last == Last::Key {
            self.out.push(':');
            self.last = Last::Colon;
        }
    }

    fn string(&mut self, s: &str) {
        if self.in_object_key_position() {
            self.before_element();
            self.out.push_str(s);
            self.last = Last::Key;
        } else {
            self.before_element();
            self.out.push_str(s);
            self.value_done();
        }
    }

    fn scalar(&mut self, word: &str) {
        let lower = word.to_ascii_lowercase();
        let canonical = match lower.trim_start_matches(['-', '+']) {
            "inf" | "infinity" | "nan" => "null",
            "true" | "false" | "null" => lower.as_str(),
            _ if word.parse::<f64>().is_ok_and(f64::is_finite) => word,
            // An unquoted word: keep it as a string rather than lose the field.
            _ => "",
        };
        let owned;
        let text = if canonical.is_empty() {
            owned = serde_json::Value::String(word.to_string()).to_string();
            owned.as_str()
        } else {
            canonical
        };
        if self.in_object_key_position() {
            self.string(&serde_json::Value::String(word.to_string()).to_string());
            return;
        }
        self.before_element();
        self.out.push_str(text);
        self.value_done();
    }

    fn finish(mut self) -> String {
        if !self.stack.is_empty() || matches!(self.last, Last::Key | Last::Colon) {
            // Truncated: cut back to the last complete element and close what was open there.
            let (len, depth) = self.safe;
            self.out.truncate(len);
            self.stack.truncate(depth);
            while let Some(c) = self.stack.pop() {
                self.out
                    .push(if c == Container::Object { '}' } else { ']' });
            }
        }
        self.out
    }
}

/// Reads a string literal starting at `bytes[start] == '"'`. Returns the repaired literal and the
/// index after it, or `None` if the input ends inside it.
fn read_string(text: &str, start: usize) -> Option<(String, usize)> {
    let mut lit = String::from("\"");
    let mut chars = text[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                lit.push('"');
                return Some((lit, start + 1 + i + 1));
            }
            '\\' => {
                let (_, next) = chars.next()?;
                if matches!(next, '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' | 'u') {
                    lit.push('\\');
                    lit.push(next);
                } else {
                    // An invalid escape: keep the character, drop the backslash.
                    lit.push(next);
                }
            }
            '\0' => {}
            c if (c as u32) < 0x20 => lit.push(' '),
            c => lit.push(c),
        }
    }
    None
}

/// Repairs the known firmware JSON quirks (see the module docs). Valid JSON passes through with
/// the same meaning. Never panics, for any input.
pub fn repair(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let text = text.as_ref();
    let mut r = Repairer::new(text.len() + 8);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'{' => {
                r.open(Container::Object);
                i += 1;
            }
            b'[' => {
                r.open(Container::Array);
                i += 1;
            }
            b'}' => {
                r.close(Container::Object);
                i += 1;
            }
            b']' => {
                r.close(Container::Array);
                i += 1;
            }
            b',' => {
                if r.last == Last::Start && r.stack.is_empty() {
                    // Avalon: a reply that starts with `,"id":1}` lost its opening brace.
                    r.open(Container::Object);
                } else {
                    r.comma();
                }
                i += 1;
            }
            b':' => {
                r.colon();
                i += 1;
            }
            b'"' => match read_string(text, i) {
                Some((lit, next)) => {
                    r.string(&lit);
                    i = next;
                }
                None => break,
            },
            b if b.is_ascii_whitespace() || b == 0 => i += 1,
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b'{' | b'}' | b'[' | b']' | b',' | b':' | b'"' | 0)
                    && !bytes[i].is_ascii_whitespace()
                {
                    i += 1;
                }
                // `start` and `i` sit on ASCII delimiters or the ends, so the slice is on char boundaries.
                let word = &text[start..i];
                if i >= bytes.len() && !r.stack.is_empty() {
                    // A scalar cut off by the end of a truncated reply is not trusted.
                    break;
                }
                r.scalar(word);
            }
        }
    }
    r.finish()
}

/// Parses a raw reply: strict JSON first, the [`repair`]ed text if that fails.
pub fn parse(raw: &[u8]) -> Result<Value, CgminerError> {
    let trimmed = trim_nul(raw);
    if trimmed.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(CgminerError::Empty);
    }
    let head = || -> String { String::from_utf8_lossy(trimmed).chars().take(80).collect() };
    let value = match serde_json::from_slice::<Value>(trimmed) {
        Ok(v) => v,
        Err(_) => serde_json::from_str(&repair(trimmed))
            .map_err(|e| CgminerError::Malformed(format!("{e} (reply starts {:?})", head())))?,
    };
    if value.is_object() || value.is_array() {
        Ok(value)
    } else {
        Err(CgminerError::Malformed(format!(
            "not a JSON object (reply starts {:?})",
            head()
        )))
    }
}

/// [`parse`] into a borrowed [`Json`]: the document borrows from `raw`, or from `repaired`
/// when the reply needed the quirk repairs.
pub fn parse_json<'a>(raw: &'a [u8], repaired: &'a mut String) -> Result<Json<'a>, CgminerError> {
    let trimmed = trim_nul(raw);
    if trimmed.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(CgminerError::Empty);
    }
    let head = || -> String { String::from_utf8_lossy(trimmed).chars().take(80).collect() };
    let value = match Json::parse(trimmed) {
        Ok(v) => v,
        Err(_) => {
            *repaired = repair(trimmed);
            let text: &'a String = repaired;
            Json::parse(text.as_bytes())
                .map_err(|e| CgminerError::Malformed(format!("{e} (reply starts {:?})", head())))?
        }
    };
    if value.is_object() || value.as_array().is_some() {
        Ok(value)
    } else {
        Err(CgminerError::Malformed(format!(
            "not a JSON object (reply starts {:?})",
            head()
        )))
    }
}

fn trim_nul(raw: &[u8]) -> &[u8] {
    let end = raw
        .iter()
        .rposition(|&b| b != 0 && !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    &raw[..end]
}

/// Checks the envelope's STATUS: an array (`[{"STATUS":"S",...}]`) or a flat string (btminer).
/// `S` and `I` (and `W`) are success; `E` and `F` are errors.
pub fn check_status<V: JsonValue>(reply: &V) -> Result<(), CgminerError> {
    let Some(status) = reply.member("STATUS") else {
        return Ok(());
    };
    let (letter, holder) = match (status.elements(), status.scalar()) {
        (Some(list), _) => match list.first() {
            Some(first) => match first.member("STATUS").map(JsonValue::scalar) {
                Some(Scalar::Str(s)) => (s, first),
                _ => ("S", first),
            },
            None => return Ok(()),
        },
        (None, Scalar::Str(s)) => (s, reply),
        _ => return Ok(()),
    };
    if matches!(letter, "E" | "F") {
        let msg = holder.member("Msg").map(text_of).unwrap_or_default();
        let code = match holder.member("Code").map(JsonValue::scalar) {
            Some(Scalar::I64(i)) => i,
            Some(Scalar::U64(u)) => i64::try_from(u).unwrap_or(0),
            _ => 0,
        };
        return Err(CgminerError::Status {
            status: letter.to_string(),
            code,
            msg,
        });
    }
    Ok(())
}

/// A scalar as text, for error messages.
fn text_of<V: JsonValue>(v: &V) -> String {
    match v.scalar() {
        Scalar::Str(s) => s.to_string(),
        Scalar::U64(u) => u.to_string(),
        Scalar::I64(i) => i.to_string(),
        Scalar::F64(f) => f.to_string(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Null => String::new(),
        Scalar::Compound => "(structured message)".to_string(),
    }
}

/// The first element of section `name` (e.g. `SUMMARY`), after checking the status.
pub fn section<'a, V: JsonValue>(reply: &'a V, name: &str) -> Result<&'a V, CgminerError> {
    check_status(reply)?;
    let missing = || CgminerError::MissingSection(name.to_string());
    let v = reply.member(name).ok_or_else(missing)?;
    match v.elements() {
        Some(list) => list.first().ok_or_else(missing),
        None if v.is_object_value() => Ok(v),
        None => Err(missing()),
    }
}

/// Every element of section `name` (e.g. `POOLS`), after checking the status.
pub fn section_list<'a, V: JsonValue>(reply: &'a V, name: &str) -> Result<&'a [V], CgminerError> {
    check_status(reply)?;
    reply
        .member(name)
        .and_then(JsonValue::elements)
        .ok_or_else(|| CgminerError::MissingSection(name.to_string()))
}

/// Splits a multi-command reply (`{"summary":[{envelope}],"pools":[{envelope}]}`) into the
/// envelope of `command`. Accepts the bare-object form the API README shows, too.
pub fn multi_part<'a, V: JsonValue>(reply: &'a V, command: &str) -> Option<&'a V> {
    let v = reply.member(command)?;
    match v.elements() {
        Some(list) => list.first(),
        None => v.is_object_value().then_some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Value {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn valid_json_is_untouched() {
        let s = r#"{"STATUS":[{"STATUS":"S","Msg":"nan inf }{ ,}"}],"SUMMARY":[{"GHS 5s":"1.5","x":[1,2.5e3,-3]}],"id":1}"#;
        assert_eq!(p(s), serde_json::from_str::<Value>(s).expect("valid"));
        assert_eq!(
            serde_json::from_str::<Value>(&repair(s.as_bytes())).expect("repaired"),
            p(s)
        );
    }

    #[test]
    fn nul_terminator() {
        assert_eq!(p("{\"a\":1}\0"), json!({"a":1}));
        assert_eq!(p("{\"a\":1}\0\0\n"), json!({"a":1}));
    }

    #[test]
    fn missing_commas() {
        assert_eq!(
            p(r#"{"STATS":[{"Type":"S9i"}{"STATS":0}]}"#),
            json!({"STATS":[{"Type":"S9i"},{"STATS":0}]})
        );
        assert_eq!(p(r#"{"a":"x""temp0":5}"#), json!({"a":"x","temp0":5}));
    }

    #[test]
    fn extra_commas() {
        assert_eq!(p(r#"{"a":1,}"#), json!({"a":1}));
        assert_eq!(p(r#"{"a":[,{"b":2}]}"#), json!({"a":[{"b":2}]}));
        assert_eq!(p(r#"{"a":[1,,2,]}"#), json!({"a":[1,2]}));
    }

    #[test]
    fn inf_and_nan_are_not_reported() {
        assert_eq!(
            p(r#"{"a":inf,"b":nan,"c":-inf,"d":"inf"}"#),
            json!({"a":null,"b":null,"c":null,"d":"inf"})
        );
    }

    #[test]
    fn leading_comma() {
        assert_eq!(p(r#","id":1}"#), json!({"id":1}));
    }

    #[test]
    fn newline_inside_string() {
        assert_eq!(
            p("{\"Msg\":\"line1\nline2\"}"),
            json!({"Msg":"line1 line2"})
        );
    }

    #[test]
    fn truncated_reply_keeps_complete_elements() {
        let v = p(r#"{"STATUS":[{"STATUS":"S"}],"ERR":[{"c":1},{"c":2},{"c":3"#);
        assert_eq!(
            v,
            json!({"STATUS":[{"STATUS":"S"}],"ERR":[{"c":1},{"c":2},{}]})
        );
        let v = p(r#"{"a":[1,2,3"#);
        assert_eq!(v, json!({"a":[1,2]}));
        let v = p(r#"{"a":"unterminated"#);
        assert_eq!(v, json!({}));
    }

    #[test]
    fn empty_and_garbage() {
        assert_eq!(parse(b""), Err(CgminerError::Empty));
        assert_eq!(parse(b"\0\0"), Err(CgminerError::Empty));
        assert!(matches!(
            parse(b"HTTP/1.1 400 Bad Request"),
            Err(CgminerError::Malformed(_))
        ));
        assert!(matches!(parse(b"hello"), Err(CgminerError::Malformed(_))));
        assert!(matches!(parse(b"42"), Err(CgminerError::Malformed(_))));
    }

    #[test]
    fn status_checks() {
        let ok = p(r#"{"STATUS":[{"STATUS":"S","Code":11}],"SUMMARY":[{"Elapsed":5}]}"#);
        assert_eq!(
            section(&ok, "SUMMARY").ok().and_then(|s| s.get("Elapsed")),
            Some(&json!(5))
        );
        let denied =
            p(r#"{"STATUS":[{"STATUS":"E","Code":45,"Msg":"Access denied to 'quit' command"}]}"#);
        assert!(matches!(
            check_status(&denied),
            Err(CgminerError::Status { code: 45, .. })
        ));
        let flat = p(r#"{"STATUS":"S","When":1,"Code":131,"Msg":{"btmineroff":"false"}}"#);
        assert!(check_status(&flat).is_ok());
        let flat_err = p(r#"{"STATUS":"E","Code":14,"Msg":"invalid cmd"}"#);
        assert!(matches!(
            check_status(&flat_err),
            Err(CgminerError::Status { code: 14, .. })
        ));
        assert!(matches!(
            section(&ok, "POOLS"),
            Err(CgminerError::MissingSection(_))
        ));
    }

    #[test]
    fn multi_command_shape() {
        let v = p(
            r#"{"summary":[{"STATUS":[{"STATUS":"S"}],"SUMMARY":[{"Elapsed":1}]}],"pools":[{"STATUS":[{"STATUS":"S"}],"POOLS":[]}],"id":1}"#,
        );
        let s = multi_part(&v, "summary").expect("summary part");
        assert!(section(s, "SUMMARY").is_ok());
        assert!(multi_part(&v, "devs").is_none());
    }

    #[test]
    fn request_encoding() {
        assert_eq!(
            request("summary", None),
            br#"{"command":"summary"}"#.to_vec()
        );
        assert_eq!(
            request("pools", Some("0")),
            br#"{"command":"pools","parameter":"0"}"#.to_vec()
        );
    }

    mod fuzz {
        use super::super::*;
        use proptest::prelude::*;
        use serde_json::Value;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                (-1e12f64..1e12).prop_map(Value::from),
                "[ -~]{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map("[A-Za-z %]{1,8}", inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn object() -> impl Strategy<Value = Value> {
            proptest::collection::btree_map("[A-Za-z %]{1,8}", json(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        }

        proptest! {
            /// Arbitrary bytes: an answer or an error, never a panic.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = repair(&bytes);
                same_through_both(&bytes)?;
            }

            /// Text made of JSON punctuation, the pre-parser's worst case.
            #[test]
            fn json_shaped_garbage_never_panics(s in "[{}\\[\\],:\" a0-9.\\x00-]{0,200}") {
                let _ = repair(s.as_bytes());
                same_through_both(s.as_bytes())?;
            }

            /// Valid replies keep their meaning, also NUL-terminated.
            #[test]
            fn valid_json_round_trips(v in object()) {
                let text = v.to_string();
                prop_assert_eq!(&parse(text.as_bytes()).expect("valid"), &v);
                let repaired: Value = serde_json::from_str(&repair(text.as_bytes())).expect("repair keeps it valid");
                prop_assert_eq!(&repaired, &v);
                let mut nul = text.into_bytes();
                nul.push(0);
                prop_assert_eq!(&parse(&nul).expect("NUL stripped"), &v);
            }

            /// The firmware quirks injected into valid replies are undone.
            #[test]
            fn injected_quirks_are_repaired(v in object()) {
                let text = v.to_string();
                // A trailing comma before every closing bracket outside strings is the `,}` quirk.
                let mut quirky = String::new();
                let mut in_str = false;
                let mut esc = false;
                for c in text.chars() {
                    if in_str {
                        quirky.push(c);
                        if esc { esc = false } else if c == '\\' { esc = true } else if c == '"' { in_str = false }
                        continue;
                    }
                    if c == '"' { in_str = true }
                    if (c == '}' || c == ']') && !quirky.ends_with('{') && !quirky.ends_with('[') {
                        quirky.push(',');
                    }
                    quirky.push(c);
                }
                quirky.push('\0');
                prop_assert_eq!(&parse(quirky.as_bytes()).expect("repaired"), &v);
                same_through_both(quirky.as_bytes())?;
            }
        }

        /// [`parse_json`] accepts what [`parse`] accepts, with the same meaning.
        fn same_through_both(raw: &[u8]) -> Result<(), TestCaseError> {
            let mut repaired = String::new();
            match (parse(raw), parse_json(raw, &mut repaired)) {
                (Ok(v), Ok(j)) => prop_assert_eq!(serde_json::to_value(&j).expect("serializes"), v),
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "parse {a:?} but parse_json {b:?}"),
            }
            Ok(())
        }
    }
}
