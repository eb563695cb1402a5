//! `solomon bench storage`: a long run of history in fast-forward. A fleet's samples, one
//! ingest call per simulated second as the daemon makes them, go into a real storage in a temp
//! dir under a fake clock, with retention applied every simulated hour as the daemon does. It
//! prints, per simulated hour, this process's RSS, the files' size and the ingest speed, so
//! memory that grows with the database (not with the fleet) shows up in minutes, not months.

use super::BenchArgs;
use super::proc::status_kib;
use crate::host_api::clock::FakeClock;
use crate::storage::{ALL_METRICS, FlushPolicy, Metric, Sample, Storage, StorageConfig};
use std::sync::Arc;
use std::time::Instant;

/// 2026-01-01, a whole hour.
const T0: u64 = 1_767_225_600_000;
const HOUR_MS: u64 = 3_600_000;

/// A plausible sample: hashrate and temperatures that wander, counters that climb.
fn sample(miner: u64, ts_ms: u64) -> Sample {
    let t = ts_ms / 1000;
    let wave = ((t / 60 + miner * 7) % 20) as f64;
    let mut values = [f64::NAN; ALL_METRICS.len()];
    for (v, m) in values.iter_mut().zip(ALL_METRICS) {
        *v = match m {
            Metric::Hashrate => 1.1e12 + wave * 1e9,
            Metric::ExpectedHashrate => 1.2e12,
            Metric::Temp | Metric::TempMax => 55.0 + wave / 4.0,
            Metric::VrTemp => 60.0,
            Metric::Power => 15.0 + wave / 10.0,
            Metric::FanRpm => 4000.0 + wave * 10.0,
            Metric::SharesAccepted => (t / 30 + miner) as f64,
            Metric::SharesRejected => (t / 3000) as f64,
            Metric::BestDiff => 1e9 + (t / 86_400) as f64 * 1e8,
            Metric::State => 0.0,
        };
    }
    Sample { ts_ms, values }
}

async fn run(miners: usize, args: &BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "solomon-bench-storage-{}-{miners}",
        std::process::id()
    ));
    let clock = Arc::new(FakeClock::new(T0));
    let mut config = StorageConfig::new(&dir);
    // One fsync per ingest call, not a 5 ms group window: the clock here is not real time.
    config.flush = FlushPolicy::EveryWrite;
    config.clock = clock.clone();
    if let Some(h) = args.raw_retention_hours {
        config.raw_retention = std::time::Duration::from_secs(h * 3600);
    }
    let storage = Arc::new(Storage::open(config)?);
    let ids: Vec<String> = (0..miners).map(|i| format!("m{i:05}")).collect();
    let per_call = (miners as u64 / args.poll_seconds.max(1)).max(1) as usize;
    println!(
        "history of {miners} miners polled every {} s ({per_call} samples per ingest call), {} simulated hours",
        args.poll_seconds, args.hours
    );
    let start = Instant::now();
    let mut next = 0usize;
    for hour in 1..=args.hours {
        let began = Instant::now();
        for second in 0..3600u64 {
            let ts = T0 + (hour - 1) * HOUR_MS + second * 1000;
            clock.set(ts);
            let batch: Vec<(&str, Sample)> = (0..per_call)
                .map(|k| {
                    let i = (next + k) % miners;
                    (ids[i].as_str(), sample(i as u64, ts))
                })
                .collect();
            next = (next + per_call) % miners;
            storage.ingest_samples(&batch).await?;
        }
        let s = storage.clone();
        let pruning = Instant::now();
        let pruned = tokio::task::spawn_blocking(move || s.prune()).await??;
        let pruning = pruning.elapsed();
        let (sled_bytes, wal_bytes) = storage.size_on_disk_parts()?;
        println!(
            "  hour {hour:>4}: RSS {:.1} MB (heap resident {:.1} MB); sled {:.1} MB, log {:.1} MB; {:.0} samples/s ingested; {} raw chunks rolled up and {} merged in {:.2} s",
            status_kib("self", "VmRSS").unwrap_or(0) as f64 / 1024.0,
            crate::memory::heap_stats().map_or(0, |h| h.resident) as f64 / 1048576.0,
            sled_bytes as f64 / 1048576.0,
            wal_bytes as f64 / 1048576.0,
            (3600 * per_call) as f64 / began.elapsed().as_secs_f64(),
            pruned.chunks,
            pruned.compacted,
            pruning.as_secs_f64()
        );
    }
    println!(
        "  {} samples in {:.1} s",
        args.hours * 3600 * per_call as u64,
        start.elapsed().as_secs_f64()
    );
    drop(storage);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Runs every fleet size in turn.
pub async fn bench(args: &BenchArgs) -> anyhow::Result<i32> {
    for &n in &args.fleets {
        run(n.max(1), args).await?;
    }
    Ok(0)
}
