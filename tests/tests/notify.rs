//! Notifications end to end: an overheating simulated miner, the shipped overheat rule, and
//! channels of every kind pointed at a local HTTP receiver. The receiver is down at first:
//! nothing is lost, the daemon is restarted, the receiver comes up, and each notification
//! arrives once per idempotency key, signed, in its service's shape.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use solomon_host::notify::{Channel, ChannelKind, NotifyOptions, SIGNATURE_HEADER, sign};
use solomon_host::simulate::{Fleet, FleetConfig, Scenario};
use solomon_tests::daemon::{Daemon, sim_miners};
use solomon_tests::http;
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver saw: path, headers, body.
type Seen = Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>;

/// Records every POST; `/gone` answers 410 (a permanent refusal).
async fn receiver(addr: SocketAddr) -> Seen {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let log = log.clone();
        async move {
            let path = uri.path().to_string();
            let gone = path == "/gone";
            if let Ok(mut l) = log.lock() {
                l.push((path, headers, body));
            }
            if gone {
                StatusCode::GONE
            } else {
                StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("bind receiver");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    seen
}

fn channel(name: &str, kind: ChannelKind, url: Option<String>) -> Channel {
    Channel {
        name: name.into(),
        kind,
        url,
        secret: None,
        token: None,
        chat_id: None,
        min_severity: "info".into(),
        labels: BTreeMap::new(),
        events: vec!["fired".into(), "resolved".into()],
    }
}

async fn notify_status(addr: SocketAddr) -> serde_json::Value {
    http(addr, "GET", "/api/v1/notify", None, None).await.json()
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_survive_a_down_receiver_and_a_restart_and_arrive_once_per_key() {
    let fleet = Fleet::start(FleetConfig {
        axeos: 1,
        cgminer: 0,
        first_ip: Ipv4Addr::new(127, 0, 42, 1),
        http_port: 18341,
        ..Default::default()
    })
    .await
    .expect("simulator");
    fleet.set_scenario(0, Scenario::Overheat);
    let recv: SocketAddr = "127.0.42.10:18342".parse().expect("addr");
    let base = format!("http://{recv}");
    let mut hook = channel("hook", ChannelKind::Webhook, Some(format!("{base}/hook")));
    hook.secret = Some("hook-secret-0123".into());
    let mut telegram = channel(
        "telegram",
        ChannelKind::Telegram,
        Some(format!("{base}/tg")),
    );
    telegram.token = Some("123:abc".into());
    telegram.chat_id = Some("42".into());
    let mut ntfy = channel("ntfy", ChannelKind::Ntfy, Some(format!("{base}/ntfy/solo")));
    ntfy.token = Some("tk_secret".into());
    let mut rack9 = channel("rack9", ChannelKind::Webhook, Some(format!("{base}/rack9")));
    rack9.labels = [("rack".to_string(), "r9".to_string())].into();
    let channels = vec![
        hook,
        channel(
            "discord",
            ChannelKind::Discord,
            Some(format!("{base}/discord")),
        ),
        telegram,
        ntfy,
        rack9,
        channel("gone", ChannelKind::Webhook, Some(format!("{base}/gone"))),
    ];
    let settings = |s: solomon_host::daemon::Settings| solomon_host::daemon::Settings {
        alerts: solomon_host::alerts::AlertConfig {
            notify: channels.clone(),
            ..s.alerts
        },
        notify: NotifyOptions {
            retry_base: Duration::from_millis(200),
            retry_max: Duration::from_millis(500),
            timeout: Duration::from_secs(2),
            ..Default::default()
        },
        ..s
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let addr: SocketAddr = "127.0.42.200:18343".parse().expect("addr");
    let miners = sim_miners(&fleet, 18341, 14341);

    // The receiver is down: the two overheat alerts (chip, VR) are queued for the five
    // channels whose route takes them (not rack9: the miner is in rack r0), and retried.
    let d = Daemon::launch_in(addr, dir.path(), miners.clone(), 1, settings).await;
    let start = Instant::now();
    let pending = loop {
        let s = notify_status(addr).await;
        let p = s["pending"].as_array().cloned().unwrap_or_default();
        if p.len() == 10 && p.iter().all(|i| i["attempts"].as_u64() >= Some(2)) {
            break p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never queued and retried: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        pending.iter().all(|i| i["last_error"].is_string()),
        "{pending:?}"
    );
    assert!(pending.iter().all(|i| i["channel"] != "rack9"));
    let keys: HashMap<String, String> = pending
        .iter()
        .map(|i| {
            (
                i["idempotency_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                i["channel"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(keys.len(), 10, "one key per alert and channel");
    d.stop().await;

    // Restarted with the receiver up: everything queued arrives, once.
    let seen = receiver(recv).await;
    let d = Daemon::launch_in(addr, dir.path(), miners, 1, settings).await;
    let start = Instant::now();
    loop {
        let s = notify_status(addr).await;
        if s["pending"].as_array().is_some_and(|p| p.is_empty())
            && s["dead"].as_array().is_some_and(|p| p.len() == 2)
        {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never delivered: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a wrong retry to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for (_, h, _) in &seen {
        *per_key.entry(header(h, "idempotency-key")).or_default() += 1;
    }
    assert_eq!(
        per_key
            .keys()
            .cloned()
            .collect::<std::collections::HashSet<_>>(),
        keys.keys().cloned().collect(),
        "exactly the queued keys arrived"
    );
    assert!(
        per_key.values().all(|n| *n == 1),
        "each key once: {per_key:?}"
    );

    for (path, h, body) in &seen {
        let key = header(h, "idempotency-key");
        let channel = keys.get(&key).map(String::as_str);
        match path.as_str() {
            "/hook" => {
                assert_eq!(channel, Some("hook"));
                assert_eq!(
                    header(h, SIGNATURE_HEADER),
                    sign("hook-secret-0123", body),
                    "a valid signature"
                );
                let v: serde_json::Value = serde_json::from_slice(body).expect("json");
                assert_eq!(v["alert"]["rule"], "rule-overheat");
                assert_eq!(v["alert"]["miner"], "m0");
                assert_eq!(v["miner"]["name"], "sim 0");
                assert_eq!(v["idempotency_key"], key);
            }
            "/discord" => {
                let v: serde_json::Value = serde_json::from_slice(body).expect("json");
                let text = v["content"].as_str().unwrap_or_default();
                assert!(
                    text.starts_with("[CRITICAL] rule-overheat on sim 0 (m0): "),
                    "{text}"
                );
            }
            "/tg/bot123:abc/sendMessage" => {
                let v: serde_json::Value = serde_json::from_slice(body).expect("json");
                assert_eq!(v["chat_id"], "42");
                assert!(v["text"].as_str().is_some_and(|t| t.contains("°C")), "{v}");
            }
            "/ntfy/solo" => {
                assert_eq!(header(h, "priority"), "5");
                assert_eq!(header(h, "title"), "Solomon: rule-overheat on sim 0");
                assert_eq!(header(h, "authorization"), "Bearer tk_secret");
                assert!(String::from_utf8_lossy(body).contains("rule-overheat"));
            }
            "/gone" => assert_eq!(channel, Some("gone")),
            other => panic!("unexpected POST to {other}"),
        }
    }
    let s = notify_status(addr).await;
    assert_eq!(s["counters"]["delivered"], 8, "{s}");
    assert_eq!(s["counters"]["given_up"], 2, "{s}");
    assert!(
        s["dead"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("410")),
        "{s}"
    );
    assert!(
        s["channels"].as_array().is_some_and(|c| c.len() == 6
            && c.iter()
                .all(|c| c.get("secret").is_none() && c.get("token").is_none())),
        "channels listed without secrets: {s}"
    );
    d.stop().await;
}
