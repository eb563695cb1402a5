//! Hot-swap latency: from writing a rule file into a watched folder to the new version in
//! service, including the debounce and a full compile (no compile cache), alternating two
//! versions of a rule. Run: `cargo bench -p solomon-tests --bench reload`.

use criterion::{Criterion, criterion_group, criterion_main};
use solomon_host::registry::{DEFAULT_DEBOUNCE, PluginSet, Reloader};
use solomon_host::runtime::{HostServices, Runtime, RuntimeConfig};
use solomon_tests::{plugins, read};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("rule-count.wasm");
    let versions = [
        (read(plugins::RULE_COUNT_V1), "1.0.0"),
        (read(plugins::RULE_COUNT_V2), "2.0.0"),
    ];
    let set = Arc::new(PluginSet::new(Vec::new(), Vec::new()));
    let _reloader = rt.block_on(async {
        let runtime =
            Runtime::new(RuntimeConfig::default(), HostServices::default()).expect("runtime");
        Reloader::start(
            runtime,
            set.clone(),
            &[folder.path().to_path_buf()],
            DEFAULT_DEBOUNCE,
        )
        .expect("watch")
    });
    let version = |set: &PluginSet| {
        set.rules()
            .first()
            .map(|p| p.meta().version.clone())
            .unwrap_or_default()
    };
    let mut next = 0usize;
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("write to new version in service", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (bytes, want) = &versions[next % 2];
                next += 1;
                let start = Instant::now();
                std::fs::write(&file, bytes).expect("write");
                while version(&set) != *want {
                    assert!(start.elapsed() < Duration::from_secs(10), "never swapped");
                    std::thread::sleep(Duration::from_micros(200));
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
