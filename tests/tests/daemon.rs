//! The miner manager through the real path: a simulated fleet on loopback, the compiled
//! drivers, the live store and sled history.

use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::discovery::ProbeConfig;
use solomon_host::manager::{ManagerConfig, MinerManager};
use solomon_host::runtime::{HostServices, Runtime};
use solomon_host::simulate::{Fleet, FleetConfig, Scenario};
use solomon_host::state::MinerStore;
use solomon_host::storage::{FlushPolicy, Metric, MinerConfig, Resolution, Storage, StorageConfig};
use solomon_plugin_sdk::MinerState;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polled_records_reach_the_store_and_history_and_offline_is_shown_at_once() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 2,
        cgminer: 2,
        first_ip: Ipv4Addr::new(127, 0, 25, 1),
        http_port: 18185,
        rpc_port: 14132,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sc = StorageConfig::new(dir.path());
    sc.flush = FlushPolicy::GroupCommit(Duration::from_millis(1));
    let storage = Arc::new(Storage::open(sc).expect("storage"));
    let runtime =
        Runtime::new(solomon_tests::test_config(), HostServices::default()).expect("runtime");
    let mut drivers = Vec::new();
    for p in BUILTIN_PLUGINS {
        drivers.push(Arc::new(runtime.load(p.wasm.into()).await.expect("driver")));
    }
    let store = Arc::new(MinerStore::new());
    let config = ManagerConfig {
        poll_interval: Duration::from_millis(150),
        offline_after: 2,
        max_backoff: Duration::from_millis(300),
        probe: ProbeConfig {
            timeout: Duration::from_millis(500),
            ..Default::default()
        },
        ingest_every: Duration::from_millis(50),
        stall_min: Duration::from_millis(400),
        // The simulated Bitaxe expects a share every ~3.6 s; a tenth of that keeps the test short.
        stall_intervals: 0.1,
        ..Default::default()
    };
    let hub = Arc::new(solomon_host::hub::Hub::new(1024));
    let drivers = Arc::new(solomon_host::registry::PluginSet::new(drivers, Vec::new()));
    let manager = MinerManager::new(store.clone(), storage.clone(), drivers, config, hub, None);
    for m in fleet.miners() {
        let port_cfg = MinerConfig {
            id: format!("m{}", m.index),
            host: m.ip.to_string(),
            http_port: 18185,
            rpc_port: 14132,
            driver: None,
            name: None,
            labels: Default::default(),
        };
        manager.add(port_cfg);
    }
    wait_for("every miner hashing", Duration::from_secs(10), || {
        store
            .list()
            .iter()
            .filter(|s| s.record.state == MinerState::Hashing)
            .count()
            == 4
    })
    .await;
    let m0 = store.get("m0").expect("m0");
    assert_eq!(
        (m0.record.make.as_str(), m0.record.model.as_deref()),
        ("Bitaxe", Some("Gamma"))
    );
    assert_eq!(
        m0.record.mac.as_deref(),
        Some(fleet.miners()[0].mac().as_str()),
        "the driver's MAC is kept"
    );
    assert_eq!(store.get("m2").expect("m2").record.make, "Antminer");

    // Offline: shown as offline, with no hashrate passed off as current.
    fleet.set_scenario(0, Scenario::Offline);
    wait_for("m0 offline", Duration::from_secs(5), || {
        store
            .get("m0")
            .is_some_and(|s| s.record.state == MinerState::Offline)
    })
    .await;
    let s = store.get("m0").expect("m0");
    assert_eq!(
        (s.record.hashrate_hs, s.record.temp_c, s.record.power_w),
        (None, None, None)
    );
    assert_eq!(
        store.get("m1").expect("m1").record.state,
        MinerState::Hashing,
        "the others go on"
    );
    // And back.
    fleet.set_scenario(0, Scenario::Normal);
    wait_for("m0 back", Duration::from_secs(5), || {
        store
            .get("m0")
            .is_some_and(|s| s.record.state == MinerState::Hashing)
    })
    .await;

    // A stalled miner (hashrate frozen, no new shares) is not shown as hashing.
    fleet.set_scenario(1, Scenario::Stall);
    wait_for("m1 stalled", Duration::from_secs(5), || {
        store
            .get("m1")
            .is_some_and(|s| s.record.state == MinerState::Idle)
    })
    .await;
    let s = store.get("m1").expect("m1");
    assert!(
        s.record.errors.iter().any(|e| e.code == "stalled"),
        "{:?}",
        s.record.errors
    );
    fleet.set_scenario(1, Scenario::Normal);
    wait_for("m1 hashing again", Duration::from_secs(5), || {
        store
            .get("m1")
            .is_some_and(|s| s.record.state == MinerState::Hashing)
    })
    .await;

    // History was written, offline samples included (state 3, no hashrate).
    wait_for("history", Duration::from_secs(5), || {
        storage
            .history("m1", Metric::Hashrate, 0, u64::MAX, Resolution::Raw)
            .map(|p| p.len() >= 3)
            .unwrap_or(false)
    })
    .await;
    let states = storage
        .history("m0", Metric::State, 0, u64::MAX, Resolution::Raw)
        .expect("query");
    assert!(
        states.iter().any(|p| p.avg == 3.0),
        "the offline transition is in the history"
    );
    manager.shutdown().await;
}
