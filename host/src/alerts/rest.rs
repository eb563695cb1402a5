//! The samples a rule is spared while its verdict on a miner rests (the contract's `rest`, the
//! SDK's [`Verdict::resting`](solomon_plugin_sdk::rule)).
//!
//! A rule that found a miner quiet may say which samples would not change that: while some
//! groups of fields stay as they are, gauges stay in ranges, until a time. Such a sample is not
//! sent to it. In a healthy fleet that is nearly every sample of every rule that can say so:
//! a rule call costs a few µs per event, for every rule, at every poll.
//!
//! Each engine task keeps its own rests, for the miners whose events it judges, so nothing here
//! is shared or locked. A rest is checked with the SDK's own `rest::holds`, which is what
//! `Rest::holds` runs: the code a rule author tests a rest with. Rules are given their
//! configuration once, when the engine starts, so a rest never outlives the settings it was
//! made under.

use super::{RuleEvent, RuleEventKind};
use crate::hashing::FastMap;
use crate::runtime::Plugin;
use crate::runtime::record::fields_from_wit;
use crate::runtime::rule_types::{self as wit, Verdict};
use solomon_plugin_sdk::rest::{Bound, Gauge, MAX_BOUNDS, holds};
use solomon_plugin_sdk::{Fields, MinerRecord};
use std::sync::{Arc, Weak};

/// Most rules tracked at once; a rule beyond them is sent every event.
const SLOTS: usize = 256;

/// One engine task's record of which rules rest on which miners.
#[derive(Default)]
pub(super) struct Rests {
    /// The rule each slot stands for. A `Weak` keeps its address from being reused, so a rule
    /// reloaded (a new `Plugin`) never inherits the rests of its old version.
    slots: Vec<Weak<Plugin>>,
    /// The rests on each miner.
    miners: FastMap<String, OnMiner>,
}

/// The rests on one miner, packed in two vectors: at 10,000 miners and eight resting rules,
/// keeping each as the SDK's `Rest` (a vector of bounds apiece, allocated anew at every
/// verdict) took 13 MB of heap.
#[derive(Default)]
struct OnMiner {
    heads: Vec<Head>,
    /// The bounds of every rest, each rest's at `first..first + len` of its head.
    bounds: Vec<Bound>,
}

/// One rest, but for its bounds.
#[derive(Clone, Copy)]
struct Head {
    /// `u64::MAX` for none: a rest that ends then never ends.
    until_ms: u64,
    changed: Fields,
    first: u16,
    len: u8,
    slot: u8,
}

impl OnMiner {
    fn find(&self, slot: u8) -> Option<usize> {
        self.heads.iter().position(|h| h.slot == slot)
    }

    fn bounds(&self, h: &Head) -> &[Bound] {
        &self.bounds[usize::from(h.first)..][..usize::from(h.len)]
    }

    /// Whether the sample from `previous` to `current` at `ts_ms` keeps rest `i`.
    fn keeps(&self, i: usize, previous: &MinerRecord, current: &MinerRecord, ts_ms: u64) -> bool {
        let h = &self.heads[i];
        let until = (h.until_ms != u64::MAX).then_some(h.until_ms);
        holds(h.changed, self.bounds(h), until, previous, current, ts_ms)
    }

    fn remove(&mut self, i: usize) {
        let gone = self.heads.swap_remove(i);
        let from = usize::from(gone.first);
        self.bounds.drain(from..from + usize::from(gone.len));
        for h in &mut self.heads {
            if h.first > gone.first {
                h.first -= u16::from(gone.len);
            }
        }
    }

    /// Keeps `rest` as `slot`'s, in place of any it had. Grows the vectors only as far as
    /// needed: a miner's rests come and go at every verdict, but their number barely moves.
    fn insert(&mut self, slot: u8, rest: &wit::Rest) {
        if let Some(i) = self.find(slot) {
            self.remove(i);
        }
        let (Ok(first), Ok(len)) = (
            u16::try_from(self.bounds.len()),
            u8::try_from(rest.bounds.len()),
        ) else {
            return;
        };
        self.bounds.reserve_exact(rest.bounds.len());
        self.bounds.extend(rest.bounds.iter().map(bound));
        self.heads.reserve_exact(1);
        self.heads.push(Head {
            until_ms: rest.until_ms.unwrap_or(u64::MAX),
            changed: fields_from_wit(rest.changed),
            first,
            len,
            slot,
        });
    }
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
            if let Some(at) = rests.find(slot) {
                rests.remove(at);
            }
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
            let Some(at) = rests.find(slot) else {
                picked.push(i);
                continue;
            };
            let kept = matches!(ev.kind, RuleEventKind::Sample)
                && match (&ev.previous, &ev.current) {
                    (Some(p), Some(c)) => rests.keeps(at, &p.record, &c.record, ev.ts_ms),
                    _ => false,
                };
            if !kept {
                rests.remove(at);
                picked.push(i);
            }
        }
        (picked.len() < batch.len()).then_some(picked)
    }

    /// Notes `rule`'s verdict on `miner`: it rests if it says so and nothing in it fires. A
    /// rest with more than [`MAX_BOUNDS`] bounds is ignored, as the contract says.
    pub fn judged(&mut self, rule: &Arc<Plugin>, miner: &str, verdict: &Verdict) {
        if verdict.alerts.iter().any(|a| a.firing) {
            return;
        }
        let Some(rest) = verdict
            .rest
            .as_ref()
            .filter(|r| r.bounds.len() <= MAX_BOUNDS)
        else {
            return;
        };
        let Some(slot) = self.existing_slot(rule) else {
            return;
        };
        let rests = match self.miners.get_mut(miner) {
            Some(rests) => rests,
            None => self.miners.entry(miner.to_string()).or_default(),
        };
        rests.insert(slot, rest);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::types::RecordFields;

    fn rest(gauges: &[wit::Gauge]) -> wit::Rest {
        wit::Rest {
            changed: RecordFields::empty(),
            bounds: gauges
                .iter()
                .map(|&gauge| wit::Bound {
                    gauge,
                    within: None,
                })
                .collect(),
            until_ms: None,
        }
    }

    fn gauges(m: &OnMiner, slot: u8) -> Option<Vec<Gauge>> {
        let h = m.heads[m.find(slot)?];
        Some(m.bounds(&h).iter().map(|b| b.gauge).collect())
    }

    #[test]
    fn each_rest_keeps_its_own_bounds_as_others_come_and_go() {
        use wit::Gauge as G;
        let mut m = OnMiner::default();
        m.insert(0, &rest(&[G::Temp, G::VrTemp]));
        m.insert(1, &rest(&[G::Hashrate]));
        m.insert(2, &rest(&[]));
        m.insert(3, &rest(&[G::Power, G::SharesAccepted, G::SharesRejected]));
        // Replacing the first moves its bounds to the end; the others' stay theirs.
        m.insert(0, &rest(&[G::FanRpmMin]));
        m.remove(m.find(1).expect("slot 1"));
        assert_eq!(gauges(&m, 0), Some(vec![Gauge::FanRpmMin]));
        assert_eq!(gauges(&m, 1), None);
        assert_eq!(gauges(&m, 2), Some(vec![]));
        assert_eq!(
            gauges(&m, 3),
            Some(vec![
                Gauge::Power,
                Gauge::SharesAccepted,
                Gauge::SharesRejected
            ])
        );
        assert_eq!(m.bounds.len(), 4, "no bound left behind");
    }
}
