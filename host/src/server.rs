//! The HTTP API (axum): health, readiness, plugins, and the miners with their history.

use crate::runtime::Plugin;
use crate::state::MinerStore;
use crate::storage::{Metric, Storage};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::{Arc, RwLock};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct AppState {
    plugins: Arc<RwLock<Option<Vec<Arc<Plugin>>>>>,
    miners: Arc<MinerStore>,
    storage: Option<Arc<Storage>>,
}

impl AppState {
    /// Nothing loaded yet (`/readyz` answers 503).
    pub fn new(miners: Arc<MinerStore>, storage: Option<Arc<Storage>>) -> Self {
        AppState {
            plugins: Arc::new(RwLock::new(None)),
            miners,
            storage,
        }
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

/// A JSON error with a stable shape: `{"error": {"code": ..., "message": ...}}`.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(serde_json::json!({"error": {"code": code, "message": message.into()}})),
    )
        .into_response()
}

/// The API routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/plugins", get(plugins))
        .route("/api/v1/miners", get(miners))
        .route("/api/v1/miners/{id}", get(miner))
        .route("/api/v1/miners/{id}/history", get(history))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "no such route") })
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

fn miner_json(s: &crate::state::Snapshot) -> serde_json::Value {
    serde_json::json!({"record": s.record, "version": s.version, "updated_ms": s.updated_ms})
}

async fn miners(State(state): State<AppState>) -> impl IntoResponse {
    let list: Vec<serde_json::Value> = state.miners.list().iter().map(miner_json).collect();
    Json(serde_json::json!({ "miners": list }))
}

async fn miner(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.miners.get(&id) {
        Some(s) => Json(miner_json(&s)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "miner_not_found",
            format!("no miner {id:?}"),
        ),
    }
}

/// `?metric=hashrate_hs&from=<ms>&to=<ms>&step=<ms>`; `from`/`to` default to the last hour.
#[derive(Debug, Deserialize)]
struct HistoryQuery {
    metric: String,
    from: Option<u64>,
    to: Option<u64>,
    step: Option<u64>,
}

async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let Some(storage) = &state.storage else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_storage",
            "this daemon keeps no history",
        );
    };
    let Some(metric) = Metric::parse(&q.metric) else {
        let known: Vec<&str> = crate::storage::ALL_METRICS
            .iter()
            .map(|m| m.name())
            .collect();
        return error(
            StatusCode::BAD_REQUEST,
            "unknown_metric",
            format!("unknown metric {:?}; known: {}", q.metric, known.join(", ")),
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to.saturating_sub(3_600_000));
    if from > to {
        return error(StatusCode::BAD_REQUEST, "bad_range", "from is after to");
    }
    let res = storage.resolution_for(from, to, q.step);
    match storage.history(&id, metric, from, to, res) {
        Ok(points) => Json(serde_json::json!({"miner": id, "metric": metric.name(), "resolution": res, "points": *points})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "storage", e.to_string()),
    }
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
