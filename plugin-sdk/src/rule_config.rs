//! A rule's configuration as the host sends it, split into defaults and per-miner overrides.
//! Plain Rust, so it is unit-tested natively.

use serde_json::Value;

/// A rule's configuration as the host sends it (`{"max_chip_c": 70, "miners": {"id": {...}}}`),
/// split once per batch into the defaults and the per-miner overrides.
#[derive(Debug, Clone, Default)]
pub struct RuleConfig {
    base: serde_json::Map<String, Value>,
    miners: serde_json::Map<String, Value>,
}

impl RuleConfig {
    /// Parses the host's JSON; anything but an object is an empty configuration.
    pub fn parse(json: &str) -> Self {
        let Ok(Value::Object(mut base)) = serde_json::from_str::<Value>(json) else {
            return RuleConfig::default();
        };
        let miners = match base.remove("miners") {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        RuleConfig { base, miners }
    }

    /// The configuration for `miner`: the defaults with its overrides merged over them.
    pub fn for_miner(&self, miner: &str) -> Value {
        let mut merged = self.base.clone();
        if let Some(Value::Object(o)) = self.miners.get(miner) {
            for (k, v) in o {
                merged.insert(k.clone(), v.clone());
            }
        }
        Value::Object(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_miners_overrides_win_and_others_get_the_defaults() {
        let c = RuleConfig::parse(r#"{"max_c": 70, "min": 1, "miners": {"s19": {"max_c": 85}}}"#);
        assert_eq!(c.for_miner("s19"), json!({"max_c": 85, "min": 1}));
        assert_eq!(c.for_miner("gamma"), json!({"max_c": 70, "min": 1}));
    }

    #[test]
    fn anything_but_an_object_is_empty() {
        for bad in ["", "null", "[1]", "{", "\"x\""] {
            assert_eq!(RuleConfig::parse(bad).for_miner("m"), json!({}), "{bad}");
        }
        let c = RuleConfig::parse(r#"{"a": 1, "miners": [1]}"#);
        assert_eq!(c.for_miner("m"), json!({"a": 1}));
    }
}
