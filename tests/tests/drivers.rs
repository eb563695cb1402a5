//! Drivers through the real path: simulated miners on loopback sockets, auto-detection, the
//! compiled driver plugins, and the records they return, checked field by field in H/s, °C,
//! W and plain-number difficulties. Also the CGMiner wire quirks over real sockets.

use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::discovery::{DiscoveryError, Found, ProbeConfig, hosts_in, probe_and_poll, scan};
use solomon_host::host_api::BoundaryLimits;
use solomon_host::host_api::plugin_state::{BackendError, MemoryState, StateBackend};
use solomon_host::runtime::{HostServices, Plugin, Runtime, RuntimeConfig};
use solomon_host::simulate::{Fleet, FleetConfig, Scenario};
use solomon_plugin_sdk::MinerState;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn drivers() -> (Runtime, Vec<Arc<Plugin>>) {
    drivers_with(HostServices::default()).await
}

/// The built-in plugins on a runtime with `services`.
async fn drivers_with(services: HostServices) -> (Runtime, Vec<Arc<Plugin>>) {
    let limits = BoundaryLimits {
        io_timeout_ms: 700,
        ..Default::default()
    };
    let config = RuntimeConfig {
        limits,
        instances_per_driver: 4,
        ..solomon_tests::test_config()
    };
    let runtime = Runtime::new(config, services).expect("runtime");
    let mut out = Vec::new();
    for p in BUILTIN_PLUGINS {
        out.push(Arc::new(
            runtime
                .load(p.wasm.into())
                .await
                .expect("built-in driver loads"),
        ));
    }
    assert!(out.iter().any(|p| p.meta().name == "driver-cgminer"));
    (runtime, out)
}

/// The compiled CGMiner driver, with the runtime that keeps it alive.
async fn cgminer_driver() -> (Runtime, Arc<Plugin>) {
    cgminer_driver_with(HostServices::default()).await
}

async fn cgminer_driver_with(services: HostServices) -> (Runtime, Arc<Plugin>) {
    let (rt, drivers) = drivers_with(services).await;
    let driver = drivers
        .into_iter()
        .find(|d| d.meta().name == "driver-cgminer")
        .expect("driver");
    (rt, driver)
}

fn cfg(http_port: u16, rpc_port: u16) -> ProbeConfig {
    ProbeConfig {
        http_port,
        rpc_port,
        timeout: Duration::from_millis(700),
    }
}

fn near(v: Option<f64>, nominal: f64, tol: f64) -> bool {
    v.is_some_and(|v| (v - nominal).abs() <= nominal * tol)
}

async fn fleet(first: Ipv4Addr, axeos: usize, cgminer: usize, http: u16, rpc: u16) -> Fleet {
    let config = FleetConfig {
        axeos,
        cgminer,
        first_ip: first,
        http_port: http,
        rpc_port: rpc,
        slow_delay: Duration::from_secs(2),
    };
    Fleet::start(config).await.expect("simulator binds")
}

#[tokio::test]
async fn probe_gives_the_right_record_for_each_family() {
    let (_rt, drivers) = drivers().await;
    let f = fleet(Ipv4Addr::new(127, 0, 21, 1), 1, 5, 18181, 14128).await;
    let c = cfg(18181, 14128);
    let poll = |i: usize| {
        let host = f.miners()[i].ip.to_string();
        let drivers = drivers.clone();
        let c = c.clone();
        async move {
            probe_and_poll(&drivers, &host, &c)
                .await
                .unwrap_or_else(|e| panic!("miner {i}: {e}"))
        }
    };

    let Found {
        record: r,
        driver,
        identification,
    } = poll(0).await;
    assert_eq!(driver, "driver-axeos@0.1.0");
    assert_eq!(identification.make, "Bitaxe");
    assert_eq!(
        (r.make.as_str(), r.model.as_deref(), r.chip.as_deref()),
        ("Bitaxe", Some("Gamma"), Some("BM1370"))
    );
    assert_eq!(r.id, f.miners()[0].mac(), "keyed by MAC");
    assert!(
        near(r.hashrate_hs, 1.2e12, 0.03),
        "GH/s converted to H/s: {:?}",
        r.hashrate_hs
    );
    assert_eq!(r.expected_hashrate_hs, Some(1224e9));
    assert!(r.temp_c.is_some_and(|t| (50.0..70.0).contains(&t)));
    assert!(near(r.power_w, 18.0, 0.05));
    assert_eq!(r.best_diff, Some(1.0e9), "a plain number");
    assert_eq!(r.state, MinerState::Hashing);

    // Antminer S19 Pro (stock: no multi-command, the driver falls back to single commands).
    let r = poll(1).await.record;
    assert_eq!(
        (r.make.as_str(), r.model.as_deref(), r.firmware.as_deref()),
        ("Antminer", Some("S19 Pro"), Some("bmminer"))
    );
    assert!(
        near(r.hashrate_hs, 110e12, 0.03),
        "GHS 5s in H/s: {:?}",
        r.hashrate_hs
    );
    assert_eq!(r.expected_hashrate_hs, Some(110e12));
    assert_eq!(r.boards.len(), 3);
    assert!(
        r.boards
            .iter()
            .all(|b| near(b.hashrate_hs, 110e12 / 3.0, 0.03))
    );
    assert_eq!(r.pool_difficulty, Some(524_288.0));
    assert_eq!(r.fans.len(), 4);

    // Whatsminer M30S+ (MH/s, 1-based pools).
    let r = poll(2).await.record;
    assert_eq!(
        (r.make.as_str(), r.model.as_deref(), r.firmware.as_deref()),
        ("Whatsminer", Some("M30S+"), Some("btminer"))
    );
    assert!(
        near(r.hashrate_hs, 100e12, 0.03),
        "MHS in H/s: {:?}",
        r.hashrate_hs
    );
    assert!(near(r.power_w, 3250.0, 0.05));
    assert_eq!(r.pools[0].index, 0);
    assert_eq!(r.id, f.miners()[2].mac());

    // Avalon Q (MM ID strings).
    let r = poll(3).await.record;
    assert_eq!((r.make.as_str(), r.model.as_deref()), ("Avalon", Some("Q")));
    assert!(near(r.hashrate_hs, 90e12, 0.03));
    assert_eq!(r.expected_hashrate_hs, Some(90e12));
    assert!(r.temp_max_c.is_some() && r.env_temp_c == Some(24.0));

    let r = poll(4).await.record;
    assert_eq!(
        (r.make.as_str(), r.firmware.as_deref()),
        ("Antminer", Some("Braiins OS"))
    );
    let r = poll(5).await.record;
    assert_eq!(
        (r.make.as_str(), r.firmware.as_deref()),
        ("Antminer", Some("LuxOS"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_every_simulated_miner_with_the_right_make() {
    let (_rt, drivers) = drivers().await;
    let f = fleet(Ipv4Addr::new(127, 0, 22, 1), 25, 25, 18182, 14129).await;
    let hosts: Vec<String> = hosts_in("127.0.22.0/24")
        .expect("range")
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut progress = 0;
    let results = scan(&drivers, hosts, &cfg(18182, 14129), 256, |done, total| {
        assert!(done <= total);
        progress = done;
    })
    .await;
    assert_eq!(progress, 254, "progress reaches the end");
    let found: Vec<_> = results
        .iter()
        .filter_map(|(h, r)| r.as_ref().ok().map(|f| (h.clone(), f.record.make.clone())))
        .collect();
    assert_eq!(found.len(), 50, "{results:?}");
    for m in f.miners() {
        let expected = match m.kind {
            solomon_host::simulate::Kind::Axeos => "Bitaxe",
            solomon_host::simulate::Kind::Whatsminer => "Whatsminer",
            solomon_host::simulate::Kind::Avalon => "Avalon",
            _ => "Antminer",
        };
        assert!(
            found.contains(&(m.ip.to_string(), expected.to_string())),
            "{} ({:?}) not found as {expected}",
            m.ip,
            m.kind
        );
    }
}

#[tokio::test]
async fn troubled_miners_give_clear_errors() {
    let (_rt, drivers) = drivers().await;
    let f = fleet(Ipv4Addr::new(127, 0, 23, 1), 2, 3, 18183, 14130).await;
    let c = cfg(18183, 14130);
    let host = |i: usize| f.miners()[i].ip.to_string();

    f.set_scenario(0, Scenario::Offline);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(matches!(
        probe_and_poll(&drivers, &host(0), &c).await,
        Err(DiscoveryError::Unreachable { .. })
    ));

    f.set_scenario(1, Scenario::Malformed);
    match probe_and_poll(&drivers, &host(1), &c).await {
        Err(DiscoveryError::Poll { error, .. }) => assert!(error.contains("malformed"), "{error}"),
        other => panic!("expected a malformed reply error, got {other:?}"),
    }

    f.set_scenario(2, Scenario::Quirky);
    let r = probe_and_poll(&drivers, &host(2), &c)
        .await
        .expect("quirks are repaired")
        .record;
    assert!(near(r.hashrate_hs, 110e12, 0.03));

    f.set_scenario(3, Scenario::Slow);
    match probe_and_poll(&drivers, &host(3), &c).await {
        Err(DiscoveryError::Unreachable { rpc, .. }) => assert!(rpc.contains("timed out"), "{rpc}"),
        Err(DiscoveryError::Poll { error, .. }) => assert!(error.contains("timeout"), "{error}"),
        other => panic!("expected a timeout, got {other:?}"),
    }

    f.set_scenario(4, Scenario::Malformed);
    assert!(probe_and_poll(&drivers, &host(4), &c).await.is_err());
    // Back to normal, it polls again.
    f.set_scenario(0, Scenario::Normal);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(probe_and_poll(&drivers, &host(0), &c).await.is_ok());
}

/// A one-shot CGMiner server answering every connection with `reply`, or never finishing.
async fn raw_rpc(reply: &'static [u8], never_end: bool) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(reply).await;
                if never_end {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn cgminer_wire_quirks_over_real_sockets() {
    let (_rt, driver) = cgminer_driver().await;
    let poll = |port: u16| {
        let d = driver.clone();
        async move {
            let target = solomon_host::runtime::driver_types::Target {
                host: "127.0.0.1".into(),
                http_port: 1,
                rpc_port: port,
            };
            d.poll(target).await.expect("no trap")
        }
    };
    let cases: [(&str, &'static [u8]); 5] = [
        ("NUL terminator", b"{\"STATUS\":[{\"STATUS\":\"S\"}],\"SUMMARY\":[{\"MHS 5s\":1000.0,\"Accepted\":7}],\"id\":1}\0"),
        ("}{", b"{\"STATUS\":[{\"STATUS\":\"S\"}],\"SUMMARY\":[{\"MHS 5s\":1000.0}{\"Accepted\":7}],\"id\":1}\0"),
        (",}", b"{\"STATUS\":[{\"STATUS\":\"S\"}],\"SUMMARY\":[{\"MHS 5s\":1000.0,\"Accepted\":7,}],\"id\":1}\0"),
        ("inf/nan", b"{\"STATUS\":[{\"STATUS\":\"S\"}],\"SUMMARY\":[{\"MHS 5s\":1000.0,\"Accepted\":7,\"Temp\":inf,\"X\":nan}],\"id\":1}\0"),
        ("truncated", b"{\"STATUS\":[{\"STATUS\":\"S\"}],\"SUMMARY\":[{\"MHS 5s\":1000.0,\"Accepted\":7},{\"Broken\":12"),
    ];
    for (name, reply) in cases {
        let r = poll(raw_rpc(reply, false).await).await;
        let rec = r.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(rec.hashrate_hs, Some(1e9), "{name}: MH/s to H/s");
        // With `}{` the second object is a separate SUMMARY element, so `Accepted` is not in the first.
        let accepted = if name == "}{" { None } else { Some(7) };
        assert_eq!(rec.shares_accepted, accepted, "{name}");
    }
    // A leading comma: Avalon's `,"id":1}` is repaired into an object, which has no SUMMARY.
    let r = poll(raw_rpc(b",\"id\":1}\0", false).await).await;
    assert!(
        matches!(
            r,
            Err(solomon_host::runtime::driver_types::PollError::Malformed(_))
        ),
        "{r:?}"
    );
    // A reply that never ends: the host's timeout, not a hang.
    let r = poll(
        raw_rpc(
            b"{\"STATUS\":[{\"STATUS\":\"S\"}],\"SUMMARY\":[{\"MHS 5s\":1",
            true,
        )
        .await,
    )
    .await;
    assert!(
        matches!(
            r,
            Err(solomon_host::runtime::driver_types::PollError::Timeout(_))
        ),
        "{r:?}"
    );
    // Connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let r = poll(closed).await;
    assert!(
        matches!(
            r,
            Err(solomon_host::runtime::driver_types::PollError::Unreachable(
                _
            ))
        ),
        "{r:?}"
    );
}

/// A simulated stock Antminer alone, and the target to poll it at.
async fn one_antminer(
    ip: Ipv4Addr,
    http: u16,
    rpc: u16,
) -> (Fleet, solomon_host::runtime::driver_types::Target) {
    let f = fleet(ip, 0, 1, http, rpc).await;
    let target = solomon_host::runtime::driver_types::Target {
        host: ip.to_string(),
        http_port: 1,
        rpc_port: rpc,
    };
    (f, target)
}

#[tokio::test]
async fn cgminer_driver_stops_sending_what_the_firmware_refuses() {
    let (_rt, driver) = cgminer_driver().await;
    let (f, target) = one_antminer(Ipv4Addr::new(127, 0, 24, 1), 18184, 14131).await;
    let antminer = &f.miners()[0];
    let exchanges = || antminer.live.lock().polls;
    let first = driver
        .poll(target.clone())
        .await
        .expect("no trap")
        .expect("poll ok");
    // The refused multi-command, then version, the refused devdetails, summary, pools, stats.
    assert_eq!(exchanges(), 6);
    for _ in 0..3 {
        let later = driver
            .poll(target.clone())
            .await
            .expect("no trap")
            .expect("poll ok");
        // What came from the reused `version` reply is still there.
        assert_eq!(
            (&later.model, &later.firmware_version),
            (&first.model, &first.firmware_version)
        );
        assert!(later.model.is_some() && later.firmware_version.is_some());
    }
    assert_eq!(
        exchanges(),
        6 + 3 * 2,
        "later polls skip the multi-command, devdetails, the (reused) version and the \
         summary, which pools and stats show unchanged"
    );
}

/// A stock Antminer's `summary` is reused while `pools` and `stats` show nothing it alone would
/// tell, yet a new best share and a found block show at the poll that sees them.
#[tokio::test]
async fn antminer_summary_is_asked_again_when_it_can_have_changed() {
    let state = Arc::new(CountingState::default());
    let (_rt, driver) = cgminer_driver_with(HostServices {
        state: state.clone(),
        ..Default::default()
    })
    .await;
    let (f, target) = one_antminer(Ipv4Addr::new(127, 0, 29, 1), 18189, 14139).await;
    let antminer = &f.miners()[0];
    // A poll's record, and how many exchanges (connections) it took.
    let poll = || async {
        let before = antminer.live.lock().polls;
        let r = driver
            .poll(target.clone())
            .await
            .expect("no trap")
            .expect("poll ok");
        (r, antminer.live.lock().polls - before)
    };
    let writes = || state.writes.load(std::sync::atomic::Ordering::SeqCst);
    let (first, _) = poll().await;
    let learnt = writes();
    let (kept, n) = poll().await;
    assert_eq!(n, 2, "pools and stats only");
    assert_eq!(writes(), learnt, "reusing the kept summary writes nothing");
    // The simulator counts shares at every exchange: the kept summary's count would be older.
    assert!(kept.shares_accepted > first.shares_accepted, "{kept:?}");
    assert!(kept.uptime_s >= first.uptime_s);
    assert_eq!(kept.state, MinerState::Hashing);
    assert!(near(kept.hashrate_hs, 110e12, 0.05), "{kept:?}");

    antminer.set_scenario(Scenario::NewBest);
    let (best, n) = poll().await;
    assert_eq!(n, 3, "a pool's best share rose: summary too");
    assert!(best.best_session_diff > kept.best_session_diff, "{best:?}");

    antminer.set_scenario(Scenario::Normal);
    let (calm, n) = poll().await;
    assert_eq!(n, 2, "no new best: the summary is kept again");
    assert_eq!(calm.best_session_diff, best.best_session_diff);
    assert_eq!(calm.blocks_found, Some(0));

    antminer.set_scenario(Scenario::BlockFound);
    let (block, n) = poll().await;
    assert_eq!(n, 3);
    assert_eq!(block.blocks_found, Some(1), "the block shows at once");
    let cleared = writes();
    let (after, n) = poll().await;
    assert_eq!(n, 3, "once a block is found, summary at every poll");
    assert_eq!(after.blocks_found, Some(1));
    let _ = poll().await;
    assert_eq!(
        writes(),
        cleared,
        "a summary that cannot stand in is not kept, so asking it every poll writes nothing"
    );
}

/// Plugin state in memory that counts the writes made to it.
#[derive(Default)]
struct CountingState {
    inner: MemoryState,
    writes: std::sync::atomic::AtomicUsize,
}

impl CountingState {
    fn wrote(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl StateBackend for CountingState {
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, BackendError> {
        self.inner.get(ns, key)
    }
    fn set(&self, ns: &str, key: &str, value: &[u8]) -> Result<(), BackendError> {
        self.wrote();
        self.inner.set(ns, key, value)
    }
    fn delete(&self, ns: &str, key: &str) -> Result<bool, BackendError> {
        self.wrote();
        self.inner.delete(ns, key)
    }
    fn compare_and_swap(
        &self,
        ns: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, BackendError> {
        self.wrote();
        self.inner.compare_and_swap(ns, key, expected, new)
    }
    fn list_keys(&self, ns: &str, prefix: &str, limit: usize) -> Result<Vec<String>, BackendError> {
        self.inner.list_keys(ns, prefix, limit)
    }
    fn len(&self, ns: &str) -> Result<usize, BackendError> {
        self.inner.len(ns)
    }
}

/// Firmware that hangs on a joined command instead of refusing it: the poll falls back to one
/// command per connection after the timeout, and later polls do not try joining again.
#[tokio::test]
async fn cgminer_driver_falls_back_when_a_joined_command_hangs() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (_rt, driver) = cgminer_driver().await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let joined = Arc::new(AtomicUsize::new(0));
    let seen = joined.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                if req.contains('+') {
                    seen.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let reply: &[u8] = if req.contains("\"summary\"") {
                    include_bytes!("../fixtures/antminer/s19pro_stock-49.0.1.3_summary.json")
                } else if req.contains("\"pools\"") {
                    include_bytes!("../fixtures/antminer/s19pro_stock-49.0.1.3_pools.json")
                } else if req.contains("\"stats\"") {
                    include_bytes!("../fixtures/antminer/s19pro_stock-49.0.1.3_stats.json")
                } else if req.contains("\"version\"") {
                    include_bytes!("../fixtures/antminer/s19pro_stock-49.0.1.3_version.json")
                } else {
                    br#"{"STATUS":[{"STATUS":"E","When":0,"Code":14,"Msg":"Invalid command"}],"id":1}"#
                };
                let _ = s.write_all(reply).await;
            });
        }
    });
    let target = solomon_host::runtime::driver_types::Target {
        host: "127.0.0.1".into(),
        http_port: 1,
        rpc_port: port,
    };
    for _ in 0..2 {
        let r = driver
            .poll(target.clone())
            .await
            .expect("no trap")
            .expect("the poll falls back to single commands");
        assert_eq!(r.hashrate_hs, Some(110566.89e9), "GHS 5s is GH/s");
        assert_eq!(r.model.as_deref(), Some("S19 Pro"));
    }
    assert_eq!(
        joined.load(Ordering::SeqCst),
        1,
        "the joined command was tried once, then never again"
    );
}
