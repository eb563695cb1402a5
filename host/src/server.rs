//! The HTTP API (axum). For now: health, readiness and the loaded plugins.

use crate::runtime::Plugin;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use std::sync::{Arc, RwLock};

/// What the HTTP handlers share.
#[derive(Clone, Default)]
pub struct AppState {
    plugins: Arc<RwLock<Option<Vec<Arc<Plugin>>>>>,
}

impl AppState {
    /// Nothing loaded yet (`/readyz` answers 503).
    pub fn new() -> Self {
        Self::default()
    }

    /// Publishes the loaded plugins and marks the daemon ready.
    pub fn set_plugins(&self, plugins: Vec<Arc<Plugin>>) {
        if let Ok(mut p) = self.plugins.write() {
            *p = Some(plugins);
        }
    }

    fn plugins(&self) -> Option<Vec<Arc<Plugin>>> {
        self.plugins.read().ok().and_then(|p| p.clone())
    }
}

/// The API routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/plugins", get(plugins))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.plugins() {
        Some(_) => (StatusCode::OK, "ready"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "loading plugins"),
    }
}

async fn plugins(State(state): State<AppState>) -> impl IntoResponse {
    let list: Vec<serde_json::Value> = state
        .plugins()
        .unwrap_or_default()
        .iter()
        .map(|p| serde_json::json!({ "plugin": p.meta(), "stats": p.stats() }))
        .collect();
    Json(serde_json::json!({ "plugins": list }))
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
