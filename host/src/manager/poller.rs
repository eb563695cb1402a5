//! One miner's poll loop.

use super::Shared;
use crate::discovery::{detect, probe};
use crate::runtime::Plugin;
use crate::runtime::driver_types::Target;
use crate::storage::MinerConfig;
use solomon_plugin_sdk::{MinerRecord, MinerState};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A spread in 0..interval/10 from the miner id, so a fleet does not poll in lockstep.
fn jitter(id: &str, interval: Duration) -> Duration {
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
        return shared
            .drivers
            .iter()
            .find(|d| &d.meta().name == name)
            .cloned();
    }
    let cfg = crate::discovery::ProbeConfig {
        http_port: target.http_port,
        rpc_port: target.rpc_port,
        ..shared.config.probe.clone()
    };
    let (p, _, _) = probe(&target.host, &cfg).await;
    detect(&shared.drivers, &p).await.map(|(d, _)| d)
}

/// Polls `miner` until aborted.
pub async fn run(shared: Arc<Shared>, miner: MinerConfig) {
    let cfg = &shared.config;
    let target = Target {
        host: miner.host.clone(),
        http_port: miner.http_port,
        rpc_port: miner.rpc_port,
    };
    let mut driver: Option<Arc<Plugin>> = None;
    let mut failures: u32 = 0;
    tokio::time::sleep(jitter(&miner.id, cfg.poll_interval)).await;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = {
            let _permit = shared.permits.acquire().await;
            if driver.is_none() {
                driver = choose_driver(&shared, &miner, &target).await;
            }
            match &driver {
                Some(d) => match d.poll(target.clone()).await {
                    Ok(Ok(json)) => serde_json::from_str::<MinerRecord>(&json)
                        .map_err(|e| format!("invalid record: {e}")),
                    Ok(Err(e)) => Err(format!("{e:?}")),
                    Err(e) => Err(e.to_string()),
                },
                None => Err("no driver recognises it (or it is unreachable)".to_string()),
            }
        };
        match outcome {
            Ok(mut record) => {
                failures = 0;
                if record.mac.is_none() && record.id != record.host {
                    record.mac = Some(record.id.clone());
                }
                // The store is keyed by the configured id; the driver's own id is the MAC.
                record.id = miner.id.clone();
                record.host = miner.host.clone();
                shared.store.set(record.clone());
                if shared.ingest.send(record).await.is_err() {
                    return;
                }
            }
            Err(why) => {
                failures += 1;
                tracing::debug!(miner = %miner.id, failures, "poll failed: {why}");
                if failures >= cfg.offline_after {
                    mark_offline(&shared, &miner, failures, &why).await;
                    // Re-detect later: the miner may have been replaced or re-flashed.
                    driver = None;
                }
            }
        }
        // Back off while down: 1, 2, 4... intervals, capped.
        let wait = if failures < cfg.offline_after {
            cfg.poll_interval
        } else {
            cfg.poll_interval
                .saturating_mul(1 << (failures - cfg.offline_after).min(6))
                .min(cfg.max_backoff.max(cfg.poll_interval))
        };
        tokio::time::sleep_until(started + wait).await;
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
    if failures == shared.config.offline_after {
        tracing::warn!(miner = %miner.id, "miner offline: {why}");
        let _ = shared.ingest.send(snap.record.clone()).await;
    }
}
