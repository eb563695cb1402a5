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
use solomon_plugin_sdk::{MinerRecord, MinerState};
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
                    let snap = store.set(MinerRecord {
                        id: format!("m{}", n % 100),
                        make: "Bitaxe".into(),
                        state: MinerState::Hashing,
                        temp_c: Some(60.0 + (n % 20) as f64),
                        hashrate_hs: Some(1.2e12),
                        best_diff: Some(n as f64),
                        ts_ms: n,
                        ..Default::default()
                    });
                    let ev = RuleEvent {
                        miner: snap.record.id.clone(),
                        kind: RuleEventKind::Sample,
                        previous: None,
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
    eprintln!("{evals} rule evaluations in all");
}

criterion_group!(benches, bench);
criterion_main!(benches);
