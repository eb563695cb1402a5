//! What a rule's verdict does to an alert: the state machine `resolved -> firing -> resolved`
//! with a cooldown, so a flapping miner is reported once, not once per flap.

use std::collections::HashMap;
use std::time::Duration;

/// The outcome of one verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It starts firing: store it and tell people.
    Fire,
    /// It fires again within the cooldown of its last firing: shown firing, nobody told again.
    Suppress,
    /// It stopped: resolve it.
    Resolve,
    /// Nothing changed.
    Keep,
}

/// The alert as the lifecycle needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    /// Firing now.
    pub firing: bool,
    /// When it last fired (and people were told), Unix ms.
    pub fired_ms: u64,
}

/// Each stored alert's [`Current`] by rule, miner and key. Looked up with borrowed names, so
/// the common verdict ("all fine", sent by every rule for every miner at every poll) costs no
/// allocation.
#[derive(Debug, Default)]
pub struct KnownAlerts(HashMap<String, HashMap<String, HashMap<String, Current>>>);

impl KnownAlerts {
    /// The alert `key` of `rule` on `miner`, if stored.
    pub fn get(&self, rule: &str, miner: &str, key: &str) -> Option<Current> {
        self.0.get(rule)?.get(miner)?.get(key).copied()
    }

    /// Records the alert's state.
    pub fn insert(&mut self, rule: &str, miner: &str, key: &str, current: Current) {
        let by_miner = self.0.entry(rule.to_string()).or_default();
        let by_key = by_miner.entry(miner.to_string()).or_default();
        by_key.insert(key.to_string(), current);
    }
}

/// Decides what a verdict (`firing` or not) does to the alert now in `current`.
pub fn decide(current: Option<Current>, firing: bool, now_ms: u64, cooldown: Duration) -> Decision {
    match (current, firing) {
        (None, false) => Decision::Keep,
        (None, true) => Decision::Fire,
        (Some(c), true) if c.firing => Decision::Keep,
        (Some(c), true) => {
            let since = now_ms.saturating_sub(c.fired_ms);
            if u128::from(since) < cooldown.as_millis() {
                Decision::Suppress
            } else {
                Decision::Fire
            }
        }
        (Some(c), false) if c.firing => Decision::Resolve,
        (Some(_), false) => Decision::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn known_alerts_are_told_apart_by_rule_miner_and_key() {
        let mut k = KnownAlerts::default();
        let c = |fired_ms| Current {
            firing: true,
            fired_ms,
        };
        k.insert("overheat", "m1", "chip", c(1));
        k.insert("overheat", "m1", "vr", c(2));
        k.insert("overheat", "m2", "chip", c(3));
        k.insert("offline", "m1", "chip", c(4));
        k.insert("overheat", "m1", "chip", c(5));
        assert_eq!(k.get("overheat", "m1", "chip"), Some(c(5)), "replaced");
        assert_eq!(k.get("overheat", "m1", "vr"), Some(c(2)));
        assert_eq!(k.get("overheat", "m2", "chip"), Some(c(3)));
        assert_eq!(k.get("offline", "m1", "chip"), Some(c(4)));
        assert_eq!(k.get("offline", "m2", "chip"), None);
        assert_eq!(k.get("fan", "m1", "chip"), None);
    }

    /// Runs verdicts through the lifecycle as the engine does; returns what was told.
    fn run(verdicts: &[(u64, bool)], cooldown: Duration) -> Vec<(u64, Decision)> {
        let mut cur: Option<Current> = None;
        let mut told = Vec::new();
        for &(t, firing) in verdicts {
            let d = decide(cur, firing, t, cooldown);
            match d {
                Decision::Fire => {
                    cur = Some(Current {
                        firing: true,
                        fired_ms: t,
                    })
                }
                Decision::Suppress => cur = cur.map(|c| Current { firing: true, ..c }),
                Decision::Resolve => cur = cur.map(|c| Current { firing: false, ..c }),
                Decision::Keep => {}
            }
            if matches!(d, Decision::Fire | Decision::Resolve) {
                told.push((t, d));
            }
        }
        told
    }

    #[test]
    fn a_flapping_miner_inside_the_cooldown_is_reported_once() {
        let cooldown = Duration::from_secs(15 * 60);
        let flaps: Vec<(u64, bool)> = (0..20).map(|i| (i * MIN, i % 2 == 0)).collect();
        let told = run(&flaps, cooldown);
        // Fired at 0, resolved at 1 min; re-triggers at 2..14 min are suppressed; after 15 min
        // it fires again.
        assert_eq!(told[0], (0, Decision::Fire));
        assert_eq!(told[1], (MIN, Decision::Resolve));
        let fires: Vec<u64> = told
            .iter()
            .filter(|(_, d)| *d == Decision::Fire)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(fires, vec![0, 16 * MIN]);
    }

    #[test]
    fn a_resolved_alert_fires_again_only_when_it_retriggers() {
        let told = run(
            &[(0, true), (MIN, false), (30 * MIN, false), (40 * MIN, true)],
            Duration::from_secs(600),
        );
        assert_eq!(
            told,
            vec![
                (0, Decision::Fire),
                (MIN, Decision::Resolve),
                (40 * MIN, Decision::Fire)
            ]
        );
        assert_eq!(
            decide(None, false, 0, Duration::ZERO),
            Decision::Keep,
            "nothing to resolve"
        );
        let firing = Some(Current {
            firing: true,
            fired_ms: 0,
        });
        assert_eq!(
            decide(firing, true, MIN, Duration::ZERO),
            Decision::Keep,
            "no duplicate"
        );
    }
}
