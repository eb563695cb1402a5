//! Avalon packs its telemetry into one string of `Key[v v v]` fields
//! (`STATS[0]["MM ID0"]`, or `"MM ID0:Summary"` on newer firmware).

use std::collections::HashMap;

/// Splits `Ver[1.0] TMax[78] Fan1[3120] PS[0 1213 2300 74 1670]` into key -> raw value.
/// Malformed parts (no closing bracket) end the parse; nothing panics.
pub fn fields(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        let key = rest[..open].trim();
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        if !key.is_empty() {
            // A key may be preceded by leftovers of a broken field; the key is the last word.
            let key = key.rsplit(' ').next().unwrap_or(key);
            out.insert(key.to_string(), after[..close].trim().to_string());
        }
        rest = &after[close + 1..];
    }
    out
}

/// The numbers of a field (`"0 1213 2300"` -> `[0.0, 1213.0, 2300.0]`), skipping non-numbers.
pub fn numbers(v: &str) -> Vec<f64> {
    v.split([' ', ','])
        .filter_map(|t| t.trim_end_matches('%').parse::<f64>().ok())
        .filter(|f| f.is_finite())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bracket_fields() {
        let f = fields(
            "Ver[1047-22-12-25] DNA[02] Elapsed[12345] TMax[78] TAvg[70] Fan1[3120] FanR[45%] GHSspd[110210.52] PS[0 1213 2300 74 1670 1213 1737] broken[x",
        );
        assert_eq!(f.get("TMax").map(String::as_str), Some("78"));
        assert_eq!(numbers(&f["FanR"]), vec![45.0]);
        assert_eq!(numbers(&f["PS"]).len(), 7);
        assert!(!f.contains_key("broken"));
        assert!(fields("").is_empty());
        assert!(fields("]]][[[").is_empty());
    }
}
