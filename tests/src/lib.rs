//! Support for Solomon's end-to-end tests: paths of the fixture plugins built by `build.rs`,
//! a fixture HTTP miner on 127.0.0.1, and a runtime configuration with short backoffs.

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
