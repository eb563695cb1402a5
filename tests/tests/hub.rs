//! The WebSocket hub under a client that stops reading: the others keep getting every change.

use futures_util::{SinkExt, StreamExt};
use solomon_host::hub::Hub;
use solomon_host::server::{self, ApiConfig, AppState, WsConfig};
use solomon_host::state::MinerStore;
use solomon_plugin_sdk::{MinerError, MinerRecord};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribed_client(addr: &str) -> Ws {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws"))
        .await
        .expect("connect");
    // Whole records (about 4 KiB each here), not fleet rows: enough bytes to fill a socket.
    let topics: Vec<String> = (0..50)
        .map(|i| format!("miner:m{i}"))
        .chain(["miner:last".to_string()])
        .collect();
    let req = serde_json::json!({"op": "subscribe", "topics": topics}).to_string();
    ws.send(Message::Text(req.into())).await.expect("subscribe");
    // The acknowledgement and a snapshot per topic.
    for _ in 0..52 {
        tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("reply")
            .expect("open")
            .expect("ok");
    }
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_hold_back_the_others() {
    let store = Arc::new(MinerStore::new());
    let hub = Arc::new(Hub::new(512));
    let config = ApiConfig {
        ws: WsConfig {
            send_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let state = AppState::new(store.clone(), None, hub.clone(), &config);
    let addr = "127.0.29.200:18197";
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    tokio::spawn(server::serve(listener, state, std::future::pending()));

    let slow = subscribed_client(addr).await; // held, never read again
    let fast = subscribed_client(addr).await;
    let received = Arc::new(AtomicUsize::new(0));
    let lagged = Arc::new(AtomicBool::new(false));
    let done = Arc::new(tokio::sync::Notify::new());
    let reader = {
        let (received, lagged, done) = (received.clone(), lagged.clone(), done.clone());
        tokio::spawn(async move {
            let mut fast = fast;
            while let Some(Ok(msg)) = fast.next().await {
                if let Message::Text(t) = msg {
                    if t.as_str().contains("\"type\":\"lagged\"") {
                        lagged.store(true, Ordering::SeqCst);
                    }
                    if t.as_str().contains("\"type\":\"miner\"") {
                        received.fetch_add(1, Ordering::SeqCst);
                    }
                    if t.as_str().contains("\"id\":\"last\"") {
                        done.notify_one();
                        return fast;
                    }
                }
            }
            panic!("fast client closed");
        })
    };

    // 3,000 changes of ~4 KiB each: 12 MiB, far more than the socket buffers of the client
    // that does not read.
    let filler = "x".repeat(4000);
    let total = 3000;
    for i in 0..total {
        let snap = store.set(MinerRecord {
            id: format!("m{}", i % 50),
            make: "Bitaxe".into(),
            errors: vec![MinerError {
                code: "filler".into(),
                message: filler.clone(),
                severity: "info".into(),
            }],
            ..Default::default()
        });
        hub.miner_updated(&snap);
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let snap = store.set(MinerRecord {
        id: "last".into(),
        ..Default::default()
    });
    hub.miner_updated(&snap);
    tokio::time::timeout(Duration::from_secs(30), done.notified())
        .await
        .expect("the reading client got the last change");
    assert_eq!(
        received.load(Ordering::SeqCst),
        total + 1,
        "every change, in full"
    );
    assert!(
        !lagged.load(Ordering::SeqCst),
        "the reading client never fell behind"
    );

    // The one that stopped reading is cut loose, not waited for.
    let start = Instant::now();
    while hub.stats().snapshot().dropped_clients == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the stuck client was never dropped: {:?}",
            hub.stats().snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hub.stats().snapshot().clients, 1, "only the reader is left");
    drop(slow);
    let _fast = reader.await.expect("reader");
}
