//! Alert rules: implement [`Rule`] and call [`register_rule!`](crate::register_rule).
//!
//! The host calls [`Rule::evaluate`] for every event (a new record, a state change). A rule
//! answers with the alerts whose condition it can judge now: `firing: true` while the condition
//! holds, `firing: false` once it clears. The host owns the lifecycle (dedup, cooldown, mute,
//! notifications), so a rule can simply report what it sees every time.
//!
//! With nothing firing, a verdict may also say how long it stands ([`Verdict::resting`]): the
//! host then spares the rule the samples that would not change it.

pub use crate::rest::{Bound, Gauge, Rest};
pub use crate::rule_config::RuleConfig;
use crate::{Fields, MinerRecord, PluginInfo, Severity};
use serde_json::Value;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "alert-rule",
        pub_export_macro: true,
        export_macro_name: "__export_rule_world",
        default_bindings_module: "solomon_plugin_sdk::rule::bindings",
        runtime_path: "solomon_plugin_sdk::__wit_bindgen::rt",
    });
}

use bindings::exports::solomon::plugin::rule as wit;

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A poll produced a new record.
    Sample,
    /// The miner's state changed from the first to the second (`hashing` -> `offline`).
    StateChange(String, String),
}

/// One event for a rule to judge.
#[derive(Debug, Clone)]
pub struct Event {
    /// The miner's id.
    pub miner_id: String,
    /// What happened.
    pub kind: EventKind,
    /// The miner's record before this event, if any.
    pub previous: Option<MinerRecord>,
    /// The miner's record now, if any.
    pub current: Option<MinerRecord>,
    /// The rule's configuration (defaults merged with this miner's overrides).
    pub config: Value,
    /// When it happened, Unix ms.
    pub ts_ms: u64,
}

impl Event {
    /// The current record, if the event has one.
    pub fn current(&self) -> Option<&MinerRecord> {
        self.current.as_ref()
    }

    /// The previous record, if there was one.
    pub fn previous(&self) -> Option<&MinerRecord> {
        self.previous.as_ref()
    }

    /// A number from the rule configuration, or `default`.
    pub fn config_f64(&self, key: &str, default: f64) -> f64 {
        self.config
            .get(key)
            .and_then(crate::lenient::number)
            .unwrap_or(default)
    }
}

/// One alert a rule reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Distinguishes alerts of one rule on one miner (`chip`, `vr`).
    pub key: String,
    /// How loud.
    pub severity: Severity,
    /// What a person reads.
    pub message: String,
    /// True while the condition holds.
    pub firing: bool,
}

impl Alert {
    /// An alert.
    pub fn new(
        key: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
        firing: bool,
    ) -> Self {
        Alert {
            key: key.into(),
            severity,
            message: message.into(),
            firing,
        }
    }
}

/// A rule's answer about one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    /// The alerts whose condition is known now.
    pub alerts: Vec<Alert>,
    /// With no alert firing: the samples of this miner that would not change the verdict
    /// (see [`Rest`]). `None` (the default): the rule is sent every event.
    pub rest: Option<Rest>,
}

impl Verdict {
    /// These alerts, and no promise: the rule is asked again at the next event.
    pub fn alerts(alerts: Vec<Alert>) -> Verdict {
        Verdict { alerts, rest: None }
    }

    /// Adds the promise that, until a sample breaks `rest`, this miner's verdict stands: no
    /// alert firing, and nothing in [`crate::host::state`] that a later verdict depends on
    /// would change. The host ignores it while an alert fires.
    pub fn resting(mut self, rest: Rest) -> Verdict {
        self.rest = Some(rest);
        self
    }
}

impl From<Vec<Alert>> for Verdict {
    fn from(alerts: Vec<Alert>) -> Verdict {
        Verdict::alerts(alerts)
    }
}

/// How many samples in a row `hit` has held for this miner, kept in plugin state under `key`
/// (0 once it does not): the usual guard against a single noisy sample firing an alert.
///
/// A streak of 0 is stored as no key at all. Most miners are fine most of the time, and at
/// 10,000 miners two rules' zeros were 20,000 keys that the host kept on disk and in memory.
pub fn streak(key: &str, hit: bool) -> Result<u32, String> {
    use crate::host::state;
    if !hit {
        // Read first: the host answers it from memory, while a delete of an absent key
        // would still go to the database, at every healthy sample of every miner.
        if state::get(key).is_some() {
            state::delete(key).map_err(|e| e.to_string())?;
        }
        return Ok(0);
    }
    state::update_json(key, |n: Option<u32>| n.unwrap_or(0).saturating_add(1))
        .map_err(|e| e.to_string())
}

/// Read-only, consistent snapshots of the host's miner store.
pub mod store {
    use super::bindings::solomon::plugin::store as raw;
    use crate::MinerRecord;

    /// The latest record of a miner.
    pub fn get_miner(id: &str) -> Option<MinerRecord> {
        raw::get_miner(id).map(super::from_wit)
    }

    /// Ids of every known miner, sorted.
    pub fn list_miners() -> Vec<String> {
        raw::list_miners()
    }

    /// (Unix ms, value) samples of one numeric field, oldest first.
    pub fn history(
        id: &str,
        metric: &str,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
    ) -> Vec<(u64, f64)> {
        raw::history(id, metric, from_ms, to_ms, limit)
    }
}

/// What an alert rule implements. Functions are associated (no `self`): keep memory between
/// events in [`crate::host::state`].
pub trait Rule {
    /// One line for humans. Name and version come from the plugin's crate, as for drivers.
    fn description() -> &'static str {
        ""
    }
    /// Whether the rule reads `event.previous()`. Set it to `false` if it never does: the host
    /// then sends `None` there and copies one record less into the plugin per event.
    const READS_PREVIOUS: bool = true;
    /// The groups of record fields the rule reads, in `current()` and `previous()` alike; the
    /// host leaves the others `None` or empty. Name only what you read: the default, every
    /// field, costs the most to copy in for every event. `id`, `make`, `state` and `ts_ms` are
    /// always there.
    const READS: Fields = Fields::ALL;
    /// Judges one event. A verdict with nothing firing may rest ([`Verdict::resting`]): in a
    /// healthy fleet that spares the rule most samples. Give no rest while a [`streak`] is
    /// counting or a window is filling: skipped samples would not count.
    fn evaluate(event: &Event) -> Result<Verdict, String>;
    /// The name and version the host knows the rule by; by default the crate's. Override it
    /// to keep a rule's identity (its plugin state, its alerts) across a crate rename.
    fn info(from_crate: PluginInfo) -> PluginInfo {
        from_crate
    }
}

#[doc(hidden)]
pub mod __glue {
    use super::*;
    use bindings::solomon::plugin::types as wt;

    pub fn info<R: Rule>(i: PluginInfo) -> wt::PluginInfo {
        let i = R::info(i);
        wt::PluginInfo {
            name: i.name,
            version: i.version,
            description: i.description,
        }
    }

    /// The rule's [`Rule::READS`] as the contract's flags.
    pub fn fields<R: Rule>() -> wt::RecordFields {
        super::wire::fields_to_wit(R::READS)
    }

    pub fn evaluate<R: Rule>(
        events: Vec<wit::Event>,
        config: String,
    ) -> Vec<Result<wit::Verdict, String>> {
        let config = RuleConfig::parse(&config);
        events
            .into_iter()
            .map(|e| {
                let event = Event {
                    config: config.for_miner(&e.miner_id),
                    miner_id: e.miner_id,
                    kind: match e.kind {
                        wit::EventKind::Sample => EventKind::Sample,
                        wit::EventKind::StateChange((a, b)) => EventKind::StateChange(a, b),
                    },
                    previous: e.previous.map(from_reading),
                    current: e.current.map(from_reading),
                    ts_ms: e.ts_ms,
                };
                R::evaluate(&event).map(verdict)
            })
            .collect()
    }

    fn verdict(v: Verdict) -> wit::Verdict {
        wit::Verdict {
            alerts: v.alerts.into_iter().map(alert).collect(),
            rest: v.rest.map(|r| wit::Rest {
                changed: super::wire::fields_to_wit(r.changed),
                bounds: r.bounds.into_iter().map(bound).collect(),
                until_ms: r.until_ms,
            }),
        }
    }

    fn bound(b: Bound) -> wit::Bound {
        wit::Bound {
            gauge: match b.gauge {
                Gauge::Hashrate => wit::Gauge::Hashrate,
                Gauge::ExpectedHashrate => wit::Gauge::ExpectedHashrate,
                Gauge::Temp => wit::Gauge::Temp,
                Gauge::TempMax => wit::Gauge::TempMax,
                Gauge::VrTemp => wit::Gauge::VrTemp,
                Gauge::FanRpmMin => wit::Gauge::FanRpmMin,
                Gauge::Power => wit::Gauge::Power,
                Gauge::SharesAccepted => wit::Gauge::SharesAccepted,
                Gauge::SharesRejected => wit::Gauge::SharesRejected,
            },
            within: b.within,
        }
    }

    fn alert(a: Alert) -> wit::Alert {
        wit::Alert {
            key: a.key,
            severity: match a.severity {
                Severity::Info => wt::Severity::Info,
                Severity::Warning => wt::Severity::Warning,
                Severity::Critical => wt::Severity::Critical,
            },
            message: a.message,
            firing: a.firing,
        }
    }
}

/// The record between the SDK and the contract.
mod wire {
    crate::__record_wire!(crate::rule::bindings::solomon::plugin::types);
    crate::__fields_wire!(crate::rule::bindings::solomon::plugin::types);
    crate::__reading_wire!(
        types: crate::rule::bindings::solomon::plugin::types,
        rule: crate::rule::bindings::exports::solomon::plugin::rule
    );
}
use wire::{from_reading, from_wit};

/// Exports a [`Rule`] implementation as the plugin's `alert-rule` world.
#[macro_export]
macro_rules! register_rule {
    ($rule:ty) => {
        #[doc(hidden)]
        pub struct __SolomonRuleExport;

        impl $crate::rule::bindings::exports::solomon::plugin::rule::Guest for __SolomonRuleExport {
            fn info() -> $crate::rule::bindings::solomon::plugin::types::PluginInfo {
                $crate::rule::__glue::info::<$rule>($crate::plugin_info!(<$rule as $crate::rule::Rule>::description()))
            }
            fn needs() -> $crate::rule::bindings::exports::solomon::plugin::rule::RuleNeeds {
                $crate::rule::bindings::exports::solomon::plugin::rule::RuleNeeds {
                    previous: <$rule as $crate::rule::Rule>::READS_PREVIOUS,
                    fields: $crate::rule::__glue::fields::<$rule>(),
                }
            }
            fn evaluate(
                events: ::std::vec::Vec<$crate::rule::bindings::exports::solomon::plugin::rule::Event>,
                config: ::std::string::String,
            ) -> ::std::vec::Vec<
                ::core::result::Result<
                    $crate::rule::bindings::exports::solomon::plugin::rule::Verdict,
                    ::std::string::String,
                >,
            > {
                $crate::rule::__glue::evaluate::<$rule>(events, config)
            }
        }

        // Only a WASM component exports these; natively (unit tests, benches) they would be
        // symbols named like `solomon:plugin/...#poll`, which native linkers reject.
        #[cfg(target_arch = "wasm32")]
        $crate::rule::bindings::__export_rule_world!(__SolomonRuleExport with_types_in $crate::rule::bindings);
    };
}
