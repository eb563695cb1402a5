//! One poll of one miner, and what a miner's polls keep between them.

use super::Shared;
use crate::discovery::{detect, probe};
use crate::host_api::clock::unix_ms as now_ms;
use crate::runtime::Plugin;
use crate::runtime::driver_types::Target;
use crate::storage::{MinerConfig, sample_of};
use solomon_plugin_sdk::{MinerError, MinerRecord, MinerState};
use std::sync::Arc;
use std::time::Duration;

/// A spread in 0..interval/10 from the miner id, so a fleet does not poll in lockstep.
pub(super) fn jitter(id: &str, interval: Duration) -> Duration {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    interval.mul_f64((h % 1000) as f64 / 10_000.0)
}

async fn choose_driver(
    shared: &Shared,
    miner: &MinerConfig,
    target: &Target,
) -> Option<Arc<Plugin>> {
    if let Some(name) = &miner.driver {
        return shared.drivers.driver(name);
    }
    let cfg = crate::discovery::ProbeConfig {
        http_port: target.http_port,
        rpc_port: target.rpc_port,
        ..shared.config.probe.clone()
    };
    let (p, _, _) = probe(&target.host, &cfg).await;
    detect(&shared.drivers.drivers(), &p).await.map(|(d, _)| d)
}

/// Whether shares still arrive. A miner can keep reporting a hashrate after it stopped
/// mining (the "flatline" after an overheat or a pool problem): then no new share is accepted.
#[derive(Debug, Default)]
struct Progress {
    shares: Option<u64>,
    changed_ms: u64,
}

impl Progress {
    /// Marks `r` idle ("stalled") if it reports hashing but no share was accepted for longer
    /// than `intervals` expected share intervals (pool difficulty x 2^32 / hashrate), at least
    /// `min`, at most 6 h.
    fn check(&mut self, r: &mut MinerRecord, now: u64, min: Duration, intervals: f64) {
        let Some(shares) = r.shares_accepted else {
            return;
        };
        if self.shares.is_none_or(|s| shares != s) {
            // New shares, or a counter reset by a reboot: progress either way.
            self.shares = Some(shares);
            self.changed_ms = now;
            return;
        }
        if r.state != MinerState::Hashing {
            return;
        }
        let interval_s = match (r.pool_difficulty, r.hashrate_hs) {
            (Some(d), Some(h)) if d > 0.0 && h > 0.0 => d * 4_294_967_296.0 / h,
            _ => 0.0,
        };
        let limit_ms = (min.as_millis() as f64)
            .max(interval_s * intervals * 1000.0)
            .min(6.0 * 3_600_000.0) as u64;
        let quiet_ms = now.saturating_sub(self.changed_ms);
        if quiet_ms > limit_ms {
            r.state = MinerState::Idle;
            r.errors.push(MinerError {
                code: "stalled".into(),
                message: format!(
                    "reports a hashrate but no share was accepted for {} s",
                    quiet_ms / 1000
                ),
                severity: "warning".into(),
            });
        }
    }
}

/// What a miner's polls keep between them.
pub(super) struct PollerState {
    miner: Arc<MinerConfig>,
    target: Target,
    driver: Option<Arc<Plugin>>,
    failures: u32,
    progress: Progress,
}

impl PollerState {
    pub(super) fn new(miner: Arc<MinerConfig>) -> Self {
        PollerState {
            target: Target {
                host: miner.host.clone(),
                http_port: miner.http_port,
                rpc_port: miner.rpc_port,
            },
            miner,
            driver: None,
            failures: 0,
            progress: Progress::default(),
        }
    }

    /// Time from the start of the last poll to the next: the interval, and while the miner is
    /// down 1, 2, 4... intervals, capped.
    pub(super) fn wait(&self, cfg: &super::ManagerConfig) -> Duration {
        if self.failures < cfg.offline_after {
            cfg.poll_interval
        } else {
            cfg.poll_interval
                .saturating_mul(1 << (self.failures - cfg.offline_after).min(6))
                .min(cfg.max_backoff.max(cfg.poll_interval))
        }
    }
}

/// One poll and what follows from it (the caller holds a permit); false once the daemon is
/// shutting down.
pub(super) async fn poll_once(
    shared: &Shared,
    st: &mut PollerState,
    started: tokio::time::Instant,
) -> bool {
    let cfg = &shared.config;
    let outcome = {
        // A driver reloaded since the last poll: continue with its new version; one
        // unloaded: detect again.
        if let Some(d) = &st.driver
            && !shared.drivers.drivers().iter().any(|c| Arc::ptr_eq(c, d))
        {
            st.driver = shared.drivers.driver(&d.meta().name);
        }
        if st.driver.is_none() {
            // Boxed, like going offline below: detection's probes are a 36 KB future, and
            // inline they made every poll's future that much bigger (74 KB instead of 3 KB),
            // allocated and copied at every poll although detection runs once per miner.
            st.driver = Box::pin(choose_driver(shared, &st.miner, &st.target)).await;
        }
        match &st.driver {
            Some(d) => match d.poll(st.target.clone()).await {
                Ok(Ok(record)) => Ok(record),
                Ok(Err(e)) => Err(format!("{e:?}")),
                Err(e) => Err(e.to_string()),
            },
            None => Err("no driver recognises it (or it is unreachable)".to_string()),
        }
    };
    shared
        .stats
        .record(outcome.is_ok(), started.elapsed().as_secs_f64());
    match outcome {
        Ok(mut record) => {
            st.failures = 0;
            st.progress
                .check(&mut record, now_ms(), cfg.stall_min, cfg.stall_intervals);
            if record.mac.is_none() && record.id != record.host {
                record.mac = Some(record.id.clone());
            }
            // The store is keyed by the configured id; the driver's own id is the MAC.
            record.id = st.miner.id.clone();
            record.host = st.miner.host.clone();
            // One poller per miner: nothing else writes this id between the get and the set.
            let previous = shared.store.get(&st.miner.id);
            let row = (st.miner.id.clone(), sample_of(&record));
            let snap = shared.store.set(record);
            shared.hub.miner_updated(&snap);
            if shared.ingest.send(row).await.is_err() {
                return false;
            }
            send_events(shared, previous, snap).await;
            true
        }
        Err(why) => {
            st.failures += 1;
            tracing::debug!(miner = %st.miner.id, failures = st.failures, "poll failed: {why}");
            if st.failures >= cfg.offline_after {
                Box::pin(mark_offline(shared, &st.miner, st.failures, &why)).await;
                // Re-detect later: the miner may have been replaced or re-flashed.
                st.driver = None;
            }
            true
        }
    }
}

/// Tells the alert engine: a sample, and a state change when there was one.
async fn send_events(
    shared: &Shared,
    previous: Option<crate::state::Snapshot>,
    snap: crate::state::Snapshot,
) {
    use crate::alerts::{RuleEvent, RuleEventKind};
    let Some(tx) = &shared.events else {
        return;
    };
    let (id, ts_ms, now) = (snap.record.id.clone(), snap.record.ts_ms, snap.record.state);
    let mut kinds = vec![RuleEventKind::Sample];
    if let Some(before) = previous.as_ref().map(|p| p.record.state)
        && before != now
    {
        kinds.insert(0, RuleEventKind::StateChange(before, now));
    }
    for kind in kinds {
        let ev = RuleEvent {
            miner: id.clone(),
            kind,
            previous: previous.clone(),
            current: Some(snap.clone()),
            ts_ms,
        };
        // Waits when the engine is behind: events are never dropped.
        if tx.send(ev).await.is_err() {
            return;
        }
    }
}

/// Marks a miner offline: no current hashrate, temperatures or power are shown as live.
async fn mark_offline(shared: &Shared, miner: &MinerConfig, failures: u32, why: &str) {
    let ts = now_ms();
    let offline = |r: &mut MinerRecord| {
        r.state = MinerState::Offline;
        r.ts_ms = ts;
        r.hashrate_hs = None;
        r.hashrate_avg_hs.clear();
        r.temp_c = None;
        r.temp_max_c = None;
        r.vr_temp_c = None;
        r.power_w = None;
        r.efficiency_j_th = None;
        r.fans.clear();
    };
    let previous = shared.store.get(&miner.id);
    let snap = match shared.store.update(&miner.id, offline) {
        Ok(s) => s,
        Err(_) => {
            let mut r = MinerRecord {
                id: miner.id.clone(),
                host: miner.host.clone(),
                make: "unknown".into(),
                ..Default::default()
            };
            offline(&mut r);
            shared.store.set(r)
        }
    };
    shared.hub.miner_updated(&snap);
    if previous
        .as_ref()
        .is_none_or(|p| p.record.state != MinerState::Offline)
    {
        send_events(shared, previous, snap.clone()).await;
    }
    if failures == shared.config.offline_after {
        tracing::warn!(miner = %miner.id, "miner offline: {why}");
        let row = (miner.id.clone(), sample_of(&snap.record));
        let _ = shared.ingest.send(row).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(shares: u64) -> MinerRecord {
        MinerRecord {
            state: MinerState::Hashing,
            shares_accepted: Some(shares),
            hashrate_hs: Some(1.2e12),
            pool_difficulty: Some(1000.0),
            ..Default::default()
        }
    }

    #[test]
    fn no_new_shares_for_too_long_is_a_stall() {
        let mut p = Progress::default();
        let min = Duration::from_secs(600);
        let mut r = rec(10);
        p.check(&mut r, 0, min, 10.0);
        assert_eq!(r.state, MinerState::Hashing);
        let mut r = rec(10);
        p.check(&mut r, 599_000, min, 10.0);
        assert_eq!(r.state, MinerState::Hashing, "not before the minimum");
        let mut r = rec(10);
        p.check(&mut r, 601_000, min, 10.0);
        assert_eq!(
            (r.state, r.errors[0].code.as_str()),
            (MinerState::Idle, "stalled")
        );
        let mut r = rec(11);
        p.check(&mut r, 602_000, min, 10.0);
        assert_eq!(r.state, MinerState::Hashing, "a new share clears it");
    }

    #[test]
    fn slow_share_rates_get_a_longer_grace() {
        // 1.2 TH/s at difficulty 10^7: one share every ~10 h on average, so 10 intervals is
        // more than the 6 h cap.
        let mut p = Progress::default();
        let mut r = MinerRecord {
            pool_difficulty: Some(1e7),
            ..rec(5)
        };
        p.check(&mut r, 0, Duration::from_secs(600), 10.0);
        let mut r = MinerRecord {
            pool_difficulty: Some(1e7),
            ..rec(5)
        };
        p.check(&mut r, 5 * 3_600_000, Duration::from_secs(600), 10.0);
        assert_eq!(r.state, MinerState::Hashing, "5 h is within the grace");
        let mut r = MinerRecord {
            pool_difficulty: Some(1e7),
            ..rec(5)
        };
        p.check(&mut r, 7 * 3_600_000, Duration::from_secs(600), 10.0);
        assert_eq!(r.state, MinerState::Idle, "capped at 6 h");
    }
}
