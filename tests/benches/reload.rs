//! Hot-swap latency: from writing a rule file into a watched folder to the new version in
//! service, including the debounce and a full compile (no compile cache), alternating two
//! rules written to one file: a small test rule, and shipped rules of typical size. Run: `cargo bench -p solomon-tests --bench reload`.

use criterion::{Criterion, criterion_group, criterion_main};
use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::registry::{DEFAULT_DEBOUNCE, PluginSet, Reloader};
use solomon_host::runtime::{HostServices, Runtime, RuntimeConfig};
use solomon_tests::{plugins, read};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A case's name and the two (file, `name@version`) written in turn.
type Case = (&'static str, [(Arc<[u8]>, &'static str); 2]);

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let folder = tempfile::tempdir().expect("tempdir");
    let file = folder.path().join("rule-count.wasm");
    // Pairs of files written in turn to the same path, told apart by plugin name@version: a
    // small test rule (150 KB), and two shipped rules of typical size (about 340 KB).
    let builtin = |name: &str| -> Arc<[u8]> {
        BUILTIN_PLUGINS
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.wasm.into())
            .unwrap_or_else(|| panic!("built-in {name}"))
    };
    let cases: [Case; 2] = [
        (
            "150 KB rule",
            [
                (read(plugins::RULE_COUNT_V1), "rule-count@1.0.0"),
                (read(plugins::RULE_COUNT_V2), "rule-count@2.0.0"),
            ],
        ),
        (
            "340 KB rule",
            [
                (builtin("rule-hashrate-drop"), "rule-hashrate-drop@0.1.0"),
                (builtin("rule-new-best"), "rule-new-best@0.1.0"),
            ],
        ),
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
    let label = |set: &PluginSet| {
        set.rules()
            .first()
            .map(|p| p.meta().label())
            .unwrap_or_default()
    };
    let mut next = 0usize;
    let mut group = c.benchmark_group("reload");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (name, files) in &cases {
        group.bench_function(format!("write to new version in service, {name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (bytes, want) = &files[next % 2];
                    next += 1;
                    let start = Instant::now();
                    std::fs::write(&file, bytes).expect("write");
                    while label(&set) != *want {
                        assert!(start.elapsed() < Duration::from_secs(10), "never swapped");
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    total += start.elapsed();
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
