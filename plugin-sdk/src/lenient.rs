//! Lenient decoding of values that real firmware sends in varying shapes: numbers as strings,
//! difficulties with SI suffixes ("4.29G", "524K"), booleans as 0/1, `inf`/`nan`.
//!
//! Every function returns `None` rather than failing: a value that cannot be read is "not
//! reported", never `0`.

use crate::json::{JsonValue, Scalar};

/// SI multiplier of a suffix letter as miners and pools write them (`k` and `K` both mean 1e3).
fn si_multiplier(c: char) -> Option<f64> {
    Some(match c {
        'k' | 'K' => 1e3,
        'M' | 'm' => 1e6,
        'G' | 'g' => 1e9,
        'T' | 't' => 1e12,
        'P' | 'p' => 1e15,
        'E' | 'e' => 1e18,
        _ => return None,
    })
}

/// Parses "1.5", "4.29G", "524K", "'20'", " 12 " into a finite number.
/// `inf`, `nan`, empty and garbage give `None`.
pub fn parse_number_str(s: &str) -> Option<f64> {
    let s = s.trim().trim_matches(|c| c == '\'' || c == '"').trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(v) = s.parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let mut chars = s.chars();
    let last = chars.next_back()?;
    let mult = si_multiplier(last)?;
    let head = chars.as_str().trim();
    let v = head.parse::<f64>().ok()? * mult;
    v.is_finite().then_some(v)
}

/// A JSON number, or a string holding one (with an optional SI suffix).
pub fn number<V: JsonValue>(v: &V) -> Option<f64> {
    match v.scalar() {
        Scalar::U64(u) => Some(u as f64),
        Scalar::I64(i) => Some(i as f64),
        Scalar::F64(f) => f.is_finite().then_some(f),
        Scalar::Str(s) => parse_number_str(s),
        Scalar::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
        Scalar::Null | Scalar::Compound => None,
    }
}

/// Like [`number`], for a field of an object.
pub fn field<V: JsonValue>(obj: &V, key: &str) -> Option<f64> {
    obj.member(key).and_then(number)
}

/// The first of several field names that holds a number (renamed fields across versions).
pub fn field_any<V: JsonValue>(obj: &V, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| field(obj, k))
}

/// A non-negative whole number (counts, seconds). Negative or fractional garbage gives `None`.
pub fn count<V: JsonValue>(v: &V) -> Option<u64> {
    if let Scalar::U64(u) = v.scalar() {
        return Some(u);
    }
    let f = number(v)?;
    (f >= 0.0 && f <= u64::MAX as f64).then(|| f.round() as u64)
}

/// Like [`count`], for a field of an object.
pub fn count_field<V: JsonValue>(obj: &V, key: &str) -> Option<u64> {
    obj.member(key).and_then(count)
}

/// `true`/`false`, `1`/`0`, `"true"`/`"1"`/`"yes"`/`"Y"`.
pub fn boolean<V: JsonValue>(v: &V) -> Option<bool> {
    match v.scalar() {
        Scalar::Bool(b) => Some(b),
        Scalar::U64(u) => Some(u != 0),
        Scalar::I64(i) => Some(i != 0),
        Scalar::F64(f) => Some(f != 0.0),
        Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "alive" | "on" => Some(true),
            "false" | "0" | "no" | "n" | "dead" | "off" => Some(false),
            _ => None,
        },
        Scalar::Null | Scalar::Compound => None,
    }
}

/// Like [`boolean`], for a field of an object.
pub fn bool_field<V: JsonValue>(obj: &V, key: &str) -> Option<bool> {
    obj.member(key).and_then(boolean)
}

/// A string field, trimmed, with the stray quotes some firmware embeds removed
/// (Whatsminer `"'20210322.22.REL'"`). Empty gives `None`.
pub fn string_field<V: JsonValue>(obj: &V, key: &str) -> Option<String> {
    let s = match obj.member(key)?.scalar() {
        Scalar::Str(s) => s.trim().trim_matches('\'').trim().to_string(),
        Scalar::U64(u) => u.to_string(),
        Scalar::I64(i) => i.to_string(),
        // serde_json's formatting, so both parsers give the same text.
        Scalar::F64(f) => serde_json::Number::from_f64(f)?.to_string(),
        Scalar::Bool(_) | Scalar::Null | Scalar::Compound => return None,
    };
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn suffixed_difficulties() {
        assert_eq!(parse_number_str("4.29G"), Some(4.29e9));
        assert_eq!(parse_number_str("483k"), Some(483e3));
        assert_eq!(parse_number_str("524K"), Some(524e3));
        assert_eq!(parse_number_str("115M"), Some(115e6));
        assert_eq!(parse_number_str("0"), Some(0.0));
        assert_eq!(parse_number_str("'12.5'"), Some(12.5));
        assert_eq!(parse_number_str("1.2 T"), Some(1.2e12));
    }

    #[test]
    fn garbage_is_not_reported() {
        for s in ["", "inf", "nan", "-inf", "abc", "G", "1.2X", "NaN"] {
            assert_eq!(parse_number_str(s), None, "{s:?}");
        }
        assert_eq!(number(&json!(null)), None);
        assert_eq!(number(&json!([1])), None);
    }

    #[test]
    fn number_or_string() {
        assert_eq!(number(&json!(36603151167u64)), Some(36603151167.0));
        assert_eq!(number(&json!("140258.58")), Some(140258.58));
        assert_eq!(
            field_any(
                &json!({"stratumDiff": 1000}),
                &["poolDifficulty", "stratumDiff"]
            ),
            Some(1000.0)
        );
    }

    #[test]
    fn counts_and_bools() {
        assert_eq!(count(&json!(5)), Some(5));
        assert_eq!(count(&json!("7")), Some(7));
        assert_eq!(count(&json!(-1)), None);
        assert_eq!(boolean(&json!(1)), Some(true));
        assert_eq!(boolean(&json!("Alive")), Some(true));
        assert_eq!(boolean(&json!("maybe")), None);
        assert_eq!(
            string_field(&json!({"v": "'20210322.22.REL'"}), "v").as_deref(),
            Some("20210322.22.REL")
        );
    }
}
