//! The shipped rules added for the trouble a solo fleet actually has, end to end: a simulated
//! scenario, the daemon, the compiled rule, the alert on the WebSocket.

use futures_util::{SinkExt, StreamExt};
use solomon_host::alerts::AlertConfig;
use solomon_host::daemon::Settings;
use solomon_host::simulate::{Fleet, FleetConfig, Scenario};
use solomon_tests::daemon::{Daemon, sim_miners};
use solomon_tests::http;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Waits until `miner` has been polled and is hashing.
async fn hashing(addr: SocketAddr, miner: &str) {
    let start = Instant::now();
    while http(addr, "GET", &format!("/api/v1/miners/{miner}"), None, None)
        .await
        .json()["record"]["state"]
        != "hashing"
    {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{miner} never polled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_hashing_hashrate_drop_rejects_fans_and_a_fleet_best_each_fire() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 4,
        cgminer: 3,
        first_ip: Ipv4Addr::new(127, 0, 45, 1),
        http_port: 18361,
        rpc_port: 14361,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let rules = serde_json::json!({
        // Short windows so a test sees them close.
        "rule-reject-ratio": {"window_minutes": 0.05, "min_shares": 5},
        "rule-fan-failure": {"samples": 2},
        "rule-hashrate-drop": {"samples": 2},
    });
    let alerts = AlertConfig {
        rules: rules
            .as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        ..Default::default()
    };
    let addr: SocketAddr = "127.0.45.200:18362".parse().expect("addr");
    let d = Daemon::launch(addr, sim_miners(&fleet, 18361, 14361), 1, |s| Settings {
        alerts,
        polling: solomon_host::config::Defaults {
            // A simulated Bitaxe expects a share every ~3.6 s: stalled after 2 s without one.
            stall_minutes: 0.0,
            stall_intervals: 0.5,
            ..s.polling
        },
        ..s
    })
    .await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws"))
        .await
        .expect("websocket");
    let sub = serde_json::json!({"op": "subscribe", "topics": ["alerts"]}).to_string();
    ws.send(Message::Text(sub.into())).await.expect("send");
    for m in ["m0", "m1", "m2", "m3", "m4", "m5", "m6"] {
        hashing(addr, m).await;
    }
    // m0..m3 are Bitaxes, m4 an Antminer, m5 a Whatsminer, m6 an Avalon (healthy). m3 holds
    // the fleet's best share so far (1.03 G); m0's new bests beat it.
    fleet.set_scenario(0, Scenario::NewBest);
    fleet.set_scenario(1, Scenario::Degraded);
    fleet.set_scenario(2, Scenario::FanFail);
    fleet.set_scenario(3, Scenario::Stall);
    fleet.set_scenario(4, Scenario::HighRejects);
    fleet.set_scenario(5, Scenario::FanFail);
    let want: BTreeSet<(String, String, String)> = [
        ("rule-new-best", "m0", "fleet-best"),
        ("rule-hashrate-drop", "m1", "hashrate"),
        ("rule-fan-failure", "m2", "fan"),
        ("rule-not-hashing", "m3", "hashing"),
        ("rule-reject-ratio", "m4", "rejects"),
        ("rule-fan-failure", "m5", "fan"),
    ]
    .iter()
    .map(|(r, m, k)| (r.to_string(), m.to_string(), k.to_string()))
    .collect();
    let mut firing = BTreeSet::new();
    let mut messages = Vec::new();
    let start = Instant::now();
    while !want.is_subset(&firing) {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap_or_else(|_| panic!("alerts stopped coming; firing: {firing:?}"))
            .expect("open")
            .expect("message");
        let Message::Text(t) = msg else { continue };
        let m: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
        if m["type"] == "alert" && m["alert"]["firing"] == true {
            let a = &m["alert"];
            let id = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            firing.insert((id("rule"), id("miner"), id("key")));
            messages.push(format!("{}: {}", id("rule"), id("message")));
        }
        assert!(start.elapsed() < Duration::from_secs(40), "only {firing:?}");
    }
    let said = messages.join("\n");
    for fragment in [
        "below the expected",
        "fan 1 at 0 rpm",
        "new fleet-wide best difficulty",
        "of shares rejected",
    ] {
        assert!(said.contains(fragment), "{fragment:?} not in:\n{said}");
    }
    // The healthy miner raised nothing.
    assert!(!firing.iter().any(|(_, m, _)| m == "m6"), "{firing:?}");
    d.stop().await;
}
