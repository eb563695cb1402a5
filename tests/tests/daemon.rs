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

/// A miner manager with the built-in drivers, a live store and sled history in a temp dir.
struct Polling {
    manager: MinerManager,
    store: Arc<MinerStore>,
    storage: Arc<Storage>,
    _runtime: Runtime,
    _dir: tempfile::TempDir,
}

async fn polling(config: ManagerConfig) -> Polling {
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
    let hub = Arc::new(solomon_host::hub::Hub::new(1024));
    let drivers = Arc::new(solomon_host::registry::PluginSet::new(drivers, Vec::new()));
    let manager = MinerManager::new(store.clone(), storage.clone(), drivers, config, hub, None);
    Polling {
        manager,
        store,
        storage,
        _runtime: runtime,
        _dir: dir,
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
    let Polling {
        manager,
        store,
        storage,
        ..
    } = polling(config).await;
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

/// The schedule's promises: a poll on request at once (long before the miner's turn), one more
/// right after a poll in flight when asked during it, and a removed miner never polled or
/// written back again, even when it is removed mid-poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_on_request_and_never_after_removal() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 2,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 48, 1),
        http_port: 18248,
        rpc_port: 14248,
        slow_delay: Duration::from_secs(1),
    })
    .await
    .expect("simulator");
    let config = ManagerConfig {
        // Turns come every 30 s (the first within 3 s): any other poll was asked for.
        poll_interval: Duration::from_secs(30),
        ..Default::default()
    };
    let Polling { manager, store, .. } = polling(config).await;
    for m in fleet.miners() {
        manager.add(MinerConfig {
            id: format!("m{}", m.index),
            host: m.ip.to_string(),
            http_port: 18248,
            rpc_port: 14248,
            driver: Some("driver-axeos".into()),
            name: None,
            labels: Default::default(),
        });
    }
    let polls = |i: usize| fleet.miners()[i].live.lock().polls;
    wait_for("both polled once", Duration::from_secs(10), || {
        polls(0) >= 1 && polls(1) >= 1 && store.get("m0").is_some() && store.get("m1").is_some()
    })
    .await;

    let before = polls(0);
    assert!(manager.poll_now("m0"));
    wait_for("m0 polled on request", Duration::from_secs(5), || {
        polls(0) > before
    })
    .await;
    assert!(!manager.poll_now("nobody"));

    // Asked twice, the second time while the first poll waits on a slow reply: two polls.
    fleet.set_scenario(1, Scenario::Slow);
    let before = polls(1);
    assert!(manager.poll_now("m1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(manager.poll_now("m1"));
    wait_for("m1 polled twice", Duration::from_secs(8), || {
        polls(1) >= before + 2
    })
    .await;

    // Removed mid-poll: the slow reply is never written back.
    assert!(manager.poll_now("m1"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(manager.remove("m1").await);
    assert!(store.get("m1").is_none());
    assert!(manager.remove("m0").await);
    assert!(!manager.remove("m0").await, "already gone");
    assert!(!manager.poll_now("m0"));
    assert!(manager.ids().is_empty());
    let (p0, p1) = (polls(0), polls(1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(store.get("m0").is_none() && store.get("m1").is_none());
    assert_eq!(polls(0), p0, "a removed miner is not polled");
    assert!(
        polls(1) <= p1 + 1,
        "at most the aborted request was answered"
    );
    manager.shutdown().await;
}
