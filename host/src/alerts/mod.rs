//! The alert engine: every poll becomes an event for every loaded rule plugin; the rules say
//! which conditions hold, and the host owns what follows (the lifecycle in [`lifecycle`]):
//! firing, resolved, deduplicated, a cooldown against flapping, acknowledgement, mutes. Every change
//! is stored with its history in one sled transaction and published on the `alerts` topic.
//!
//! Events arrive on bounded channels from the miner manager, one per engine task, chosen by
//! miner, and go to the rules in batches: each rule sees a miner's samples in the order they
//! were polled.

pub mod lifecycle;

use crate::host_api::clock::unix_ms as now_ms;
use crate::hub::Hub;
use crate::notify::Channel;
use crate::registry::PluginSet;
use crate::runtime::Plugin;
use crate::runtime::record::to_wit;
use crate::runtime::rule_types::Severity;
use crate::runtime::rule_types::{Alert, Event, EventKind};
use crate::state::Snapshot;
use crate::storage::{
    AlertEvent, AlertState, Mute, OutboxItem, Storage, StorageError, muted_until,
};
use lifecycle::{Current, Decision, decide};
use serde::Serialize;
use solomon_plugin_sdk::MinerState;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

    /// The configuration a rule sees for `miner`: its defaults with the miner's overrides.
    pub fn rule_config(&self, rule: &str, miner: &str) -> String {
        solomon_plugin_sdk::rule_config::RuleConfig::parse(&self.rule_json(rule))
            .for_miner(miner)
            .to_string()
    }
}

/// Counters of the engine.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Rule evaluations run.
    pub evaluations: std::sync::atomic::AtomicU64,
    /// Evaluations that failed (a trap, or the rule's own error).
    pub failures: std::sync::atomic::AtomicU64,
}

/// Events are spread over this many engine tasks by miner: one miner's events stay in order
/// on one task, while batches of different tasks overlap.
const SHARDS: usize = 2;

/// Most events in one batch. Bounded so one call stays well inside a plugin's CPU budget.
const BATCH_MAX: usize = 64;

/// How long a task gathers events after the first one before it judges them. A rule call
/// costs about as much as judging dozens of events, so at fleet scale a batch saves most of
/// the work; a person waiting for an alert does not notice 20 ms.
const BATCH_WINDOW: Duration = Duration::from_millis(20);

/// Where events go: the engine task of the event's miner.
#[derive(Clone)]
pub struct EventSender {
    shards: Arc<[mpsc::Sender<RuleEvent>]>,
}

/// The engine has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the alert engine has stopped")]
pub struct EngineStopped;

impl EventSender {
    /// Queues `ev`, waiting while the engine is behind: events are never dropped.
    pub async fn send(&self, ev: RuleEvent) -> Result<(), EngineStopped> {
        let shard = &self.shards[self.shard_of(&ev.miner)];
        shard.send(ev).await.map_err(|_| EngineStopped)
    }

    /// The engine task that judges `miner`'s events (its events share batches only with
    /// those of miners on the same task).
    pub fn shard_of(&self, miner: &str) -> usize {
        let h = miner.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        (h % self.shards.len() as u64) as usize
    }
}

/// The running engine.
pub struct AlertEngine {
    sender: EventSender,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
    stats: Arc<EngineStats>,
}

impl AlertEngine {
    /// Starts evaluating the rules of `plugins` (in their version of the moment: each event is
    /// judged by the rules in service when its evaluation starts) on the events sent to
    /// [`AlertEngine::sender`].
    pub fn start(
        plugins: Arc<PluginSet>,
        storage: Arc<Storage>,
        hub: Arc<Hub>,
        config: AlertConfig,
    ) -> Self {
        let stats = Arc::new(EngineStats::default());
        let known = match storage.alerts().all() {
            Ok(all) => all
                .into_iter()
                .map(|a| {
                    let c = Current {
                        firing: a.firing,
                        fired_ms: a.since_ms,
                    };
                    ((a.rule, a.miner, a.key), c)
                })
                .collect(),
            Err(e) => {
                tracing::error!("reading stored alerts failed: {e}");
                HashMap::new()
            }
        };
        let engine = Arc::new(Engine {
            plugins,
            storage,
            hub,
            config,
            stats: stats.clone(),
            known: parking_lot::Mutex::new(known),
        });
        let (mut senders, mut stops, mut tasks) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..SHARDS {
            let (tx, rx) = mpsc::channel(4096);
            let (stop, stopped) = tokio::sync::oneshot::channel();
            tasks.push(tokio::spawn(run(rx, stopped, engine.clone())));
            senders.push(tx);
            stops.push(stop);
        }
        AlertEngine {
            sender: EventSender {
                shards: senders.into(),
            },
            stops,
            tasks,
            stats,
        }
    }

    /// Where the manager sends events.
    pub fn sender(&self) -> EventSender {
        self.sender.clone()
    }

    /// The counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// Evaluates every event already sent, then stops.
    pub async fn shutdown(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

struct Engine {
    plugins: Arc<PluginSet>,
    storage: Arc<Storage>,
    hub: Arc<Hub>,
    config: AlertConfig,
    stats: Arc<EngineStats>,
    /// Each stored alert's lifecycle state, so the common verdict ("all fine", or "still
    /// firing") is decided without reading the database. Only the engine writes it, and a
    /// miner's alerts only from that miner's task.
    known: parking_lot::Mutex<HashMap<(String, String, String), Current>>,
}

async fn run(
    mut rx: mpsc::Receiver<RuleEvent>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    engine: Arc<Engine>,
) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, BATCH_MAX) => {
                if n == 0 {
                    return;
                }
                let until = tokio::time::Instant::now() + BATCH_WINDOW;
                while batch.len() < BATCH_MAX {
                    let room = BATCH_MAX - batch.len();
                    match tokio::time::timeout_at(until, rx.recv_many(&mut batch, room)).await {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
                engine.evaluate(&batch).await;
                batch.clear();
            }
            _ = &mut stop => {
                while let Ok(ev) = rx.try_recv() {
                    batch.push(ev);
                    if batch.len() == BATCH_MAX {
                        engine.evaluate(&batch).await;
                        batch.clear();
                    }
                }
                if !batch.is_empty() {
                    engine.evaluate(&batch).await;
                }
                return;
            }
        }
    }
}

fn wit_event(ev: &RuleEvent) -> Event {
    Event {
        miner_id: ev.miner.clone(),
        kind: match &ev.kind {
            RuleEventKind::Sample => EventKind::Sample,
            RuleEventKind::StateChange(a, b) => {
                EventKind::StateChange((a.as_str().to_string(), b.as_str().to_string()))
            }
        },
        previous: ev.previous.as_ref().map(|s| to_wit(&s.record)),
        current: ev.current.as_ref().map(|s| to_wit(&s.record)),
        ts_ms: ev.ts_ms,
    }
}

impl Engine {
    /// Runs every rule on a batch of events and applies their verdicts.
    async fn evaluate(&self, batch: &[RuleEvent]) {
        // Every rule at once (each plugin has its own instances), verdicts applied in rule
        // order afterwards: a rule still sees each miner's events in order. One snapshot of
        // the rules per batch: a rule reloaded meanwhile judges the next batch, never this one
        // twice or not at all.
        let rules = self.plugins.rules();
        if rules.is_empty() {
            return;
        }
        // Converted once, shared by every rule.
        let events: Arc<[Event]> = batch.iter().map(wit_event).collect();
        let calls = rules.iter().map(|rule| {
            let config: Arc<str> = self.config.rule_json(&rule.meta().name).into();
            self.judge(rule, events.clone(), config)
        });
        let verdicts = futures_util::future::join_all(calls).await;
        for (rule, verdicts) in rules.iter().zip(verdicts) {
            for (ev, verdict) in batch.iter().zip(verdicts) {
                self.apply_verdict(&rule.meta().name, ev, verdict);
            }
        }
    }

    /// One rule's verdicts on a batch. A call that fails (a trap, a timeout) fails every
    /// event of the batch for this rule. Retrying the events one by one would run again the
    /// plugin-state updates of those the rule judged before it trapped (a streak counted
    /// twice); rules report a condition on every sample, so a lost verdict only waits for
    /// the miner's next poll. The plugin's other instance serves the next batch meanwhile.
    async fn judge(
        &self,
        rule: &Plugin,
        events: Arc<[Event]>,
        config: Arc<str>,
    ) -> Vec<Result<Vec<Alert>, String>> {
        let n = events.len();
        match rule.evaluate(events, config).await {
            Ok(v) => v,
            Err(e) => {
                let why = format!("rule call failed for a batch of {n} events: {e}");
                vec![Err(why); n]
            }
        }
    }

    fn apply_verdict(&self, name: &str, ev: &RuleEvent, verdict: Result<Vec<Alert>, String>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.stats.evaluations.fetch_add(1, Relaxed);
        let alerts = match verdict {
            Ok(alerts) => alerts,
            Err(msg) => {
                self.stats.failures.fetch_add(1, Relaxed);
                tracing::warn!(rule = %name, miner = %ev.miner, "rule failed: {msg}");
                return;
            }
        };
        for a in alerts {
            let id = (name.to_string(), ev.miner.clone(), a.key.clone());
            let known = self.known.lock().get(&id).copied();
            let now = now_ms();
            let cooldown = self.config.cooldown_for(name, &ev.miner);
            if decide(known, a.firing, now, cooldown) == Decision::Keep {
                continue;
            }
            match apply(&self.storage, name, &ev.miner, &a, now, &self.config) {
                Ok(Some(state)) => {
                    self.known.lock().insert(
                        id,
                        Current {
                            firing: state.firing,
                            fired_ms: state.since_ms,
                        },
                    );
                    let view = AlertView::now(&self.storage, state);
                    let state = &view.state;
                    if state.firing && state.updated_ms == state.since_ms {
                        if view.muted_until.is_some() {
                            tracing::info!(rule = %name, miner = %ev.miner, key = %state.key, "alert (muted): {}", state.message);
                        } else {
                            tracing::warn!(rule = %name, miner = %ev.miner, key = %state.key, "alert: {}", state.message);
                        }
                    }
                    self.hub.alert(&view.to_json());
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(rule = %name, miner = %ev.miner, "storing an alert failed: {e}")
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let v: serde_json::Value =
            serde_json::from_str(&c.rule_config("rule-hot-chip", "s19")).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"max_chip_c": 85, "samples": 3}));
        let v: serde_json::Value =
            serde_json::from_str(&c.rule_config("rule-hot-chip", "other")).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"max_chip_c": 70, "samples": 3}));
        assert_eq!(c.rule_config("unknown", "x"), "{}");
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
