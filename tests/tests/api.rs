//! The daemon's API end to end: `serve_daemon_until` on real sockets with a simulated fleet,
//! the compiled built-in drivers and a sled database in a temp dir; clients are plain HTTP/1.0
//! and tokio-tungstenite.

use futures_util::{SinkExt, StreamExt};
use solomon_host::alerts::AlertConfig;
use solomon_host::simulate::{Fleet, FleetConfig, Scenario};
use solomon_tests::daemon::{Daemon, TOKEN, sim_miners};
use solomon_tests::http;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(addr: SocketAddr, path: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}{path}"))
        .await
        .expect("websocket");
    ws
}

/// The next JSON text message, skipping pings.
async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("stream open")
            .expect("no error");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON"),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

/// The next `alert` message of `rule`.
async fn next_alert(ws: &mut Ws, rule: &str) -> serde_json::Value {
    loop {
        let m = next_json(ws).await;
        if m["type"] == "alert" && m["alert"]["rule"] == rule {
            return m;
        }
    }
}

async fn subscribe(ws: &mut Ws, topics: &[&str]) {
    let req = serde_json::json!({"op": "subscribe", "topics": topics}).to_string();
    ws.send(Message::Text(req.into())).await.expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_gets_a_snapshot_then_live_changes_and_sees_a_miner_go_offline() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 2,
        cgminer: 1,
        first_ip: Ipv4Addr::new(127, 0, 26, 1),
        http_port: 18190,
        rpc_port: 14190,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let addr: SocketAddr = "127.0.26.200:18191".parse().expect("addr");
    // Snapshot parts of 2 rows: the 3 miners come in 2 parts.
    let d = Daemon::launch(addr, sim_miners(&fleet, 18190, 14190), 1, |mut s| {
        s.api.ws.snapshot_part_rows = 2;
        s
    })
    .await;

    let mut ws = ws_connect(addr, "/api/v1/ws").await;
    subscribe(&mut ws, &["fleet"]).await;
    let ack = next_json(&mut ws).await;
    assert_eq!(ack["type"], "subscribed", "{ack}");
    assert_eq!(ack["topics"], serde_json::json!(["fleet"]));
    let mut rows = Vec::new();
    for i in 0..2 {
        let snap = next_json(&mut ws).await;
        assert_eq!(
            (snap["type"].as_str(), snap["topic"].as_str()),
            (Some("snapshot"), Some("fleet")),
            "{snap}"
        );
        assert_eq!(
            (snap["part"].as_u64(), snap["parts"].as_u64()),
            (Some(i), Some(2))
        );
        rows.extend(snap["miners"].as_array().expect("miners").iter().cloned());
    }
    let ids: Vec<&str> = rows.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(
        ids,
        ["m0", "m1", "m2"],
        "the snapshot lists every configured miner"
    );

    assert_eq!(rows[0]["name"], "sim 0", "rows carry the configured name");

    // Then changes, as batched fleet rows: each poll of each miner arrives.
    let mut seen = std::collections::HashSet::new();
    let start = Instant::now();
    while seen.len() < 3 {
        let m = next_json(&mut ws).await;
        if m["type"] == "rows" {
            for row in m["miners"].as_array().expect("rows") {
                assert!(row["hashrate_hs"].as_f64().is_some(), "{row}");
                assert!(row["version"].as_u64().is_some_and(|v| v >= 1), "{row}");
                seen.insert(row["id"].as_str().unwrap_or_default().to_string());
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    // A miner that goes away is reported offline over the socket, with no hashrate.
    fleet.set_scenario(0, Scenario::Offline);
    let went_offline = Instant::now();
    'wait: loop {
        let m = next_json(&mut ws).await;
        for row in m["miners"].as_array().into_iter().flatten() {
            if m["type"] == "rows" && row["id"] == "m0" && row["state"] == "offline" {
                assert!(row["hashrate_hs"].is_null(), "no stale hashrate: {row}");
                break 'wait;
            }
        }
        assert!(
            went_offline.elapsed() < Duration::from_secs(10),
            "m0 never offline"
        );
    }
    // The REST view agrees, and a filter finds it.
    let offline = http(addr, "GET", "/api/v1/miners?state=offline", None, None)
        .await
        .json();
    assert_eq!(offline["count"], 1, "{offline}");
    assert_eq!(offline["miners"][0]["id"], "m0");
    let rack = http(addr, "GET", "/api/v1/miners?label=rack:r1", None, None)
        .await
        .json();
    assert_eq!(rack["count"], 1, "{rack}");
    let fleet_sum = http(addr, "GET", "/api/v1/fleet", None, None).await.json();
    assert_eq!(fleet_sum["by_state"]["offline"], 1, "{fleet_sum}");
    assert!(
        fleet_sum["hashrate_hs"].as_f64().unwrap_or(0.0) > 1e12,
        "{fleet_sum}"
    );

    // Per-miner topic: only that miner's changes, with the whole record.
    let mut one = ws_connect(addr, "/api/v1/ws").await;
    subscribe(&mut one, &["miner:m1"]).await;
    assert_eq!(next_json(&mut one).await["type"], "subscribed");
    let s = next_json(&mut one).await;
    assert_eq!(s["miner"]["id"], "m1", "{s}");
    for _ in 0..3 {
        let m = next_json(&mut one).await;
        assert_eq!(
            (m["type"].as_str(), m["id"].as_str()),
            (Some("miner"), Some("m1")),
            "{m}"
        );
        assert!(m["record"]["pools"].is_array(), "{m}");
    }
    // A bad request is answered, not fatal.
    one.send(Message::Text("{\"op\":\"dance\"}".into()))
        .await
        .expect("send");
    loop {
        let m = next_json(&mut one).await;
        if m["type"] == "error" {
            break;
        }
    }

    // Shutdown: every client gets a close frame ("going away").
    let closer = tokio::spawn(async move {
        loop {
            match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
                Ok(Some(Ok(Message::Close(f)))) => return f.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                other => panic!("no close frame: {other:?}"),
            }
        }
    });
    d.stop().await;
    assert_eq!(closer.await.expect("closer"), Some(1001));
}

/// The fleet snapshot's ids, from every part.
async fn fleet_snapshot_ids(ws: &mut Ws) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        let m = next_json(ws).await;
        if m["type"] != "snapshot" || m["topic"] != "fleet" {
            continue;
        }
        ids.extend(
            m["miners"]
                .as_array()
                .expect("miners")
                .iter()
                .filter_map(|r| r["id"].as_str().map(String::from)),
        );
        if m["part"].as_u64().map(|p| p + 1) == m["parts"].as_u64() {
            return ids;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_subscribes_later_gets_a_snapshot_at_least_as_new_as_its_subscription() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 2,
        cgminer: 1,
        first_ip: Ipv4Addr::new(127, 0, 46, 1),
        http_port: 18372,
        rpc_port: 14372,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let addr: SocketAddr = "127.0.46.200:18373".parse().expect("addr");
    let d = Daemon::start(addr, sim_miners(&fleet, 18372, 14372)).await;
    // A connects first and follows alerts only; B's fleet subscription builds a snapshot.
    let mut a = ws_connect(addr, "/api/v1/ws").await;
    subscribe(&mut a, &["alerts"]).await;
    let mut b = ws_connect(addr, "/api/v1/ws").await;
    subscribe(&mut b, &["fleet"]).await;
    assert_eq!(fleet_snapshot_ids(&mut b).await, ["m0", "m1", "m2"]);
    // A change A was not subscribed for, then A asks for the fleet: B's snapshot, older than
    // that change, must not be handed to it.
    let r = http(addr, "DELETE", "/api/v1/miners/m1", Some(TOKEN), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    subscribe(&mut a, &["fleet"]).await;
    assert_eq!(fleet_snapshot_ids(&mut a).await, ["m0", "m2"]);
    d.stop().await;
    drop(fleet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_need_the_token_and_bad_requests_get_json_errors() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 1,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 27, 1),
        http_port: 18192,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let addr: SocketAddr = "127.0.27.200:18193".parse().expect("addr");
    let d = Daemon::start(addr, Vec::new()).await;
    let body =
        r#"{"id":"bitaxe","host":"127.0.27.1","http_port":18192,"labels":{"room":"office"}}"#;

    let r = http(addr, "POST", "/api/v1/miners", None, Some(body)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    assert!(
        r.head.to_lowercase().contains("www-authenticate: bearer"),
        "{}",
        r.head
    );
    let r = http(
        addr,
        "POST",
        "/api/v1/miners",
        Some("wrong-token-0123456789"),
        Some(body),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http(addr, "DELETE", "/api/v1/miners/x", None, None).await;
    assert_eq!(r.status, 401, "deletes need it too");

    let r = http(addr, "POST", "/api/v1/miners", Some(TOKEN), Some(body)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["config"]["labels"]["room"], "office");
    let r = http(addr, "POST", "/api/v1/miners", Some(TOKEN), Some(body)).await;
    assert_eq!(
        (r.status, r.json()["error"]["code"].as_str()),
        (409, Some("miner_exists"))
    );

    // It is polled: hashing soon, as a Bitaxe.
    let start = Instant::now();
    loop {
        let m = http(addr, "GET", "/api/v1/miners/bitaxe", None, None)
            .await
            .json();
        if m["record"]["state"] == "hashing" {
            assert_eq!(m["record"]["make"], "Bitaxe");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never polled: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = http(
        addr,
        "POST",
        "/api/v1/miners/bitaxe/poll",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);

    // Malformed, invalid, oversized, unknown: each a JSON error with a stable code.
    let big = format!(r#"{{"host":"h","name":"{}"}}"#, "x".repeat(100_000));
    let long = format!("/api/v1/miners?q={}", "a".repeat(5000));
    let history = "/api/v1/miners/bitaxe/history";
    let cases: [(&str, &str, Option<&str>, u16, &str); 10] = [
        (
            "POST",
            "/api/v1/miners",
            Some("{\"host\": "),
            400,
            "invalid_json",
        ),
        (
            "POST",
            "/api/v1/miners",
            Some(r#"{"host":"a b"}"#),
            422,
            "invalid_miner",
        ),
        (
            "POST",
            "/api/v1/miners",
            Some(r#"{"host":"h","colour":"red"}"#),
            422,
            "invalid_body",
        ),
        ("POST", "/api/v1/miners", Some(&big), 413, "body_too_large"),
        ("GET", "/api/v1/nope", None, 404, "not_found"),
        ("PATCH", "/api/v1/fleet", None, 405, "method_not_allowed"),
        ("GET", &long, None, 414, "uri_too_long"),
        (
            "GET",
            &format!("{history}?metric=nope"),
            None,
            400,
            "unknown_metric",
        ),
        (
            "GET",
            &format!("{history}?metric=hashrate_hs&from=x"),
            None,
            400,
            "bad_query",
        ),
        ("GET", "/api/v1/miners/ghost", None, 404, "miner_not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let r = http(addr, method, path, Some(TOKEN), body).await;
        let got = (
            r.status,
            r.json()["error"]["code"].as_str().map(str::to_string),
        );
        assert_eq!(
            got,
            (status, Some(code.to_string())),
            "{method} {}",
            &path[..path.len().min(60)]
        );
    }

    // A cross-site page may not open the WebSocket.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{addr}/api/v1/ws"),
    )
    .expect("request");
    req.headers_mut()
        .insert("Origin", "http://evil.example".parse().expect("header"));
    let refused = tokio_tungstenite::connect_async(req).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }

    // The OpenAPI document lists the routes.
    let doc = http(addr, "GET", "/api/v1/openapi.json", None, None)
        .await
        .json();
    for p in [
        "/api/v1/miners",
        "/api/v1/miners/{id}",
        "/api/v1/miners/{id}/history",
        "/api/v1/fleet",
        "/api/v1/alerts",
        "/api/v1/mutes",
        "/api/v1/mutes/{id}",
        "/api/v1/plugins",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        doc["paths"]["/api/v1/miners"]["get"]["parameters"][0]["in"],
        "query"
    );

    // Replace, then remove.
    let r = http(
        addr,
        "PUT",
        "/api/v1/miners/bitaxe",
        Some(TOKEN),
        Some(r#"{"host":"127.0.27.1","http_port":18192,"name":"desk"}"#),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["config"]["name"].as_str()),
        (200, Some("desk")),
        "{}",
        r.body
    );
    let r = http(addr, "DELETE", "/api/v1/miners/bitaxe", Some(TOKEN), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = http(addr, "GET", "/api/v1/miners/bitaxe", None, None).await;
    assert_eq!(r.status, 404);
    let r = http(addr, "DELETE", "/api/v1/miners/bitaxe", Some(TOKEN), None).await;
    assert_eq!(r.status, 404);
    drop(fleet);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_text() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 1,
        cgminer: 1,
        first_ip: Ipv4Addr::new(127, 0, 28, 1),
        http_port: 18194,
        rpc_port: 14194,
        ..Default::default()
    })
    .await
    .expect("simulator");
    let addr: SocketAddr = "127.0.28.200:18195".parse().expect("addr");
    let d = Daemon::start(addr, sim_miners(&fleet, 18194, 14194)).await;
    let mut ws = ws_connect(addr, "/api/v1/ws").await;
    subscribe(&mut ws, &["fleet", "alerts"]).await;
    let start = Instant::now();
    let scrape = loop {
        let r = http(addr, "GET", "/metrics", None, None).await;
        assert_eq!(r.status, 200);
        assert!(r.head.contains("text/plain"), "{}", r.head);
        let lines = r.body.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition text");
        let hashing = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "solomon_miner_hashrate_hs")
            .count();
        // The AxeOS miner's connection is kept between polls (out of the pool only while a
        // poll uses it); the CGMiner one closes after every exchange, as cgminer does.
        let kept = scrape
            .samples
            .iter()
            .find(|s| s.metric == "solomon_miner_connections_kept")
            .map(|s| matches!(s.value, prometheus_parse::Value::Gauge(v) if v == 1.0));
        // And a second sample of each, unchanged for rule-offline at least.
        let spared = scrape
            .samples
            .iter()
            .find(|s| s.metric == "solomon_rule_events_spared_total")
            .is_some_and(|s| matches!(s.value, prometheus_parse::Value::Counter(v) if v > 0.0))
            && scrape.samples.iter().any(|s| {
                s.metric == "solomon_plugin_events_spared_total"
                    && s.labels.get("plugin") == Some("rule-offline")
                    && matches!(s.value, prometheus_parse::Value::Counter(v) if v > 0.0)
            });
        if hashing == 2 && kept == Some(true) && spared {
            break scrape;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never both miners with one kept connection and a spared rule event: {}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Rule event counts are about rules: drivers have no line in them.
    assert!(!scrape.samples.iter().any(|s| {
        s.metric.starts_with("solomon_plugin_events_") && s.labels.get("world") == Some("driver")
    }));
    let value = |name: &str, miner: Option<&str>| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && miner.is_none_or(|m| s.labels.get("miner") == Some(m)))
            .map(|s| match s.value {
                prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
    };
    let axe = scrape
        .samples
        .iter()
        .find(|s| s.metric == "solomon_miner_hashrate_hs" && s.labels.get("make") == Some("Bitaxe"))
        .expect("bitaxe sample");
    assert_eq!(axe.labels.get("model"), Some("Gamma"));
    assert!(
        value("solomon_miner_temperature_celsius", Some("m0"))
            .is_some_and(|t| t > 20.0 && t < 100.0)
    );
    assert_eq!(
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "solomon_miner_state" && s.labels.get("miner") == Some("m0"))
            .count(),
        4,
        "one series per state"
    );
    assert!(value("solomon_polls_total", None).is_some_and(|v| v >= 2.0));
    assert!(value("solomon_plugin_calls_total", None).is_some());
    assert!(value("solomon_rule_evaluations_total", None).is_some_and(|v| v >= 9.0));
    assert_eq!(value("solomon_rule_failures_total", None), Some(0.0));
    assert_eq!(value("solomon_ws_clients", None), Some(1.0));
    assert_eq!(value("solomon_ws_subscriptions", None), Some(2.0));
    assert!(value("solomon_db_size_bytes", None).is_some_and(|b| b > 0.0));
    // The CGMiner driver's memo at least, read from memory from then on.
    assert!(value("solomon_plugin_state_mirrored_bytes", None).is_some_and(|b| b > 0.0));
    let is_histogram = |name: &str| {
        scrape
            .samples
            .iter()
            .any(|s| s.metric == name && matches!(s.value, prometheus_parse::Value::Histogram(_)))
    };
    assert!(is_histogram("solomon_store_write_lock_wait_seconds"));
    assert!(is_histogram("solomon_poll_duration_seconds"));
    drop(ws);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overheating_miner_fires_one_alert_that_resolves_and_is_not_repeated_in_the_cooldown() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 1,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 33, 1),
        http_port: 18198,
        ..Default::default()
    })
    .await
    .expect("simulator");
    fleet.set_scenario(0, Scenario::Overheat);
    let rules = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        solomon_tests::plugins::RULE_HOT_CHIP,
        rules.path().join("rule-hot-chip.wasm"),
    )
    .expect("copy rule");
    let alerts = AlertConfig {
        rules: [(
            "rule-hot-chip".to_string(),
            serde_json::json!({"max_chip_c": 70, "samples": 2}),
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let addr: SocketAddr = "127.0.33.200:18199".parse().expect("addr");
    let d = Daemon::start_with(
        addr,
        sim_miners(&fleet, 18198, 14198),
        vec![rules.path().to_path_buf()],
        alerts,
    )
    .await;
    let mut ws = ws_connect(addr, "/api/v1/ws").await;
    subscribe(&mut ws, &["alerts"]).await;
    assert_eq!(next_json(&mut ws).await["type"], "subscribed");
    assert_eq!(next_json(&mut ws).await["alerts"], serde_json::json!([]));

    // Two hot samples in a row: it fires, once.
    let fired = next_alert(&mut ws, "rule-hot-chip").await;
    let a = &fired["alert"];
    assert_eq!(
        (
            a["rule"].as_str(),
            a["miner"].as_str(),
            a["key"].as_str(),
            a["firing"].as_bool()
        ),
        (Some("rule-hot-chip"), Some("m0"), Some("chip"), Some(true)),
        "{a}"
    );
    let first_fire = a["since_ms"].as_u64();
    let listed = http(addr, "GET", "/api/v1/alerts?firing=true", None, None)
        .await
        .json();
    let hot: Vec<_> = listed["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["rule"] == "rule-hot-chip")
        .collect();
    assert_eq!(hot.len(), 1, "{listed}");

    // Acknowledge: needs the token.
    let ack = r#"{"rule":"rule-hot-chip","miner":"m0","key":"chip","by":"me"}"#;
    let r = http(addr, "POST", "/api/v1/alerts/ack", None, Some(ack)).await;
    assert_eq!(r.status, 401);
    let r = http(addr, "POST", "/api/v1/alerts/ack", Some(TOKEN), Some(ack)).await;
    assert_eq!(
        (r.status, r.json()["acked_by"].as_str()),
        (200, Some("me")),
        "{}",
        r.body
    );

    // Mute: needs the token, names a miner or a rule, lasts 1 minute to 30 days.
    let mute = r#"{"miner":"m0","minutes":30,"by":"me","reason":"overclocking"}"#;
    let r = http(addr, "POST", "/api/v1/mutes", None, Some(mute)).await;
    assert_eq!(r.status, 401);
    for (body, status, code) in [
        (r#"{"minutes":30}"#, 400, "invalid_mute"),
        (r#"{"miner":"m0","minutes":0}"#, 400, "invalid_mute"),
        (r#"{"miner":"m0","minutes":43201}"#, 400, "invalid_mute"),
        (r#"{"miner":"m0"}"#, 422, "invalid_body"),
        (
            r#"{"miner":"m0","minutes":5,"extra":1}"#,
            422,
            "invalid_body",
        ),
    ] {
        let r = http(addr, "POST", "/api/v1/mutes", Some(TOKEN), Some(body)).await;
        assert_eq!(
            (r.status, r.json()["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {}",
            r.body
        );
    }
    let r = http(addr, "POST", "/api/v1/mutes", Some(TOKEN), Some(mute)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.json()["id"].as_u64().expect("mute id");
    let until = r.json()["until_ms"].as_u64().expect("until");
    loop {
        let m = next_json(&mut ws).await;
        if m["type"] == "mutes" {
            assert_eq!(m["mutes"][0]["id"].as_u64(), Some(id), "{m}");
            break;
        }
    }
    let listed = http(addr, "GET", "/api/v1/alerts?miner=m0", None, None)
        .await
        .json();
    assert!(
        listed["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().all(|a| a["muted_until"].as_u64() == Some(until))),
        "every alert of m0 shows the mute: {listed}"
    );
    let path = format!("/api/v1/mutes/{id}");
    let r = http(addr, "DELETE", &path, None, None).await;
    assert_eq!(r.status, 401);
    let r = http(addr, "DELETE", &path, Some(TOKEN), None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = http(addr, "DELETE", &path, Some(TOKEN), None).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let listed = http(addr, "GET", "/api/v1/alerts?miner=m0", None, None)
        .await
        .json();
    assert!(
        listed["alerts"][0]["muted_until"].is_null(),
        "unmuted: {listed}"
    );

    // Cooled down: resolved.
    fleet.set_scenario(0, Scenario::Normal);
    let start = Instant::now();
    loop {
        let m = next_alert(&mut ws, "rule-hot-chip").await;
        if m["alert"]["firing"] == false {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never resolved");
    }
    // Hot again within the cooldown: shown firing, but not a new firing (same since_ms).
    fleet.set_scenario(0, Scenario::Overheat);
    let start = Instant::now();
    loop {
        let m = next_alert(&mut ws, "rule-hot-chip").await;
        if m["alert"]["firing"] == true {
            assert_eq!(
                m["alert"]["since_ms"].as_u64(),
                first_fire,
                "suppressed, not re-fired: {m}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never firing again"
        );
    }
    // The history holds what happened, in order: fired, acknowledged, resolved, suppressed.
    let h = http(addr, "GET", "/api/v1/alerts/history?miner=m0", None, None)
        .await
        .json();
    let kinds: Vec<&str> = h["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["alert"]["rule"] == "rule-hot-chip")
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["fired", "acknowledged", "resolved", "suppressed"],
        "{h}"
    );
    let r = http(addr, "GET", "/api/v1/alerts/history?limit=x", None, None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let plugins = http(addr, "GET", "/api/v1/plugins", None, None)
        .await
        .json();
    let rule = plugins["plugins"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["plugin"]["name"] == "rule-hot-chip"))
        .cloned()
        .expect("rule listed");
    assert!(
        rule["stats"]["calls"].as_u64().is_some_and(|c| c >= 4),
        "{rule}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_rules_report_overheat_offline_block_new_best_and_pool_change() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 6,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 34, 1),
        http_port: 18200,
        ..Default::default()
    })
    .await
    .expect("simulator");
    fleet.set_scenario(0, Scenario::Overheat);
    fleet.set_scenario(1, Scenario::Offline);
    let addr: SocketAddr = "127.0.34.200:18201".parse().expect("addr");
    let d = Daemon::start(addr, sim_miners(&fleet, 18200, 14200)).await;
    let mut ws = ws_connect(addr, "/api/v1/ws").await;
    subscribe(&mut ws, &["alerts"]).await;
    // A block is a rise of the counter: seen once m2 has been polled before it.
    let start = Instant::now();
    while http(addr, "GET", "/api/v1/miners/m2", None, None)
        .await
        .json()["record"]["state"]
        != "hashing"
    {
        assert!(start.elapsed() < Duration::from_secs(10), "m2 never polled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // So are a new best (against the best seen so far) and a pool change (against the first
    // pool seen, when none is configured).
    let start = Instant::now();
    for id in ["m3", "m4"] {
        while http(addr, "GET", &format!("/api/v1/miners/{id}"), None, None)
            .await
            .json()["record"]["state"]
            != "hashing"
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{id} never polled"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Their first samples are already queued for the rules, ahead of any changed one.
    fleet.set_scenario(2, Scenario::BlockFound);
    fleet.set_scenario(3, Scenario::NewBest);
    fleet.set_scenario(4, Scenario::PoolChanged);
    let mut firing = std::collections::BTreeSet::new();
    let want: std::collections::BTreeSet<(String, String, String)> = [
        ("rule-block-found", "m2", "block"),
        ("rule-offline", "m1", "offline"),
        ("rule-overheat", "m0", "chip"),
        ("rule-new-best", "m3", "best"),
        ("rule-pool-changed", "m4", "pool"),
    ]
    .iter()
    .map(|(r, m, k)| (r.to_string(), m.to_string(), k.to_string()))
    .collect();
    let start = Instant::now();
    while !want.is_subset(&firing) {
        let m = next_json(&mut ws).await;
        if m["type"] == "alert" && m["alert"]["firing"] == true {
            let a = &m["alert"];
            let id = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            firing.insert((id("rule"), id("miner"), id("key")));
        }
        assert!(start.elapsed() < Duration::from_secs(15), "only {firing:?}");
    }
    // The healthy miner raised nothing.
    assert!(!firing.iter().any(|(_, m, _)| m == "m5"), "{firing:?}");
    // Back online: the offline alert resolves.
    fleet.set_scenario(1, Scenario::Normal);
    loop {
        let m = next_alert(&mut ws, "rule-offline").await;
        if m["alert"]["firing"] == false {
            assert_eq!(m["alert"]["miner"], "m1");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "offline never resolved"
        );
    }
    d.stop().await;
}

/// A listen address already taken is an error that names it, returned after the polling
/// threads were started: they are stopped, not dropped in the middle of an async context.
#[tokio::test]
async fn a_taken_listen_address_is_a_clear_error() {
    use solomon_host::daemon::{Settings, open_storage, serve_daemon_until};
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = open_storage(dir.path(), &Default::default()).expect("storage");
    let settings = Settings::new(addr, dir.path().to_path_buf(), 1, vec![TOKEN.into()]);
    let served = tokio::time::timeout(
        Duration::from_secs(60),
        serve_daemon_until(settings, storage, std::future::pending()),
    )
    .await
    .expect("returns at once");
    let e = served.expect_err("the address is taken");
    assert!(
        format!("{e:#}").contains(&format!("cannot listen on {addr}")),
        "{e:#}"
    );
}
