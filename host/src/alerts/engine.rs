//! The engine's tasks: events in, batched per engine task, judged by every rule at once,
//! verdicts applied in order.

use super::lifecycle::{Current, Decision, KnownAlerts, decide};
use crate::host_api::clock::unix_ms as now_ms;
use crate::hub::Hub;
use crate::registry::PluginSet;
use crate::runtime::record::to_wit_reading;
use crate::runtime::rule_types::{Event, EventKind, Verdict};
use crate::storage::Storage;
use solomon_plugin_sdk::Fields;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::rest::Rests;
use super::verdict::{AlertView, apply};
use super::{AlertConfig, RuleEvent, RuleEventKind};

/// Counters of the engine.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Rule evaluations run.
    pub evaluations: std::sync::atomic::AtomicU64,
    /// Evaluations that failed (a trap, or the rule's own error).
    pub failures: std::sync::atomic::AtomicU64,
    /// Events a rule was spared: samples that kept the rest of its last verdict on a miner.
    pub spared: std::sync::atomic::AtomicU64,
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
        let mut known = KnownAlerts::default();
        match storage.alerts().all() {
            Ok(all) => {
                for a in all {
                    let c = Current {
                        firing: a.firing,
                        fired_ms: a.since_ms,
                    };
                    known.insert(&a.rule, &a.miner, &a.key, c);
                }
            }
            Err(e) => tracing::error!("reading stored alerts failed: {e}"),
        }
        let rule_configs = config
            .rules
            .keys()
            .map(|name| (name.clone(), Arc::from(config.rule_json(name))))
            .collect();
        let engine = Arc::new(Engine {
            rule_configs,
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
    pub fn stats(&self) -> &Arc<EngineStats> {
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

struct Engine {
    /// Each configured rule's settings as rules receive them, serialized once.
    rule_configs: HashMap<String, Arc<str>>,
    plugins: Arc<PluginSet>,
    storage: Arc<Storage>,
    hub: Arc<Hub>,
    config: AlertConfig,
    stats: Arc<EngineStats>,
    /// Each stored alert's lifecycle state, so the common verdict ("all fine", or "still
    /// firing") is decided without reading the database. Only the engine writes it, and a
    /// miner's alerts only from that miner's task.
    known: parking_lot::Mutex<KnownAlerts>,
}

async fn run(
    mut rx: mpsc::Receiver<RuleEvent>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
    engine: Arc<Engine>,
) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut rests = Rests::default();
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
                engine.evaluate(&batch, &mut rests).await;
                batch.clear();
            }
            _ = &mut stop => {
                while let Ok(ev) = rx.try_recv() {
                    batch.push(ev);
                    if batch.len() == BATCH_MAX {
                        engine.evaluate(&batch, &mut rests).await;
                        batch.clear();
                    }
                }
                if !batch.is_empty() {
                    engine.evaluate(&batch, &mut rests).await;
                }
                return;
            }
        }
    }
}

/// `ev` as a rule that reads `fields` (and the previous record if `with_previous`) gets it.
fn wit_event(ev: &RuleEvent, with_previous: bool, fields: Fields) -> Event {
    Event {
        miner_id: ev.miner.clone(),
        kind: match &ev.kind {
            RuleEventKind::Sample => EventKind::Sample,
            RuleEventKind::StateChange(a, b) => {
                EventKind::StateChange((a.as_str().to_string(), b.as_str().to_string()))
            }
        },
        previous: ev
            .previous
            .as_ref()
            .filter(|_| with_previous)
            .map(|s| to_wit_reading(&s.record, fields)),
        current: ev
            .current
            .as_ref()
            .map(|s| to_wit_reading(&s.record, fields)),
        ts_ms: ev.ts_ms,
    }
}

/// A batch in each form some rule reads it in, each converted once and shared by every rule
/// that reads that form: copying a record into a plugin costs more than judging the event,
/// so a rule gets only the fields (and the previous record) it says it reads.
struct Forms<'a> {
    batch: &'a [RuleEvent],
    made: Vec<(Form, Arc<[Event]>)>,
}

/// What a rule reads of each event: the previous record or not, and which fields.
type Form = (bool, Fields);

impl<'a> Forms<'a> {
    fn new(batch: &'a [RuleEvent]) -> Self {
        Forms {
            batch,
            made: Vec::new(),
        }
    }

    /// The events at `picked` only, in this form (not shared: each resting rule is spared
    /// different samples).
    fn some(&self, with_previous: bool, fields: Fields, picked: &[usize]) -> Arc<[Event]> {
        picked
            .iter()
            .map(|&i| wit_event(&self.batch[i], with_previous, fields))
            .collect()
    }

    fn get(&mut self, with_previous: bool, fields: Fields) -> Arc<[Event]> {
        let key = (with_previous, fields);
        if let Some((_, events)) = self.made.iter().find(|(k, _)| *k == key) {
            return events.clone();
        }
        let events: Arc<[Event]> = self
            .batch
            .iter()
            .map(|ev| wit_event(ev, with_previous, fields))
            .collect();
        self.made.push((key, events.clone()));
        events
    }
}

impl Engine {
    /// Runs every rule on a batch of events and applies their verdicts.
    async fn evaluate(&self, batch: &[RuleEvent], rests: &mut Rests) {
        // Every rule at once (each plugin has its own instances), verdicts applied in rule
        // order afterwards: a rule still sees each miner's events in order. One snapshot of
        // the rules per batch: a rule reloaded meanwhile judges the next batch, never this one
        // twice or not at all.
        let rules = self.plugins.rules();
        if rules.is_empty() {
            return;
        }
        let mut forms = Forms::new(batch);
        let no_config: Arc<str> = Arc::from("{}");
        // Which events each rule judges: a resting rule is spared some (`rest`).
        let picks: Vec<Vec<usize>> = rules
            .iter()
            .map(|rule| {
                rests
                    .events_for(rule, batch)
                    .unwrap_or_else(|| (0..batch.len()).collect())
            })
            .collect();
        let calls: Vec<_> = rules
            .iter()
            .zip(&picks)
            .map(|(rule, picked)| {
                let meta = rule.meta();
                let config = self.rule_configs.get(&meta.name).unwrap_or(&no_config);
                let events = if picked.len() == batch.len() {
                    forms.get(meta.reads_previous, meta.reads)
                } else {
                    forms.some(meta.reads_previous, meta.reads, picked)
                };
                async move {
                    if events.is_empty() {
                        return Ok(Vec::new());
                    }
                    rule.evaluate(events, config.clone()).await
                }
            })
            .collect();
        let verdicts = futures_util::future::join_all(calls).await;
        for ((rule, picked), verdicts) in rules.iter().zip(&picks).zip(verdicts) {
            let name = &rule.meta().name;
            let spared = (batch.len() - picked.len()) as u64;
            self.stats
                .spared
                .fetch_add(spared, std::sync::atomic::Ordering::Relaxed);
            rule.stats.record_events(picked.len() as u64, spared);
            let events = picked.iter().map(|&i| &batch[i]);
            match verdicts {
                Ok(verdicts) => {
                    for (ev, verdict) in events.zip(verdicts) {
                        if let Ok(v) = &verdict {
                            rests.judged(rule, &ev.miner, v);
                        }
                        self.apply_verdict(name, ev, verdict);
                    }
                }
                // A failed call (a trap, a timeout) fails the whole batch for this rule. It is
                // not retried event by event: that would run again the plugin-state updates of
                // the events judged before the trap (a streak counted twice). Rules report a
                // condition on every sample, so a lost verdict waits for the miner's next poll,
                // and the plugin's other instance takes the next batch.
                Err(e) => {
                    use std::sync::atomic::Ordering::Relaxed;
                    let n = picked.len() as u64;
                    self.stats.evaluations.fetch_add(n, Relaxed);
                    self.stats.failures.fetch_add(n, Relaxed);
                    tracing::warn!(rule = %name, events = n, "rule call failed for a batch: {e}");
                }
            }
        }
    }

    fn apply_verdict(&self, name: &str, ev: &RuleEvent, verdict: Result<Verdict, String>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.stats.evaluations.fetch_add(1, Relaxed);
        let alerts = match verdict {
            Ok(v) => v.alerts,
            Err(msg) => {
                self.stats.failures.fetch_add(1, Relaxed);
                tracing::warn!(rule = %name, miner = %ev.miner, "rule failed: {msg}");
                return;
            }
        };
        for a in alerts {
            let known = self.known.lock().get(name, &ev.miner, &a.key);
            let now = now_ms();
            let cooldown = self.config.cooldown_for(name, &ev.miner);
            if decide(known, a.firing, now, cooldown) == Decision::Keep {
                continue;
            }
            match apply(&self.storage, name, &ev.miner, &a, now, &self.config) {
                Ok(Some(state)) => {
                    self.known.lock().insert(
                        name,
                        &ev.miner,
                        &a.key,
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
