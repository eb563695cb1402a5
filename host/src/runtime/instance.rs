//! One plugin instance: a task that owns a Store and serves calls from its plugin's queue one
//! at a time (Zed's actor pattern). Any trap or timeout poisons the Store, so it is dropped and
//! rebuilt from the cached `InstancePre` on a later call, after an exponential backoff.

use super::bindings::driver::exports::solomon::plugin::miner_driver::{
    Identification, PollError, Probe,
};
use super::bindings::driver::{Driver, DriverPre};
use super::bindings::rule::exports::solomon::plugin::rule::{Event, RuleNeeds, Verdict};
use super::bindings::rule::{AlertRule, AlertRulePre};
use super::bindings::types::{MinerRecord, PluginInfo, Target};
use super::plugin::PluginStats;
use super::{CallError, PluginCtx, Shared, TrapKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::{Mutex, mpsc, oneshot};
use wasmtime::{Store, Trap, UpdateDeadline};

/// The pre-linked component of one world.
pub(crate) enum Pre {
    Driver(DriverPre<PluginCtx>),
    Rule(AlertRulePre<PluginCtx>),
}

enum Live {
    Driver(Driver),
    Rule(AlertRule),
}

/// A call into a plugin.
pub(crate) enum Call {
    Info,
    Needs,
    Identify(Probe),
    Poll(Target),
    /// A batch of events, shared by every rule it goes to, and the rule's configuration.
    Evaluate(Arc<[Event]>, Arc<str>),
}

/// The plugin's answer.
pub(crate) enum Reply {
    Info(PluginInfo),
    Needs(RuleNeeds),
    Identify(Option<Identification>),
    Poll(Result<Box<MinerRecord>, PollError>),
    Evaluate(Vec<Result<Verdict, String>>),
}

pub(crate) struct Job {
    pub call: Call,
    pub reply: oneshot::Sender<Result<Reply, CallError>>,
}

/// What a worker needs to (re)build its instance.
pub(crate) struct InstanceSpec {
    pub shared: Arc<Shared>,
    pub pre: Pre,
    /// `name@version`.
    pub label: Arc<str>,
    /// Plugin-state namespace.
    pub namespace: String,
    pub stats: Arc<PluginStats>,
    /// Workers of this plugin not waiting out a backoff.
    pub healthy: AtomicUsize,
}

pub(crate) struct Worker {
    spec: Arc<InstanceSpec>,
    instance: Option<(Store<PluginCtx>, Live)>,
    /// Consecutive failures; 0 after a successful call.
    failures: u32,
    not_before: Option<Instant>,
    /// Counted out of `spec.healthy`.
    in_backoff: bool,
}

impl Worker {
    pub fn new(spec: Arc<InstanceSpec>) -> Self {
        Worker {
            spec,
            instance: None,
            failures: 0,
            not_before: None,
            in_backoff: false,
        }
    }

    fn recovered(&mut self) {
        self.failures = 0;
        self.not_before = None;
        if self.in_backoff {
            self.in_backoff = false;
            self.spec.healthy.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Serves jobs until the plugin's queue closes.
    pub async fn run(mut self, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
        loop {
            // While a sibling is healthy, a failed worker stays off the queue until its backoff
            // ends, so callers are served rather than turned away. When every instance is down,
            // workers keep taking jobs and answer `Restarting` at once instead of making callers
            // wait out the backoff.
            if let Some(t) = self.not_before
                && self.spec.healthy.load(Ordering::SeqCst) > 0
            {
                tokio::time::sleep_until(t.into()).await;
            }
            // The queue lock is held only while waiting for the next job, never during a call.
            let job = { queue.lock().await.recv().await };
            let Some(job) = job else { return };
            let result = self.handle(job.call).await;
            let _ = job.reply.send(result);
        }
    }

    fn new_store(&self) -> Store<PluginCtx> {
        let spec = &self.spec;
        let ctx = PluginCtx::new(
            spec.label.clone(),
            spec.namespace.clone(),
            &spec.shared.config,
            &spec.shared.services,
        );
        let mut store = Store::new(&spec.shared.engine, ctx);
        store.limiter(|c| &mut c.limits);
        // Yield to the executor every tick; interrupt once the call's guest time is spent.
        store.epoch_deadline_callback(|mut ctx| {
            Ok(if ctx.data_mut().over_budget() {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        store
    }

    async fn instantiate(&mut self) -> Result<(), CallError> {
        if let Some(t) = self.not_before {
            let now = Instant::now();
            if now < t {
                return Err(CallError::Restarting {
                    plugin: self.spec.label.to_string(),
                    retry_in: t - now,
                });
            }
        }
        let mut store = self.new_store();
        store.data_mut().begin_call(0);
        // A new Store's deadline is 0, which would interrupt instantiation itself.
        store.set_epoch_deadline(1);
        let timeout = self.spec.shared.config.call_timeout;
        let live = match &self.spec.pre {
            Pre::Driver(pre) => tokio::time::timeout(timeout, pre.instantiate_async(&mut store))
                .await
                .map(|r| r.map(Live::Driver)),
            Pre::Rule(pre) => tokio::time::timeout(timeout, pre.instantiate_async(&mut store))
                .await
                .map(|r| r.map(Live::Rule)),
        };
        match live {
            Ok(Ok(live)) => {
                if self.failures > 0 {
                    self.spec.stats.record_restart();
                    tracing::info!(plugin = %self.spec.label, failures = self.failures, "plugin instance restarted");
                }
                self.instance = Some((store, live));
                Ok(())
            }
            Ok(Err(e)) => Err(self.fail(classify(&e, store.data()))),
            Err(_) => Err(self.fail((
                TrapKind::Timeout,
                format!("instantiation exceeded {timeout:?}"),
            ))),
        }
    }

    /// Records a failure: the instance is gone, the next attempt waits out the backoff.
    fn fail(&mut self, (kind, message): (TrapKind, String)) -> CallError {
        self.instance = None;
        self.failures += 1;
        if !self.in_backoff {
            self.in_backoff = true;
            self.spec.healthy.fetch_sub(1, Ordering::SeqCst);
        }
        let backoff = self.spec.shared.config.backoff(self.failures);
        self.not_before = Some(Instant::now() + backoff);
        self.spec.stats.record_trap(&kind, &message);
        tracing::error!(plugin = %self.spec.label, %kind, failures = self.failures, ?backoff, "plugin instance failed: {message}");
        CallError::Trapped {
            plugin: self.spec.label.to_string(),
            kind,
            message,
        }
    }

    /// Runs one call outside the queue (used to read `info()` at load time).
    pub async fn call_once(&mut self, call: Call) -> Result<Reply, CallError> {
        self.handle(call).await
    }

    async fn handle(&mut self, call: Call) -> Result<Reply, CallError> {
        if self.instance.is_none() {
            self.instantiate().await?;
        }
        let Some((store, live)) = self.instance.as_mut() else {
            return Err(CallError::Unloaded(self.spec.label.to_string()));
        };
        let config = &self.spec.shared.config;
        store
            .data_mut()
            .begin_call(config.limits.log_lines_per_call);
        if let Call::Poll(target) = &call {
            store.data_mut().miner_io.target = Some(target.clone());
        }
        store.set_epoch_deadline(1);
        self.spec.stats.record_call();
        let outcome = tokio::time::timeout(config.call_timeout, dispatch(store, live, call)).await;
        store.data_mut().miner_io.target = None;
        let dropped = store.data().log.dropped;
        if dropped > 0 {
            tracing::warn!(plugin = %self.spec.label, dropped, "plugin log lines dropped (over the per-call limit)");
        }
        match outcome {
            Ok(Ok(reply)) => {
                self.recovered();
                Ok(reply)
            }
            Ok(Err(e)) => {
                let classified = classify(&e, store.data());
                Err(self.fail(classified))
            }
            Err(_) => {
                let msg = format!(
                    "call exceeded the {:?} wall-clock limit",
                    config.call_timeout
                );
                Err(self.fail((TrapKind::Timeout, msg)))
            }
        }
    }
}

async fn dispatch(
    store: &mut Store<PluginCtx>,
    live: &Live,
    call: Call,
) -> wasmtime::Result<Reply> {
    match (live, call) {
        (Live::Driver(d), Call::Info) => d
            .solomon_plugin_miner_driver()
            .call_info(store)
            .await
            .map(Reply::Info),
        (Live::Driver(d), Call::Identify(p)) => d
            .solomon_plugin_miner_driver()
            .call_identify(store, &p)
            .await
            .map(Reply::Identify),
        (Live::Driver(d), Call::Poll(t)) => d
            .solomon_plugin_miner_driver()
            .call_poll(store, &t)
            .await
            .map(|r| Reply::Poll(r.map(Box::new))),
        (Live::Rule(r), Call::Info) => r
            .solomon_plugin_rule()
            .call_info(store)
            .await
            .map(Reply::Info),
        (Live::Rule(r), Call::Needs) => r
            .solomon_plugin_rule()
            .call_needs(store)
            .await
            .map(Reply::Needs),
        (Live::Rule(r), Call::Evaluate(events, config)) => r
            .solomon_plugin_rule()
            .call_evaluate(store, &events, &config)
            .await
            .map(Reply::Evaluate),
        // The plugin handle checks the world before queueing a call.
        (Live::Driver(_), Call::Evaluate(..) | Call::Needs)
        | (Live::Rule(_), Call::Identify(_) | Call::Poll(_)) => Err(wasmtime::Error::msg(
            "call does not match the plugin's world",
        )),
    }
}

/// Names what killed a call, with the guest's last stderr lines for panics.
fn classify(err: &wasmtime::Error, ctx: &PluginCtx) -> (TrapKind, String) {
    let text = format!("{err:#}");
    let kind = match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => TrapKind::Timeout,
        Some(Trap::UnreachableCodeReached) => TrapKind::Panic,
        _ if text.contains("growing memory") || text.contains("memory allocation failed") => {
            TrapKind::OutOfMemory
        }
        _ => TrapKind::Other,
    };
    let message = match kind {
        TrapKind::Timeout => format!("used up its CPU budget of {:?}", ctx.cpu_budget),
        TrapKind::Panic => match ctx.stderr_tail() {
            tail if tail.is_empty() => "panicked (wasm `unreachable`)".to_string(),
            tail => format!("panicked: {tail}"),
        },
        TrapKind::OutOfMemory => format!("exceeded its memory limit: {}", first_line(&text)),
        TrapKind::Other => first_line(&text).to_string(),
    };
    (kind, message)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
