//! Plugin runtime costs: component compile, instantiate from `InstancePre`, one guest call,
//! one guest->host call, a call through a plugin's instance pool, and a plugin's load at daemon
//! start from the precompiled cache. Run: `cargo bench -p solomon-tests --bench runtime`.

use criterion::{Criterion, criterion_group, criterion_main};
use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::runtime::bindings::driver::DriverPre;
use solomon_host::runtime::driver_types::{Probe, Target};
use solomon_host::runtime::{
    HostServices, PluginCtx, Runtime, RuntimeConfig, World, linker, new_engine,
};
use solomon_tests::{plugins, read};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::Component;

fn probe() -> Probe {
    Probe {
        target: Target {
            host: "10.0.0.1".into(),
            http_port: 80,
            rpc_port: 4028,
        },
        http_status: Some(200),
        http_headers: vec![],
        http_body: Some("<title>AxeOS</title>".into()),
        rpc_version: None,
        rpc_devdetails: None,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let axeos: Arc<[u8]> = BUILTIN_PLUGINS
        .iter()
        .find(|p| p.name == "driver-axeos")
        .expect("built in")
        .wasm
        .into();
    let hostile = read(plugins::HOSTILE);
    let engine = new_engine().expect("engine");
    let config = RuntimeConfig::default();
    let services = HostServices::default();
    let label: Arc<str> = Arc::from("bench@0");

    let mut g = c.benchmark_group("plugin");
    g.sample_size(10);
    g.bench_function("compile (Component::new, driver-axeos)", |b| {
        b.iter(|| Component::new(&engine, &*axeos).expect("compiles"))
    });
    g.finish();

    let linker = linker(&engine, World::Driver).expect("linker");
    let new_store = || {
        let mut store = Store::new(
            &engine,
            PluginCtx::new(label.clone(), "bench".into(), &config, &services),
        );
        // No ticker runs in this benchmark, so the epoch never passes this deadline.
        store.set_epoch_deadline(1);
        store
    };
    let pre_of = |bytes: &[u8]| {
        let component = Component::new(&engine, bytes).expect("compiles");
        DriverPre::new(linker.instantiate_pre(&component).expect("links")).expect("driver world")
    };
    let axeos_pre = pre_of(&axeos);
    let hostile_pre = pre_of(&hostile);

    let mut g = c.benchmark_group("plugin");
    g.bench_function("instantiate (new Store + InstancePre)", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let mut store = new_store();
                    axeos_pre
                        .instantiate_async(&mut store)
                        .await
                        .expect("instantiates");
                }
                start.elapsed()
            })
        })
    });

    let (mut store, driver) = rt.block_on(async {
        let mut store = new_store();
        let d = axeos_pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiates");
        (store, d)
    });
    let p = probe();
    g.bench_function("guest call (identify, raw Store)", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    driver
                        .solomon_plugin_miner_driver()
                        .call_identify(&mut store, &p)
                        .await
                        .expect("call");
                }
                start.elapsed()
            })
        })
    });

    let (mut hstore, hdriver) = rt.block_on(async {
        let mut store = new_store();
        let d = hostile_pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiates");
        (store, d)
    });
    const HOST_CALLS: u64 = 10_000;
    let calls_target = Target {
        host: format!("hostcalls-{HOST_CALLS}"),
        http_port: 80,
        rpc_port: 4028,
    };
    let empty_target = Target {
        host: "hostcalls-0".into(),
        http_port: 80,
        rpc_port: 4028,
    };
    g.bench_function("guest->host call (clock.now-ms)", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..n.div_ceil(HOST_CALLS).max(1) {
                    let base = Instant::now();
                    hdriver
                        .solomon_plugin_miner_driver()
                        .call_poll(&mut hstore, &empty_target)
                        .await
                        .expect("call")
                        .expect("ok");
                    let overhead = base.elapsed();
                    let start = Instant::now();
                    hdriver
                        .solomon_plugin_miner_driver()
                        .call_poll(&mut hstore, &calls_target)
                        .await
                        .expect("call")
                        .expect("ok");
                    total += start.elapsed().saturating_sub(overhead);
                }
                // Scale to the number of host calls criterion asked for.
                total.mul_f64(n as f64 / (n.div_ceil(HOST_CALLS).max(1) * HOST_CALLS) as f64)
            })
        })
    });

    let runtime = rt
        .block_on(async { Runtime::new(RuntimeConfig::default(), HostServices::default()) })
        .expect("runtime");
    let plugin = rt.block_on(runtime.load(axeos.clone())).expect("loads");
    g.bench_function("call through the instance pool (identify)", |b| {
        b.iter_custom(|n| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    plugin.identify(probe()).await.expect("call");
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    let cache = tempfile::tempdir().expect("tempdir");
    let cached = rt
        .block_on(async {
            Runtime::new(
                RuntimeConfig {
                    cache_dir: Some(cache.path().to_path_buf()),
                    ..Default::default()
                },
                HostServices::default(),
            )
        })
        .expect("runtime");
    rt.block_on(cached.load(axeos.clone()))
        .expect("warms the cache");
    let mut g = c.benchmark_group("plugin");
    g.sample_size(20);
    g.bench_function("load at daemon start (from precompiled cache)", |b| {
        b.iter(|| {
            let p = rt.block_on(cached.load(axeos.clone())).expect("loads");
            assert!(p.meta().from_cache);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
