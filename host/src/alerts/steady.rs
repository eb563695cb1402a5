//! The samples a steady rule is spared (`rule-needs.steady`, the SDK's `Rule::STEADY`).
//!
//! A steady rule promised that, after a verdict of its own with no alert firing for a miner, a
//! sample agreeing with the previous record in what it reads would again fire nothing and
//! change nothing it depends on. Such a sample is then not sent to it. In a healthy fleet that
//! is most samples of the rules watching things that rarely move (state, best share, blocks):
//! a rule call costs a few µs per event, for every rule, on every poll.
//!
//! Each engine task keeps its own record of quiet verdicts, for the miners whose events it
//! judges, so nothing here is shared or locked.

use super::{RuleEvent, RuleEventKind};
use crate::runtime::Plugin;
use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// Most steady rules tracked at once; a steady rule beyond them is sent every event.
const SLOTS: usize = 64;

/// One engine task's record of which steady rules last judged which miners quiet.
#[derive(Default)]
pub(super) struct Quiet {
    /// The rule each bit stands for. A `Weak` keeps its address from being reused, so a rule
    /// reloaded (a new `Plugin`) never inherits the quiet verdicts of its old version.
    slots: Vec<Weak<Plugin>>,
    /// By miner: the bits of the rules whose last verdict on it fired nothing.
    miners: HashMap<String, u64>,
}

impl Quiet {
    fn existing_slot(&self, rule: &Arc<Plugin>) -> Option<u64> {
        self.slots
            .iter()
            .position(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(rule)))
            .map(|i| 1 << i)
    }

    /// The bit of `rule`, taking a free one (with no miner marked) if it has none yet.
    fn slot(&mut self, rule: &Arc<Plugin>) -> Option<u64> {
        if let Some(bit) = self.existing_slot(rule) {
            return Some(bit);
        }
        let i = match self.slots.iter().position(|w| w.strong_count() == 0) {
            Some(i) => i,
            None if self.slots.len() < SLOTS => {
                self.slots.push(Weak::new());
                self.slots.len() - 1
            }
            None => return None,
        };
        let bit = 1 << i;
        for marks in self.miners.values_mut() {
            *marks &= !bit;
        }
        self.slots[i] = Arc::downgrade(rule);
        Some(bit)
    }

    /// The positions in `batch` of the events `rule` must judge, or `None` for all of them:
    /// every event but the samples that agree with their previous record in what the rule
    /// reads, of miners it last judged quiet. A miner whose event is judged is no longer
    /// marked quiet until that verdict is noted, so its later events in the batch are judged
    /// too.
    pub fn events_for(&mut self, rule: &Arc<Plugin>, batch: &[RuleEvent]) -> Option<Vec<usize>> {
        let meta = rule.meta();
        if !meta.steady {
            return None;
        }
        let bit = self.slot(rule)?;
        let mut picked = Vec::with_capacity(batch.len());
        for (i, ev) in batch.iter().enumerate() {
            let unchanged = matches!(ev.kind, RuleEventKind::Sample)
                && match (&ev.previous, &ev.current) {
                    (Some(p), Some(c)) => meta.reads.agree(&p.record, &c.record),
                    _ => false,
                };
            let marks = self.miners.get_mut(ev.miner.as_str());
            match marks {
                Some(m) if unchanged && *m & bit != 0 => {}
                Some(m) => {
                    *m &= !bit;
                    picked.push(i);
                }
                None => picked.push(i),
            }
        }
        (picked.len() < batch.len()).then_some(picked)
    }

    /// Notes `rule`'s verdict on `miner`: `quiet` when it fired nothing (and did not fail).
    pub fn judged(&mut self, rule: &Arc<Plugin>, miner: &str, quiet: bool) {
        if !rule.meta().steady {
            return;
        }
        let Some(bit) = self.existing_slot(rule) else {
            return;
        };
        if quiet {
            match self.miners.get_mut(miner) {
                Some(marks) => *marks |= bit,
                None => {
                    self.miners.insert(miner.to_string(), bit);
                }
            }
        } else if let Some(marks) = self.miners.get_mut(miner) {
            *marks &= !bit;
        }
    }
}
