//! Connections to HTTP miners kept between polls: the compiled AxeOS driver, polling over real
//! sockets, reuses one connection per miner when the miner keeps its session open, notices a
//! session the miner closed (as an ESP32 purges its least recently used one) and polls again on
//! a new connection, and never reuses one the miner said it would close.

use solomon_host::builtin::BUILTIN_PLUGINS;
use solomon_host::config::Defaults;
use solomon_host::daemon::Settings;
use solomon_host::net::IdleConnections;
use solomon_host::runtime::driver_types::Target;
use solomon_host::runtime::{HostServices, Plugin, Runtime};
use solomon_host::simulate::{Fleet, FleetConfig, Scenario};
use solomon_tests::daemon::{Daemon, sim_miners};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The compiled AxeOS driver on a runtime whose connections are `pool`.
async fn axeos_driver(pool: Arc<IdleConnections>) -> (Runtime, Arc<Plugin>) {
    let services = HostServices {
        connections: pool,
        ..Default::default()
    };
    let runtime = Runtime::new(solomon_tests::test_config(), services).expect("runtime");
    let wasm = BUILTIN_PLUGINS
        .iter()
        .find(|p| p.name == "driver-axeos")
        .expect("built-in AxeOS driver")
        .wasm;
    let driver = Arc::new(runtime.load(wasm.into()).await.expect("driver loads"));
    (runtime, driver)
}

/// What the fixture miner does with its session after a reply.
#[derive(Clone, Copy, PartialEq)]
enum Session {
    /// Keeps it open for the next request, as ESP-IDF's httpd does.
    Keep,
    /// Closes it without saying so, as an ESP32 purging its least recently used session.
    CloseSilently,
    /// Answers with `Connection: close` and closes it.
    SayClose,
    /// Keeps it open, then closes it, unanswered, when the next request on it arrives: the
    /// close races the request, which no check before sending can see.
    DropNextRequest,
}

/// An AxeOS miner on 127.0.0.1 serving the Gamma fixture, counting the connections it accepts.
async fn counting_miner(session: Session) -> (u16, Arc<AtomicUsize>) {
    let body = solomon_tests::fixture("axeos/bitaxe-gamma-601-bm1370_v2.12.0_system_info.json");
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = l.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                let mut answered = false;
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    head.extend_from_slice(&buf[..n]);
                    if !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        continue;
                    }
                    head.clear();
                    if answered && session == Session::DropNextRequest {
                        return;
                    }
                    answered = true;
                    let close = if session == Session::SayClose {
                        "Connection: close\r\n"
                    } else {
                        ""
                    };
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{close}\r\n{body}",
                        body.len()
                    );
                    let keep = matches!(session, Session::Keep | Session::DropNextRequest);
                    if s.write_all(reply.as_bytes()).await.is_err() || !keep {
                        return;
                    }
                }
            });
        }
    });
    (port, accepted)
}

fn target(port: u16) -> Target {
    Target {
        host: "127.0.0.1".into(),
        http_port: port,
        rpc_port: 4028,
    }
}

/// Polls `times` times and checks each record is the fixture's, read correctly.
async fn poll_fixture(driver: &Plugin, port: u16, times: usize) {
    for i in 0..times {
        let r = driver
            .poll(target(port))
            .await
            .expect("no trap")
            .unwrap_or_else(|e| panic!("poll {i} failed: {e:?}"));
        // hashRate 1234.37 GH/s, temp 59.75 °C, bestDiff 3468978118 in the fixture.
        assert!((r.hashrate_hs.expect("hashrate") - 1_234.373_535_2e9).abs() < 1e3);
        assert_eq!(r.temp_c, Some(59.75));
        assert_eq!(r.best_diff, Some(3_468_978_118.0));
        // Let the runtime's I/O driver see whatever the miner did after its reply.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Polls a fixture miner that treats its sessions as `session`, `polls` times through the
/// compiled driver: (connections the miner accepted, connections kept afterwards).
async fn poll_counting(session: Session, polls: usize) -> (usize, usize) {
    let pool = Arc::new(IdleConnections::new(16));
    let (_rt, driver) = axeos_driver(pool.clone()).await;
    let (port, accepted) = counting_miner(session).await;
    poll_fixture(&driver, port, polls).await;
    (accepted.load(Ordering::SeqCst), pool.len())
}

#[tokio::test]
async fn polls_of_a_miner_that_keeps_its_session_share_one_connection() {
    assert_eq!(poll_counting(Session::Keep, 5).await, (1, 1));
}

#[tokio::test]
async fn a_session_the_miner_closed_is_noticed_and_the_poll_reconnects() {
    let (accepted, _) = poll_counting(Session::CloseSilently, 4).await;
    assert_eq!(accepted, 4, "a new connection for each poll");
}

#[tokio::test]
async fn a_session_the_miner_said_it_would_close_is_not_kept() {
    assert_eq!(poll_counting(Session::SayClose, 3).await, (3, 0));
}

#[tokio::test]
async fn a_request_on_a_session_the_miner_drops_goes_again_on_a_new_connection() {
    // Each poll after the first is sent on the kept session, dropped unanswered, and sent
    // again on a new connection; every poll still succeeds.
    let (accepted, _) = poll_counting(Session::DropNextRequest, 4).await;
    assert_eq!(accepted, 4);
}

#[tokio::test]
async fn a_simulated_miner_going_offline_drops_its_kept_session() {
    let pool = Arc::new(IdleConnections::new(16));
    let (_rt, driver) = axeos_driver(pool.clone()).await;
    let fleet = Fleet::start(FleetConfig {
        axeos: 1,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 47, 1),
        http_port: 18_441,
        rpc_port: 14_441,
        ..Default::default()
    })
    .await
    .expect("simulator binds");
    let t = Target {
        host: "127.0.47.1".into(),
        http_port: 18_441,
        rpc_port: 14_441,
    };
    assert!(driver.poll(t.clone()).await.expect("no trap").is_ok());
    assert_eq!(pool.len(), 1, "the simulator keeps sessions as AxeOS does");
    fleet.set_scenario(0, Scenario::Offline);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let failed = driver.poll(t.clone()).await.expect("no trap");
    assert!(
        failed.is_err(),
        "an offline miner answers nothing: {failed:?}"
    );
    fleet.set_scenario(0, Scenario::Normal);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        driver.poll(t).await.expect("no trap").is_ok(),
        "back online"
    );
}

/// A sample's value in the daemon's `/metrics`, summed over its series.
async fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let r = solomon_tests::http(addr, "GET", "/metrics", None, None).await;
    let lines = r.body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");
    let values: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter_map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Counter(v) => Some(v),
            _ => None,
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_told_not_to_keep_connections_keeps_none() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 2,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 47, 11),
        http_port: 18_442,
        rpc_port: 14_442,
        ..Default::default()
    })
    .await
    .expect("simulator binds");
    let addr: SocketAddr = "127.0.47.200:18443".parse().expect("addr");
    let d = Daemon::launch(addr, sim_miners(&fleet, 18_442, 14_442), 1, |s| Settings {
        polling: Defaults {
            keep_connections: false,
            ..s.polling
        },
        ..s
    })
    .await;
    let start = Instant::now();
    while metric(addr, "solomon_polls_total").await.unwrap_or(0.0) < 6.0 {
        assert!(start.elapsed() < Duration::from_secs(30), "never polled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        metric(addr, "solomon_miner_connections_kept").await,
        Some(0.0),
        "polled, and nothing kept"
    );
    d.stop().await;
}
