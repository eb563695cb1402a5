//! The alert engine's throughput: one poll event fanned out to 10 compiled rule plugins (the
//! nine shipped rules, and the first again), through the engine's queue, the WASM calls and
//! the alert lifecycle against a sled database in a temp dir. Run:
//! `cargo bench -p solomon-tests --bench rules`.

use criterion::{Criterion, criterion_group, criterion_main};
use solomon_host::alerts::{AlertConfig, AlertEngine, RuleEvent, RuleEventKind};
use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::hub::Hub;
use solomon_host::registry::PluginSet;
use solomon_host::runtime::{HostServices, Runtime, RuntimeConfig, World};
use solomon_host::state::MinerStore;
use solomon_host::storage::{Storage, StorageConfig};
use solomon_plugin_sdk::{Fan, MinerRecord, MinerState, Pool};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Arc::new(Storage::open(StorageConfig::new(dir.path())).expect("storage"));
    let (engine, store) = rt.block_on(async {
        let services = HostServices {
            state: storage.plugin_state(),
            ..Default::default()
        };
        let runtime = Runtime::new(RuntimeConfig::default(), services).expect("runtime");
        // Every shipped rule, then again from the first, up to 10.
        let mut rules = Vec::new();
        let shipped = BUILTIN_PLUGINS
            .iter()
            .cycle()
            .take(4 * BUILTIN_PLUGINS.len());
        for p in shipped {
            if rules.len() == 10 {
                break;
            }
            let plugin = runtime.load(p.wasm.into()).await.expect("loads");
            if plugin.meta().world == World::AlertRule {
                rules.push(Arc::new(plugin));
            }
        }
        assert_eq!(rules.len(), 10, "ten rule instances");
        let hub = Arc::new(Hub::new(1024));
        let rules = Arc::new(PluginSet::new(rules, Vec::new()));
        let engine = AlertEngine::start(rules, storage.clone(), hub, AlertConfig::default());
        (engine, Arc::new(MinerStore::new()))
    });
    let mut n = 0u64;
    let mut g = c.benchmark_group("alerts");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    // One iteration is 100 events: the waiter's 1 ms timer granularity must not show.
    g.throughput(criterion::Throughput::Elements(1000));
    g.bench_function("100 poll events, each fanned to 10 rules", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let tx = engine.sender();
                let before = engine.stats().evaluations.load(Ordering::Relaxed);
                let start = Instant::now();
                for _ in 0..iters * 100 {
                    n += 1;
                    // A record as full as a Bitaxe's, with the miner's previous one, as the
                    // daemon sends them: both are lowered into every rule.
                    let previous = store.get(&format!("m{}", n % 100));
                    let snap = store.set(MinerRecord {
                        id: format!("m{}", n % 100),
                        host: format!("10.0.0.{}", n % 100),
                        make: "Bitaxe".into(),
                        model: Some("Gamma".into()),
                        chip: Some("BM1370".into()),
                        firmware: Some("AxeOS".into()),
                        firmware_version: Some("v2.12.0".into()),
                        driver: "driver-axeos@0.1.0".into(),
                        state: MinerState::Hashing,
                        temp_c: Some(60.0 + (n % 20) as f64),
                        vr_temp_c: Some(68.0),
                        power_w: Some(18.2),
                        hashrate_hs: Some(1.2e12),
                        expected_hashrate_hs: Some(1.22e12),
                        efficiency_j_th: Some(15.1),
                        core_voltage_mv: Some(1150.0),
                        frequency_mhz: Some(525.0),
                        fans: vec![Fan {
                            index: 0,
                            rpm: Some(4400.0),
                            pct: Some(42.0),
                        }],
                        shares_accepted: Some(1000 + n),
                        shares_rejected: Some(2),
                        best_diff: Some(n as f64),
                        best_session_diff: Some(n as f64 / 10.0),
                        pool_difficulty: Some(1000.0),
                        network_difficulty: Some(1.48e14),
                        uptime_s: Some(3600 + n),
                        pools: vec![Pool {
                            index: 0,
                            url: "stratum+tcp://solo.ckpool.org:3333".into(),
                            user: Some("bc1qsyz6ehyjqzfs478un8vyks9l3mfwn26alqh6fs.bitaxe".into()),
                            active: Some(true),
                            accepted: Some(1000 + n),
                            rejected: Some(2),
                            ..Default::default()
                        }],
                        ts_ms: n,
                        ..Default::default()
                    });
                    let ev = RuleEvent {
                        miner: snap.record.id.clone(),
                        kind: RuleEventKind::Sample,
                        previous,
                        current: Some(snap),
                        ts_ms: n,
                    };
                    tx.send(ev).await.expect("engine running");
                }
                let want = before + iters * 100 * 10;
                // Sleep-poll: a spinning waiter would take a core from the engine.
                while engine.stats().evaluations.load(Ordering::Relaxed) < want {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                start.elapsed()
            })
        })
    });
    g.finish();
    let evals = engine.stats().evaluations.load(Ordering::Relaxed);
    let failed = engine.stats().failures.load(Ordering::Relaxed);
    eprintln!("{evals} rule evaluations in all, {failed} of them failed");
    // A failing rule returns fast: figures with failures would flatter the engine.
    assert_eq!(failed, 0, "rules failed during the benchmark");
}

criterion_group!(benches, bench);
criterion_main!(benches);
