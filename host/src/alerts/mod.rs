//! The alert engine: every poll becomes an event for every loaded rule plugin; the rules say
//! which conditions hold, and the host owns what follows (the lifecycle in [`lifecycle`]):
//! firing, resolved, deduplicated, a cooldown against flapping, acknowledgement, mutes. Every change
//! is stored with its history in one sled transaction and published on the `alerts` topic.
//!
//! Events arrive on bounded channels from the miner manager, one per engine task, chosen by
//! miner, and go to the rules in batches: each rule sees a miner's samples in the order they
//! were polled.

mod engine;
pub mod lifecycle;
mod rest;
mod verdict;

pub use engine::{AlertEngine, EngineStats, EngineStopped, EventSender};
pub use verdict::{AlertView, acknowledge, apply};

use crate::notify::Channel;
use crate::state::Snapshot;
use solomon_plugin_sdk::MinerState;
use std::collections::BTreeMap;
use std::time::Duration;

/// What happened to a miner.
#[derive(Debug, Clone)]
pub enum RuleEventKind {
    /// A poll produced a record.
    Sample,
    /// Its state changed (`hashing` -> `offline`, ...).
    StateChange(MinerState, MinerState),
}

/// One event for the rules.
#[derive(Debug, Clone)]
pub struct RuleEvent {
    /// Miner id.
    pub miner: String,
    /// What happened.
    pub kind: RuleEventKind,
    /// The record before, if any.
    pub previous: Option<Snapshot>,
    /// The record now.
    pub current: Option<Snapshot>,
    /// When, Unix ms.
    pub ts_ms: u64,
}

/// How the engine treats alerts.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// A resolved alert that fires again within this time of its last firing is shown firing
    /// but not reported again.
    pub cooldown: Duration,
    /// Each rule's configuration by plugin name, a JSON object; its `miners` member holds
    /// per-miner overrides (`{"max_chip_c": 70, "miners": {"garage-s19": {"max_chip_c": 85}}}`).
    pub rules: BTreeMap<String, serde_json::Value>,
    /// Where fired and resolved alerts are sent (`[[notify]]`).
    pub notify: Vec<Channel>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            cooldown: Duration::from_secs(15 * 60),
            rules: BTreeMap::new(),
            notify: Vec::new(),
        }
    }
}

impl AlertConfig {
    /// The cooldown of `rule` on `miner`: its `cooldown_minutes` setting (per-miner override
    /// first), else the global one. A rule that may flap more (offline) or must never be
    /// repeated (new best) sets its own.
    pub fn cooldown_for(&self, rule: &str, miner: &str) -> Duration {
        let Some(serde_json::Value::Object(cfg)) = self.rules.get(rule) else {
            return self.cooldown;
        };
        let minutes = cfg
            .get("miners")
            .and_then(|m| m.get(miner))
            .and_then(|m| m.get("cooldown_minutes"))
            .or_else(|| cfg.get("cooldown_minutes"))
            .and_then(serde_json::Value::as_f64)
            .filter(|m| m.is_finite() && *m >= 0.0);
        minutes.map_or(self.cooldown, |m| Duration::from_secs_f64(m * 60.0))
    }

    /// A rule's configuration as rules receive it: a JSON object whose `miners` member holds
    /// per-miner overrides (the SDK merges them per event).
    pub fn rule_json(&self, rule: &str) -> String {
        match self.rules.get(rule) {
            Some(v @ serde_json::Value::Object(_)) => v.to_string(),
            _ => "{}".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solomon_plugin_sdk::rule_config::RuleConfig;

    #[test]
    fn per_miner_overrides_win() {
        let c = AlertConfig {
            rules: [(
                "rule-hot-chip".to_string(),
                serde_json::json!({"max_chip_c": 70, "samples": 3, "miners": {"s19": {"max_chip_c": 85}}}),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        // What a rule sees: the host sends the whole config, the SDK merges per miner.
        let seen = |rule: &str, miner: &str| RuleConfig::parse(&c.rule_json(rule)).for_miner(miner);
        assert_eq!(
            seen("rule-hot-chip", "s19"),
            serde_json::json!({"max_chip_c": 85, "samples": 3})
        );
        assert_eq!(
            seen("rule-hot-chip", "other"),
            serde_json::json!({"max_chip_c": 70, "samples": 3})
        );
        assert_eq!(c.rule_json("unknown"), "{}");
    }

    #[test]
    fn a_rule_and_a_miner_may_have_their_own_cooldown() {
        let c = AlertConfig {
            cooldown: Duration::from_secs(900),
            rules: [(
                "rule-offline".to_string(),
                serde_json::json!({"cooldown_minutes": 60, "miners": {"flaky": {"cooldown_minutes": 0.5}}}),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        assert_eq!(
            c.cooldown_for("rule-offline", "m1"),
            Duration::from_secs(3600)
        );
        assert_eq!(
            c.cooldown_for("rule-offline", "flaky"),
            Duration::from_secs(30)
        );
        assert_eq!(
            c.cooldown_for("rule-overheat", "m1"),
            Duration::from_secs(900)
        );
    }
}
