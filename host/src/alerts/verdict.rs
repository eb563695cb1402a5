//! What a verdict does to the stored alert: the lifecycle applied in one sled transaction,
//! the notifications it owes, the view clients get, and acknowledgement.

use super::lifecycle::{Current, Decision, decide};
use crate::host_api::clock::unix_ms as now_ms;
use crate::runtime::rule_types::Alert;
use crate::runtime::rule_types::Severity;
use crate::storage::{
    AlertEvent, AlertState, Mute, OutboxItem, Storage, StorageError, muted_until,
};
use serde::Serialize;

use super::AlertConfig;

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// Applies one verdict; returns the alert's new state when it changed. A firing or a
/// resolution is queued for the channels whose route takes it, unless a mute covers it, in
/// the same transaction as the change.
pub fn apply(
    storage: &Storage,
    rule: &str,
    miner: &str,
    a: &Alert,
    now: u64,
    config: &AlertConfig,
) -> Result<Option<AlertState>, StorageError> {
    let cooldown = config.cooldown_for(rule, miner);
    let alerts = storage.alerts();
    let stored = alerts.get(rule, miner, &a.key)?;
    let current = stored.as_ref().map(|s| Current {
        firing: s.firing,
        fired_ms: s.since_ms,
    });
    let (kind, state) = match decide(current, a.firing, now, cooldown) {
        Decision::Keep => return Ok(None),
        Decision::Fire => (
            "fired",
            AlertState {
                firing: true,
                ..fresh_state(rule, miner, a, now)
            },
        ),
        Decision::Suppress => (
            "suppressed",
            AlertState {
                firing: true,
                message: a.message.clone(),
                updated_ms: now,
                ..stored
                    .clone()
                    .unwrap_or_else(|| fresh_state(rule, miner, a, now))
            },
        ),
        Decision::Resolve => (
            "resolved",
            AlertState {
                firing: false,
                message: a.message.clone(),
                updated_ms: now,
                ..stored
                    .clone()
                    .unwrap_or_else(|| fresh_state(rule, miner, a, now))
            },
        ),
    };
    let notify = if (kind == "fired" || kind == "resolved") && !config.notify.is_empty() {
        owed(storage, config, &state, kind, now)?
    } else {
        Vec::new()
    };
    alerts.record(
        &AlertEvent {
            ts_ms: now,
            kind: kind.to_string(),
            alert: state.clone(),
        },
        &notify,
    )?;
    Ok(Some(state))
}

/// The notifications `event` of `state` owes: none while muted; else one per channel whose
/// route (severity, the miner's labels, the event) takes it.
fn owed(
    storage: &Storage,
    config: &AlertConfig,
    state: &AlertState,
    event: &str,
    now: u64,
) -> Result<Vec<OutboxItem>, StorageError> {
    if storage
        .mutes()
        .muted_until(&state.rule, &state.miner, now)?
        .is_some()
    {
        return Ok(Vec::new());
    }
    let miner = storage.miners().get(&state.miner)?;
    let labels = miner.as_ref().map(|m| m.labels.clone()).unwrap_or_default();
    let name = miner.as_ref().and_then(|m| m.name.as_deref());
    let outbox = storage.outbox();
    let mut failed = None;
    let items = crate::notify::route(&config.notify, state, event, name, &labels, now, || {
        outbox.next_id().map_err(|e| failed = Some(e)).ok()
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(items),
    }
}

/// A new alert's state (suppress and resolve happen to stored alerts; for them it is only a
/// fallback that keeps this total).
fn fresh_state(rule: &str, miner: &str, a: &Alert, now: u64) -> AlertState {
    AlertState {
        rule: rule.to_string(),
        miner: miner.to_string(),
        key: a.key.clone(),
        severity: severity(a.severity).to_string(),
        message: a.message.clone(),
        firing: a.firing,
        since_ms: now,
        updated_ms: now,
        acked_by: None,
    }
}

/// An alert as the API and the `alerts` topic show it: its state, and until when a mute
/// covers it (computed when read, so a mute set after the alert fired still shows).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlertView {
    /// The stored state.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub state: AlertState,
    /// Unix ms until which a mute covers it; absent when not muted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<u64>,
}

impl AlertView {
    /// `state` with the mutes in `mutes` applied at `now`.
    pub fn new(state: AlertState, mutes: &[Mute], now: u64) -> AlertView {
        let muted_until = muted_until(mutes, &state.rule, &state.miner, now);
        AlertView { state, muted_until }
    }

    /// `state` with the stored mutes applied now (no mute if they cannot be read: showing an
    /// alert unmuted is better than not showing it).
    pub fn now(storage: &Storage, state: AlertState) -> AlertView {
        let now = now_ms();
        let mutes = storage.mutes().active(now).unwrap_or_default();
        AlertView::new(state, &mutes, now)
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Marks an alert acknowledged by `by`; the new state, or `None` if there is no such alert.
pub fn acknowledge(
    storage: &Storage,
    rule: &str,
    miner: &str,
    key: &str,
    by: &str,
) -> Result<Option<AlertState>, StorageError> {
    let Some(mut state) = storage.alerts().get(rule, miner, key)? else {
        return Ok(None);
    };
    let now = now_ms();
    state.acked_by = Some(by.to_string());
    state.updated_ms = now;
    storage.alerts().record(
        &AlertEvent {
            ts_ms: now,
            kind: "acknowledged".into(),
            alert: state.clone(),
        },
        &[],
    )?;
    Ok(Some(state))
}
