//! Support for Solomon's end-to-end tests: paths of the fixture plugins built by `build.rs`,
//! a fixture HTTP miner on 127.0.0.1, a runtime configuration with short backoffs, a whole
//! daemon in-process ([`daemon`]) and a headless browser ([`browser`]).

pub mod browser;
pub mod daemon;

use solomon_host::runtime::RuntimeConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Paths of the fixture plugins and SDK examples, compiled for wasm32-wasip2.
pub mod plugins {
    include!(concat!(env!("OUT_DIR"), "/fixture_plugins.rs"));
}

/// Reads a component file.
pub fn read(path: &str) -> Arc<[u8]> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("fixture plugin {path} missing ({e}); tests/build.rs builds it"))
        .into()
}

/// A sample response shipped with the tests (see `tests/fixtures/SOURCES.md`).
pub fn fixture(relative: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A runtime configuration for tests: a 200 ms CPU budget and a 200 ms first restart delay.
pub fn test_config() -> RuntimeConfig {
    RuntimeConfig {
        cpu_budget: Duration::from_millis(200),
        call_timeout: Duration::from_secs(10),
        restart_backoff_base: Duration::from_millis(200),
        restart_backoff_max: Duration::from_secs(2),
        memory_limit_bytes: 32 * 1024 * 1024,
        ..Default::default()
    }
}

/// A sled database in `dir` and a runtime whose plugins keep their state in it, as the
/// daemon sets them up.
pub fn runtime_on_storage(
    dir: &std::path::Path,
) -> (
    Arc<solomon_host::storage::Storage>,
    solomon_host::runtime::Runtime,
) {
    let storage = Arc::new(
        solomon_host::storage::Storage::open(solomon_host::storage::StorageConfig::new(dir))
            .expect("storage"),
    );
    let services = solomon_host::runtime::HostServices {
        state: storage.plugin_state(),
        ..Default::default()
    };
    let runtime = solomon_host::runtime::Runtime::new(test_config(), services).expect("runtime");
    (storage, runtime)
}

/// Serves `body` as JSON at `GET /api/system/info` (and an AxeOS-like page at `/`) on an
/// ephemeral 127.0.0.1 port, like a Bitaxe. Runs until the test's runtime ends.
pub async fn axeos_server(body: String) -> SocketAddr {
    use axum::routing::get;
    let body = Arc::new(body);
    let app = axum::Router::new()
        .route(
            "/",
            get(|| async {
                axum::response::Html("<html><head><title>AxeOS</title></head></html>")
            }),
        )
        .route(
            "/api/system/info",
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        (*body).clone(),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// The `solomon` binary built by the same `cargo test` run (host's integration tests make cargo
/// build it into the same target dir as this test binary).
pub fn solomon_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join(format!("solomon{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not built: run `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// Whether a daemon listens on `addr` and answers `/readyz` with 200.
pub async fn is_ready(addr: SocketAddr) -> bool {
    match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => {
            drop(s);
            http(addr, "GET", "/readyz", None, None).await.status == 200
        }
        Err(_) => false,
    }
}

/// An HTTP response as the tests see it.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Header block, as sent.
    pub head: String,
    /// Body.
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One HTTP/1.0 request over a fresh connection to `addr`, with an optional bearer token and
/// JSON body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method != "GET" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write request");
    s.write_all(body.as_bytes()).await.expect("write body");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("response in 10 s")
        .expect("read response");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    HttpResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}
