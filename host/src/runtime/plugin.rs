//! A loaded plugin: its metadata, a small pool of instances and their counters.

use super::bindings::driver::exports::solomon::plugin::miner_driver::{
    Identification, PollError, Probe,
};
use super::bindings::rule::exports::solomon::plugin::rule::{Event, Verdict};
use super::bindings::types::Target;
use super::instance::{Call, Job, Reply};
use super::{CallError, TrapKind};
use serde::Serialize;
use solomon_plugin_sdk::MinerRecord;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// `driver`: exports `miner-driver`.
    Driver,
    /// `alert-rule`: exports `rule`.
    AlertRule,
}

impl World {
    /// The WIT world name.
    pub fn as_str(self) -> &'static str {
        match self {
            World::Driver => "driver",
            World::AlertRule => "alert-rule",
        }
    }
}

/// What a plugin declares and what the host measured when loading it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginMeta {
    /// From `info()`.
    pub name: String,
    /// From `info()`.
    pub version: String,
    /// From `info()`.
    pub description: String,
    /// The world it implements.
    pub world: World,
    /// The contract version it was built against (`0.1.0`).
    pub api_version: String,
    /// Hex SHA-256 of the `.wasm`.
    pub sha256: String,
    /// Size of the `.wasm`.
    pub size_bytes: usize,
    /// Loaded from the precompiled cache.
    pub from_cache: bool,
    /// Compile (or cache load) time.
    pub compile_ms: f64,
    /// When this version was loaded, Unix ms.
    pub loaded_ms: u64,
    /// A rule that reads the previous record of each event (`needs().previous`); false for
    /// drivers.
    pub reads_previous: bool,
    /// The record fields a rule reads (`needs().fields`); every field for drivers. Shown as
    /// the contract's group names.
    #[serde(serialize_with = "field_names")]
    pub reads: solomon_plugin_sdk::Fields,
}

fn field_names<S: serde::Serializer>(
    f: &solomon_plugin_sdk::Fields,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(f.names())
}

impl PluginMeta {
    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// Counters of one plugin, across its instances.
#[derive(Debug, Default)]
pub struct PluginStats {
    calls: AtomicU64,
    traps: AtomicU64,
    timeouts: AtomicU64,
    restarts: AtomicU64,
    judged: AtomicU64,
    spared: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of [`PluginStats`].
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Calls made.
    pub calls: u64,
    /// Calls that trapped (timeouts included).
    pub traps: u64,
    /// Calls stopped for time.
    pub timeouts: u64,
    /// Instances rebuilt after a failure.
    pub restarts: u64,
    /// Events a rule was sent (0 for drivers).
    pub judged: u64,
    /// Events a rule was not sent because its verdict on the miner was resting (`rest`).
    pub spared: u64,
    /// The most recent failure.
    pub last_error: Option<String>,
}

impl PluginStats {
    pub(crate) fn record_call(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a rule's batch: `judged` events sent, `spared` not.
    pub(crate) fn record_events(&self, judged: u64, spared: u64) {
        self.judged.fetch_add(judged, Ordering::Relaxed);
        self.spared.fetch_add(spared, Ordering::Relaxed);
    }
    pub(crate) fn record_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_trap(&self, kind: &TrapKind, message: &str) {
        self.traps.fetch_add(1, Ordering::Relaxed);
        if *kind == TrapKind::Timeout {
            self.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(format!("{kind}: {message}"));
        }
    }
    /// The current counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            calls: self.calls.load(Ordering::Relaxed),
            traps: self.traps.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            judged: self.judged.load(Ordering::Relaxed),
            spared: self.spared.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }
}

/// A loaded plugin. Cheap to share behind an `Arc`; dropping the last handle stops its
/// instances once their current call ends.
pub struct Plugin {
    pub(crate) meta: PluginMeta,
    pub(crate) queue: mpsc::Sender<Job>,
    pub(crate) stats: std::sync::Arc<PluginStats>,
    pub(crate) max_result_bytes: usize,
}

impl Plugin {
    /// Name, version, world and load facts.
    pub fn meta(&self) -> &PluginMeta {
        &self.meta
    }

    /// Call and failure counters.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    async fn call(&self, call: Call) -> Result<Reply, CallError> {
        let (reply, answer) = oneshot::channel();
        let unloaded = || CallError::Unloaded(self.meta.label());
        self.queue
            .send(Job { call, reply })
            .await
            .map_err(|_| unloaded())?;
        answer.await.map_err(|_| unloaded())?
    }

    fn require(&self, world: World) -> Result<(), CallError> {
        if self.meta.world == world {
            Ok(())
        } else {
            Err(CallError::WrongWorld {
                plugin: self.meta.label(),
                world: self.meta.world.as_str(),
            })
        }
    }

    fn bad(&self, message: String) -> CallError {
        CallError::BadResult {
            plugin: self.meta.label(),
            message,
        }
    }

    /// Asks a driver whether it handles the probed miner. The driver has no network here.
    pub async fn identify(&self, probe: Probe) -> Result<Option<Identification>, CallError> {
        self.require(World::Driver)?;
        match self.call(Call::Identify(probe)).await? {
            Reply::Identify(Some(mut id)) => {
                id.confidence = id.confidence.min(100);
                Ok(Some(id))
            }
            Reply::Identify(None) => Ok(None),
            _ => Err(self.bad("unexpected reply to identify".into())),
        }
    }

    /// Polls `target` through a driver; `Ok(Err(_))` is the driver's own typed error.
    /// A record larger than the result cap is refused.
    pub async fn poll(&self, target: Target) -> Result<Result<MinerRecord, PollError>, CallError> {
        self.require(World::Driver)?;
        match self.call(Call::Poll(target)).await? {
            Reply::Poll(Ok(r)) => {
                let size = super::record::wire_size(&r);
                if size > self.max_result() {
                    return Err(self.bad(format!(
                        "record of about {size} bytes exceeds the {}-byte limit",
                        self.max_result()
                    )));
                }
                Ok(Ok(super::record::from_wit(*r)))
            }
            Reply::Poll(Err(e)) => Ok(Err(e)),
            _ => Err(self.bad("unexpected reply to poll".into())),
        }
    }

    /// Runs a rule on a batch of events with its configuration (a JSON object): one verdict
    /// per event, in order; `Err(_)` in a verdict is the rule's own error message.
    pub async fn evaluate(
        &self,
        events: Arc<[Event]>,
        config: Arc<str>,
    ) -> Result<Vec<Result<Verdict, String>>, CallError> {
        self.require(World::AlertRule)?;
        let n = events.len();
        match self.call(Call::Evaluate(events, config)).await? {
            Reply::Evaluate(v) if v.len() != n => {
                Err(self.bad(format!("{} verdicts for a batch of {n} events", v.len())))
            }
            Reply::Evaluate(v) => match v.iter().flatten().map(|v| v.alerts.len()).max() {
                Some(most) if most > 1000 => Err(self.bad(format!("{most} alerts for one event"))),
                _ => Ok(v),
            },
            _ => Err(self.bad("unexpected reply to evaluate".into())),
        }
    }

    /// Runs a rule on one event.
    pub async fn evaluate_one(
        &self,
        event: Event,
        config: &str,
    ) -> Result<Result<Verdict, String>, CallError> {
        let mut v = self.evaluate(Arc::from([event]), Arc::from(config)).await?;
        v.pop()
            .ok_or_else(|| self.bad("no verdict for the event".into()))
    }

    fn max_result(&self) -> usize {
        self.max_result_bytes
    }
}
