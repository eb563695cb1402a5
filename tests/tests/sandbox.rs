//! Hostile plugins are stopped with a clear error while the host keeps serving other plugins,
//! and the hostile one is restarted with backoff. Real compiled components, no mocks.

use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::runtime::driver_types::{PollError, Probe, Target};
use solomon_host::runtime::{CallError, HostServices, Plugin, Runtime, RuntimeConfig, TrapKind};
use solomon_plugin_sdk::MinerRecord;
use solomon_tests::{plugins, read, test_config};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn target(mode: &str) -> Target {
    Target {
        host: mode.to_string(),
        http_port: 80,
        rpc_port: 4028,
    }
}

fn probe() -> Probe {
    Probe {
        target: target("10.0.0.1"),
        http_status: Some(200),
        http_headers: vec![],
        http_body: Some("<title>AxeOS</title>".into()),
        rpc_version: None,
        rpc_devdetails: None,
    }
}

/// One instance per plugin, so the restart backoff of the failed instance is observable.
async fn setup() -> (Runtime, Arc<Plugin>, Arc<Plugin>) {
    setup_with(1).await
}

async fn setup_with(instances: usize) -> (Runtime, Arc<Plugin>, Arc<Plugin>) {
    let config = RuntimeConfig {
        instances_per_plugin: instances,
        instances_per_driver: instances,
        ..test_config()
    };
    let runtime = Runtime::new(config, HostServices::default()).expect("runtime");
    let hostile = runtime
        .load(read(plugins::HOSTILE))
        .await
        .expect("hostile plugin loads");
    let axeos = BUILTIN_PLUGINS
        .iter()
        .find(|p| p.name == "driver-axeos")
        .expect("driver-axeos is built in");
    let healthy = runtime.load(axeos.wasm.into()).await.expect("axeos loads");
    (runtime, Arc::new(hostile), Arc::new(healthy))
}

async fn assert_healthy(healthy: &Plugin) {
    let id = healthy
        .identify(probe())
        .await
        .expect("healthy plugin answers")
        .expect("identifies AxeOS");
    assert_eq!(id.make, "Bitaxe");
}

fn trapped(result: Result<Result<MinerRecord, PollError>, CallError>) -> (TrapKind, String) {
    match result {
        Err(CallError::Trapped {
            kind,
            message,
            plugin,
        }) => {
            assert_eq!(
                plugin, "test-hostile@0.1.0",
                "errors name the plugin and its version"
            );
            (kind, message)
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// After a failure the hostile plugin refuses calls during its backoff, then comes back.
async fn assert_restarts_with_backoff(hostile: &Plugin) {
    match hostile.poll(target("ok")).await {
        Err(CallError::Restarting { retry_in, .. }) => {
            assert!(retry_in <= Duration::from_millis(200))
        }
        other => panic!("expected the backoff to refuse the call, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    let record = hostile
        .poll(target("ok"))
        .await
        .expect("restarted")
        .expect("poll ok");
    assert_eq!(record.make, "Hostile");
    let stats = hostile.stats();
    assert_eq!((stats.traps, stats.restarts), (1, 1), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loop_is_interrupted_while_others_keep_working() {
    let (_rt, hostile, healthy) = setup().await;
    let started = Instant::now();
    let looping = tokio::spawn({
        let hostile = hostile.clone();
        async move { hostile.poll(target("loop")).await }
    });
    // While the loop burns its budget, the healthy plugin answers.
    for _ in 0..20 {
        assert_healthy(&healthy).await;
    }
    assert!(!looping.is_finished() || started.elapsed() >= Duration::from_millis(200));
    let (kind, message) = trapped(looping.await.expect("task"));
    assert_eq!(kind, TrapKind::Timeout);
    assert!(
        message.contains("CPU budget"),
        "interrupted by the epoch budget, not the wall clock: {message}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "not before the budget"
    );
    assert_eq!(hostile.stats().timeouts, 1);
    assert_healthy(&healthy).await;
    assert_restarts_with_backoff(&hostile).await;
}

#[tokio::test]
async fn a_gigabyte_allocation_is_refused_by_the_memory_cap() {
    let (_rt, hostile, healthy) = setup().await;
    let (kind, message) = trapped(hostile.poll(target("alloc")).await);
    assert_eq!(kind, TrapKind::OutOfMemory, "{message}");
    assert!(message.contains("memory"), "{message}");
    assert_healthy(&healthy).await;
    assert_restarts_with_backoff(&hostile).await;
}

#[tokio::test]
async fn a_panic_is_reported_with_its_message() {
    let (_rt, hostile, healthy) = setup().await;
    let (kind, message) = trapped(hostile.poll(target("panic")).await);
    assert_eq!(kind, TrapKind::Panic);
    assert!(
        message.contains("hostile plugin panicked on purpose"),
        "{message}"
    );
    assert!(
        hostile
            .stats()
            .last_error
            .is_some_and(|e| e.contains("panicked on purpose"))
    );
    assert_healthy(&healthy).await;
    assert_restarts_with_backoff(&hostile).await;
}

#[tokio::test]
async fn network_access_to_another_address_is_denied_without_a_trap() {
    let (_rt, hostile, healthy) = setup().await;
    match hostile.poll(target("escape")).await {
        Ok(Err(PollError::Denied(msg))) => assert!(
            msg.contains("192.0.2.1") && msg.contains("not this call's miner"),
            "{msg}"
        ),
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(
        hostile.stats().traps,
        0,
        "a denial is an error value, not a trap"
    );
    assert_healthy(&healthy).await;
    // The instance is still alive: no restart needed.
    assert!(hostile.poll(target("ok")).await.expect("alive").is_ok());
}

#[tokio::test]
async fn file_system_access_fails_no_preopens() {
    let (_rt, hostile, healthy) = setup().await;
    match hostile.poll(target("file")).await {
        Ok(Err(PollError::Denied(msg))) => assert!(msg.starts_with("file open failed"), "{msg}"),
        other => panic!("expected the open to fail, got {other:?}"),
    }
    assert_healthy(&healthy).await;
}

#[tokio::test]
async fn oversized_results_and_log_floods_are_contained() {
    let (_rt, hostile, healthy) = setup().await;
    match hostile.poll(target("huge-result")).await {
        Err(CallError::BadResult { message, .. }) => {
            assert!(message.contains("exceeds"), "{message}")
        }
        other => panic!("expected the result to be refused, got {other:?}"),
    }
    assert!(
        hostile
            .poll(target("log-flood"))
            .await
            .expect("log flood survives")
            .is_ok()
    );
    assert_healthy(&healthy).await;
}

#[tokio::test]
async fn calls_on_the_wrong_world_are_refused() {
    let (_rt, _hostile, healthy) = setup().await;
    let event = solomon_host::runtime::rule_types::Event {
        miner_id: "m".into(),
        kind: solomon_host::runtime::rule_types::EventKind::Sample,
        previous: None,
        current: None,
        ts_ms: 0,
    };
    assert!(matches!(
        healthy.evaluate_one(event, "{}").await,
        Err(CallError::WrongWorld {
            world: "driver",
            ..
        })
    ));
}

#[tokio::test]
async fn a_trapped_instance_does_not_stop_its_siblings() {
    let (_rt, hostile, _healthy) = setup_with(2).await;
    let (kind, _) = trapped(hostile.poll(target("panic")).await);
    assert_eq!(kind, TrapKind::Panic);
    // The sibling instance serves while the failed one waits out its backoff.
    for _ in 0..5 {
        assert!(
            hostile
                .poll(target("ok"))
                .await
                .expect("sibling serves")
                .is_ok()
        );
    }
}
