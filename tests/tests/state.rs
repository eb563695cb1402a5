//! The shared state through its real path: the miner store under concurrent tasks, and sled
//! storage in temp dirs (history, rollups, retention, cache, transactions, plugin state).

use solomon_host::host_api::clock::FakeClock;
use solomon_host::host_api::plugin_state::StateBackend;
use solomon_host::host_api::store::StoreReader;
use solomon_host::runtime::record::to_wit_reading;
use solomon_host::runtime::rule_types::{Event, EventKind};
use solomon_host::runtime::{HostServices, Runtime};
use solomon_host::state::{MinerStore, StoreView};
use solomon_host::storage::{
    FIVE_MIN_MS, FlushPolicy, HOUR_MS, Metric, MinerConfig, Resolution, Storage, StorageConfig,
    StorageError,
};
use solomon_plugin_sdk::{Fields, MinerRecord, MinerState};
use solomon_tests::{plugins, read, test_config};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const T0: u64 = 1_800_000_000_000;
const DAY: u64 = 86_400_000;

fn record(id: &str, ts: u64, hashrate: f64) -> MinerRecord {
    MinerRecord {
        id: id.into(),
        make: "Bitaxe".into(),
        state: MinerState::Hashing,
        ts_ms: ts,
        hashrate_hs: Some(hashrate),
        temp_c: Some(50.0 + (ts / 10_000 % 10) as f64),
        shares_accepted: Some(ts / 10_000),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_lose_nothing_and_snapshots_never_tear() {
    let store = Arc::new(MinerStore::new());
    for i in 0..32 {
        store.set(MinerRecord {
            id: format!("m{i}"),
            shares_accepted: Some(0),
            shares_rejected: Some(0),
            ..Default::default()
        });
    }
    let updates = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let (store, updates) = (store.clone(), updates.clone());
        tasks.push(tokio::spawn(async move {
            let mut last_version = std::collections::HashMap::new();
            for n in 0..4_000u64 {
                let id = format!("m{}", (n * 7 + t) % 32);
                match n % 4 {
                    // Both fields move together in one update: a reader must never see them differ.
                    0 | 1 => {
                        store
                            .update(&id, |r| {
                                let next = r.shares_accepted.unwrap_or(0) + 1;
                                r.shares_accepted = Some(next);
                                r.shares_rejected = Some(next);
                            })
                            .expect("miners are never removed in this test");
                        updates.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        let s = store.get(&id).expect("present");
                        assert_eq!(
                            s.record.shares_accepted, s.record.shares_rejected,
                            "torn snapshot"
                        );
                        let prev = last_version.insert(id, s.version).unwrap_or(0);
                        assert!(s.version >= prev, "version went backwards");
                    }
                }
                if n % 256 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let total: u64 = store
        .list()
        .iter()
        .map(|s| s.record.shares_accepted.unwrap_or(0))
        .sum();
    assert_eq!(total, updates.load(Ordering::Relaxed), "no lost update");
    let versions: u64 = store.list().iter().map(|s| s.version - 1).sum();
    assert_eq!(versions, total, "one version per update");
    assert!(store.lock_stats().write_wait.count >= total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removes_race_with_updates_cleanly() {
    let store = Arc::new(MinerStore::new());
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..2_000u64 {
                let id = format!("m{}", n % 8);
                match (n + t) % 3 {
                    0 => {
                        store.set(MinerRecord {
                            id: id.clone(),
                            shares_accepted: Some(1),
                            shares_rejected: Some(1),
                            ..Default::default()
                        });
                    }
                    1 => {
                        let _ = store.update(&id, |r| {
                            r.shares_accepted = r.shares_accepted.map(|v| v + 1);
                            r.shares_rejected = r.shares_rejected.map(|v| v + 1);
                        });
                    }
                    _ => {
                        store.remove(&id);
                    }
                }
                if let Some(s) = store.get(&id) {
                    assert_eq!(s.record.shares_accepted, s.record.shares_rejected);
                    assert_eq!(s.record.id, id);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert!(store.len() <= 8);
}

fn storage(dir: &std::path::Path, clock: Arc<FakeClock>) -> Storage {
    let mut c = StorageConfig::new(dir);
    c.clock = clock;
    c.chunk_samples = 16;
    // Tests ingest one sample at a time; a short group-commit interval keeps them quick.
    c.flush = FlushPolicy::GroupCommit(std::time::Duration::from_millis(1));
    Storage::open(c).expect("opens")
}

#[tokio::test]
async fn history_spans_sealed_chunks_and_the_head_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(FakeClock::new(T0 + DAY));
    {
        let s = storage(dir.path(), clock.clone());
        for i in 0..40u64 {
            // 40 samples with a chunk size of 16: two sealed chunks and 8 in the head.
            s.ingest(&[
                record("a", T0 + i * 10_000, i as f64),
                record("b", T0 + i * 10_000, 1e12),
            ])
            .await
            .expect("ingest");
        }
        let pts = s
            .history("a", Metric::Hashrate, T0, T0 + DAY, Resolution::Raw)
            .expect("query");
        assert_eq!(pts.len(), 40);
        assert!(
            pts.iter()
                .enumerate()
                .all(|(i, p)| p.avg == i as f64 && p.ts_ms == T0 + i as u64 * 10_000)
        );
        let mid = s
            .history(
                "a",
                Metric::Hashrate,
                T0 + 95_000,
                T0 + 205_000,
                Resolution::Raw,
            )
            .expect("query");
        assert_eq!(
            mid.iter().map(|p| p.avg).collect::<Vec<_>>(),
            (10..=20).map(|i| i as f64).collect::<Vec<_>>()
        );
    }
    // Reopened: sealed chunks and the unsealed head (rebuilt from the log) are back, and only
    // the 8 ingest calls whose samples are unsealed are replayed into the head.
    let s = storage(dir.path(), clock);
    assert_eq!(
        s.live_wal_keys(),
        8,
        "sealed log entries are skipped at replay"
    );
    let pts = s
        .history("a", Metric::Hashrate, T0, T0 + DAY, Resolution::Raw)
        .expect("query");
    assert_eq!(pts.len(), 40);
    assert_eq!(s.samples("b", 0, u64::MAX).expect("samples").len(), 40);
    assert!(
        s.history("nobody", Metric::Temp, 0, u64::MAX, Resolution::Raw)
            .expect("query")
            .is_empty()
    );
}

#[tokio::test]
async fn rollups_outlive_raw_data_and_answer_long_ranges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(FakeClock::new(T0));
    let s = storage(dir.path(), clock.clone());
    // Two hours of samples every 10 s: hashrate 100 in the first hour, 300 in the second.
    for i in 0..720u64 {
        let ts = T0 + i * 10_000;
        s.ingest(&[record(
            "a",
            ts,
            if ts < T0 + HOUR_MS { 100.0 } else { 300.0 },
        )])
        .await
        .expect("ingest");
    }
    let minutes = s
        .history(
            "a",
            Metric::Hashrate,
            T0,
            T0 + 2 * HOUR_MS,
            Resolution::FiveMinutes,
        )
        .expect("query");
    assert_eq!(
        minutes.len(),
        24,
        "one point per 5 minutes, boundary-split buckets merged"
    );
    assert!(
        minutes
            .iter()
            .all(|p| p.min == p.max && (p.avg == 100.0 || p.avg == 300.0))
    );
    let hours = s
        .history(
            "a",
            Metric::Hashrate,
            T0,
            T0 + 2 * HOUR_MS,
            Resolution::Hour,
        )
        .expect("query");
    assert_eq!(
        hours.iter().map(|p| (p.ts_ms, p.avg)).collect::<Vec<_>>(),
        vec![(T0, 100.0), (T0 + HOUR_MS, 300.0)]
    );

    // 8 days later raw data is past its 7-day retention; the rollups remain.
    clock.set(T0 + 8 * DAY);
    let pruned = s.prune().expect("prune");
    assert!(
        pruned.chunks > 0 && pruned.minute == 0 && pruned.hour == 0,
        "{pruned:?}"
    );
    let raw = s
        .history("a", Metric::Hashrate, T0, T0 + 2 * HOUR_MS, Resolution::Raw)
        .expect("query");
    assert!(
        raw.is_empty(),
        "raw chunks expired ({} points left)",
        raw.len()
    );
    assert_eq!(
        s.resolution_for(T0, T0 + 2 * HOUR_MS, None),
        Resolution::FiveMinutes,
        "past raw retention, queries use rollups"
    );
    let hours = s
        .history(
            "a",
            Metric::Hashrate,
            T0,
            T0 + 2 * HOUR_MS,
            Resolution::Hour,
        )
        .expect("query");
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0].avg, 100.0);

    // After 31 days 5-minute rollups go too; hourly ones answer a 30-day chart.
    clock.set(T0 + 31 * DAY);
    let pruned = s.prune().expect("prune");
    assert!(pruned.minute > 0 && pruned.hour == 0, "{pruned:?}");
    assert_eq!(s.resolution_for(T0, T0 + 31 * DAY, None), Resolution::Hour);
    assert_eq!(
        s.history("a", Metric::Hashrate, T0, T0 + 31 * DAY, Resolution::Hour)
            .expect("query")
            .len(),
        2
    );
    assert_eq!(
        s.resolution_for(T0 + 31 * DAY - HOUR_MS, T0 + 31 * DAY, None),
        Resolution::Raw
    );
    assert_eq!(
        s.resolution_for(T0 + 30 * DAY, T0 + 31 * DAY, Some(FIVE_MIN_MS)),
        Resolution::FiveMinutes
    );
}

/// Retention also merges each hour's small chunks into one, an hour after it ended: history
/// reads the same before, after and across a reopen.
#[tokio::test]
async fn merging_an_hours_chunks_changes_no_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(FakeClock::new(T0));
    // As in a big fleet, the head budget seals chunks far short of 16 samples: 6 here.
    let open = |clock: Arc<FakeClock>| {
        let mut c = StorageConfig::new(dir.path());
        c.clock = clock;
        c.chunk_samples = 16;
        c.max_head_samples = 5;
        c.flush = FlushPolicy::GroupCommit(std::time::Duration::from_millis(1));
        Storage::open(c).expect("opens")
    };
    let s = open(clock.clone());
    // Three hours a minute apart: 10 chunks an hour, and nothing left in the head.
    for i in 0..180u64 {
        clock.set(T0 + i * 60_000);
        s.ingest(&[record("a", T0 + i * 60_000, (i * 13 % 17) as f64)])
            .await
            .expect("ingest");
    }
    let read = |s: &Storage, res| {
        s.history(
            "a",
            Metric::Hashrate,
            T0 + 7 * 60_000,
            T0 + 3 * HOUR_MS,
            res,
        )
        .expect("query")
        .iter()
        .map(|p| (p.ts_ms, p.min, p.avg, p.max))
        .collect::<Vec<_>>()
    };
    let raw = read(&s, Resolution::Raw);
    let five = read(&s, Resolution::FiveMinutes);
    assert_eq!((raw.len(), five.len()), (173, 35));
    let unchanged = |s: &Storage, when: &str| {
        assert_eq!(read(s, Resolution::Raw), raw, "{when}");
        assert_eq!(read(s, Resolution::FiveMinutes), five, "{when}");
    };
    clock.set(T0 + 3 * HOUR_MS + 59 * 60_000);
    let pruned = s.prune().expect("prune");
    // Hours 1 and 2 hold 20 chunks; hour 3 ended under an hour ago.
    assert_eq!((pruned.compacted, pruned.chunks), (20, 0), "{pruned:?}");
    unchanged(&s, "two hours merged");
    clock.set(T0 + 4 * HOUR_MS);
    assert_eq!(s.prune().expect("prune").compacted, 10, "hour 3's");
    unchanged(&s, "three hours merged");
    drop(s);
    let s = open(clock.clone());
    unchanged(&s, "reopened");
    assert_eq!(s.prune().expect("prune").compacted, 0, "done once");

    // Past raw retention, the merged hours are rolled up like chunks: the same 5-minute rows
    // (averages stored as f32).
    clock.set(T0 + 9 * DAY);
    let pruned = s.prune().expect("prune");
    assert_eq!((pruned.chunks, pruned.compacted), (3, 0), "{pruned:?}");
    let rolled = read(&s, Resolution::FiveMinutes);
    assert_eq!(rolled.len(), five.len());
    for (r, f) in rolled.iter().zip(&five) {
        assert!(
            r.0 == f.0 && r.1 == f.1 && r.3 == f.3 && (r.2 - f.2).abs() < 1e-5,
            "rolled up {r:?}, before {f:?}"
        );
    }
    assert!(read(&s, Resolution::Raw).is_empty(), "no raw samples left");
}

/// Chunks of 16 samples at 10 s span 160 s: several seal into one 5-minute bucket, and many
/// into one hour. Every sample must count in the rollups, first aggregated from raw chunks,
/// then from the blocks the day was rolled up into once raw retention passed, and after reopen.
#[tokio::test]
async fn rollups_count_every_sample_before_and_after_their_day_is_rolled_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(FakeClock::new(T0 + DAY));
    let s = storage(dir.path(), clock.clone());
    let hashrate = |i: u64| (i * 7 % 50) as f64;
    for i in 0..360u64 {
        s.ingest(&[record("a", T0 + i * 10_000, hashrate(i))])
            .await
            .expect("ingest");
    }
    let check = |s: &Storage, when: &str| {
        for (res, bucket) in [
            (Resolution::FiveMinutes, FIVE_MIN_MS),
            (Resolution::Hour, HOUR_MS),
        ] {
            let points = s
                .history("a", Metric::Hashrate, T0, T0 + HOUR_MS - 1, res)
                .expect("query");
            let expected: Vec<(u64, f64, f64, f64)> = (0..HOUR_MS / bucket)
                .map(|b| {
                    let v: Vec<f64> = (b * bucket / 10_000..(b + 1) * bucket / 10_000)
                        .map(hashrate)
                        .collect();
                    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    (
                        T0 + b * bucket,
                        min,
                        v.iter().sum::<f64>() / v.len() as f64,
                        max,
                    )
                })
                .collect();
            let got: Vec<(u64, f64, f64, f64)> = points
                .iter()
                .map(|p| (p.ts_ms, p.min, p.avg, p.max))
                .collect();
            assert_eq!(got.len(), expected.len(), "{when}, {res:?}");
            // Rolled-up averages are stored as f32.
            for (g, e) in got.iter().zip(&expected) {
                assert!(
                    g.0 == e.0
                        && g.1 == e.1
                        && g.3 == e.3
                        && (g.2 - e.2).abs() < 1e-6 * e.2.abs().max(1.0),
                    "{when}, {res:?}: got {g:?}, expected {e:?}"
                );
            }
        }
    };
    check(&s, "raw");
    assert_eq!(
        s.prune().expect("prune").compacted,
        0,
        "full chunks are not rewritten into hour blocks"
    );
    clock.set(T0 + 9 * DAY);
    let pruned = s.prune().expect("prune");
    assert!(pruned.chunks >= 22, "{pruned:?}");
    // Rolled up and deleted, but for the last 8 samples: never sealed into a 16-sample chunk,
    // they are still in memory and in the write-ahead log.
    assert_eq!(
        s.history("a", Metric::Hashrate, T0, T0 + DAY, Resolution::Raw)
            .expect("query")
            .len(),
        8
    );
    check(&s, "rolled up");
    drop(s);
    check(&storage(dir.path(), clock), "reopened");
}

/// A chunk that crosses the day boundary being rolled up keeps its newer samples raw.
#[tokio::test]
async fn rolling_up_a_day_keeps_the_newer_part_of_a_chunk_that_crosses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(FakeClock::new(T0));
    let s = storage(dir.path(), clock.clone());
    // T0 is 08:00 UTC: 16 samples a minute apart around the next midnight, one chunk.
    let midnight = T0 + 16 * HOUR_MS;
    for i in 0..16u64 {
        s.ingest(&[record("a", midnight - 8 * 60_000 + i * 60_000, i as f64)])
            .await
            .expect("ingest");
    }
    let five_min = |s: &Storage| {
        s.history(
            "a",
            Metric::Hashrate,
            midnight - HOUR_MS,
            midnight + HOUR_MS,
            Resolution::FiveMinutes,
        )
        .expect("query")
        .iter()
        .map(|p| (p.ts_ms, p.min, p.max))
        .collect::<Vec<_>>()
    };
    let before = five_min(&s);
    assert_eq!(before.len(), 4, "{before:?}");
    // Raw retention (7 days) reaches just past that midnight: the day before it is rolled up.
    clock.set(midnight + 7 * DAY + HOUR_MS);
    assert_eq!(s.prune().expect("prune").chunks, 1);
    let raw: Vec<f64> = s
        .history("a", Metric::Hashrate, 0, u64::MAX, Resolution::Raw)
        .expect("query")
        .iter()
        .map(|p| p.avg)
        .collect();
    assert_eq!(raw, (8..16).map(|i| i as f64).collect::<Vec<_>>());
    assert_eq!(
        five_min(&s),
        before,
        "the same rows, half rolled up, half raw"
    );
}

#[tokio::test]
async fn cached_ranges_stay_until_samples_land_in_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = storage(dir.path(), Arc::new(FakeClock::new(T0)));
    for i in 0..10u64 {
        s.ingest(&[record("a", T0 + i * 10_000, i as f64)])
            .await
            .expect("ingest");
    }
    let closed = (T0, T0 + 50_000);
    let open = (T0, T0 + DAY);
    let q = |r: (u64, u64)| {
        s.history("a", Metric::Hashrate, r.0, r.1, Resolution::Raw)
            .expect("query")
    };
    assert_eq!(q(closed).len(), 6);
    assert_eq!(q(open).len(), 10);
    assert_eq!(q(closed).len(), 6);
    assert_eq!(q(open).len(), 10);
    let st = s.cache_stats();
    assert_eq!((st.misses, st.hits), (2, 2), "{st:?}");
    // A new sample lands in the open range only.
    s.ingest(&[record("a", T0 + 100_000, 10.0)])
        .await
        .expect("ingest");
    assert_eq!(q(open).len(), 11, "the open range sees the new sample");
    assert_eq!(q(closed).len(), 6);
    let st = s.cache_stats();
    assert_eq!((st.invalidations, st.hits), (1, 3), "{st:?}");
    // A late sample inside the closed range invalidates it too.
    s.ingest(&[record("a", T0 + 45_000, 99.0)])
        .await
        .expect("ingest");
    assert_eq!(q(closed).len(), 7);
}

#[tokio::test]
async fn a_rules_history_reads_bypass_the_query_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Arc::new(storage(dir.path(), Arc::new(FakeClock::new(T0))));
    for i in 0..10u64 {
        s.ingest(&[record("a", T0 + i * 10_000, i as f64)])
            .await
            .expect("ingest");
    }
    let view = StoreView::new(Arc::new(MinerStore::new()), s.clone());
    for _ in 0..3 {
        let points = view.history("a", "hashrate_hs", T0, T0 + 3_600_000, 720);
        assert_eq!(points.len(), 10);
        assert_eq!(points[9], (T0 + 90_000, 9.0));
    }
    // A rule's range ends at its own `now`, so it never repeats: caching it only evicted the
    // dashboard's entries.
    let st = s.cache_stats();
    assert_eq!((st.misses, st.hits, st.entries), (0, 0, 0), "{st:?}");
}

#[tokio::test]
async fn a_failing_multi_key_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = storage(dir.path(), Arc::new(FakeClock::new(T0)));
    let ok = |id: &str| MinerConfig {
        id: id.into(),
        host: "10.0.0.1".into(),
        http_port: 80,
        rpc_port: 4028,
        driver: None,
        name: None,
        labels: Default::default(),
    };
    let mut bad = ok("c");
    bad.host = "not a host/".into();
    // The third write fails after the first two were written inside the transaction.
    match s.miners().put_all(&[ok("a"), ok("b"), bad]) {
        Err(StorageError::Invalid(msg)) => assert!(msg.contains("not an address"), "{msg}"),
        other => panic!("expected the batch to be refused, got {other:?}"),
    }
    assert!(s.miners().list().expect("list").is_empty(), "rolled back");
    s.miners()
        .put_all(&[ok("a"), ok("b")])
        .expect("valid batch");
    drop(s);
    let s = storage(dir.path(), Arc::new(FakeClock::new(T0)));
    assert_eq!(
        s.miners()
            .list()
            .expect("list")
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
}

#[tokio::test]
async fn rule_state_and_history_reads_go_through_sled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let event = |temp: f64| {
        let r = MinerRecord {
            id: "m1".into(),
            temp_c: Some(temp),
            ..Default::default()
        };
        Event {
            miner_id: "m1".into(),
            kind: EventKind::Sample,
            previous: None,
            current: Some(to_wit_reading(&r, Fields::ALL)),
            ts_ms: 0,
        }
    };
    for (round, expect_firing) in [(0, false), (1, true)] {
        // Each round is a daemon start: storage reopened, a new runtime, the rule loaded anew.
        let s = Arc::new(storage(dir.path(), Arc::new(FakeClock::new(T0))));
        let store = Arc::new(MinerStore::new());
        let services = HostServices {
            state: s.plugin_state(),
            store: Arc::new(StoreView::new(store.clone(), s.clone())),
            ..Default::default()
        };
        let runtime = Runtime::new(test_config(), services).expect("runtime");
        let rule = runtime
            .load(read(plugins::RULE_HOT_CHIP))
            .await
            .expect("loads");
        let alerts = rule
            .evaluate_one(event(80.0), r#"{"samples": 2}"#)
            .await
            .expect("no trap")
            .expect("ok")
            .alerts;
        assert_eq!(
            alerts[0].firing, expect_firing,
            "round {round}: the streak persists across restarts"
        );
        s.flush().expect("flush");
        assert_eq!(
            s.plugin_state()
                .get("rule-hot-chip", "hot/m1")
                .expect("read"),
            Some(format!("{}", round + 1).into_bytes())
        );
        // Unloading the rule and the runtime releases the database (its instances end once
        // their queue closes), as a daemon shutdown must.
        drop(rule);
        drop(runtime);
        for _ in 0..500 {
            if Arc::strong_count(&s) == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(
            Arc::strong_count(&s),
            1,
            "plugin instances still hold the storage"
        );
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("sled");
        db.open_tree("meta")
            .expect("tree")
            .insert("schema_version", &99u32.to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }
    match Storage::open(StorageConfig::new(dir.path())) {
        Err(StorageError::SchemaTooNew { found: 99, .. }) => {}
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a newer schema"),
    }
}

#[tokio::test]
async fn a_schema_1_database_is_migrated_at_open_and_keeps_its_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(FakeClock::new(T0 + DAY));
    {
        let s = storage(dir.path(), clock.clone());
        for i in 0..40u64 {
            s.ingest(&[record("a", T0 + i * 10_000, i as f64)])
                .await
                .expect("ingest");
        }
    }
    let schema = |v: Option<u32>| {
        let db = sled::open(dir.path()).expect("sled");
        let meta = db.open_tree("meta").expect("tree");
        if let Some(v) = v {
            meta.insert("schema_version", &v.to_be_bytes())
                .expect("insert");
            db.flush().expect("flush");
        }
        let found = meta.get("schema_version").expect("read").expect("set");
        u32::from_be_bytes(found.as_ref().try_into().expect("4 bytes"))
    };
    assert_eq!(schema(Some(1)), 1);
    let s = storage(dir.path(), clock);
    let raw = s
        .history("a", Metric::Hashrate, 0, u64::MAX, Resolution::Raw)
        .expect("query");
    assert_eq!(raw.len(), 40);
    let hour = s
        .history("a", Metric::Hashrate, 0, u64::MAX, Resolution::Hour)
        .expect("query");
    assert_eq!(hour.len(), 1);
    assert_eq!((hour[0].min, hour[0].max), (0.0, 39.0));
    drop(s);
    assert_eq!(schema(None), solomon_host::storage::SCHEMA_VERSION);
}

#[tokio::test]
async fn a_big_fleet_stays_within_the_head_memory_budget_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        let mut c = StorageConfig::new(dir.path());
        c.chunk_samples = 128;
        c.max_head_samples = 300;
        c.flush = FlushPolicy::GroupCommit(std::time::Duration::from_millis(1));
        c.clock = Arc::new(FakeClock::new(T0 + DAY));
        Storage::open(c).expect("opens")
    };
    let s = open();
    // 100 miners x 20 polls: 2,000 samples against a budget of 300.
    for i in 0..20u64 {
        let batch: Vec<_> = (0..100)
            .map(|m| record(&format!("m{m}"), T0 + i * 5_000, (m * 100 + i) as f64))
            .collect();
        s.ingest(&batch).await.expect("ingest");
        assert!(s.head_samples() <= 300, "head holds {}", s.head_samples());
        // Only the fullest heads are sealed, just enough to fit: the fleet does not seal in
        // lockstep, emptying the head at once.
        if i >= 3 {
            assert!(
                s.head_samples() >= 200,
                "head emptied to {}",
                s.head_samples()
            );
        }
    }
    let check = |s: &Storage| {
        for m in [0u64, 57, 99] {
            let pts = s
                .history(
                    &format!("m{m}"),
                    Metric::Hashrate,
                    0,
                    u64::MAX,
                    Resolution::Raw,
                )
                .expect("query");
            let want: Vec<f64> = (0..20).map(|i| (m * 100 + i) as f64).collect();
            assert_eq!(pts.iter().map(|p| p.avg).collect::<Vec<_>>(), want, "m{m}");
        }
    };
    check(&s);
    drop(s);
    let s = open();
    assert!(s.head_samples() <= 300);
    check(&s);
}

#[tokio::test]
async fn an_idle_miner_does_not_pin_the_write_ahead_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || {
        let mut c = StorageConfig::new(dir.path());
        c.chunk_samples = 16;
        c.max_live_wal = 4;
        c.flush = FlushPolicy::GroupCommit(std::time::Duration::from_millis(1));
        c.clock = Arc::new(FakeClock::new(T0));
        Storage::open(c).expect("opens")
    };
    let s = open();
    s.ingest(&[record("idle", T0, 7.0)]).await.expect("ingest");
    for i in 1..=40u64 {
        s.ingest(&[record("busy", T0 + i * 10_000, i as f64)])
            .await
            .expect("ingest");
        assert!(
            s.live_wal_keys() <= 4,
            "checkpoint keeps the write-ahead keys bounded ({})",
            s.live_wal_keys()
        );
    }
    // The idle miner's lone sample was sealed by a checkpoint, not lost.
    assert_eq!(
        s.history("idle", Metric::Hashrate, 0, u64::MAX, Resolution::Raw)
            .expect("query")
            .len(),
        1
    );
    // The same time written twice keeps the newer value.
    s.ingest(&[record("busy", T0 + 40 * 10_000, 99.0)])
        .await
        .expect("ingest");
    drop(s);
    let s = open();
    let busy = s
        .history("busy", Metric::Hashrate, 0, u64::MAX, Resolution::Raw)
        .expect("query");
    assert_eq!(busy.len(), 40);
    assert_eq!(busy.last().map(|p| p.avg), Some(99.0));
    assert_eq!(
        s.history("idle", Metric::Hashrate, 0, u64::MAX, Resolution::Raw)
            .expect("query")
            .len(),
        1
    );
}

#[tokio::test]
async fn alert_state_and_its_history_are_stored_together_and_survive_reopen() {
    use solomon_host::storage::{AlertEvent, AlertState};
    let dir = tempfile::tempdir().expect("tempdir");
    let state = |firing: bool, ts: u64| AlertState {
        rule: "rule-hot-chip".into(),
        miner: "m1".into(),
        key: "chip".into(),
        severity: "warning".into(),
        message: format!("at {ts}"),
        firing,
        since_ms: T0,
        updated_ms: ts,
        acked_by: None,
    };
    {
        let s = storage(dir.path(), Arc::new(FakeClock::new(T0)));
        s.alerts()
            .record(
                &AlertEvent {
                    ts_ms: T0,
                    kind: "fired".into(),
                    alert: state(true, T0),
                },
                &[],
            )
            .expect("fired");
        s.alerts()
            .record(
                &AlertEvent {
                    ts_ms: T0,
                    kind: "acknowledged".into(),
                    alert: AlertState {
                        acked_by: Some("ops".into()),
                        ..state(true, T0)
                    },
                },
                &[],
            )
            .expect("acked");
        s.alerts()
            .record(
                &AlertEvent {
                    ts_ms: T0 + 60_000,
                    kind: "resolved".into(),
                    alert: state(false, T0 + 60_000),
                },
                &[],
            )
            .expect("resolved");
        s.alerts().flush().expect("flush");
    }
    let s = storage(dir.path(), Arc::new(FakeClock::new(T0)));
    let now = s
        .alerts()
        .get("rule-hot-chip", "m1", "chip")
        .expect("read")
        .expect("present");
    assert!(!now.firing);
    assert_eq!(s.alerts().all().expect("all").len(), 1);
    let events = s.alerts().history(0, u64::MAX, 10, None).expect("history");
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["fired", "acknowledged", "resolved"],
        "two events in one ms keep their order"
    );
    assert_eq!(
        s.alerts()
            .history(T0 + 1, u64::MAX, 10, None)
            .expect("history")
            .len(),
        1
    );
    let of = |m: &str| {
        s.alerts()
            .history(0, u64::MAX, 10, Some(m))
            .expect("history")
            .len()
    };
    assert_eq!((of("m1"), of("m2")), (3, 0), "filtered by miner");
    assert!(
        s.alerts()
            .get("rule-hot-chip", "m2", "chip")
            .expect("read")
            .is_none()
    );
}

#[test]
fn a_database_in_use_is_reported_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = Storage::open(StorageConfig::new(dir.path())).expect("first open");
    match Storage::open(StorageConfig::new(dir.path())) {
        Err(e @ StorageError::Locked(_)) => {
            assert!(e.to_string().contains("in use by another process"), "{e}")
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a database that is in use"),
    }
}
