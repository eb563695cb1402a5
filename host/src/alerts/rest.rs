//! The samples a rule is spared while its verdict on a miner rests (the contract's `rest`, the
//! SDK's [`Verdict::resting`](solomon_plugin_sdk::rule)).
//!
//! A rule that found a miner quiet may say which samples would not change that: while some
//! groups of fields stay as they are, gauges stay in ranges, until a time. Such a sample is not
//! sent to it. In a healthy fleet that is nearly every sample of every rule that can say so:
//! a rule call costs a few µs per event, for every rule, at every poll.
//!
//! Each engine task keeps its own rests, for the miners whose events it judges, so nothing here
//! is shared or locked. A rest is checked with the SDK's own [`Rest::holds`], the code a rule
//! author tests a rest with. Rules are given their configuration once, when the engine starts,
//! so a rest never outlives the settings it was made under.

use super::{RuleEvent, RuleEventKind};
use crate::runtime::Plugin;
use crate::runtime::record::fields_from_wit;
use crate::runtime::rule_types::{self as wit, Verdict};
use solomon_plugin_sdk::rest::{Bound, Gauge, MAX_BOUNDS, Rest};
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// Most rules tracked at once; a rule beyond them is sent every event.
const SLOTS: usize = 256;

/// One engine task's record of which rules rest on which miners.
#[derive(Default)]
pub(super) struct Rests {
    /// The rule each slot stands for. A `Weak` keeps its address from being reused, so a rule
    /// reloaded (a new `Plugin`) never inherits the rests of its old version.
    slots: Vec<Weak<Plugin>>,
    /// By miner: the slots of the rules resting on it, and their rests.
    miners: HashMap<String, Vec<(u8, Rest)>>,
}

impl Rests {
    fn existing_slot(&self, rule: &Arc<Plugin>) -> Option<u8> {
        let i = self
            .slots
            .iter()
            .position(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(rule)))?;
        u8::try_from(i).ok()
    }

    /// The slot of `rule`, taking a free one (with no rest left in it) if it has none yet.
    fn slot(&mut self, rule: &Arc<Plugin>) -> Option<u8> {
        if let Some(slot) = self.existing_slot(rule) {
            return Some(slot);
        }
        let i = match self.slots.iter().position(|w| w.strong_count() == 0) {
            Some(i) => i,
            None if self.slots.len() < SLOTS => {
                self.slots.push(Weak::new());
                self.slots.len() - 1
            }
            None => return None,
        };
        let slot = u8::try_from(i).ok()?;
        for rests in self.miners.values_mut() {
            rests.retain(|(s, _)| *s != slot);
        }
        self.slots[i] = Arc::downgrade(rule);
        Some(slot)
    }

    /// The positions in `batch` of the events `rule` must judge, or `None` for all of them:
    /// every event but the samples that keep the rest of its last verdict on their miner. The
    /// first event that breaks a rest ends it, so the miner's later events in the batch are
    /// judged too (the new verdict is not known yet).
    pub fn events_for(&mut self, rule: &Arc<Plugin>, batch: &[RuleEvent]) -> Option<Vec<usize>> {
        let slot = self.slot(rule)?;
        let mut picked = Vec::with_capacity(batch.len());
        for (i, ev) in batch.iter().enumerate() {
            let Some(rests) = self.miners.get_mut(ev.miner.as_str()) else {
                picked.push(i);
                continue;
            };
            let Some(at) = rests.iter().position(|(s, _)| *s == slot) else {
                picked.push(i);
                continue;
            };
            let kept = matches!(ev.kind, RuleEventKind::Sample)
                && match (&ev.previous, &ev.current) {
                    (Some(p), Some(c)) => rests[at].1.holds(&p.record, &c.record, ev.ts_ms),
                    _ => false,
                };
            if !kept {
                rests.swap_remove(at);
                picked.push(i);
            }
        }
        (picked.len() < batch.len()).then_some(picked)
    }

    /// Notes `rule`'s verdict on `miner`: it rests if it says so and nothing in it fires.
    pub fn judged(&mut self, rule: &Arc<Plugin>, miner: &str, verdict: &Verdict) {
        if verdict.alerts.iter().any(|a| a.firing) {
            return;
        }
        let Some(rest) = verdict.rest.as_ref().and_then(from_wit) else {
            return;
        };
        let Some(slot) = self.existing_slot(rule) else {
            return;
        };
        let rests = match self.miners.get_mut(miner) {
            Some(rests) => rests,
            None => self.miners.entry(miner.to_string()).or_default(),
        };
        rests.retain(|(s, _)| *s != slot);
        rests.push((slot, rest));
    }
}

/// The contract's rest as the SDK checks it; `None` for one with more than [`MAX_BOUNDS`]
/// bounds, which the contract says the host ignores.
fn from_wit(r: &wit::Rest) -> Option<Rest> {
    if r.bounds.len() > MAX_BOUNDS {
        return None;
    }
    Some(Rest {
        changed: fields_from_wit(r.changed),
        bounds: r.bounds.iter().map(bound).collect(),
        until_ms: r.until_ms,
    })
}

fn bound(b: &wit::Bound) -> Bound {
    Bound {
        gauge: match b.gauge {
            wit::Gauge::Hashrate => Gauge::Hashrate,
            wit::Gauge::ExpectedHashrate => Gauge::ExpectedHashrate,
            wit::Gauge::Temp => Gauge::Temp,
            wit::Gauge::TempMax => Gauge::TempMax,
            wit::Gauge::VrTemp => Gauge::VrTemp,
            wit::Gauge::FanRpmMin => Gauge::FanRpmMin,
            wit::Gauge::Power => Gauge::Power,
            wit::Gauge::SharesAccepted => Gauge::SharesAccepted,
            wit::Gauge::SharesRejected => Gauge::SharesRejected,
        },
        within: b.within,
    }
}
