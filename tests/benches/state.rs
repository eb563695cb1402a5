//! Shared-state costs: miner store reads and partial updates (1, 2, 8 tasks, 10,000 miners),
//! durable batched ingestion into sled, history queries (24 h raw cold and cached, a 30-day
//! chart) and bytes on disk per stored record. Run: `cargo bench -p solomon-tests --bench state`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use solomon_host::host_api::clock::FakeClock;
use solomon_host::state::MinerStore;
use solomon_host::storage::{
    FlushPolicy, Metric, Resolution, Sample, Storage, StorageConfig, sample_of,
};
use solomon_plugin_sdk::{Fan, MinerRecord, MinerState};
use std::sync::Arc;
use std::time::Instant;

const MINERS: usize = 10_000;
const T0: u64 = 1_800_000_000_000;
const DAY: u64 = 86_400_000;

/// xorshift: deterministic noise without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f64 / 10_000.0
    }
}

/// A record with the noise real miners show: hashrate and power vary every poll, temperatures
/// in 0.25 °C steps, shares climbing.
fn realistic(id: &str, i: u64, rng: &mut Rng) -> MinerRecord {
    MinerRecord {
        id: id.to_string(),
        make: "Bitaxe".into(),
        state: MinerState::Hashing,
        ts_ms: T0 + i * 10_000,
        hashrate_hs: Some(1.2e12 * (0.9 + 0.2 * rng.next())),
        expected_hashrate_hs: Some(1.224e12),
        temp_c: Some(55.0 + (rng.next() * 40.0).round() / 4.0),
        temp_max_c: Some(60.0 + (rng.next() * 20.0).round() / 4.0),
        vr_temp_c: Some(65.0 + (rng.next() * 8.0).round()),
        power_w: Some(22.0 + 3.0 * rng.next()),
        fans: vec![Fan {
            index: 0,
            rpm: Some(4000.0 + (rng.next() * 20.0).round() * 10.0),
            pct: Some(42.0),
        }],
        shares_accepted: Some(i * 3 + (rng.next() * 3.0) as u64),
        shares_rejected: Some(i / 500),
        best_diff: Some(3.4e9),
        ..Default::default()
    }
}

fn store_ops(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let store = Arc::new(MinerStore::new());
    let ids: Arc<Vec<String>> = Arc::new((0..MINERS).map(|i| format!("miner-{i:05}")).collect());
    let mut rng = Rng(7);
    for (i, id) in ids.iter().enumerate() {
        store.set(realistic(id, i as u64, &mut rng));
    }
    let mut g = c.benchmark_group("store");
    for tasks in [1usize, 2, 8] {
        for (name, write) in [("snapshot reads", false), ("partial updates", true)] {
            g.throughput(Throughput::Elements(1));
            g.bench_function(format!("{name}, {tasks} tasks"), |b| {
                b.iter_custom(|n| {
                    let per_task = (n as usize).div_ceil(tasks);
                    rt.block_on(async {
                        let start = Instant::now();
                        let handles: Vec<_> = (0..tasks)
                            .map(|t| {
                                let (store, ids) = (store.clone(), ids.clone());
                                tokio::spawn(async move {
                                    let mut k = t * 7919;
                                    for _ in 0..per_task {
                                        k = (k + 104_729) % MINERS;
                                        if write {
                                            let _ = store.update(&ids[k], |r| {
                                                r.shares_accepted = r.shares_accepted.map(|s| s + 1)
                                            });
                                        } else {
                                            std::hint::black_box(store.get(&ids[k]));
                                        }
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            h.await.expect("task");
                        }
                        start
                            .elapsed()
                            .mul_f64(n as f64 / (per_task * tasks) as f64)
                    })
                })
            });
        }
    }
    g.finish();
}

fn open(dir: &std::path::Path, now: u64) -> Storage {
    let mut c = StorageConfig::new(dir);
    c.clock = Arc::new(FakeClock::new(now));
    // The daemon's default policy (group commit every 5 ms).
    assert_eq!(c.flush, FlushPolicy::default());
    Storage::open(c).expect("opens")
}

fn storage(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");

    // Durable ingestion: one poll cycle of 1,000 miners per ingest call.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path(), T0);
    let ids: Vec<String> = (0..1000).map(|i| format!("miner-{i:04}")).collect();
    let mut rng = Rng(11);
    let mut cycle = 0u64;
    let mut g = c.benchmark_group("storage");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.sample_size(20);
    g.bench_function("durable ingest, batches of 1000 records", |b| {
        b.iter_custom(|n| {
            let batches: Vec<Vec<MinerRecord>> = (0..n)
                .map(|_| {
                    cycle += 1;
                    ids.iter()
                        .map(|id| realistic(id, cycle, &mut rng))
                        .collect()
                })
                .collect();
            let start = Instant::now();
            rt.block_on(async {
                for batch in &batches {
                    s.ingest(batch).await.expect("ingest");
                }
            });
            start.elapsed()
        })
    });
    g.finish();
    drop(s);

    // Bytes on disk: 1,000 miners x 1,000 samples.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path(), T0);
    let mut rng = Rng(13);
    let records = 1000u64 * 1000;
    rt.block_on(async {
        for i in 0..1000u64 {
            let batch: Vec<MinerRecord> = ids.iter().map(|id| realistic(id, i, &mut rng)).collect();
            s.ingest(&batch).await.expect("ingest");
        }
    });
    s.flush().expect("flush");
    let (sled_size, wal_size) = s.size_on_disk_parts().expect("size");
    let live_entries = s.live_wal_keys();
    drop(s);
    let dir_size = dir_bytes(dir.path());
    println!(
        "storage/bytes on disk per stored record: {:.1} in all (files after close; sled {:.1}, write-ahead log {:.1} holding {} unsealed ingest calls), {} records, {:.1} MiB",
        dir_size as f64 / records as f64,
        sled_size as f64 / records as f64,
        wal_size as f64 / records as f64,
        live_entries,
        records,
        dir_size as f64 / 1048576.0
    );

    // Queries: one miner with 30 days of 10-second samples.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path(), T0 + 30 * DAY);
    let mut rng = Rng(17);
    let per_day = (DAY / 10_000) as usize;
    rt.block_on(async {
        for day in 0..30u64 {
            let samples: Vec<Sample> = (0..per_day as u64)
                .map(|i| sample_of(&realistic("m", day * per_day as u64 + i, &mut rng)))
                .collect();
            let batch: Vec<(&str, Sample)> = samples.iter().map(|x| ("m", *x)).collect();
            s.ingest_samples(&batch).await.expect("ingest");
        }
    });
    let last_day = (T0 + 29 * DAY, T0 + 30 * DAY - 1);
    assert_eq!(
        s.history(
            "m",
            Metric::Hashrate,
            last_day.0,
            last_day.1,
            Resolution::Raw
        )
        .expect("q")
        .len(),
        per_day
    );
    let mut g = c.benchmark_group("history");
    let mut bump = 0u64;
    g.bench_function("24 h of 10 s samples, raw, cold", |b| {
        b.iter(|| {
            // A new range each time: never a cache hit.
            bump += 1;
            s.history(
                "m",
                Metric::Hashrate,
                last_day.0 - bump,
                last_day.1,
                Resolution::Raw,
            )
            .expect("query")
        })
    });
    g.bench_function("24 h of 10 s samples, raw, cached", |b| {
        b.iter(|| {
            s.history(
                "m",
                Metric::Hashrate,
                last_day.0,
                last_day.1,
                Resolution::Raw,
            )
            .expect("query")
        })
    });
    let month = (T0, T0 + 30 * DAY);
    let res = s.resolution_for(month.0, month.1, None);
    println!(
        "history/30-day chart resolution: {res:?}, {} points",
        s.history("m", Metric::Hashrate, month.0, month.1, res)
            .expect("q")
            .len()
    );
    g.bench_function("30-day chart (auto resolution), cold", |b| {
        b.iter(|| {
            bump += 1;
            s.history("m", Metric::Hashrate, month.0 + bump, month.1, res)
                .expect("query")
        })
    });
    g.bench_function("30-day chart at 5-minute rollups, cold", |b| {
        b.iter(|| {
            bump += 1;
            s.history(
                "m",
                Metric::Hashrate,
                month.0 + bump,
                month.1,
                Resolution::FiveMinutes,
            )
            .expect("query")
        })
    });
    g.finish();
    println!("history/cache: {:?}", s.cache_stats());
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

criterion_group!(benches, store_ops, storage);
criterion_main!(benches);
